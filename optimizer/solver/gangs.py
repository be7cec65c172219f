"""Gangs (multi-node parallel jobs) in the fleet-mix solver: placed apart from the packed jobs.

A gang shape (`Shape.nodes` set) is one node range of an MNP job; its demand counts MNP jobs
running. What Batch does decides the model:

- One node per instance, nothing else on it: Batch gives every node of an MNP job an instance of its
  own ("Batch MNP places one node per instance"), so a gang shares no instance with other jobs.
- On-demand only: "Multi-node parallel jobs aren't supported on compute environments that use Spot
  Instances" (AWS Batch user guide, compute environment considerations for MNP). A gang therefore
  adds no spot capacity; it only adds its nodes' vCPU-hours to the job vCPU-hours the spot share is
  measured on, counted by the hours it holds them (`Problem.job_vcpu_hours`: `gang_hours`, else
  whole buckets), the same hours it is priced by.
- One instance type per node range: `NodeRangeProperty.instanceTypes` "is currently limited to one
  element", and the container's `instanceType` of an MNP job must be the same for all node groups.
  So all nodes of a range run on one offering; ranges of one job may differ. All of them are in
  the same (on-demand) compute environment, the one the environments document has.

So the problem separates: the packed jobs are the problem without the gang shapes (a spot share
cap rescaled to their own vCPU-hours, exactly equivalent since gang work is never on spot); each
gang range, alone, costs its node-hours times the price of the cheapest on-demand offering that
hosts one node. A range's node-hours are its job hours x nodes: the problem's `gang_hours` (the
hours its MNP jobs really held their nodes in each bucket) when given, else whole buckets (demand x
bucket hours). Its bins still hold demand x nodes instances in a bucket (what runs at once); with
`gang_hours` each carries its `hours`, so count x hours x price is what the nodes are paid.
Only `max_instance_types` (the gangs' offerings count in it) and commitments (gang usage draws on
their budgets) still tie the two parts:

- Plan: without a type cap, the packed jobs' plan plus each gang range on its cheapest host. With
  one, two solves of the packed jobs: without the cap (`RELAXED_SHARE` of the time: the bound,
  and a plan when its offerings leave room for the gangs'), and with the cap lowered by the fewest
  offerings that host every gang range (a greedy cover); gangs then take the cheapest host among
  the plan's offerings and the cover, plus offerings added greedily by saving while the cap has
  room. The cheaper merged plan is kept. With commitments each merged plan is billed as a whole
  (`commitments.bill_plan`), AWS's coverage order over every bin.
- Bound: (bound of the packed jobs' problem, without the cap when there is one) + (each gang
  range's node-hours x the cheapest price of a host, counted as 0 for a type any commitment
  covers). Valid: any plan's packed bins are a plan of the packed problem without the cap (the
  rescaled share is the same row, diversification sees the same spot bins), and its gang bins
  cost at least the cheapest host per node-hour. With commitments both bounds are Lagrangian
  bounds at the same multipliers mu >= 0: a gang node-hour costs min(price, mu x rate) >= 0
  there, and the packed part's Lagrangian minimum is what its bound bounds, so the sum holds for
  the joint relaxation.
  Without a type cap and commitments the gang part is exact and the gap is the packed part's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from optimizer.solver.assemble import empty_plan
from optimizer.solver.plan import Bin, Plan, bound_above_objective, relative_gap
from optimizer.solver.problem import Offering, Problem
from optimizer.solver.requirements import restrict_to_requirements

if TYPE_CHECKING:
    from optimizer.solver.solve import LpEstimate

#: Under a type cap, share of the time limit for the packed jobs without the cap (the bound, and a
#: plan when it leaves room for the gangs' offerings); the solve with the cap lowered for the
#: gangs' offerings gets the rest.
RELAXED_SHARE = 0.35
#: With commitments, hosts per gang range tried after the list-price choice (cheapest after coverage first).
HOST_TRIES = 4


def has_gangs(problem: Problem) -> bool:
    return any(s.is_gang for s in problem.shapes)


def gang_hosts(problem: Problem, i: int) -> list[Offering]:
    """Offerings that can host one node of gang shape `i` (on-demand, size, arch, network, EFA)."""
    shape = problem.shapes[i]
    return [o for o in problem.offerings if not o.is_spot and o.can_host(shape)]


def node_hours(problem: Problem, i: int) -> float:
    """Instance-hours gang shape `i` holds over the horizon: its job hours (`gang_hours`, else
    whole buckets) x nodes."""
    return float(problem.gang_job_hours(i).sum()) * problem.shapes[i].instances_per_job


def packed_problem(problem: Problem) -> Problem:
    """The problem without its gang shapes; a spot share cap is rescaled to the packed jobs' own
    vCPU-hours (share x all / packed), the same row since gang work never runs on spot."""
    keep = [i for i, s in enumerate(problem.shapes) if not s.is_gang]
    policy = problem.policy
    if policy.max_spot_share is not None:
        hours = problem.job_vcpu_hours()
        packed = float(hours[keep].sum())
        total = float(hours.sum())
        share = None if packed <= 0.0 else policy.max_spot_share * total / packed
        policy = replace(policy, max_spot_share=None if share is None or share >= 1.0 else share)
    return problem.with_shapes(keep).with_policy(policy)


def gang_lower_bound(problem: Problem, gangs: list[int]) -> float:
    """What the gang ranges cost at least in any plan (see the module docstring)."""
    return float(gang_bound_by_bucket(problem, gangs, free=set(_covered_rates(problem))).sum())


def gang_bound_by_bucket(problem: Problem, gangs: list[int], *, free: set[str]) -> np.ndarray:
    """Per bucket, what the gang ranges cost at least: node-hours x the cheapest host, a type in
    `free` (one a commitment covers) counted at 0; at list prices with `free` empty."""
    total = np.zeros(problem.n_buckets)
    for i in gangs:
        hosts = gang_hosts(problem, i)
        if hosts:
            cheapest = min(0.0 if o.instance_type in free else o.price_per_hour for o in hosts)
            total += problem.gang_job_hours(i) * problem.shapes[i].instances_per_job * cheapest
    return total


def _cheapest_within(hosts: list[Offering], allowed: set[str]) -> Offering | None:
    within = [o for o in hosts if o.key in allowed]
    return min(within, key=lambda o: o.price_per_hour) if within else None


def _gain(
    o: Offering,
    hosts: dict[int, list[Offering]],
    current: dict[int, Offering | None],
    weight: dict[int, float],
) -> tuple[int, float]:
    """(ranges that get their first host, dollars saved) when offering `o` joins the allowed set;
    a range housed for the first time counts its whole cost there as negative saving, so among
    offerings that house as many ranges the cheapest wins."""
    housed = 0
    saved = 0.0
    for i, h in hosts.items():
        if o not in h:
            continue
        now = current[i]
        if now is None:
            housed += 1
            saved -= weight[i] * o.price_per_hour
        elif o.price_per_hour < now.price_per_hour:
            saved += weight[i] * (now.price_per_hour - o.price_per_hour)
    return housed, saved


def place_gangs(
    problem: Problem, gangs: list[int], selected: set[str], room: int | None, *, improve: bool = True
) -> dict[int, Offering] | None:
    """One host offering per gang range: the cheapest among `selected` and up to `room` more
    offerings (None: any), added greedily (first to give every range a host, then, with `improve`,
    by saving). None when some range has no host within that room."""
    hosts = {i: gang_hosts(problem, i) for i in gangs}
    if room is None:
        return {i: min(h, key=lambda o: o.price_per_hour) for i, h in hosts.items()}
    weight = {i: node_hours(problem, i) for i in gangs}
    allowed = set(selected)
    while room > 0:
        current = {i: _cheapest_within(h, allowed) for i, h in hosts.items()}
        candidates = sorted({o.key: o for h in hosts.values() for o in h if o.key not in allowed}.items())
        if not candidates:
            break
        key, (housed, saved) = max(
            ((k, _gain(o, hosts, current, weight)) for k, o in candidates), key=lambda kv: kv[1]
        )
        homeless = any(o is None for o in current.values())
        if (housed == 0 and (homeless or saved <= 0.0)) or not (homeless or improve):
            break
        allowed.add(key)
        room -= 1
    chosen = {i: _cheapest_within(h, allowed) for i, h in hosts.items()}
    placed = {i: o for i, o in chosen.items() if o is not None}
    return placed if len(placed) == len(chosen) else None


def _gang_bins(problem: Problem, placement: dict[int, Offering]) -> list[list[Bin]]:
    """Per bucket, one bin per gang range: demand x nodes instances (the most it holds at once),
    each held for the range's job hours / demand when the problem gives `gang_hours`, so the bin's
    instance-hours are job hours x nodes; without them, for the whole bucket."""
    out: list[list[Bin]] = [[] for _ in range(problem.n_buckets)]
    for i, offering in sorted(placement.items()):
        shape = problem.shapes[i]
        held = problem.gang_hours.get(shape.id)
        for t in np.flatnonzero(problem.demand[i]).tolist():
            jobs = int(problem.demand[i, t])
            hours = None if held is None else float(held[t]) / jobs
            out[t].append(Bin(offering.key, jobs * shape.instances_per_job, {shape.id: 1}, hours))
    return out


def _merge(problem: Problem, packed: Plan | None, placement: dict[int, Offering]) -> Plan:
    """The packed plan plus the gang bins, with money recomputed for the whole problem."""
    gang_bins = _gang_bins(problem, placement)
    buckets = [
        list(packed.buckets[t] if packed is not None else []) + gang_bins[t] for t in range(problem.n_buckets)
    ]
    # Gangs run on demand, where the objective is the price; priced bin by bin, as the validator does.
    prices = {o.key: o.price_per_hour for o in placement.values()}
    hours = problem.bucket_hours
    gang_cost = sum(b.instance_hours(hours) * prices[b.offering] for bins in gang_bins for b in bins)
    plan = Plan(
        status="FEASIBLE",
        reason="",
        cost_usd=(packed.cost_usd if packed is not None else 0.0) + gang_cost,
        objective_usd=(packed.objective_usd if packed is not None else 0.0) + gang_cost,
        lower_bound_usd=0.0,
        gap=0.0,
        solve_seconds=0.0,
        selected=sorted({b.offering for bins in buckets for b in bins}),
        buckets=buckets,
        stats=dict(packed.stats) if packed is not None else {},
    )
    if problem.commitments:  # gang usage draws on the same budgets: bill every bin in AWS's order
        plan = _rebalanced(problem, plan)
    return plan


def _merge_best(
    problem: Problem, allowed: Problem, packed: Plan | None, placement: dict[int, Offering]
) -> tuple[Plan, dict[int, Offering]]:
    """The merged plan; with commitments, also each gang range moved, one at a time, to the hosts
    that cost least after coverage (`HOST_TRIES` of them), kept when the billed plan is cheaper
    and within the type cap: list prices alone ignore that a Reserved Instance or a plan rate may
    make a dearer type cheaper for the gang, or that the gang takes coverage the packed jobs had."""
    best = _merge(problem, packed, placement)
    if not problem.commitments:
        return best, placement
    covered = _covered_rates(problem)
    cap = problem.policy.max_instance_types
    for i in sorted(placement):
        hosts = sorted(
            gang_hosts(allowed, i), key=lambda o: min(o.price_per_hour, covered.get(o.instance_type, np.inf))
        )
        for offering in hosts[:HOST_TRIES]:
            if offering.key == placement[i].key:
                continue
            trial = {**placement, i: offering}
            plan = _merge(problem, packed, trial)
            if plan.objective_usd < best.objective_usd - 1e-9 and (cap is None or len(plan.selected) <= cap):
                best, placement = plan, trial
    return best, placement


def _covered_rates(problem: Problem) -> dict[str, float]:
    """Instance type -> the lowest rate a commitment covers it at (0 for a Reserved Instance)."""
    out: dict[str, float] = {}
    for c in problem.commitments:
        if c.is_reserved and c.instance_type:
            out[c.instance_type] = 0.0
        for instance_type, rate in c.rates.items():
            out[instance_type] = min(out.get(instance_type, np.inf), rate)
    return out


def _rebalanced(problem: Problem, plan: Plan) -> Plan:
    """A merged plan billed with its commitments and, when cheaper and still valid, with packed
    instances moved to spot (`improve_capacity_types`) where the gangs' usage took the coverage the
    packed jobs' own solve counted on (gangs never move: they are not `spot_ok`)."""
    from optimizer.solver.commitments import bill_plan, improve_capacity_types
    from optimizer.solver.validate import validate_plan

    billed = bill_plan(problem, plan)
    cap = problem.policy.max_instance_types
    moved = bill_plan(
        problem,
        improve_capacity_types(problem, billed, allowed=set(billed.selected) if cap is not None else None),
    )
    if moved.objective_usd < billed.objective_usd - 1e-9 and not validate_plan(
        problem, moved, check_bound=False
    ):
        return moved
    return billed


