"""Savings Plans and Reserved Instances in the fleet problem: how they bill, and how plans use them.

Billing (`bill_bucket`, the one place the solver prices commitments). In each bucket the on-demand
instance-hours of a plan are covered in AWS's order: Reserved Instances first, then EC2 Instance
Savings Plans, then Compute Savings Plans (document order within a kind). A Savings Plan with
commitment C covers, out of C x hours of plan-rate dollars, the usage with the highest savings
percentage 1 - rate/price first. Covering x instance-hours of a type saves price x x (that usage is
no longer billed on demand) and consumes rate x x of the commitment, so the best coverage is the
fractional knapsack max sum(price x x) s.t. sum(rate x x) <= C x hours, 0 <= x <= usage, whose LP
optimum takes the items in decreasing price/rate order, i.e. decreasing savings percentage: AWS's
rule is exactly what a cost-minimising LP does for one plan (the validator re-derives the greedy
and checks it against that LP). The fee C x hours is paid in every bucket, used or not, and spot is
never covered.

Solving (`solve_with_commitments`). A commitment's budget is per bucket, which the pattern solver's
per-offering prices cannot express, so its budget rows are relaxed with one multiplier mu >= 0 per
commitment (Lagrangian relaxation): with them, coverage is unlimited and costs mu x rate per
instance-hour, so a covered on-demand offering simply costs min(price, min_c mu_c x rate_c) and the
problem is the ordinary fleet problem with those prices. For every mu,
    bound(mu) = solver bound of that problem + fees - sum_c mu_c x capacity_c x all hours
is a valid lower bound on every plan's true objective (the relaxed problem's optimum can only be
lower). mu is found by bisection on the sign of each budget's subgradient using the fast LP
estimate, the full solver then runs once at the best mu, and its plan is re-billed exactly and
improved bucket by bucket (`improve_capacity_types`: moving instances between on-demand and spot of
the same type, or under a type cap of any of the plan's types that hosts them, so on-demand fills
the commitment and spot takes what lies beyond it; under spot rows only the moves that keep them).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, NamedTuple, Protocol

import numpy as np

from optimizer.solver.plan import Bin, Plan, relative_gap
from optimizer.solver.policy import Policy
from optimizer.solver.problem import Commitment, Offering, Problem, Shape

if TYPE_CHECKING:
    from optimizer.solver.bound_process import BackgroundBound
    from optimizer.solver.column_generation import Certificate, LpOutcome
    from optimizer.solver.columns import Prepared
    from optimizer.solver.commitment_classes import Pattern
    from optimizer.solver.committed_master import MasterPlan
    from optimizer.solver.partition_bound import PartitionBound
    from optimizer.solver.solve import LpEstimate

#: Bisection rounds on the multipliers (each one an LP estimate of the relaxed problem).
MULTIPLIER_ROUNDS = 8
#: Share of the time limit the multiplier search may use; the final solve gets the rest.
SEARCH_TIME_SHARE = 0.5
#: Share of what is left after the search for the relaxed problem's full solve; the rest re-solves
#: the jobs the commitments do not cover at list prices.
RELAXED_SOLVE_SHARE = 0.5
#: Under policies that couple buckets: share of the time limit the commitment-blind solve gets
#: first (its billed plan is the one the committed solve must beat, and the plan when it finds none).
#: The relaxed solve, which prices the commitment, is where a 9 s limit pays: on the README policy
#: (2026-12-05, 2 cores under load) at 0.6 the committed plans were the blind ones ($639.56 on the
#: KTH week, $5,092 on Alibaba's); at 0.3 they were $623-626 and $4,568-4,834, and the blind plan
#: itself rose by 1-3 % only. At 0.15 the blind plan was $655.65 instead of $653.00 on the KTH week
#: and $5,233 instead of $5,209 on Alibaba's, and the time it gives up goes to the per-class stage.
#: Back at 0.3 once the budget-first plan and the committed LP's child came (the child now starts
#: from the blind solve's first LP, so the longer blind stage costs its bound nothing): 2026-12-06,
#: idle 2-core Xeon, 4-5 runs each against 4 at 0.15, the README rows of `benchmarks.commitments`
#: KTH $592.97 (one run $598.07) against $597.89, Alibaba $4,065-4,089 against $4,107-4,111, their
#: ten-minute weeks the same ($448.07; $4,083-4,092 against $4,089-4,092); the demo's cpu-short
#: $752-784 (mean $763) against $771-772, memory-heavy $430.9-431.0 against $429.6-430.8, cpu-batch
#: and gpu-training the same. At 0.4-0.5 cpu-short's blind plan was $729 in 3 runs of 4, but the
#: budget-first plan lost its time (cpu-batch $799.78 once, against $761.59 in every other run).
BLIND_TIME_SHARE = 0.3
#: Under coupling policies, the blind stage's share where the commitments are small next to the work
#: (`blind_time_share`). Why: there the commitment-aware stages can move the plan by little, and
#: the blind plan, which their time was taken from, is most of the answer. On the demo's
#: memory-heavy queue (a $0.046-an-hour Savings Plan beside 8,636 five-minute buckets) the blind
#: solve reaches $424 at list prices in 3 s and $391 in 7 s: the committed plan was $430-436 at 0.3
#: (the budget-first plan) and $418.5-419.5 at 0.6 (the blind plan); cpu-short $760-782 against
#: $729-732 (2026-12-06, idle 2-core Xeon, two demo windows, 2 runs each). At 0.45 neither moved
#: (the blind solves' good plans come later), and on the other queues (commitments larger next to
#: their work) 0.45-0.6 left cpu-batch the same and made gpu-training 0.2-0.4 % dearer; on the
#: benchmark's weeks, whose Savings Plan covers half the demand, 0.6 lost 2-3 % (above).
SMALL_COMMITMENT_BLIND_SHARE = 0.6
#: Commitments are "small" when the most they can take off list prices over the horizon
#: (`coverage_savings_per_hour` x hours) is below this share of the cheapest cost of the work
#: without them (`resource_bound.resource_bound`, the policy's spot share priced): 0.17-0.18 on the
#: demo's memory-heavy queue and 0.38-0.39 on cpu-short, 0.61 on gpu-training, 0.79-0.81 on
#: cpu-batch, 1.28-1.31 on the benchmark's KTH and Alibaba weeks.
SMALL_COMMITMENT_RATIO = 0.5
#: The blind solve's first LP may run past its share, up to this share of the limit: without it
#: the blind plan is the cheapest-fit one (the Alibaba week in ten-minute buckets under the README
#: policy: its first LP takes 1.2 s, the share is 1.35 s, and the committed plan, blind, was
#: $5,765 with a 44 % gap).
BLIND_FIRST_LP_SHARE = 0.5
#: Under policies that couple buckets: share of what is left after the blind solve for the
#: multiplier search (on the problem without the coupling rows, `without_coupling`); the relaxed
#: solve gets the rest, and no re-solve of the uncovered jobs follows (it found nothing better in
#: the second it had, and the relaxed solve needs the time). At 0.3 instead of 0.35 the bounds were
#: the same to the cent on the KTH week ($553.80) and within $0.10 on Alibaba's.
COUPLED_SEARCH_SHARE = 0.3
#: Under policies that couple buckets: share of what is left after the search for the relaxed
#: solve; the per-class re-solve on its offerings (`commitment_coupled.py`) gets the rest. With the
#: shares above the relaxed solve keeps about the 3.2 s of a 9 s limit it had before (at 2.7-2.9 s
#: it found no plan on the Alibaba week in 2 runs of 4; at these shares in 1 of 9) and the stage
#: gets about 2 s instead of 0.6-0.75 s: over 2 runs each (2026-12-05, load 1.4-1.9) $606.82 and
#: $4,221-4,255 where the old shares gave $617.94-638.30 and $4,422-4,429.
COUPLED_RELAXED_SHARE = 0.6
#: Under policies that couple buckets: most of the time limit the budget-first plan gets, between the
#: multiplier search and the relaxed solve, out of the relaxed solve's time (`commitment_prefill.py`:
#: covered on-demand instances in every bucket, the rest of the jobs solved at list prices under the
#: policy). Run after the relaxed solve, out of the class stage's time, it found no time on the demo's
#: gpu-training queue, whose relaxed solve ran past the limit (2026-12-05, one run each, after /
#: here: gpu-training $5,054.61 / $4,217.33, memory-heavy $562.61 / $560.77, the Alibaba week
#: $4,400.38 / $4,361.65, the KTH week $598.83 / $596.54, cpu-batch $833.84 both; the relaxed plan
#: was kept on none of them). Its time must not come from the search, whose bound it would cost
#: (the session before, taken from the search and the relaxed solve: the Alibaba bound fell to $3,341).
PREFILL_TIME_SHARE = 0.25
#: When the blind solve found no plan: share of what is left for the multiplier search.
RESCUE_SEARCH_SHARE = 0.1


def bound_note(
    policy: Policy,
    *,
    share_priced: bool = False,
    budget_exact: bool = False,
    budget_rows: bool = False,
    whole_classes: bool = False,
) -> str:
    """What a committed plan's lower bound leaves out, in a reader's words: the gap is the most the
    plan can cost above the cheapest plan that meets the policy, and with commitments the bound
    sits lower than the cheapest plan for known reasons (docs/problem-and-plan.md, Known limits),
    so a wide gap says the proof is weak, not that the plan is that far off. No solver terms: the
    reason is shown under the Fleet mix gap (a FinOps reader stopped at "relaxes" and "spot rows").
    `share_priced`: the bound priced the spot-share cap (the per-class partition bound) instead
    of leaving it out, so only the rows it does leave out are named. `budget_exact`: some bucket
    classes (the most frequent hours) were priced by their exact bill, the budget held.
    `budget_rows`: the bound is the committed LP's (`committed_lp.py`), which holds every hour to
    the budget and keeps the spot rows, and leaves out whole instances and the type cap;
    `whole_classes`: with whole instances in the costliest hours (`committed_class_bills.py`)."""
    nearer = "so the plan is likely nearer the cheapest one than the gap says"
    if budget_rows:
        left_out = "counts instances fractionally" + (" outside the costliest hours" if whole_classes else "")
        if policy.max_instance_types is not None:
            left_out += " and leaves out the instance-type cap"
        held = "holds each hour to the commitment's budget"
        return f"the lower bound is loose: it {held} but {left_out}, {nearer}"
    left_out = (
        "holds each hour to the commitment's budget only in its most common hours, pricing it in the rest"
        if budget_exact
        else "prices the commitment instead of holding each hour to its budget"
    )
    dropped: list[str] = []
    if policy.couples_buckets:
        if policy.max_instance_types is not None:
            dropped.append("the instance-type cap")
        if policy.diversification:
            dropped.append("the spread over spot types")
        if policy.max_spot_share is not None and not share_priced:
            dropped.append("the spot-share cap")
    if dropped:
        left_out += (", and" if budget_exact else " and") + " leaves out " + " and ".join(dropped)
    return f"the lower bound is loose: it {left_out}, {nearer}"


def _aws_order(commitments: Sequence[Commitment]) -> list[Commitment]:
    rank = {"RESERVED_INSTANCE": 0, "EC2_INSTANCE_SAVINGS_PLAN": 1, "COMPUTE_SAVINGS_PLAN": 2}
    return sorted(commitments, key=lambda c: rank[c.type])  # stable: document order within a kind


@dataclass
class BucketBill:
    """How one bucket's on-demand usage is covered."""

    savings_usd: float  # on-demand dollars not billed thanks to the commitments
    consumed: dict[str, float]  # per commitment id: capacity used (plan-rate USD, or RI instance-hours)
    covered_usd: dict[str, float]  # per commitment id: on-demand value of the usage it covered
    covered_hours: dict[str, float]  # per instance type: instance-hours covered by any commitment


