"""Turn per-class bin lists into a `Plan`: trim surplus jobs, merge identical bins, recompute money.

Models cover demand with `>=`, so a bin may have room for more jobs of a shape than actually run;
the plan lists only jobs that run (each bin's jobs are real), which is what readers and the replay
expect. Trimming never adds an instance, so cost and every policy limit stay satisfied.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from optimizer.solver.plan import Bin, Plan, relative_gap
from optimizer.solver.problem import Problem

#: (offering key, count, counts per shape index)
RawBin = tuple[str, int, np.ndarray]


def trim_surplus(bins: Sequence[RawBin], demand: np.ndarray, *, drop_empty: bool) -> list[RawBin]:
    """Remove hosted jobs beyond `demand` (per shape), splitting bin groups where needed."""
    work: list[list] = [
        [key, int(count), np.array(jobs, dtype=np.int64)] for key, count, jobs in bins if count > 0
    ]
    hosted = np.zeros_like(demand)
    for _, count, jobs in work:
        hosted += count * jobs
    surplus = hosted - demand
    for s in np.flatnonzero(surplus > 0):
        extra = int(surplus[s])
        # Take jobs from the groups with most of this shape first: fewer splits.
        for entry in sorted(work, key=lambda e: -int(e[2][s])):
            while extra > 0 and entry[2][s] > 0:
                count = entry[1]
                if count <= extra:
                    entry[2][s] -= 1
                    extra -= count
                else:
                    reduced = entry[2].copy()
                    reduced[s] -= 1
                    work.append([entry[0], extra, reduced])
                    entry[1] = count - extra
                    extra = 0
            if extra == 0:
                break
    merged: dict[tuple[str, bytes], list] = {}
    for key, count, jobs in work:
        if count <= 0 or (drop_empty and not jobs.any()):
            continue
        k = (key, jobs.tobytes())
        if k in merged:
            merged[k][1] += count
        else:
            merged[k] = [key, count, jobs]
    return [(key, count, jobs) for key, count, jobs in merged.values()]


def build_plan(
    problem: Problem,
    class_bins: Sequence[Sequence[RawBin]],
    bucket_class: np.ndarray,
    class_demand: np.ndarray,
    *,
    status: str,
    reason: str,
    lower_bound: float,
    solve_seconds: float,
    stats: dict | None = None,
) -> Plan:
    """Plan with one bin list per bucket (bucket t uses class `bucket_class[t]`; -1 = no demand)."""
    drop_empty = problem.policy.diversification == 0
    offerings = {o.key: o for o in problem.offerings}
    icf = problem.policy.interruption_cost_factor
    ids = [s.id for s in problem.shapes]
    trimmed = [
        trim_surplus(bins, class_demand[:, u], drop_empty=drop_empty) for u, bins in enumerate(class_bins)
    ]
    as_bins = [
        [Bin(key, count, {ids[s]: int(jobs[s]) for s in np.flatnonzero(jobs)}) for key, count, jobs in bins]
        for bins in trimmed
    ]
    class_cost = [sum(c * offerings[k].price_per_hour for k, c, _ in bins) for bins in trimmed]
    class_obj = [sum(c * offerings[k].hourly_objective(icf) for k, c, _ in bins) for bins in trimmed]
    buckets: list[list[Bin]] = []
    cost = objective = 0.0
    used: set[str] = set()
    for u in bucket_class.tolist():
        if u < 0:
            buckets.append([])
            continue
        buckets.append(list(as_bins[u]))
        cost += class_cost[u] * problem.bucket_hours
        objective += class_obj[u] * problem.bucket_hours
        used.update(b.offering for b in as_bins[u])
    bound = lower_bound  # never clamped to the objective: a wrong bound must stay visible
    return Plan(
        status=status,
        reason=reason,
        cost_usd=cost,
        objective_usd=objective,
        lower_bound_usd=bound,
        gap=relative_gap(objective, bound),
        solve_seconds=solve_seconds,
        selected=sorted(used),
        buckets=buckets,
        stats=dict(stats or {}),
    )


def heuristic_plan(
    problem: Problem,
    class_bins: Sequence[Sequence[RawBin]],
    bucket_class: np.ndarray,
    class_demand: np.ndarray,
) -> Plan:
    """A plan a heuristic built (repair, re-assignment, rounding): FEASIBLE, no bound of its own
    (0; the caller's solve states the proven one) and no solver time."""
    return build_plan(
        problem,
        class_bins,
        bucket_class,
        class_demand,
        status="FEASIBLE",
        reason="",
        lower_bound=0.0,
        solve_seconds=0.0,
    )


def empty_plan(
    problem: Problem,
    status: str,
    reason: str,
    *,
    lower_bound: float,
    solve_seconds: float,
    stats: dict | None = None,
) -> Plan:
    """A plan without bins, for INFEASIBLE and TIMEOUT outcomes."""
    return Plan(
        status=status,
        reason=reason,
        cost_usd=0.0,
        objective_usd=0.0,
        lower_bound_usd=lower_bound,
        gap=0.0,
        solve_seconds=solve_seconds,
        selected=[],
        buckets=[[] for _ in range(problem.n_buckets)],
        stats=dict(stats or {}),
    )