def _unhostable(problem: Problem, gangs: list[int]) -> str | None:
    for i in gangs:
        if not gang_hosts(problem, i):
            s = problem.shapes[i]
            return (
                f"gang shape {s.id} ({s.nodes} nodes of {s.vcpus:g} vCPU, {s.memory_mib:g} MiB, {s.gpus} GPU"
                + (f", {s.min_network_gbps:g} Gbit/s" if s.min_network_gbps else "")
                + (", EFA" if s.efa else "")
                + ") fits no on-demand offering allowed by the instance requirements "
                f"({problem.policy.instance_requirements.describe()})"
            )
    return None


@dataclass(frozen=True)
class _Packed:
    plan: Plan | None
    bound: float


def solve_with_gangs(problem: Problem, *, clock: Callable[[], float]) -> Plan:
    """Best plan and an honest bound for a problem with gang shapes (see the module docstring)."""
    from optimizer.solver.solve import solve

    start = clock()
    allowed = restrict_to_requirements(problem)
    gangs = [i for i, s in enumerate(problem.shapes) if s.is_gang and problem.demand[i].any()]
    reason = _unhostable(allowed, gangs)
    if reason is not None:
        return empty_plan(problem, "INFEASIBLE", reason, lower_bound=0.0, solve_seconds=clock() - start)
    packed = packed_problem(problem)
    limit = problem.policy.time_limit_seconds
    cap = problem.policy.max_instance_types
    gang_bound = gang_lower_bound(allowed, gangs)
    # Without a cap: the packed jobs' plan and bound, gangs at their cheapest hosts (exact).
    # With one: the packed jobs without the cap give the bound (and a plan, when it leaves room),
    # and with the cap lowered by the offerings the gangs need, the plan.
    relaxed = packed if cap is None else packed.with_policy(replace(packed.policy, max_instance_types=None))
    first = _solve_packed(relaxed, solve, limit * (1.0 if cap is None else RELAXED_SHARE), clock)
    if first.plan is not None and not first.plan.has_solution:
        first.plan.lower_bound_usd += gang_bound
        first.plan.solve_seconds = clock() - start
        return first.plan
    bound = first.bound + gang_bound
    if first.plan is None and problem.commitments:
        # Only gangs: also their list-price cost less the most the commitments can save, which is
        # the stronger bound when a small commitment covers many node-hours.
        from optimizer.solver.commitments import coverage_savings_per_hour

        at_list = gang_bound_by_bucket(allowed, gangs, free=set())
        saved = coverage_savings_per_hour(problem) * problem.bucket_hours
        bound = max(bound, problem.commitment_fees_usd + float(np.maximum(at_list - saved, 0.0).sum()))
    candidates: list[tuple[Plan | None, dict[int, Offering]]] = []
    selected = set(first.plan.selected) if first.plan is not None else set()
    if cap is None or len(selected) <= cap:
        placement = place_gangs(allowed, gangs, selected, None if cap is None else cap - len(selected))
        if placement is not None:
            candidates.append((first.plan, placement))
    needed = place_gangs(allowed, gangs, set(), cap, improve=False) if cap is not None else None
    if cap is not None and needed is not None and first.plan is not None:
        cover = {o.key for o in needed.values()}
        if cap - len(cover) >= 1:
            capped = packed.with_policy(replace(packed.policy, max_instance_types=cap - len(cover)))
            second = _solve_packed(capped, solve, max(0.1, start + limit - clock()), clock)
            if second.plan is not None and second.plan.has_solution:
                hosts = set(second.plan.selected) | cover
                placement = place_gangs(allowed, gangs, hosts, cap - len(hosts))
                if placement is not None:
                    candidates.append((second.plan, placement))
    plans = [
        (*_merge_best(problem, allowed, packed_plan, placement), packed_plan)
        for packed_plan, placement in candidates
    ]
    if not plans:
        return empty_plan(
            problem,
            "INFEASIBLE",
            f"no plan found with at most {cap} offerings that also hosts every gang range "
            "on offerings of its own type",
            lower_bound=bound,
            solve_seconds=clock() - start,
        )
    plan, placement, packed_plan = min(plans, key=lambda pp: pp[0].objective_usd)
    plan.stats["gangs"] = {
        "ranges": len(gangs),
        "node_hours": round(sum(node_hours(problem, i) for i in gangs), 6),
        "hosts": {problem.shapes[i].id: o.key for i, o in sorted(placement.items())},
        "lower_bound_usd": round(gang_bound, 6),
    }
    return _finish(plan, bound, problem.policy.gap_target, clock() - start, packed_plan)