def bill_bucket(
    commitments: Sequence[Commitment],
    on_demand_hours: Mapping[str, float],
    on_demand_price: Mapping[str, float],
    bucket_hours: float,
) -> BucketBill:
    """Cover one bucket's on-demand instance-hours (per instance type) the way AWS applies them."""
    remaining = {t: h for t, h in on_demand_hours.items() if h > 0}
    savings = 0.0
    consumed: dict[str, float] = {}
    covered: dict[str, float] = {}
    hours_covered: dict[str, float] = {}
    for c in _aws_order(commitments):
        budget = c.capacity_per_hour * bucket_hours
        use = {c.instance_type: 1.0} if c.is_reserved else c.rates
        items = [t for t in remaining if t in use and remaining[t] > 0]
        # Highest savings percentage first: decreasing price / rate (see the module docstring).
        items.sort(key=lambda t: (-on_demand_price[t] / use[t], t))
        spent = value = 0.0
        for t in items:
            if budget - spent <= 1e-12:
                break
            x = min(remaining[t], (budget - spent) / use[t])
            remaining[t] -= x
            hours_covered[t] = hours_covered.get(t, 0.0) + x
            spent += x * use[t]
            value += x * on_demand_price[t]
        consumed[c.id] = consumed.get(c.id, 0.0) + spent
        covered[c.id] = covered.get(c.id, 0.0) + value
        savings += value
    return BucketBill(savings, consumed, covered, hours_covered)


def _on_demand_prices(problem: Problem) -> dict[str, float]:
    return {o.instance_type: o.price_per_hour for o in problem.offerings if not o.is_spot}


def _bucket_usage(offerings: Mapping[str, Offering], bins: Sequence[Bin], hours: float) -> dict[str, float]:
    usage: dict[str, float] = {}
    for b in bins:
        o = offerings[b.offering]
        if not o.is_spot:
            usage[o.instance_type] = usage.get(o.instance_type, 0.0) + b.instance_hours(hours)
    return usage


def bill_plan(problem: Problem, plan: Plan) -> Plan:
    """`plan` with its money recomputed at the problem's real prices and commitments.

    cost_usd = bins at list price - covered on-demand usage + every commitment's fee for every
    bucket; objective_usd the same with spot's expected re-run cost; commitment_usd the fees;
    `commitments` the utilization of each (capacity used / capacity paid for over the horizon)."""
    offerings = {o.key: o for o in problem.offerings}
    prices = _on_demand_prices(problem)
    hours = problem.bucket_hours
    icf = problem.policy.interruption_cost_factor
    cost = objective = savings = 0.0
    consumed = {c.id: 0.0 for c in problem.commitments}
    covered = {c.id: 0.0 for c in problem.commitments}
    for bins in plan.buckets:
        for b in bins:
            o = offerings[b.offering]
            cost += b.instance_hours(hours) * o.price_per_hour
            objective += b.instance_hours(hours) * o.hourly_objective(icf)
        if problem.commitments:
            bill = bill_bucket(problem.commitments, _bucket_usage(offerings, bins, hours), prices, hours)
            savings += bill.savings_usd
            for cid, v in bill.consumed.items():
                consumed[cid] += v
            for cid, v in bill.covered_usd.items():
                covered[cid] += v
    horizon_hours = problem.n_buckets * hours
    fees = problem.commitment_fees_usd
    usage = [
        {
            "id": c.id,
            "type": c.type,
            "utilization": round(consumed[c.id] / (c.capacity_per_hour * horizon_hours), 6)
            if horizon_hours > 0
            else 0.0,
            "covered_usd": round(covered[c.id], 6),
        }
        for c in problem.commitments
    ]
    has_bins = plan.has_solution
    out = replace(
        plan,
        cost_usd=cost - savings + fees if has_bins else 0.0,
        objective_usd=objective - savings + fees if has_bins else 0.0,
        commitment_usd=fees if has_bins else 0.0,
        commitments=usage if has_bins else [],
    )
    out.gap = relative_gap(out.objective_usd, out.lower_bound_usd) if has_bins else 0.0
    return out


# ---------------------------------------------------------------------------------------------------
# Lagrangian relaxation of the per-bucket budgets


def _uses(problem: Problem) -> dict[str, dict[str, float]]:
    """Per commitment id: capacity one instance-hour of each covered on-demand offering consumes."""
    out: dict[str, dict[str, float]] = {}
    for c in problem.commitments:
        out[c.id] = {}
        for o in problem.offerings:
            a = c.use_per_instance_hour(o)
            if a is not None:
                out[c.id][o.key] = a
    return out


def multiplier_ceiling(problem: Problem) -> dict[str, float]:
    """Per commitment, the multiplier at which coverage is worth nothing (max price / use)."""
    uses = _uses(problem)
    price = {o.key: o.price_per_hour for o in problem.offerings}
    return {cid: max((price[k] / a for k, a in u.items()), default=0.0) for cid, u in uses.items()}


def relaxed_problem(problem: Problem, mu: Mapping[str, float]) -> Problem:
    """The fleet problem without commitments whose covered on-demand offerings cost
    min(price, min_c mu_c x use_c): the Lagrangian relaxation of the budgets at `mu`."""
    uses = _uses(problem)
    offerings = []
    for o in problem.offerings:
        price = o.price_per_hour
        for cid, u in uses.items():
            if o.key in u:
                price = min(price, mu[cid] * u[o.key])
        offerings.append(o if price == o.price_per_hour else replace(o, price_per_hour=price))
    return problem.with_offerings(offerings).with_commitments(())


def blind_time_share(problem: Problem) -> float:
    """Share of the limit the commitment-blind solve gets first under coupling policies:
    `SMALL_COMMITMENT_BLIND_SHARE` where the commitments can take off less than
    `SMALL_COMMITMENT_RATIO` of the work's cheapest cost without them, else `BLIND_TIME_SHARE`.
    A time split only: the plans kept and the bounds are the same kinds either way."""
    from optimizer.solver.resource_bound import resource_bound

    hours = problem.n_buckets * problem.bucket_hours
    floor = resource_bound(problem.with_commitments(()))
    small = coverage_savings_per_hour(problem) * hours < SMALL_COMMITMENT_RATIO * floor
    return SMALL_COMMITMENT_BLIND_SHARE if small else BLIND_TIME_SHARE


