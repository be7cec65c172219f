"""The per-class re-solve with the commitments' budgets as rows, under policies that couple buckets.

Why: under a type cap, spot diversification or a spot-share cap the committed plan is the relaxed
solve's (coverage priced by one multiplier), whose buckets over- or under-use the budgets, or the
commitment-blind one, which ignores them; and
`commitment_classes.improve_by_class` stands aside because its classes cannot see the rows over
all buckets. On the plan's own offerings the cap holds whatever the bins, and the spot rows are
sums over buckets of per-bucket amounts (spot job vCPUs, each pool's and all spot instance vCPUs):
so a class may take its re-solved bins when the plan's running totals, with the class's change,
still meet every row. Classes are tried by the money left, as in `improve_by_class`; the plan is
billed exactly and checked by the caller.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace

import numpy as np

from optimizer.solver.commitment_classes import Pattern, _plan_patterns, _twins, resolve_class
from optimizer.solver.plan import Bin, Plan
from optimizer.solver.problem import Offering, Problem

#: Relative slack kept below each spot row (the validator allows float noise, not more).
ROW_MARGIN = 1e-9


@dataclass
class _SpotTally:
    """A plan's spot amounts per bucket-hour summed over buckets: what the coupling rows read."""

    jobs: float  # spot job vCPUs
    pools: dict[str, float]  # instance vCPUs per spot offering

    @staticmethod
    def of(offerings: Mapping[str, Offering], vcpus: Mapping[str, float], bins: Iterable[Bin]) -> _SpotTally:
        """`bins`' spot amounts; `offerings` by key and `vcpus` by shape id, built once per plan."""
        jobs, pools = 0.0, {}
        for b in bins:
            o = offerings[b.offering]
            if o.is_spot:
                jobs += b.count * sum(n * vcpus[s] for s, n in b.jobs.items())
                pools[o.key] = pools.get(o.key, 0.0) + b.count * o.vcpus
        return _SpotTally(jobs, pools)

    def plus(self, other: _SpotTally, weight: float) -> _SpotTally:
        pools = dict(self.pools)
        for k, v in other.pools.items():
            pools[k] = pools.get(k, 0.0) + weight * v
        return _SpotTally(self.jobs + weight * other.jobs, pools)

    def meets(self, problem: Problem, all_job_vcpus: float) -> bool:
        policy = problem.policy
        if policy.caps_spot_share:
            assert policy.max_spot_share is not None
            if self.jobs > policy.max_spot_share * all_job_vcpus * (1 - ROW_MARGIN):
                return False
        k = policy.diversification
        if k:
            total = sum(self.pools.values())
            if any(v > total / k * (1 - ROW_MARGIN) + 1e-12 for v in self.pools.values() if v > 0):
                return False
        return True


def improve_by_class_coupled(
    problem: Problem,
    plan: Plan,
    patterns: Iterable[Pattern],
    *,
    deadline: float,
    clock: Callable[[], float],
) -> Plan | None:
    """`plan` with bucket classes re-solved exactly over the columns on its own offerings (see the
    module docstring) until `deadline`, each kept only where its bill is lower and the spot rows
    still hold; None where it does not apply (gangs, no plan, a bin held part of a bucket)."""
    from optimizer.solver.commitments import _bucket_objective, _on_demand_prices, bill_plan

    if not plan.has_solution or any(s.is_gang for s in problem.shapes):
        return None
    if any(b.hours is not None for bins in plan.buckets for b in bins):
        return None
    offerings = {o.key: o for o in problem.offerings}
    prices = _on_demand_prices(problem)
    chosen = set(plan.selected)
    columns = sorted(
        (k, c)
        for k, c in _twins(problem, set(patterns) | _plan_patterns(problem, plan))
        if k in chosen and any(c)
    )
    demand = problem.demand
    active = np.flatnonzero(demand.any(axis=0))
    if not columns or not active.size:
        return None
    col_offerings = [offerings[k] for k, _ in columns]
    col_counts = np.array([c for _, c in columns], dtype=np.int64).reshape(len(columns), len(problem.shapes))
    buckets = [list(bins) for bins in plan.buckets]
    value = np.array([_bucket_objective(problem, offerings, prices, bins) for bins in buckets])
    groups: dict[tuple[bytes, tuple], list[int]] = {}
    for t in active.tolist():
        own = tuple(sorted((b.offering, b.count, tuple(sorted(b.jobs.items()))) for b in buckets[t]))
        groups.setdefault((demand[:, t].tobytes(), own), []).append(t)
    vcpus = {s.id: s.vcpus for s in problem.shapes}
    tally = _SpotTally(0.0, {})
    for bins in buckets:
        tally = tally.plus(_SpotTally.of(offerings, vcpus, bins), 1.0)
    all_job_vcpus = float(problem.job_vcpu_hours().sum()) / problem.bucket_hours
    drop_empty = problem.policy.diversification == 0
    order = sorted(groups.values(), key=lambda m: -float(value[m].sum()))
    for members in order:
        if deadline - clock() <= 0.02:
            break
        incumbent = float(value[members[0]])
        new = resolve_class(
            problem,
            col_offerings,
            col_counts,
            demand[:, members[0]],
            incumbent,
            drop_empty=drop_empty,
            deadline=deadline,
            clock=clock,
        )
        if new is None:
            continue
        new_value = _bucket_objective(problem, offerings, prices, new)
        if new_value >= incumbent - 1e-9:
            continue
        w = float(len(members))
        moved = tally.plus(_SpotTally.of(offerings, vcpus, buckets[members[0]]), -w).plus(
            _SpotTally.of(offerings, vcpus, new), w
        )
        if not moved.meets(problem, all_job_vcpus):
            continue
        tally = moved
        for t in members:
            buckets[t], value[t] = list(new), new_value
    selected = sorted({b.offering for bins in buckets for b in bins})
    return bill_plan(problem, replace(plan, buckets=buckets, selected=selected))
