"""Checks a plan against its problem without any solver code: fit, demand, policy, cost, bound.

Written from the problem definition alone (it imports nothing from the model), so a modelling bug
in the solver cannot hide itself: tests and benchmarks run every plan through `validate_plan`.
"""

from __future__ import annotations

from collections.abc import Mapping

from optimizer.catalog.requirements import InstanceRequirements
from optimizer.solver.plan import Plan, relative_gap
from optimizer.solver.problem import Offering, Problem
from optimizer.solver.validate_commitments import check_commitments

#: Relative slack for money and share comparisons (plans are written rounded to 1e-6).
REL_TOL = 1e-6
ABS_TOL = 1e-5


def _close_or_below(value: float, limit: float) -> bool:
    return value <= limit + ABS_TOL + REL_TOL * abs(limit)


def validate_plan(problem: Problem, plan: Plan, *, check_bound: bool = True) -> list[str]:
    """Every violation as one readable line; an empty list means the plan is valid.

    `check_bound=False` skips the bound and gap checks (for the solver's candidate plans, whose
    bound is provisional); every reader of a finished plan keeps them."""
    errors: list[str] = []
    if not plan.has_solution:
        if any(plan.buckets and b for b in plan.buckets):
            errors.append(f"status {plan.status} but the plan has bins")
        if not plan.reason:
            errors.append(f"status {plan.status} without a reason")
        return errors
    if len(plan.buckets) != problem.n_buckets:
        return [f"plan has {len(plan.buckets)} buckets, problem has {problem.n_buckets}"]
    offerings: dict[str, Offering] = {o.key: o for o in problem.offerings}
    shape_index = {s.id: i for i, s in enumerate(problem.shapes)}
    hours = problem.bucket_hours
    icf = problem.policy.interruption_cost_factor
    requirements = problem.policy.instance_requirements
    cost = objective = 0.0
    used: set[str] = set()
    spot_job_vcpu_hours = 0.0
    instance_vcpu_hours: dict[str, float] = {}
    for t, bins in enumerate(plan.buckets):
        hosted = [0] * len(problem.shapes)
        # Gang shape -> offering -> nodes hosted there: a gang needs all its nodes on one offering.
        gang_nodes: dict[int, dict[str, int]] = {}
        # Gang shape -> node-hours its bins hold in this bucket.
        gang_node_hours: dict[int, float] = {}
        for k, b in enumerate(bins):
            where = f"bucket {t} bin {k} ({b.offering})"
            offering = offerings.get(b.offering)
            if offering is None:
                errors.append(f"{where}: unknown offering")
                continue
            if b.count < 1:
                errors.append(f"{where}: count {b.count} < 1")
                continue
            held = hours if b.hours is None else b.hours  # each instance's hours in the bucket
            errors.extend(f"{where}: {e}" for e in _held_hours_errors(problem, shape_index, b.jobs, b.hours))
            if not requirements.allows_type(offering.instance_type, offering.gpus):
                errors.append(f"{where}: excluded by the instance requirements ({requirements.describe()})")
            vcpus = memory = 0.0
            gpus = 0
            gang_errors = _gang_bin_errors(problem, shape_index, b.jobs)
            errors.extend(f"{where}: {e}" for e in gang_errors)
            for shape_id, n in b.jobs.items():
                i = shape_index.get(shape_id)
                if i is None:
                    errors.append(f"{where}: unknown shape {shape_id!r}")
                    continue
                if n < 0:
                    errors.append(f"{where}: negative job count for {shape_id}")
                    continue
                if n == 0:
                    continue
                shape = problem.shapes[i]
                if not offering.can_host(shape):
                    errors.append(
                        f"{where}: cannot host shape {shape_id} (size, arch, spot_ok, network, EFA or "
                        "instance types)"
                    )
                elif shape.is_gang and not requirements.hosts_gangs_on(offering.efa, offering.network_gbps):
                    errors.append(
                        f"{where}: instance requirements ask gangs for "
                        f"{_gang_network(requirements)}, hosts {shape_id}"
                    )
                elif shape.gpus == 0 and not requirements.hosts_cpu_jobs_on(
                    offering.instance_type, offering.gpus
                ):
                    errors.append(
                        f"{where}: instance requirements keep it for accelerator jobs, hosts {shape_id}"
                    )
                vcpus += n * shape.vcpus
                memory += n * shape.memory_mib
                gpus += n * shape.gpus
                if shape.is_gang:
                    if not gang_errors:
                        per = gang_nodes.setdefault(i, {})
                        per[b.offering] = per.get(b.offering, 0) + b.count
                        gang_node_hours[i] = gang_node_hours.get(i, 0.0) + b.count * held
                    continue
                hosted[i] += n * b.count
                if offering.is_spot:
                    spot_job_vcpu_hours += n * b.count * shape.vcpus * hours
            if vcpus > offering.vcpus + 1e-9 or memory > offering.memory_mib + 1e-9 or gpus > offering.gpus:
                errors.append(
                    f"{where}: jobs need {vcpus:g} vCPU/{memory:g} MiB/{gpus} GPU, instance has "
                    f"{offering.vcpus:g}/{offering.memory_mib:g}/{offering.gpus}"
                )
            used.add(b.offering)
            cost += b.count * held * offering.price_per_hour
            objective += b.count * held * offering.hourly_objective(icf)
            if offering.is_spot:
                instance_vcpu_hours[b.offering] = (
                    instance_vcpu_hours.get(b.offering, 0.0) + b.count * offering.vcpus * held
                )
        for i, per_offering in gang_nodes.items():
            # Whole gangs only: each offering's nodes form floor(nodes / N) gangs of one type.
            hosted[i] = sum(n // problem.shapes[i].instances_per_job for n in per_offering.values())
        for i, shape in enumerate(problem.shapes):
            if not shape.is_gang or not problem.demand[i, t]:
                continue
            # The nodes are held as long as the gang's jobs run there: job hours x nodes.
            needed = float(problem.gang_job_hours(i)[t]) * shape.instances_per_job
            if not _close_or_below(needed, gang_node_hours.get(i, 0.0)):
                errors.append(
                    f"bucket {t}: gang shape {shape.id} holds {gang_node_hours.get(i, 0.0):.6f} node-hours "
                    f"< its jobs' {needed:.6f} (gang hours x {shape.instances_per_job} nodes)"
                )
        for i, shape in enumerate(problem.shapes):
            if hosted[i] < problem.demand[i, t]:
                errors.append(
                    f"bucket {t}: shape {shape.id} hosted {hosted[i]} < demand {problem.demand[i, t]}"
                )
    errors.extend(_policy_errors(problem, plan, used, spot_job_vcpu_hours, instance_vcpu_hours))
    if problem.commitments:
        savings, fees, commitment_errors = check_commitments(problem, plan)
        errors.extend(commitment_errors)
        cost += fees - savings
        objective += fees - savings
    elif abs(plan.commitment_usd) > ABS_TOL or plan.commitments:
        errors.append("commitment_usd or commitments reported but the problem has no commitments")
    if abs(cost - plan.cost_usd) > ABS_TOL + REL_TOL * cost:
        errors.append(f"cost_usd {plan.cost_usd:.6f} but bins and commitments cost {cost:.6f}")
    if abs(objective - plan.objective_usd) > ABS_TOL + REL_TOL * objective:
        errors.append(f"objective_usd {plan.objective_usd:.6f} but bins and commitments give {objective:.6f}")
    if check_bound:
        errors.extend(_bound_errors(plan))
    return errors


def _gang_network(requirements: InstanceRequirements) -> str:
    """What the requirements ask of every gang's host, in words."""
    parts = (["EFA"] if requirements.gang_efa else []) + (
        [f"{requirements.gang_min_network_gbps:g} Gbit/s"] if requirements.gang_min_network_gbps > 0 else []
    )
    return " and ".join(parts)


def _held_hours_errors(
    problem: Problem, shape_index: dict[str, int], jobs: Mapping[str, int], held: float | None
) -> list[str]:
    """A bin's own `hours` (held less than the whole bucket) belong to gang bins only, within
    [0, bucket hours]: packed jobs are planned by whole buckets."""
    if held is None:
        return []
    errors = []
    if not 0.0 <= held <= problem.bucket_hours + 1e-9:
        errors.append(f"hours {held:g} outside [0, {problem.bucket_hours:g}] (the bucket)")
    running = [sid for sid, n in jobs.items() if n > 0 and sid in shape_index]
    if not running or not all(problem.shapes[shape_index[sid]].is_gang for sid in running):
        errors.append("hours set on a bin that hosts no gang (only gang nodes are held for part of a bucket)")
    return errors


def _gang_bin_errors(problem: Problem, shape_index: dict[str, int], jobs: Mapping[str, int]) -> list[str]:
    """A bin hosting a gang node hosts exactly one node of one gang shape on each instance: Batch
    gives every node of a multi-node parallel job an instance of its own."""
    running = {sid: n for sid, n in jobs.items() if n > 0 and sid in shape_index}
    gangs = [sid for sid in running if problem.shapes[shape_index[sid]].is_gang]
    if not gangs:
        return []
    if len(running) > 1:
        others = ", ".join(sorted(set(running) - {gangs[0]}))
        return [f"gang node {gangs[0]} shares its instance with {others}"]
    if running[gangs[0]] != 1:
        return [f"{running[gangs[0]]} nodes of gang {gangs[0]} on one instance (one node per instance)"]
    return []


def _bound_errors(plan: Plan) -> list[str]:
    """The bound is a proven lower bound on every valid plan's objective, this plan's included.

    Nothing is clamped: a bound above the objective (beyond the float and 1e-6 rounding slack of
    `_close_or_below`) is reported, and so is a gap that hides it (the gap must be the unclamped
    (objective - bound) / objective, negative when the bound is wrong)."""
    errors: list[str] = []
    if not _close_or_below(plan.lower_bound_usd, plan.objective_usd):
        errors.append(
            f"lower_bound_usd {plan.lower_bound_usd:.6f} above objective {plan.objective_usd:.6f}: "
            "the bound is wrong"
        )
    expected_gap = relative_gap(plan.objective_usd, plan.lower_bound_usd)
    if abs(expected_gap - plan.gap) > 1e-5:
        errors.append(f"gap {plan.gap} does not match objective and bound ({expected_gap:.6f})")
    elif plan.status == "OPTIMAL" and abs(expected_gap) > 1e-5:
        errors.append(f"status OPTIMAL but the gap is {expected_gap:.6f}")
    return errors


def _all_job_vcpu_hours(problem: Problem) -> float:
    """All job vCPU-hours, the spot share's denominator, recomputed from the document: a packed
    shape's demand x bucket hours, a gang's held hours (`gang_hours`, whole buckets without
    them) x its nodes, each node's vCPUs counted on its own instance."""
    total = 0.0
    for i, shape in enumerate(problem.shapes):
        if shape.is_gang:
            given = problem.gang_hours.get(shape.id)
            if given is not None:
                hours = float(sum(float(h) for h in given))
            else:
                hours = float(problem.demand[i].sum()) * problem.bucket_hours
            total += hours * shape.instances_per_job * shape.vcpus
        else:
            total += float(problem.demand[i].sum()) * problem.bucket_hours * shape.vcpus
    return total


def _policy_errors(
    problem: Problem,
    plan: Plan,
    used: set[str],
    spot_job_vcpu_hours: float,
    instance_vcpu_hours: dict[str, float],
) -> list[str]:
    policy = problem.policy
    errors: list[str] = []
    selected = set(plan.selected)
    if not used <= selected:
        errors.append(f"offerings used but not selected: {', '.join(sorted(used - selected))}")
    if policy.max_instance_types is not None and len(selected) > policy.max_instance_types:
        errors.append(f"{len(selected)} offerings selected > max_instance_types {policy.max_instance_types}")
    if policy.max_spot_share is not None:
        total = _all_job_vcpu_hours(problem)
        if not _close_or_below(spot_job_vcpu_hours, policy.max_spot_share * total):
            errors.append(
                f"spot job vCPU-hours {spot_job_vcpu_hours:.3f} > max_spot_share {policy.max_spot_share} "
                f"of {total:.3f}"
            )
    k = policy.diversification
    if k:
        spot_total = sum(instance_vcpu_hours.values())
        for key, value in sorted(instance_vcpu_hours.items()):
            if not _close_or_below(value, spot_total / k):
                errors.append(
                    f"spot pool {key} has {value:.3f} of {spot_total:.3f} spot vCPU-hours, more than 1/{k}"
                )
    return errors