def coverage_savings_per_hour(problem: Problem) -> float:
    """The most the commitments can take off list prices in one hour: covered usage is paid by the
    fee, so each unit of a commitment's hourly capacity takes off at most the list price of the
    usage it can cover, price / rate per plan-rate dollar of a Savings Plan, the price per reserved
    instance-hour. Budgets do not carry over between hours, so in a bucket any plan costs at least
    max(0, its list cost - this x bucket hours), plus the fees: a bound where the multipliers' one
    (covered usage at 0) is weak, as when a small share of a plan covers many node-hours."""
    total = 0.0
    for c in problem.commitments:
        best = 0.0
        for o in problem.offerings:
            use = c.use_per_instance_hour(o)
            if use is not None and use > 0.0:
                best = max(best, o.price_per_hour / use)
        total += c.capacity_per_hour * best
    return total


def dual_coverage_savings(problem: Problem, prep: Prepared, certificate: Certificate) -> float:
    """What the commitments can take off a certified LP bound of `problem` without them (one
    column-generation round's `certificate`), at that round's job values: the certificate's bound
    + fees - this is a lower bound on every committed plan.

    Why. `coverage_savings_per_hour` credits each covered instance-hour with its list price, but a
    covered instance only saves what its jobs would cost elsewhere, and where spot is cheap that is
    far less: on the demo's cpu-short queue (README policy, a Compute Savings Plan of $0.20 an hour)
    the list credit leaves a bound of $527.87 under plans of $682-766.

    The argument. Take any committed plan P and remove, in each bucket, the (fractional)
    instance-hours its commitments cover, with the jobs on them (Delta). What is left hosts
    demand - Delta, keeps P's spot usage, so meets the same spot-share row (its right-hand side is
    a share of the whole demand's vCPU-hours, a constant) and diversification rows, and costs P's
    list cost less the covered list price, which is P's committed cost less the fees. The round's
    certificate is a Lagrangian bound at the demand rows' duals pi (or Farley's, at pi scaled
    down): at demand d - Delta the same duals certify at least the certificate - pi . Delta (its
    bin counts only shrink with the demand). A covered instance of offering o hosts jobs worth at
    most V(o, u) per hour in bucket class u (a pattern's value at pi, bounded by capacity times
    the best value density of each dimension, by the class's whole demand and, for a prepared
    offering, by its cost less the round's lower bound on its reduced cost: its price where no
    pattern prices out), and each commitment covers at
    most its capacity per hour, spread over its offerings at use(o) each: so pi . Delta in a
    bucket of class u is at most sum_c capacity_c max_o V(o, u) / use_c(o), and never more than
    the class's demand is worth. The type cap is not in the LP: the bound relaxes it."""
    values = np.where(prep.demand > 0, np.maximum(certificate.item_value, 0.0), 0.0)  # (S, U)
    worth = (values * prep.demand).sum(axis=0)  # (U,) the class's whole demand
    sizes = prep.sizes
    with np.errstate(divide="ignore", invalid="ignore"):
        # Per dimension, each job's value per unit of it (inf: a valued job that needs none of it).
        per_unit = np.where(sizes[:, :, None] > 0, values[:, None, :] / sizes[:, :, None], np.inf)
        density = np.where(values[:, None, :] > 0, per_unit, 0.0)  # (S, 3, U)
    shapes = prep.problem.shapes
    prepared = {o.key: k for k, o in enumerate(prep.offerings)}
    bound_by_host: dict[tuple[bool, ...], tuple[np.ndarray, np.ndarray]] = {}

    def most(o: Offering) -> np.ndarray:
        """(U,) the most one instance-hour of `o` can host, at pi."""
        hosts = tuple(o.can_host(sh) for sh in shapes)
        if hosts not in bound_by_host:
            mask = np.array(hosts, dtype=bool)
            whole = np.where(mask[:, None], values * prep.demand, 0.0).sum(axis=0)
            best = np.where(mask[:, None, None], density, 0.0).max(axis=0) if mask.any() else None
            bound_by_host[hosts] = (whole, np.zeros((3, prep.n_classes)) if best is None else best)
        whole, best = bound_by_host[hosts]
        caps = np.array([o.vcpus, o.memory_mib, o.gpus], dtype=float)
        with np.errstate(invalid="ignore"):
            per_dim = np.where(np.isinf(best), np.inf, caps[:, None] * best)
        out = np.minimum(whole, per_dim.min(axis=0))
        k = prepared.get(o.key)
        return out if k is None else np.minimum(out, o.price_per_hour - certificate.least_rc[k])

    uses = problem.commitment_uses(problem.offerings)  # (O, C), +inf where not covered
    takes = np.isfinite(uses) & (uses > 0.0)
    best = np.zeros((len(problem.commitments), prep.n_classes))  # (C, U) per unit of capacity
    for i in np.flatnonzero(takes.any(axis=1)):
        row = takes[i]
        best[row] = np.maximum(best[row], most(problem.offerings[i])[None, :] / uses[i, row][:, None])
    capacity = np.array([c.capacity_per_hour for c in problem.commitments])
    return float(np.minimum(capacity @ best, worth) @ (prep.weight * prep.hours))


def relaxation_constant(problem: Problem, mu: Mapping[str, float]) -> float:
    """What to add to the relaxed problem's bound: fees - sum_c mu_c x capacity_c x all hours."""
    horizon_hours = problem.n_buckets * problem.bucket_hours
    return problem.commitment_fees_usd - sum(
        mu[c.id] * c.capacity_per_hour * horizon_hours for c in problem.commitments
    )


def _subgradients(
    problem: Problem, mu: Mapping[str, float], instance_hours: Mapping[str, float]
) -> dict[str, float]:
    """Per commitment: capacity the relaxed solution consumes minus what it pays for (> 0: raise mu)."""
    uses = _uses(problem)
    price = {o.key: o.price_per_hour for o in problem.offerings}
    horizon_hours = problem.n_buckets * problem.bucket_hours
    consumed = {c.id: 0.0 for c in problem.commitments}
    for key, h in instance_hours.items():
        best, best_cid = price.get(key, 0.0), None
        for cid, u in uses.items():
            if key in u and mu[cid] * u[key] < best:
                best, best_cid = mu[cid] * u[key], cid
        if best_cid is not None:
            consumed[best_cid] += h * uses[best_cid][key]
    return {c.id: consumed[c.id] - c.capacity_per_hour * horizon_hours for c in problem.commitments}


# ---------------------------------------------------------------------------------------------------
# Incumbent improvement: the same instance type, bought the other way


def _bucket_objective(
    problem: Problem, offerings: Mapping[str, Offering], prices: Mapping[str, float], bins: Sequence[Bin]
) -> float:
    hours = problem.bucket_hours
    icf = problem.policy.interruption_cost_factor
    gross = sum(b.instance_hours(hours) * offerings[b.offering].hourly_objective(icf) for b in bins)
    usage = _bucket_usage(offerings, bins, hours)
    return gross - bill_bucket(problem.commitments, usage, prices, hours).savings_usd


def _move(bins: list[Bin], index: int, target: str, m: int) -> list[Bin]:
    """`m` instances of bin `index` moved to offering `target` (same jobs, held as long), merged
    where identical."""
    src = bins[index]
    out = [b for k, b in enumerate(bins) if k != index]
    if src.count > m:
        out.append(replace(src, count=src.count - m))
    for k, b in enumerate(out):
        if b.offering == target and dict(b.jobs) == dict(src.jobs) and b.hours == src.hours:
            out[k] = replace(b, count=b.count + m)
            return out
    out.append(replace(src, offering=target, count=m))
    return out


def twin_offering(offerings: Mapping[str, Offering], o: Offering) -> Offering | None:
    """The same instance type bought the other way (on-demand <-> spot), when `offerings` (by key)
    has it at the same size: the move that fills a commitment or takes what lies beyond it."""
    other = offerings.get(f"{o.instance_type}/{'ON_DEMAND' if o.is_spot else 'SPOT'}")
    if other is None or (other.vcpus, other.memory_mib, other.gpus) != (o.vcpus, o.memory_mib, o.gpus):
        return None
    return other


class RowGuard(Protocol):
    """Rows over all buckets a bucket's change must keep (a policy's spot rows), given the rest of
    the plan: `allows` asks whether replacing one bucket's `old` bins by `new` keeps them, `take`
    records that replacement."""

    def allows(self, old: Sequence[Bin], new: Sequence[Bin]) -> bool: ...

    def take(self, old: Sequence[Bin], new: Sequence[Bin]) -> None: ...


def _hosts_jobs(o: Offering, shapes: Mapping[str, Shape], jobs: Mapping[str, int]) -> bool:
    """One instance of `o` may host `jobs` (per shape id) together: each shape allowed on it (spot
    only for `spot_ok` shapes, the instance requirements) and their sum within its capacity."""
    used = [s for s, n in jobs.items() if n]
    if not all(o.can_host(shapes[s]) for s in used):
        return False
    vcpus = sum(jobs[s] * shapes[s].vcpus for s in used)
    memory = sum(jobs[s] * shapes[s].memory_mib for s in used)
    gpus = sum(jobs[s] * shapes[s].gpus for s in used)
    return vcpus <= o.vcpus + 1e-9 and memory <= o.memory_mib + 1e-9 and gpus <= o.gpus