def _solve_packed(
    packed: Problem, solve: Callable[..., Plan], seconds: float, clock: Callable[[], float]
) -> _Packed:
    if not packed.shapes or not packed.demand.any():
        # Only gangs: the packed part's relaxation at mu = 0 is just the commitments' fees (paid
        # whatever runs), which the gang bound, counting covered node-hours as 0, leaves out.
        return _Packed(None, packed.commitment_fees_usd)
    timed = packed.with_policy(replace(packed.policy, time_limit_seconds=max(0.1, seconds)))
    plan = solve(timed, clock=clock)
    return _Packed(plan, plan.lower_bound_usd)


def _finish(plan: Plan, bound: float, gap_target: float, elapsed: float, packed: Plan | None) -> Plan:
    """Status and reason from the merged objective and the bound, as `solve` states them."""
    gap = relative_gap(plan.objective_usd, bound)
    if bound_above_objective(plan.objective_usd, bound):
        status = "FEASIBLE"
        why = (
            f"lower bound ${bound:.6f} is above the plan's objective ${plan.objective_usd:.6f}: "
            "the bound is wrong (a solver bug), so nothing is proven about optimality"
        )
    elif gap <= 1e-6:
        status, why = "OPTIMAL", "objective equals the lower bound"
    elif gap <= gap_target:
        status, why = "FEASIBLE", f"gap {gap:.3%} within target {gap_target:.3%}"
    else:
        status, why = "FEASIBLE", f"gap {gap:.3%} above target {gap_target:.3%}"
    if packed is not None and packed.reason:
        why += f"; packed jobs: {packed.reason}"
    plan.status, plan.reason, plan.lower_bound_usd, plan.gap = status, why, bound, gap
    plan.solve_seconds = elapsed
    return plan


