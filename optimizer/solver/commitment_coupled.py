"""The per-class re-solve with the commitments' budgets as rows, under policies that couple buckets.

Why: under a type cap, spot diversification or a spot-share cap the committed plan is the relaxed
solve's (coverage priced by one multiplier), whose buckets over- or under-use the budgets, or the
commitment-blind one, which ignores them; and
`commitment_classes.improve_by_class` stands aside because its classes cannot see the rows over
all buckets. On the plan's own offerings the cap holds whatever the bins, and the spot rows are
sums over buckets of per-bucket amounts (spot job vCPUs, each pool's and all spot instance vCPUs):
so a class may take its re-solved bins when the plan's running totals, with the class's change,
still meet every row. Those rows go into each class's MIP, linear in its new bins given the rest
of the plan (`_SpotRows`): checking them only after the solve threw the class's best bins away
whenever they broke a row (on the KTH week under the README policy, 13 of the 19 classes
re-solved, with diversification at 0.331 of 1/3), where the MIP can find the best bins that keep
them. On a $624.80 relaxed plan of that week (2026-12-05, 2 busy cores) the stage alone reached
$623.78 in 0.75 s and $621.38 in 3 s with the check after, $618.94 and $604.26 with the rows in
the MIP. Classes are tried by the money left, as in `improve_by_class`, and again while time is left
and the last pass changed the plan (each accepted class moves the others' rows); the plan is
billed exactly and checked by the caller. After each pass over every class, groups of classes are
re-solved together while that gains (`commitment_groups.py`): where the rows bind, a class alone
cannot trade spot work with another.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from optimizer.solver.commitment_classes import (
    CLASS_MIP_SECONDS,
    Pattern,
    class_columns,
    resolve_class,
)
from optimizer.solver.plan import Bin, Plan
from optimizer.solver.problem import Offering, Problem

#: Relative slack a spot row may be over its limit (float noise; the validator allows 1e-6). A tie
#: is a valid plan: two pools of equal size under "at least 2 spot pools".
ROW_MARGIN = 1e-9
#: Longest one class's MIP may run in the first pass over the classes; later passes allow
#: `CLASS_MIP_SECONDS`. The stage has seconds for many classes (168 on the Alibaba week, each
#: its own): on its $4,472 relaxed plan (2026-12-05, 2 busy cores) the stage reached $4,308 in 2 s
#: and $4,163 in 4 s at 0.2 s per MIP, $4,193 and $4,042 at 0.05 s.
FIRST_PASS_MIP_SECONDS = 0.05


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
            if self.jobs > policy.max_spot_share * all_job_vcpus * (1 + ROW_MARGIN):
                return False
        k = policy.diversification
        if k:
            total = sum(self.pools.values())
            if any(v > total / k * (1 + ROW_MARGIN) for v in self.pools.values() if v > 0):
                return False
        return True


@dataclass
class _SpotRows:
    """The spot rows over all buckets as rows on one class's new bin counts x, given the rest of
    the plan (its tally without the class's w buckets): spot share
    w x spot job vCPUs(x) <= S x all - J_rest, and per spot pool p (every pool the rest or a
    column uses) P_rest_p + w x pool_p(x) <= (P_rest_total + w x spot_total(x)) / K, i.e.
    w x (pool_p(x) - spot_total(x) / K) <= P_rest_total / K - P_rest_p. Jobs a column hosts
    beyond the class's demand count as spot jobs here, so the row is on the safe side of what
    trimming leaves. The pools are fixed from all the columns, so any subset of them reads the
    same rows (`ExtraRows`)."""

    problem: Problem
    weight: float
    vcpus: np.ndarray  # (shapes,) vCPUs per job
    pools: list[str]
    upper: np.ndarray

    @staticmethod
    def given(
        problem: Problem,
        rest: _SpotTally,
        weight: float,
        all_job_vcpus: float,
        vcpus: np.ndarray,
        offerings: Sequence[Offering],
    ) -> _SpotRows:
        policy = problem.policy
        upper: list[float] = []
        if policy.caps_spot_share:
            assert policy.max_spot_share is not None
            upper.append(policy.max_spot_share * all_job_vcpus - rest.jobs)
        pools: list[str] = []
        if k := policy.diversification:
            used = {p for p, v in rest.pools.items() if v > 0}
            pools = sorted(used | {o.key for o in offerings if o.is_spot})
            total = sum(rest.pools.values())
            upper += [total / k - rest.pools.get(p, 0.0) for p in pools]
        return _SpotRows(problem, weight, vcpus, pools, np.array(upper, dtype=float))

    def matrix(self, offerings: Sequence[Offering], counts: np.ndarray) -> np.ndarray:
        policy = self.problem.policy
        spot = np.array([o.is_spot for o in offerings], dtype=float)
        out: list[np.ndarray] = []
        if policy.caps_spot_share:
            out.append(self.weight * spot * (np.asarray(counts, dtype=float) @ self.vcpus))
        if self.pools:
            inst = np.array([o.vcpus for o in offerings], dtype=float) * spot
            for p in self.pools:
                mine = np.array([o.key == p for o in offerings], dtype=float)
                out.append(self.weight * inst * (mine - 1.0 / policy.diversification))
        return np.array(out, dtype=float).reshape(len(out), len(offerings))


@dataclass
class SpotRowKeeper:
    """The spot rows over all buckets as a guard for per-bucket changes of one plan
    (`commitments.RowGuard`): the plan's running spot tally, a change allowed when the tally with
    it still meets every row. What lets `improve_capacity_types` move instances between a type's
    on-demand and spot offerings under the README policy, where its moves over the whole plan, checked
    only afterwards, broke diversification or the share cap and were thrown away."""

    problem: Problem
    offerings: dict[str, Offering]
    vcpus: dict[str, float]
    all_job_vcpus: float
    tally: _SpotTally

    @staticmethod
    def of(problem: Problem, plan: Plan) -> SpotRowKeeper:
        offerings = {o.key: o for o in problem.offerings}
        vcpus = {s.id: s.vcpus for s in problem.shapes}
        tally = _SpotTally(0.0, {})
        for bins in plan.buckets:
            tally = tally.plus(_SpotTally.of(offerings, vcpus, bins), 1.0)
        all_job_vcpus = float(problem.job_vcpu_hours().sum()) / problem.bucket_hours
        return SpotRowKeeper(problem, offerings, vcpus, all_job_vcpus, tally)

    def _with(self, old: Sequence[Bin], new: Sequence[Bin]) -> _SpotTally:
        return self.tally.plus(_SpotTally.of(self.offerings, self.vcpus, old), -1.0).plus(
            _SpotTally.of(self.offerings, self.vcpus, new), 1.0
        )

    def allows(self, old: Sequence[Bin], new: Sequence[Bin]) -> bool:
        return self._with(old, new).meets(self.problem, self.all_job_vcpus)

    def take(self, old: Sequence[Bin], new: Sequence[Bin]) -> None:
        self.tally = self._with(old, new)


@dataclass
class _Stage:
    """The per-class stage's working plan (bins and billed objective per bucket, its spot tally)
    and what its re-solves read, built once per stage."""

    problem: Problem
    offerings: dict[str, Offering]
    prices: dict[str, float]  # on-demand list price per instance type
    col_offerings: list[Offering]
    col_counts: np.ndarray
    vcpus: dict[str, float]  # per shape id
    shape_vcpus: np.ndarray  # (shapes,)
    all_job_vcpus: float
    drop_empty: bool
    buckets: list[list[Bin]]
    value: np.ndarray
    tally: _SpotTally
    group_passes: int = 0  # group passes run on it so far


def _group_pass(
    stage: _Stage, order: Sequence[list[int]], *, deadline: float, clock: Callable[[], float]
) -> bool:
    """One pass of `commitment_groups.GROUP_SIZE` classes at a time in `order` (each class: its
    buckets), until `deadline`; a group's new bins replace its classes' where their billed
    objectives add up to less and the rows over all buckets still hold on them. Whether any did."""
    from optimizer.solver.commitment_groups import GROUP_SIZE, resolve_group
    from optimizer.solver.commitments import _bucket_objective

    problem = stage.problem
    if not (problem.policy.caps_spot_share or problem.policy.diversification):
        return False  # (a type cap alone: the classes share no row, a group is its classes apart)
    changed = False
    # Each pass shifts the groups by half a group, so classes meet other partners than last time.
    shift = (stage.group_passes * GROUP_SIZE // 2) % max(1, len(order))
    stage.group_passes += 1
    shifted = [*order[shift:], *order[:shift]]
    for start in range(0, len(shifted), GROUP_SIZE):
        if deadline - clock() <= 0.02:
            break
        group = shifted[start : start + GROUP_SIZE]
        weights = [float(len(m)) for m in group]
        rest = stage.tally
        for m, w in zip(group, weights, strict=True):
            rest = rest.plus(_SpotTally.of(stage.offerings, stage.vcpus, stage.buckets[m[0]]), -w)
        incumbent = sum(w * float(stage.value[m[0]]) for m, w in zip(group, weights, strict=True))
        rows = _SpotRows.given(
            problem, rest, 1.0, stage.all_job_vcpus, stage.shape_vcpus, stage.col_offerings
        )
        new = resolve_group(
            problem,
            stage.col_offerings,
            stage.col_counts,
            [problem.demand[:, m[0]] for m in group],
            weights,
            incumbent,
            rows,
            drop_empty=stage.drop_empty,
            time_limit=min(deadline - clock(), CLASS_MIP_SECONDS),
        )
        if new is None:
            continue
        values = [_bucket_objective(problem, stage.offerings, stage.prices, bins) for bins in new]
        moved = rest
        for bins, w in zip(new, weights, strict=True):
            moved = moved.plus(_SpotTally.of(stage.offerings, stage.vcpus, bins), w)
        total = sum(w * v for w, v in zip(weights, values, strict=True))
        if total >= incumbent - 1e-9 * max(1.0, abs(incumbent)) or not moved.meets(
            problem, stage.all_job_vcpus
        ):
            continue
        stage.tally, changed = moved, True
        for m, bins, v in zip(group, new, values, strict=True):
            for t in m:
                stage.buckets[t], stage.value[t] = list(bins), v
    return changed


def improve_by_class_coupled(
    problem: Problem,
    plan: Plan,
    patterns: Iterable[Pattern],
    *,
    bucket_bounds: np.ndarray | None = None,
    deadline: float,
    clock: Callable[[], float],
) -> Plan | None:
    """`plan` with bucket classes re-solved exactly over the columns on its own offerings, the spot
    rows in each class's model (see the module docstring), until `deadline`, each kept only where
    its bill is lower and the spot rows still hold on its trimmed bins; None where it does not
    apply (gangs, no plan, a bin held part of a bucket).

    Classes go by the money a better plan could still save, their buckets' objectives minus
    `bucket_bounds` (T,) (the search's per-bucket bound, without the fees) when given: on the
    Alibaba week's $4,472 relaxed plan the stage reached $4,208 in 1.5 s and $4,153 in 2 s that
    way, $4,250 and $4,196 by the objectives alone (KTH's $624.80 plan: $608.89 both times, where
    the objectives alone gave $608.32 and $606.32; 2026-12-05)."""
    from optimizer.solver.commitments import _bucket_objective, _on_demand_prices, bill_plan

    if not plan.has_solution or any(s.is_gang for s in problem.shapes):
        return None
    if any(b.hours is not None for bins in plan.buckets for b in bins):
        return None
    offerings = {o.key: o for o in problem.offerings}
    prices = _on_demand_prices(problem)
    col_offerings, col_counts = class_columns(problem, plan, patterns, set(plan.selected))
    demand = problem.demand
    active = np.flatnonzero(demand.any(axis=0))
    if not col_offerings or not active.size:
        return None
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
    shape_vcpus = np.array([s.vcpus for s in problem.shapes], dtype=float)
    floor = np.zeros(problem.n_buckets) if bucket_bounds is None else np.asarray(bucket_bounds, dtype=float)
    order = sorted(groups.values(), key=lambda m: -float((value[m] - floor[m]).sum()))
    stage = _Stage(problem, offerings, prices, col_offerings, col_counts, vcpus, shape_vcpus,
                   all_job_vcpus, drop_empty, buckets, value, tally)  # fmt: skip
    passes, changed = 0, True
    # Until a pass with the longer MIPs changes nothing: it leaves every class's rows as they were.
    while (changed or passes == 1) and deadline - clock() > 0.02:
        mip_seconds = FIRST_PASS_MIP_SECONDS if passes == 0 else CLASS_MIP_SECONDS
        passes, changed = passes + 1, False
        for members in order:
            if deadline - clock() <= 0.02:
                break
            incumbent = float(value[members[0]])
            w = float(len(members))
            rest = stage.tally.plus(_SpotTally.of(offerings, vcpus, buckets[members[0]]), -w)
            need = demand[:, members[0]]
            # Without the rows first: the smaller model, and where they do not bind the same bins
            # sooner (on the Alibaba week's relaxed plan none of 173 classes needed them, and the
            # rows-first stage reached $4,172 in 6 s where this one reached $4,032); with them only
            # when its bins break one.
            found: tuple[list[Bin], float, _SpotTally] | None = None
            for rows in (None, _SpotRows.given(problem, rest, w, all_job_vcpus, shape_vcpus, col_offerings)):
                new = resolve_class(
                    problem,
                    col_offerings,
                    col_counts,
                    need,
                    incumbent,
                    drop_empty=drop_empty,
                    deadline=deadline,
                    clock=clock,
                    extra=rows,
                    mip_seconds=mip_seconds,
                )
                if new is None:
                    break  # (without the rows: no cheaper bins at all)
                new_value = _bucket_objective(problem, offerings, prices, new)
                if new_value >= incumbent - 1e-9 * max(1.0, abs(incumbent)):
                    break
                moved = rest.plus(_SpotTally.of(offerings, vcpus, new), w)
                if moved.meets(problem, all_job_vcpus):
                    found = new, new_value, moved
                    break
            if found is None:
                continue
            new, new_value, stage.tally = found
            changed = True
            for t in members:
                buckets[t], value[t] = list(new), new_value
        if deadline - clock() > 0.02:
            # Every class had its turn: groups of classes trade through the rows singles cannot
            # move (`commitment_groups.py`).
            while _group_pass(stage, order, deadline=deadline, clock=clock):
                changed = True
    selected = sorted({b.offering for bins in buckets for b in bins})
    return bill_plan(problem, replace(plan, buckets=buckets, selected=selected))