def improve_capacity_types(
    problem: Problem,
    plan: Plan,
    *,
    allowed: set[str] | None = None,
    rows: RowGuard | None = None,
    deadline: float = float("inf"),
    clock: Callable[[], float] | None = None,
) -> Plan:
    """Per bucket, move instances between the spot and on-demand offerings of their own type while
    that lowers the bucket's billed objective: on-demand fills the commitments, spot takes the rest.

    The jobs of a moved instance do not change, so fit and demand stay as they were; a move to spot
    needs every job's shape `spot_ok`. `allowed` limits the target offerings (a type cap). `rows`:
    the spot rows over all buckets (share cap, diversification) each move must keep; the buckets
    are then passed over again while a pass moved something, since one bucket's move to on-demand
    (filling an idle hour's commitment) leaves room in the rows for another's move to spot (past a
    busy hour's budget). `deadline` (on `clock`) stops the passes between buckets, keeping the
    moves taken (each lowers its bucket's cost and keeps the rows): on the demo's gpu-training
    queue (3,305 buckets, 8,550 bins under the README policy) the passes took 49 s without it."""
    offerings = {o.key: o for o in problem.offerings}
    prices = _on_demand_prices(problem)
    shapes = {s.id: s for s in problem.shapes}
    twin: dict[str, str] = {}
    for o in problem.offerings:
        other = twin_offering(offerings, o)
        if other is not None and (allowed is None or other.key in allowed):
            twin[o.key] = other.key
    other_way = {
        spot: [offerings[k] for k in sorted(allowed or ()) if k in offerings and offerings[k].is_spot != spot]
        for spot in (False, True)
    }
    hosts: dict[tuple[str, tuple], list[str]] = {}

    def targets(b: Bin) -> list[str]:
        # Under a type cap the plan's offerings rarely hold both halves of a type (on the KTH week's
        # README plans, none): a bin may then go to any of them bought the other way that hosts its
        # jobs, so on-demand can still fill the commitment and spot take what lies beyond it.
        key = (b.offering, tuple(sorted(b.jobs.items())))
        if key not in hosts:
            found = [twin[b.offering]] if b.offering in twin else []
            if allowed is not None:
                found += [o.key for o in other_way[offerings[b.offering].is_spot]
                          if o.key not in found]  # fmt: skip
            hosts[key] = [t for t in found if _hosts_jobs(offerings[t], shapes, b.jobs)]
        return hosts[key]

    hours = problem.bucket_hours
    icf = problem.policy.interruption_cost_factor
    hourly = {k: o.hourly_objective(icf) for k, o in offerings.items()}

    def totals(bins: list[Bin]) -> tuple[dict[str, float], float, float]:
        """(on-demand usage per type, objective before the commitments, billed objective)."""
        usage = _bucket_usage(offerings, bins, hours)
        gross = sum(b.instance_hours(hours) * hourly[b.offering] for b in bins)
        return usage, gross, gross - bill_bucket(problem.commitments, usage, prices, hours).savings_usd

    buckets = [list(bins) for bins in plan.buckets]
    changed = True
    while changed:
        changed = False
        for t, bins in enumerate(buckets):
            if clock is not None and clock() > deadline:
                changed = False
                break
            current = bins
            usage, gross, value = totals(current)
            while True:
                # (billed objective, the bucket's bins after the move): each candidate priced from
                # the bucket's totals, its bins rebuilt only for the moves that would be taken
                best: tuple[float, list[Bin]] | None = None
                for k, b in enumerate(current):
                    src = offerings[b.offering]
                    each = b.instance_hours(hours) / b.count
                    for target in targets(b):
                        dst = offerings[target]
                        m = 1
                        while True:
                            n = min(m, b.count)
                            after = dict(usage)
                            if not src.is_spot:
                                after[src.instance_type] = after[src.instance_type] - n * each
                            if not dst.is_spot:
                                after[dst.instance_type] = after.get(dst.instance_type, 0.0) + n * each
                            v = (
                                gross
                                + n * each * (hourly[target] - hourly[b.offering])
                                - bill_bucket(problem.commitments, after, prices, hours).savings_usd
                            )
                            if v < value - 1e-9 and (best is None or v < best[0]):
                                moved = _move(current, k, target, n)
                                if rows is None or rows.allows(current, moved):
                                    best = (v, moved)
                            if m >= b.count:
                                break
                            m *= 2
                if best is None:
                    break
                if rows is not None:
                    rows.take(current, best[1])
                current = best[1]
                usage, gross, value = totals(current)
                changed = rows is not None  # (without rows one pass reaches the same bins)
            buckets[t] = current
    used = sorted({b.offering for bins in buckets for b in bins})
    return replace(plan, buckets=buckets, selected=used)


# ---------------------------------------------------------------------------------------------------
# The solve