def estimate_with_gangs(problem: Problem, *, clock: Callable[[], float]) -> LpEstimate:
    """`--lp` with gangs: the packed jobs' LP estimate plus each gang range at its cheapest host
    (exact for the gangs without a type cap; the type cap is relaxed, as in the packed LP)."""
    from optimizer.solver.solve import LpEstimate, solve_lp_estimate

    start = clock()
    allowed = restrict_to_requirements(problem)
    gangs = [i for i, s in enumerate(problem.shapes) if s.is_gang and problem.demand[i].any()]
    packed = packed_problem(problem)
    if _unhostable(allowed, gangs) is not None:
        return LpEstimate(0.0, 0.0, True, False, {}, clock() - start)
    base = (
        solve_lp_estimate(packed, clock=clock)
        if packed.shapes and packed.demand.any()
        else LpEstimate(packed.commitment_fees_usd, packed.commitment_fees_usd, True, True, {}, 0.0)
    )
    placement = place_gangs(allowed, gangs, set(), None) or {}
    hours = dict(base.instance_hours)
    for i, o in placement.items():
        hours[o.key] = hours.get(o.key, 0.0) + node_hours(problem, i)
    gang_cost = sum(node_hours(problem, i) * o.price_per_hour for i, o in placement.items())
    return LpEstimate(
        base.lower_bound_usd + gang_lower_bound(allowed, gangs),
        base.lp_objective_usd + gang_cost,
        base.converged,
        base.feasible,
        dict(sorted(hours.items(), key=lambda kv: -kv[1])),
        clock() - start,
    )