def solve_with_commitments(problem: Problem, *, clock: Callable[[], float]) -> Plan:
    """Best plan and an honest bound for a problem with commitments (see the module docstring).

    Without a policy row that couples buckets, every bucket is its own problem, so buckets are split
    into up to `BUCKET_GROUPS` groups of similar demand, each with its own multipliers: one mu for
    a week that is busy by day and idle by night prices the commitment wrongly for both halves."""
    from optimizer.solver.commitment_classes import improve_by_class
    from optimizer.solver.requirements import restrict_to_requirements
    from optimizer.solver.solve import is_last_resort
    from optimizer.solver.validate import validate_plan

    start = clock()
    problem = restrict_to_requirements(problem)
    policy = problem.policy
    by_class = not policy.couples_buckets and not any(s.is_gang for s in problem.shapes)
    groups = _bucket_groups(problem) if not policy.couples_buckets else [np.arange(problem.n_buckets)]
    groups = [g for g in groups if g.size]
    buckets: list[list[Bin]] = [[] for _ in range(problem.n_buckets)]
    bound = 0.0
    stats: dict = {"commitment_groups": []}
    first: Plan | None = None
    patterns: set[Pattern] = set()
    bucket_bounds = np.zeros(problem.n_buckets)
    blind: _Blind | None = None
    # The committed LP's bound, in a child on the core the plan stages leave idle, with or without
    # coupling rows: on the Alibaba week in ten-minute buckets, no policy, it is $3,482.69 where
    # the groups' multipliers and the per-job charges stop near $3,100 (plans about $3,590). It
    # starts from the blind solve's first LP, as soon as that LP is certified, so it overlaps the
    # rest of the blind solve (`blind_time_share`).
    from optimizer.solver.committed_lp import start_committed_lp

    lp_end = start + policy.time_limit_seconds * (1.0 - FINISH_SHARE)
    committed_lp: BackgroundBound | None = None
    lp_started = False

    def start_lp(seed: tuple[Prepared, LpOutcome] | None) -> None:
        nonlocal committed_lp, lp_started
        if not lp_started:
            lp_started = True
            committed_lp = start_committed_lp(problem, seed, deadline=lp_end, clock=clock)

    if policy.couples_buckets or by_class:
        # Without a coupling row too: the groups' relaxed solves price the commitment at one
        # multiplier per group, and where they find no good plan in their share the committed plan
        # was dearer than ignoring the commitment (the Alibaba week in ten-minute buckets, no
        # policy: $5,120-5,478 against the blind plan's $4,913, both billed with the plan).
        share = blind_time_share(problem) if policy.couples_buckets else UNCOUPLED_BLIND_SHARE
        blind = _blind_candidate(
            problem, deadline=start + share * policy.time_limit_seconds, clock=clock, on_lp=start_lp
        )
        if blind is not None:
            stats["blind_objective_usd"] = round(blind.billed.objective_usd, 6)
    start_lp(None)  # (no blind LP certified: the child starts from the problem's own columns)
    prefill: Plan | None = None
    partition = None
    if by_class:
        partition_ends = clock() + UNCOUPLED_PARTITION_SHARE * policy.time_limit_seconds
        partition = _class_covers(problem, deadline=partition_ends, clock=clock)
    if partition is not None:
        patterns |= partition.patterns
        stats["partition_bound_usd"] = round(partition.bound, 6)
        stats["partition_exact_bills"] = partition.exact_bills
    groups_start = clock()
    groups_seconds = max(0.0, start + policy.time_limit_seconds - groups_start) * (
        GROUPS_TIME_SHARE if by_class else 1.0
    )

    def run_budget_first() -> None:
        """The budget-first plan, between the multiplier search (its bound stays whole) and the
        relaxed solve (module constant `PREFILL_TIME_SHARE`)."""
        from optimizer.solver.commitment_prefill import prefill_candidate

        nonlocal prefill
        if blind is not None and not is_last_resort(blind.billed):
            ends = min(start + policy.time_limit_seconds * (1.0 - FINISH_SHARE),
                       clock() + PREFILL_TIME_SHARE * policy.time_limit_seconds)  # fmt: skip
            prefill = prefill_candidate(problem, blind.own, deadline=ends, clock=clock)

    for n, idx in enumerate(groups):
        deadline = groups_start + groups_seconds * (n + 1) / len(groups)
        sub = problem.with_buckets(idx)
        plan, sub_bound, found, sub_stats = _solve_group(
            sub,
            deadline=deadline,
            clock=clock,
            by_class=by_class,
            # A blind plan that is only the search's all-on-demand last resort leaves the relaxed
            # solve the rescue's time as if there were none.
            rescue=policy.couples_buckets and (blind is None or is_last_resort(blind.billed)),
            before_relaxed=run_budget_first if policy.couples_buckets else None,
            first_plan_seconds=0.0 if blind is None else blind.own.solve_seconds,
        )
        patterns |= found.patterns
        if found.bucket_bounds is not None:
            bucket_bounds[idx] = found.bucket_bounds
        stats["commitment_groups"].append({"buckets": int(idx.size), **sub_stats})
        if blind is not None and policy.couples_buckets:  # one group: the whole horizon
            sub_bound = max(sub_bound, blind.bound)
            if not plan.has_solution or blind.billed.objective_usd < plan.objective_usd:
                stats["blind_plan_kept"] = True
                plan = blind.billed
        elif blind is not None and not plan.has_solution:  # the group's buckets as the blind plan has them
            stats["commitment_groups"][-1]["blind_buckets"] = True
            plan = replace(blind.billed, buckets=[blind.billed.buckets[t] for t in idx.tolist()])
        if not plan.has_solution:
            out = bill_plan(problem, replace(plan, buckets=[[] for _ in range(problem.n_buckets)]))
            out.stats, out.solve_seconds = stats, clock() - start
            return out
        first = first or plan
        bound += sub_bound
        for k, t in enumerate(idx.tolist()):
            buckets[t] = plan.buckets[k]
    assert first is not None
    if partition is not None:
        # Every bucket is its own problem here, so each keeps the better of its two lower bounds.
        bucket_bounds = np.maximum(bucket_bounds, partition.bucket_bounds)
        bound = max(bound, partition.bound, problem.commitment_fees_usd + float(bucket_bounds.sum()))
    selected = sorted({b.offering for bins in buckets for b in bins})
    plan = bill_plan(problem, replace(first, buckets=buckets, selected=selected, lower_bound_usd=bound))
    if blind is not None and not policy.couples_buckets:
        bound = max(bound, blind.bound)
        plan.lower_bound_usd = bound
        if blind.billed.objective_usd < plan.objective_usd:
            stats["blind_plan_kept"] = True
            plan = replace(blind.billed, lower_bound_usd=bound)
    improved: Plan | None = None
    # After the per-class stage: its plan billed, checked, moved and billed and checked again.
    finish = max(
        FINISH_SHARE * policy.time_limit_seconds,
        FINISH_CHECKS * (0.0 if blind is None else blind.check_seconds),
    )
    deadline = start + policy.time_limit_seconds - finish
    if prefill is not None:
        stats["prefill_objective_usd"] = round(prefill.objective_usd, 6)
        if prefill.objective_usd < plan.objective_usd:
            stats["prefill_plan_kept"] = True
            stats.pop("blind_plan_kept", None)
            plan = replace(prefill, lower_bound_usd=bound)
    if policy.couples_buckets:
        # On the plan kept, relaxed or blind: when the relaxed solve found none in its share (the
        # Alibaba week under the README policy, one run in two), the blind plan gets the time left.
        from optimizer.solver.commitment_coupled import improve_by_class_coupled

        improved = improve_by_class_coupled(
            problem, plan, patterns, bucket_bounds=bucket_bounds, deadline=deadline, clock=clock
        )
    elif by_class:
        improved = improve_by_class(
            problem, plan, patterns, bucket_bounds=bucket_bounds, deadline=deadline, clock=clock
        )
    if (
        improved is not None
        and improved.objective_usd < plan.objective_usd
        and not validate_plan(problem, improved, check_bound=False)
    ):
        stats["by_class_improvement_usd"] = round(plan.objective_usd - improved.objective_usd, 6)
        plan = improved
    if policy.couples_buckets:
        # The class stage's MIPs stop early and leave classes it had no time for: the same-type
        # moves under the spot rows take what they left at the budget's edge.
        _, moved = _billed_and_moved(problem, plan, deadline=deadline, clock=clock)
        if moved is not None and moved.objective_usd < plan.objective_usd - 1e-9:
            stats["capacity_moves_usd"] = round(plan.objective_usd - moved.objective_usd, 6)
            plan = moved
    budget_rows = whole_classes = False
    if committed_lp is not None:
        # The plan stages are done: what is left of the limit is the child's (it stops there),
        # for at most `COMMITTED_LP_WAIT_SECONDS` of real time, or to the limit's end where the
        # child said it will solve its columns whole (`committed_master.py`).
        committed_lp.poll()
        wait = COMMITTED_LP_WAIT_SECONDS
        if committed_lp.master_due:
            wait = max(wait, lp_end - clock())
        lp_bound = committed_lp.collect(deadline=lp_end, clock=clock, real_seconds=wait)
        if lp_bound is not None:
            stats["committed_lp_bound_usd"] = round(lp_bound, 6)
            if committed_lp.whole_classes is not None:
                stats["committed_lp_whole_classes"] = committed_lp.whole_classes
            if lp_bound > bound:
                bound, budget_rows = lp_bound, True
                whole_classes = committed_lp.whole_classes is not None
                plan.lower_bound_usd = bound
        if committed_lp.master_plan is not None:
            plan = _keep_master_plan(problem, plan, committed_lp.master_plan, stats)
    gap = relative_gap(plan.objective_usd, bound)
    if gap <= 1e-6:
        status, why = "OPTIMAL", "objective equals the lower bound"
    elif gap <= policy.gap_target:
        status, why = "FEASIBLE", f"gap {gap:.3%} within target {policy.gap_target:.3%}"
    else:
        status, why = "FEASIBLE", f"gap {gap:.3%} above target {policy.gap_target:.3%}"
    share_priced = any(g.get("partition_bound") for g in stats["commitment_groups"])
    budget_exact = bool(stats.get("partition_exact_bills")) or any(
        g.get("partition_exact_bills") for g in stats["commitment_groups"]
    )
    note = bound_note(
        policy,
        share_priced=share_priced,
        budget_exact=budget_exact,
        budget_rows=budget_rows,
        whole_classes=whole_classes,
    )
    plan.status, plan.reason = status, why + (f"; {note}" if status != "OPTIMAL" else "")
    plan.gap = gap
    if is_last_resort(plan):  # (kept, relaxed or blind: callers with a coarser problem retry)
        stats["on_demand_fallback"] = True
    plan.stats, plan.solve_seconds = stats, clock() - start
    return plan


def _keep_master_plan(problem: Problem, plan: Plan, master: MasterPlan, stats: dict) -> Plan:
    """The committed LP's columns solved whole (`committed_master.py`), billed exactly, in place of
    `plan` where the validator passes it and it is cheaper; `plan` otherwise."""
    from optimizer.solver.assemble import build_plan
    from optimizer.solver.validate import validate_plan

    built = build_plan(
        problem,
        master.class_bins,
        master.bucket_class,
        master.class_demand,
        status=plan.status,
        reason=plan.reason,
        lower_bound=plan.lower_bound_usd,
        solve_seconds=0.0,
    )
    candidate = bill_plan(problem, built)
    stats["committed_master_usd"] = round(candidate.objective_usd, 6)
    cheaper = candidate.objective_usd < plan.objective_usd - 1e-9
    if not cheaper or validate_plan(problem, candidate, check_bound=False):
        return plan
    stats["committed_master_kept"] = True
    for key in ("blind_plan_kept", "prefill_plan_kept"):
        stats.pop(key, None)
    return replace(candidate, lower_bound_usd=plan.lower_bound_usd)


#: Most real seconds the committed solve waits for the committed LP's child once its plan stages
#: are done (they run to the limit on the demo's queues, so this is what the child gets on small
#: problems, which converge in milliseconds). Without a real-time cap, on an injected stepping
#: clock a child starved under load (niceness 19, both cores busy) makes the wait thousands of
#: 50 ms polls, each a tick of that clock.
COMMITTED_LP_WAIT_SECONDS = 1.0


#: Groups of buckets with their own multipliers when buckets do not couple.
BUCKET_GROUPS = 3
#: Without a policy row that couples buckets: most of the time limit the per-class partition bound
#: (`partition_bound.py`) may take before the groups' searches, where the classes small enough to
#: enumerate hold most of the work. The groups' LPs price each class's cover fractionally at one
#: multiplier per group; the partition bound takes each class's whole cover at its own: on the
#: demo's cpu-short queue (2,880 fifteen-minute buckets, 649 classes, all enumerable) $677.33 in
#: 0.8 s against the groups' $669.61-672.47, and $718.28 with the heaviest classes' exact bills
#: (`class_budget_bound.py`; 2026-12-05, no policy, a Compute Savings Plan; plan $748).
UNCOUPLED_PARTITION_SHARE = 0.1
#: Without a policy row that couples buckets: share of the time limit the commitment-blind solve
#: gets first (`BLIND_TIME_SHARE` under coupling policies).
UNCOUPLED_BLIND_SHARE = 0.07
#: Share of the time limit the groups' Lagrangian solves get when no policy couples buckets; the
#: per-class re-solve with the budgets as rows (`commitment_classes.py`) gets the rest.
GROUPS_TIME_SHARE = 0.6
#: Share of the time limit kept after the per-class re-solve for billing and checking its plan.
FINISH_SHARE = 0.03
#: Under policies that couple buckets, the time kept after the per-class stage is at least this many
#: times what checking the blind plan took: its plan is billed in the stage, checked,
#: moved, billed and checked again, and the stage's last MIP ends past its deadline. With the share
#: alone the demo's gpu-training and memory-heavy queues (3,305 and 8,636 buckets) ended 0.15-0.18 s
#: past a 10 s limit.
FINISH_CHECKS = 4
#: Share of the time limit the capacity moves on the blind or the relaxed plan may take after its
#: solve (`improve_capacity_types` stops between buckets there, keeping the moves taken). On the
#: demo's gpu-training queue (3,305 ten-minute buckets, 8,550 bins) they took 49 s unbounded; on
#: its other committed queues (703-8,636 buckets) 0.02-0.5 s.
MOVES_TIME_SHARE = 0.1


def _bucket_groups(problem: Problem) -> list[np.ndarray]:
    """Buckets split by job vCPUs running (quantiles), so each group has one commitment pressure."""
    vcpus = np.array([s.vcpus for s in problem.shapes]) @ problem.demand
    order = np.argsort(vcpus, kind="stable")
    distinct = np.unique(vcpus).size
    return [np.sort(g) for g in np.array_split(order, min(BUCKET_GROUPS, distinct, problem.n_buckets))]


@dataclass
class MultiplierSearch:
    mu: dict[str, float]  # the multipliers with the best bound
    bound: float  # that bound (-inf when no round finished)
    rounds: int
    estimate: LpEstimate | None  # the relaxed problem's LP estimate at `mu`
    #: Every pattern the rounds' LPs generated (offering key, jobs per shape): columns for the
    #: per-class re-solve (`commitment_classes.py`).
    patterns: set[Pattern] = field(default_factory=set)
    #: (T,) per bucket, its share of the best per-class Lagrangian bound (without the fees; 0 for
    #: idle buckets), None where the LP does not separate by class: where the money left is.
    bucket_bounds: np.ndarray | None = None
    #: The bound is the per-class partition bound (`partition_bound.py`), not the LP's.
    from_partition: bool = False
    #: Classes whose exact bill beat their dual value in that bound (`class_budget_bound.py`).
    exact_bills: int = 0


def search_multipliers(problem: Problem, *, deadline: float, clock: Callable[[], float]) -> MultiplierSearch:
    """Bisection on each commitment's multiplier, every round an LP of the relaxed problem (its bound
    + the relaxation constant is a valid bound): over-used budgets raise mu, idle ones lower it.
    Stops after `MULTIPLIER_ROUNDS` or at `deadline`.

    When the LP separates by bucket class (no spot-coupling rows), each class may keep the best of
    the multipliers tried for it: the bound is then the fees plus, per class, the best
    (class LP bound - sum_c mu_c x capacity_c x the class's hours) over the rounds, and idle buckets
    cost just the fees. A busy class and an idle one rarely want the same mu."""
    ceiling = multiplier_ceiling(problem)
    lo = {cid: 0.0 for cid in ceiling}
    hi = dict(ceiling)
    best = MultiplierSearch({cid: v / 2 for cid, v in ceiling.items()}, -float("inf"), 0, None)
    class_best: np.ndarray | None = None
    best_aggregate = -float("inf")
    fees = problem.commitment_fees_usd
    basis: list[tuple[str, tuple[int, ...], int]] = []
    for r in range(MULTIPLIER_ROUNDS):
        left = deadline - clock()
        if left <= 0.02 or not ceiling:
            break
        mu = {cid: (lo[cid] + hi[cid]) / 2 for cid in ceiling}
        per_round = replace(problem.policy, time_limit_seconds=max(0.02, left / (MULTIPLIER_ROUNDS - r)))
        relaxed = _relaxed_lp(relaxed_problem(problem, mu).with_policy(per_round), clock=clock, seed=basis)
        basis = relaxed.basis
        estimate = relaxed.estimate
        best.rounds += 1
        best.patterns |= relaxed.patterns
        if not estimate.feasible:
            break  # prices do not change feasibility: the full solve reports why
        bound = estimate.lower_bound_usd + relaxation_constant(problem, mu)
        if relaxed.class_bounds is not None and relaxed.class_hours is not None:
            penalty = sum(mu[c.id] * c.capacity_per_hour for c in problem.commitments)
            per_class = relaxed.class_bounds - penalty * relaxed.class_hours
            class_best = per_class if class_best is None else np.maximum(class_best, per_class)
            bound = max(bound, fees + float(class_best.sum()))
            if relaxed.bucket_class is not None and relaxed.class_hours.size:
                per_bucket = class_best * problem.bucket_hours / relaxed.class_hours
                best.bucket_bounds = np.where(
                    relaxed.bucket_class >= 0, per_bucket[np.maximum(relaxed.bucket_class, 0)], 0.0
                )
        best.bound = max(best.bound, bound)
        aggregate = estimate.lower_bound_usd + relaxation_constant(problem, mu)
        if aggregate > best_aggregate:  # the full solve runs at the multipliers of one whole LP
            best_aggregate, best.mu, best.estimate = aggregate, mu, estimate
        for cid, g in _subgradients(problem, mu, estimate.instance_hours).items():
            if g > 0:
                lo[cid] = mu[cid]
            else:
                hi[cid] = mu[cid]
    return best


@dataclass
class _RelaxedLp:
    estimate: LpEstimate
    class_bounds: np.ndarray | None  # (U,) proven LP bound of each bucket class (all its buckets)
    class_hours: np.ndarray | None  # (U,) hours of each class (buckets x bucket hours)
    patterns: set[Pattern] = field(default_factory=set)  # the LP's pool
    #: The columns the LP's solution uses, as (offering key, jobs per shape, class).
    basis: list[tuple[str, tuple[int, ...], int]] = field(default_factory=list)
    bucket_class: np.ndarray | None = None  # (T,) class of each bucket, -1 when idle


def _relaxed_lp(
    problem: Problem, *, clock: Callable[[], float], seed: Sequence[tuple[str, tuple[int, ...], int]] = ()
) -> _RelaxedLp:
    """The LP estimate of a commitment-free problem, with its per-class bounds when the LP is
    separable (the same column generation `solve_lp_estimate` runs).

    `seed`: columns (offering key, jobs per shape, class) to start from, the `basis` of the
    previous round of the multiplier search. Only the prices of covered on-demand offerings move
    between rounds (and the classes are those of the same demand), so the last solution's columns
    are a warm start: from scratch, an LP under a fraction of a second per round stopped before it
    converged on the KTH-SP2 week, and its class bounds were weak."""
    from optimizer.solver.column_generation import column_generation
    from optimizer.solver.columns import instance_hours
    from optimizer.solver.committed_lp import seed_from_columns
    from optimizer.solver.requirements import restrict_to_requirements
    from optimizer.solver.solve import LpEstimate, _prepare_pool, solve_lp_estimate

    start = clock()
    problem = restrict_to_requirements(problem)
    needed = np.flatnonzero(problem.demand.any(axis=1))
    if not needed.size:  # no class at all: every bucket pays just the fees
        return _RelaxedLp(solve_lp_estimate(problem, clock=clock), np.zeros(0), np.zeros(0))
    if any(not any(o.can_host(problem.shapes[s]) for o in problem.offerings) for s in needed):
        return _RelaxedLp(solve_lp_estimate(problem, clock=clock), None, None)
    prep, pool, pairs = _prepare_pool(problem)
    seed_from_columns(prep, pool, pairs, seed)
    lp = column_generation(prep, pool, pairs, deadline=start + problem.policy.time_limit_seconds, clock=clock)
    hours = instance_hours(prep, lp.columns.offering, lp.values, lp.columns.weight_hours)
    estimate = LpEstimate(lp.lower_bound, lp.objective, lp.converged, lp.feasible, hours, clock() - start)
    off, counts = pool.matrix()
    keys = [prep.offerings[int(o)].key for o in off]
    patterns = {(k, tuple(int(n) for n in c)) for k, c in zip(keys, counts, strict=True)}
    cols = lp.columns
    basis = [
        (
            prep.offerings[int(cols.offering[n])].key,
            tuple(int(k) for k in cols.counts[n]),
            int(cols.bucket_class[n]),
        )
        for n in np.flatnonzero(lp.values > 1e-9)
    ]
    if lp.class_bounds is None:
        return _RelaxedLp(estimate, None, None, patterns, basis)
    class_hours = prep.weight * prep.hours
    bounds = np.asarray(lp.class_bounds, dtype=float)
    return _RelaxedLp(estimate, bounds, class_hours, patterns, basis, prep.bucket_class)


#: Share of the time limit `estimate_with_commitments` gives the committed LP before falling back
#: to the multiplier search.
ESTIMATE_LP_SHARE = 0.6


def estimate_with_commitments(problem: Problem, *, clock: Callable[[], float]) -> LpEstimate:
    """`batchopt optimize --lp` with commitments: the committed LP (`committed_lp.py`: each hour
    held to the budgets) and its fractional mix when it converges in `ESTIMATE_LP_SHARE` of the
    limit; else the best Lagrangian bound the multiplier search finds in the rest (or the LP's
    certificate when higher) and the relaxed LP's mix at those multipliers. Both bound and
    objective include the fees; the objective is the relaxation's, not a plan's.

    The converged committed LP is the stronger answer: it holds every bucket class to its budget,
    where the multipliers price it at one rate per commitment (or per class, one at a time), so
    its optimum is at least their bound (LP duality over the budget rows)."""
    from optimizer.solver.committed_lp import committed_lp_applies, committed_lp_bound
    from optimizer.solver.requirements import restrict_to_requirements
    from optimizer.solver.solve import LpEstimate, _prepare_pool

    start = clock()
    problem = restrict_to_requirements(problem)
    limit = problem.policy.time_limit_seconds
    lp = None
    if committed_lp_applies(problem):
        prep, pool, pairs = _prepare_pool(problem)
        lp = committed_lp_bound(prep, pool, pairs, deadline=start + ESTIMATE_LP_SHARE * limit, clock=clock)
        if lp is not None and lp.converged:
            return LpEstimate(lp.bound, lp.objective, True, lp.feasible, lp.instance_hours, clock() - start)
    search = search_multipliers(problem, deadline=start + limit, clock=clock)
    if lp is not None and lp.bound > search.bound:
        search.bound = lp.bound
    found = search.estimate
    if found is None:
        return LpEstimate(0.0, 0.0, False, search.rounds == 0, {}, clock() - start)
    constant = relaxation_constant(problem, search.mu)
    return LpEstimate(
        search.bound,
        found.lp_objective_usd + constant,
        found.converged,
        True,
        found.instance_hours,
        clock() - start,
    )


def without_coupling(problem: Problem) -> Problem:
    """`problem` without the policy rows that couple buckets (type cap, spot diversification, spot
    share). Every plan that meets them is a plan of this problem, so any bound of it is one of
    `problem` too; and its LP separates by bucket class, so the multiplier search may keep the best
    multipliers per class (`search_multipliers`): on the KTH week under the README policy that
    bound was $536.8 where the search on the coupled LP, one multiplier for all, reached $531."""
    policy = problem.policy
    if not policy.couples_buckets:
        return problem
    return problem.with_policy(
        replace(policy, max_instance_types=None, min_spot_instance_types=0, max_spot_share=None)
    )


class _Blind(NamedTuple):
    """The commitment-blind solve's answer under coupling policies (`_blind_candidate`)."""

    billed: Plan  # its plan billed with the commitments (or its capacity moves, if cheaper)
    bound: float  # a valid bound of the committed problem
    #: The blind solve's own plan: it prices each shape's jobs at list for the budget-first plan
    #: (`commitment_prefill.job_costs`); moved, its on-demand bins would price covered work at list.
    own: Plan
    #: Seconds checking one plan of this problem took (`validate_plan`, which bills it): the
    #: committed solve's last steps bill and check plans a few times after the per-class stage.
    check_seconds: float


def _blind_candidate(
    problem: Problem,
    *,
    deadline: float,
    clock: Callable[[], float],
    on_lp: Callable[[tuple[Prepared, LpOutcome]], None] | None = None,
) -> _Blind | None:
    """The commitment-blind answer (`_Blind`), or None when the blind solve finds no valid plan by
    `deadline`. `on_lp` hears the blind solve's first certified LP as soon as it has it (the
    committed LP's child starts from its columns while the blind solve goes on).

    Under policies that couple buckets (type cap, spot types, spot share) the relaxed solve at the
    multipliers gets only part of the time limit and, on a big week, may find no first plan: the
    blind plan is always a valid plan (the commitments change money, not feasibility), so it runs
    first with a fixed share and the committed solve must beat it. Its bound holds too: any plan
    costs at least its list-price objective minus what the commitments can take off per hour
    (`coverage_savings_per_hour`), plus the fees; or its LP's best certified bound minus what
    they can take off at that bound's duals (`dual_coverage_savings`), plus the fees."""
    from optimizer.solver.solve import solve
    from optimizer.solver.validate import validate_plan

    limit = replace(problem.policy, time_limit_seconds=max(0.1, deadline - clock()))
    by_duals: list[float] = []

    def take_lp(prep: Prepared, lp: LpOutcome) -> None:
        assert lp.certificate is not None
        by_duals.append(lp.certificate.bound - dual_coverage_savings(problem, prep, lp.certificate))
        if on_lp is not None:
            on_lp((prep, lp))

    plan = solve(
        problem.with_commitments(()).with_policy(limit),
        clock=clock,
        first_lp_until=clock() + BLIND_FIRST_LP_SHARE * problem.policy.time_limit_seconds,
        on_lp=take_lp,
    )
    if not plan.has_solution:
        return None
    horizon_hours = problem.n_buckets * problem.bucket_hours
    bound = problem.commitment_fees_usd + max(
        [plan.lower_bound_usd - coverage_savings_per_hour(problem) * horizon_hours, *by_duals]
    )
    moves_deadline = clock() + MOVES_TIME_SHARE * problem.policy.time_limit_seconds
    billed, moved = _billed_and_moved(
        problem, replace(plan, lower_bound_usd=bound), deadline=moves_deadline, clock=clock
    )
    checked = clock()
    candidates = [] if validate_plan(problem, billed, check_bound=False) else [billed]
    check_seconds = clock() - checked
    candidates += [] if moved is None else [moved]  # (already validated)
    if not candidates:
        return None
    return _Blind(min(candidates, key=lambda p: p.objective_usd), bound, plan, check_seconds)


def _billed_and_moved(
    problem: Problem, plan: Plan, *, deadline: float, clock: Callable[[], float]
) -> tuple[Plan, Plan | None]:
    """`plan` billed with the commitments, and its capacity-type moves (`improve_capacity_types`,
    kept to the plan's own offerings under a type cap and, under spot rows, to moves that keep
    them) billed too, None when they break the problem's rules: the two candidates the blind and
    the relaxed solves each offer, and the last step on the per-class stage's plan."""
    from optimizer.solver.commitment_coupled import SpotRowKeeper
    from optimizer.solver.validate import validate_plan

    cap = problem.policy.max_instance_types
    allowed = set(plan.selected) if cap is not None else None
    rows = SpotRowKeeper.of(problem, plan) if problem.policy.couples_spot else None
    moved = bill_plan(
        problem,
        improve_capacity_types(problem, plan, allowed=allowed, rows=rows, deadline=deadline, clock=clock),
    )
    return bill_plan(problem, plan), (None if validate_plan(problem, moved, check_bound=False) else moved)


def _solve_group(
    problem: Problem,
    *,
    deadline: float,
    clock: Callable[[], float],
    by_class: bool = False,
    rescue: bool = False,
    before_relaxed: Callable[[], None] | None = None,
    first_plan_seconds: float = 0.0,
) -> tuple[Plan, float, MultiplierSearch, dict]:
    """(billed plan, bound, the multiplier search, stats) for one group of buckets: multiplier
    search, then one full solve. `by_class`: the per-class re-solve follows, which covers what the
    re-solve of the uncovered jobs at list prices does (and more), so that step is left out and
    the full solve gets the time. `rescue`: the blind solve found no plan in its share, so the
    relaxed solve is the last chance of one: the search gets `RESCUE_SEARCH_SHARE` and the relaxed
    solve all the rest (on the demo's gpu-training queue, 2,009 five-minute buckets under the
    README policy, neither found a first plan when the relaxed solve had half of what was left).
    Under a policy that couples buckets (`problem` is then the whole horizon) the search runs
    without the coupling rows, per bucket group (`COUPLED_SEARCH_SHARE`), the relaxed solve gets
    `COUPLED_RELAXED_SHARE` of the rest (the caller re-solves the plan it keeps by class in what is
    left, `commitment_coupled.py`). `before_relaxed` runs between the search and the relaxed solve
    (the caller's budget-first plan), so its time comes out of the relaxed solve's.
    `first_plan_seconds`: what the blind solve of the same problem took to its plan; under coupling
    the relaxed solve does not run with less (nor where the class covers gave the bound)."""
    from optimizer.solver.assemble import empty_plan
    from optimizer.solver.solve import solve
    from optimizer.solver.validate import validate_plan

    start = clock()
    policy = problem.policy
    coupled = policy.couples_buckets
    search_share = RESCUE_SEARCH_SHARE if rescue else COUPLED_SEARCH_SHARE if coupled else SEARCH_TIME_SHARE
    # Without the coupling rows the LP separates by class: the bound keeps the best multipliers per
    # class, and it holds for `problem` (see `without_coupling`).
    search_deadline = start + search_share * max(0.1, deadline - start)
    if coupled and not rescue:
        search = _coupled_search(problem, deadline=search_deadline, clock=clock)
    else:
        search = search_multipliers(without_coupling(problem), deadline=search_deadline, clock=clock)
    best_bound, best_mu, rounds = search.bound, search.mu, search.rounds
    share = (
        COUPLED_RELAXED_SHARE
        if coupled and not rescue
        else 1.0
        if by_class or rescue
        else RELAXED_SOLVE_SHARE
    )
    if before_relaxed is not None:
        before_relaxed()
    relaxed_seconds = max(0.1, share * (deadline - clock()))
    # The relaxed solve prices the commitment at one multiplier for the whole horizon: its bound
    # sits under the partition bound's (per-class multipliers, exact covers), and its plan was kept
    # on none of the demo's committed queues, so there the per-class stage gets the time. Nor does
    # it run with less time than the blind solve of the same problem took to its plan: it would
    # run past its share to a first plan (on the Alibaba week in ten-minute buckets, 2.2 s on a
    # 0.1 s share, the committed solve ending at 11.1 s on a 9 s limit).
    too_short = coupled and not rescue and relaxed_seconds < first_plan_seconds
    if search.from_partition or too_short:
        stats = {"multipliers": {cid: round(v, 9) for cid, v in best_mu.items()}, "search_rounds": rounds,
                 "search_bound_usd": round(float(best_bound), 6), "partition_bound": search.from_partition,
                 "partition_exact_bills": search.exact_bills,
                 "relaxed_status": "skipped"}  # fmt: skip
        none = empty_plan(problem, "TIMEOUT", "the relaxed solve was not run", lower_bound=best_bound,
                          solve_seconds=clock() - start)  # fmt: skip
        return bill_plan(problem, none), best_bound, search, stats
    final_policy = replace(policy, time_limit_seconds=relaxed_seconds)
    relaxed_plan = solve(relaxed_problem(problem, best_mu).with_policy(final_policy), clock=clock)
    stats = {
        "multipliers": {cid: round(v, 9) for cid, v in best_mu.items()},
        "search_rounds": rounds,
        "relaxed_status": relaxed_plan.status,
    }
    # The relaxed problem's bound is one only with the relaxation constant added (the fees less
    # mu x capacity, which may be negative).
    relaxed_bound = relaxed_plan.lower_bound_usd + relaxation_constant(problem, best_mu)
    for key, value in (("search_bound_usd", best_bound), ("relaxed_bound_usd", relaxed_bound)):
        if np.isfinite(value):  # which side the bound came from (stats are JSON: no infinities)
            stats[key] = round(float(value), 6)
    bound = max(best_bound, relaxed_bound)
    if not relaxed_plan.has_solution:
        return bill_plan(problem, relaxed_plan), bound, search, stats
    moves_deadline = min(deadline, clock() + MOVES_TIME_SHARE * policy.time_limit_seconds)
    billed, moved = _billed_and_moved(problem, relaxed_plan, deadline=moves_deadline, clock=clock)
    candidates = [billed] if moved is None else [billed, moved]
    best = min(candidates, key=lambda p: p.objective_usd)
    stats["relaxed_objective_usd"] = round(best.objective_usd, 6)
    if by_class or rescue or coupled:
        return best, bound, search, stats
    residual_plan = _resolve_uncovered(problem, best, deadline=deadline, clock=clock)
    if residual_plan is not None and not validate_plan(problem, residual_plan, check_bound=False):
        candidates.append(residual_plan)
        stats["residual_objective_usd"] = round(residual_plan.objective_usd, 6)
    return min(candidates, key=lambda p: p.objective_usd), bound, search, stats


def _class_covers(problem: Problem, *, deadline: float, clock: Callable[[], float]) -> PartitionBound | None:
    """The per-class partition bound (`partition_bound.py`) where the classes small enough to
    enumerate hold most of the work (`ENUMERABLE_SHARE`), else None. Without a coupling row its
    per-bucket bounds hold bucket by bucket (each class's exact cover at its own multipliers), so
    they combine with the groups'."""
    from optimizer.solver.partition_bound import ENUMERABLE_SHARE, partition_bound

    return partition_bound(problem, deadline=deadline, clock=clock, min_exact_share=ENUMERABLE_SHARE)


def _coupled_search(problem: Problem, *, deadline: float, clock: Callable[[], float]) -> MultiplierSearch:
    """The bound and multipliers under policies that couple buckets: the per-class partition bound
    (`partition_bound.py`: each class's exact cover, its own multipliers, the spot share priced)
    where the classes small enough to enumerate hold most of the job vCPU-hours, else the multiplier search
    on the LP without the coupling rows. On the demo's committed queues the partition bound was above
    the search's on every one (gpu-training $3,884 against $3,014, cpu-short $831 against $678);
    on the Alibaba week no class is small enough and it returns before preparing anything."""
    from optimizer.solver.partition_bound import partition_bound

    found = _class_covers(problem, deadline=deadline, clock=clock)
    if found is not None:
        return MultiplierSearch(
            {},  # (each class has its own: no relaxed solve follows, see `_solve_group`)
            found.bound,
            found.rounds,
            None,
            patterns=found.patterns,
            bucket_bounds=found.bucket_bounds,
            from_partition=True,
            exact_bills=found.exact_bills,
        )
    search = _grouped_search(without_coupling(problem), deadline=deadline, clock=clock)
    # Its per-job charges alone (no time for exact covers: the deadline has passed), with each
    # class's own multipliers and the spot share priced, can still beat the LP's: on the Alibaba
    # week in ten-minute buckets (no class small enough) $3,055.53 in 0.3 s against the search's
    # $2,159.30 and the relaxed solve's $3,016.14; on the hourly week $3,378 against $3,754-3,855.
    charges = partition_bound(problem, deadline=clock(), clock=clock)
    if charges is not None and charges.bound > search.bound:
        search.bound = charges.bound
    return search


def _grouped_search(problem: Problem, *, deadline: float, clock: Callable[[], float]) -> MultiplierSearch:
    """The multiplier search on `_bucket_groups`' groups of a problem whose buckets do not couple,
    each with its own multipliers and an equal share of the time: every bucket is its own problem,
    so the groups' bounds add up to one (each holds its buckets' fees). Busy and idle hours want
    different multipliers: on the KTH week under the README policy the sum was $553.8 where one
    search over the week reached $536.8. Each group's per-bucket bounds, where its LP separates by class, go
    to `bucket_bounds` (the per-class stage's order). The multipliers returned, for the one relaxed solve, are
    the busiest group's, where the budgets bind (those of one search over the week, on both
    benchmark weeks; the buckets' average, near 0 in the quiet third, made the relaxed plan of the
    KTH week $1,008 instead of $626)."""
    groups = [g for g in _bucket_groups(problem) if g.size]
    start = clock()
    total = MultiplierSearch({c.id: 0.0 for c in problem.commitments}, 0.0, 0, None)
    total.bucket_bounds = np.zeros(problem.n_buckets)
    for n, idx in enumerate(groups):
        share_end = start + (deadline - start) * (n + 1) / len(groups)
        found = search_multipliers(problem.with_buckets(idx), deadline=share_end, clock=clock)
        if found.bucket_bounds is not None:
            total.bucket_bounds[idx] = found.bucket_bounds
        total.bound += found.bound
        total.rounds += found.rounds
        total.patterns |= found.patterns
        total.mu = found.mu  # the groups go by demand, the busiest last
    return total


def _resolve_uncovered(
    problem: Problem, plan: Plan, *, deadline: float, clock: Callable[[], float]
) -> Plan | None:
    """Keep the on-demand instances the commitments cover in full, and solve the jobs left at list
    prices: the relaxed prices decide how much runs under the commitments, the real ones where the
    rest runs (a spot type of another family may beat the covered type's own spot)."""
    from optimizer.solver.solve import solve

    offerings = {o.key: o for o in problem.offerings}
    prices = _on_demand_prices(problem)
    hours = problem.bucket_hours
    index = {s.id: i for i, s in enumerate(problem.shapes)}
    kept: list[list[Bin]] = []
    residual = problem.demand.copy()
    for t, bins in enumerate(plan.buckets):
        bill = bill_bucket(problem.commitments, _bucket_usage(offerings, bins, hours), prices, hours)
        covered = {k: int(v / hours + 1e-9) for k, v in bill.covered_hours.items()}
        keep: list[Bin] = []
        for b in sorted(bins, key=lambda b: -b.count):
            o = offerings[b.offering]
            m = min(b.count, covered.get(o.instance_type, 0)) if not o.is_spot else 0
            if m <= 0:
                continue
            covered[o.instance_type] -= m
            keep.append(Bin(b.offering, m, b.jobs))
            for shape_id, n in b.jobs.items():
                residual[index[shape_id], t] -= n * m
        kept.append(keep)
    residual = np.maximum(residual, 0)
    sub = Problem(problem.bucket_seconds, problem.shapes, residual, problem.offerings,
                  replace(problem.policy, time_limit_seconds=max(0.1, deadline - clock())))  # fmt: skip
    rest = solve(sub, clock=clock)
    if not rest.has_solution:
        return None
    buckets = [k + r for k, r in zip(kept, rest.buckets, strict=True)]
    merged = replace(plan, buckets=buckets, selected=sorted({b.offering for bs in buckets for b in bs}))
    return bill_plan(problem, merged)
