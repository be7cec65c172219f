"""Make a plan meet the spot limits by moving bins, cheapest move first.

Under `max_spot_share` or spot diversification the integer master couples every bucket and HiGHS
often stops (or is stopped) with a poor plan, or none, while a cheap plan that breaks the limit is
at hand (cheapest-fit, LP rounding). Moving whole bins keeps every packing valid, so this repair
turns such a plan into a valid one at a small extra cost, which is also what an operator would do
by hand:

- spot share above the cap: move spot bins to the cheapest on-demand offering that hosts the same
  jobs, least extra cost per job vCPU-hour moved first;
- a spot pool above 1/K of the spot instance vCPU-hours: move its bins to other spot pools that
  stay within 1/K themselves (or, when none does, to on-demand), least extra cost per vCPU-hour
  moved first. A bin's jobs may land on several instances of the other pool (first-fit
  decreasing): a bin of eight 1-GPU jobs on an 8-GPU instance only moves to a 4-GPU pool as two
  bins, and with whole-bin moves alone the Alibaba week's repair under the README's policy (plus
  stricter requirements and big shapes off spot) sent such bins to on-demand, $6,001 to $14,601.

A heuristic: it gives incumbents, never bounds.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from optimizer.solver.assemble import RawBin, heuristic_plan
from optimizer.solver.plan import Plan
from optimizer.solver.problem import Problem

#: A bin's jobs packed onto instances of one offering: (instances, jobs per shape on each) per
#: distinct packing (`_Catalogue.pieces`).
Pieces = tuple[tuple[int, np.ndarray], ...]

#: Bin moves after which the diversification repair gives up (it only cycles on hopeless inputs).
MAX_MOVES = 20_000


@dataclass
class _Group:
    bucket: int
    offering: int
    count: int
    jobs: np.ndarray  # per shape


class _Catalogue:
    """Offerings as arrays, and per job multiset the offerings that can host it (cached)."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        self.offerings = list(problem.offerings)
        self.index = {o.key: i for i, o in enumerate(self.offerings)}
        icf = problem.policy.interruption_cost_factor
        self.hourly = np.array([o.hourly_objective(icf) for o in self.offerings])
        self.spot = np.array([o.is_spot for o in self.offerings])
        self.vcpus = np.array([o.vcpus for o in self.offerings])
        self.caps = np.array([[o.vcpus, o.memory_mib, o.gpus] for o in self.offerings], dtype=float)
        self.sizes = problem.shape_sizes()
        self.compat = np.array([[o.can_host(s) for s in problem.shapes] for o in self.offerings])
        self._hosts: dict[bytes, np.ndarray] = {}
        self._fitting: dict[bytes, np.ndarray] = {}
        self._pieces: dict[tuple[bytes, int], Pieces | None] = {}

    def hosts(self, jobs: np.ndarray) -> np.ndarray:
        key = jobs.tobytes()
        found = self._hosts.get(key)
        if found is None:
            need = jobs @ self.sizes
            used = jobs > 0
            ok = self.compat[:, used].all(axis=1) & (self.caps >= need - 1e-9).all(axis=1)
            found = np.flatnonzero(ok)
            self._hosts[key] = found
        return found

    def fitting(self, jobs: np.ndarray) -> np.ndarray:
        """Offerings that can host each of `jobs`' shapes, one job per instance at least."""
        key = jobs.tobytes()
        found = self._fitting.get(key)
        if found is None:
            used = jobs > 0
            biggest = self.sizes[used].max(axis=0, initial=0.0)  # an empty bin fits anywhere
            found = np.flatnonzero(
                self.compat[:, used].all(axis=1) & (self.caps >= biggest - 1e-9).all(axis=1)
            )
            self._fitting[key] = found
        return found

    def least_instances(self, jobs: np.ndarray, to: np.ndarray) -> np.ndarray:
        """Per offering in `to`, a lower bound on the instances `jobs` need there (the largest of
        each dimension's total over the instance's capacity, at least 1): it orders the moves so
        that the first-fit packings (`pieces`) run only while they may win."""
        need = np.broadcast_to(jobs @ self.sizes, (to.size, 3))
        ratio = np.divide(need, self.caps[to], out=np.zeros((to.size, 3)), where=self.caps[to] > 0)
        return np.maximum(1.0, np.ceil(ratio.max(axis=1, initial=0.0) - 1e-9))

    def cheapest_packing(
        self, jobs: np.ndarray, fit: np.ndarray, allowed: Callable[[int, float], bool] | None = None
    ) -> tuple[float, int, Pieces] | None:
        """(hourly cost, offering, `pieces`) of the cheapest move of one bin's `jobs` onto instances
        of one offering in `fit` (each must host every job alone, `fitting`), or None; `allowed(to,
        instances)` may refuse a target. Offerings are tried cheapest first by `least_instances`,
        a lower bound, so the first-fit packings run only while they may win."""
        least = self.least_instances(jobs, fit) * self.hourly[fit]
        best: tuple[float, int, Pieces] | None = None
        for j in np.argsort(least, kind="stable"):
            if best is not None and least[j] >= best[0]:
                break
            to = int(fit[j])
            pieces = self.pieces(jobs, to)
            assert pieces is not None  # (`fitting`: each job fits alone)
            instances = float(sum(m for m, _ in pieces))
            if allowed is not None and not allowed(to, instances):
                continue
            cost = instances * self.hourly[to]
            if best is None or cost < best[0]:
                best = (cost, to, pieces)
        return best

    def pieces(self, jobs: np.ndarray, to: int) -> Pieces | None:
        """One bin's `jobs` (per shape) packed onto instances of offering `to`, first-fit
        decreasing, as (count, jobs) per distinct instance; None when `to` cannot host one of them."""
        key = (jobs.tobytes(), to)
        if key in self._pieces:
            return self._pieces[key]
        found: Pieces | None = None
        used = np.flatnonzero(jobs > 0)
        cap = self.caps[to]
        if self.compat[to, used].all() and (self.sizes[used] <= cap + 1e-9).all():
            if ((jobs @ self.sizes) <= cap + 1e-9).all():
                found = ((1, jobs),)
            else:
                found = self._first_fit(jobs, used, cap)
        self._pieces[key] = found
        return found

    def _first_fit(self, jobs: np.ndarray, used: np.ndarray, cap: np.ndarray) -> Pieces:
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(cap > 0, self.sizes[used] / cap, 0.0).max(axis=1)
        loads: list[np.ndarray] = []
        bins: list[np.ndarray] = []
        for s in used[np.argsort(-share, kind="stable")]:
            for _ in range(int(jobs[s])):
                for b, load in enumerate(loads):
                    if (load + self.sizes[s] <= cap + 1e-9).all():
                        load += self.sizes[s]
                        bins[b][s] += 1
                        break
                else:
                    loads.append(self.sizes[s].copy())
                    bins.append(np.zeros_like(jobs))
                    bins[-1][s] = 1
        distinct: dict[bytes, list] = {}
        for b in bins:
            distinct.setdefault(b.tobytes(), [0, b])[0] += 1
        return tuple((int(n), b) for n, b in distinct.values())


def _groups(cat: _Catalogue, plan: Plan) -> list[_Group]:
    shape_index = {s.id: i for i, s in enumerate(cat.problem.shapes)}
    out = []
    for t, bins in enumerate(plan.buckets):
        for b in bins:
            jobs = np.zeros(len(shape_index), dtype=np.int64)
            for sid, n in b.jobs.items():
                jobs[shape_index[sid]] = n
            out.append(_Group(t, cat.index[b.offering], b.count, jobs))
    return out


def _move(groups: list[_Group], g: _Group, count: int, to: int) -> None:
    if count >= g.count:
        g.offering = to
    else:
        g.count -= count
        groups.append(_Group(g.bucket, to, count, g.jobs))


def _split(groups: list[_Group], g: _Group, count: int, to: int, pieces: Pieces) -> None:
    """`count` bins of `g` re-packed as `pieces` (per bin) on offering `to`."""
    if len(pieces) == 1 and pieces[0][0] == 1:
        _move(groups, g, count, to)
        return
    g.count -= min(count, g.count)
    groups.extend(_Group(g.bucket, to, count * n, jobs) for n, jobs in pieces)


def _cap_spot_share(cat: _Catalogue, groups: list[_Group], share: float) -> bool:
    """Move spot bins to on-demand until at most `share` of the job vCPU-hours run on spot, least
    extra cost per job vCPU-hour moved first. A bin's jobs may land on several on-demand instances
    (first-fit decreasing, as in `_diversify`): with whole-bin moves alone a plan of 96-vCPU spot
    bins had nowhere to go when the on-demand offerings at hand were 32-64 vCPUs, and every
    type-cap subset's quick plan on four of the six held-out KTH-SP2 weeks tried under the README
    policy failed, so no swap search ran and their gaps were 7.7-11.3 %."""
    hours = cat.problem.bucket_hours
    total = float((cat.problem.demand.sum(axis=1) * cat.sizes[:, 0]).sum()) * hours
    job_vcpu = {id(g): float(g.jobs @ cat.sizes[:, 0]) * hours for g in groups}
    on_spot = sum(g.count * job_vcpu[id(g)] for g in groups if cat.spot[g.offering])
    excess = on_spot - share * total
    if excess <= 1e-6:
        return True
    moves = []
    for g in groups:
        if not cat.spot[g.offering] or job_vcpu[id(g)] <= 0:
            continue
        fit = cat.fitting(g.jobs)
        fit = fit[~cat.spot[fit]]
        if fit.size == 0:
            continue
        best = cat.cheapest_packing(g.jobs, fit)
        if best is not None:
            extra = (best[0] - cat.hourly[g.offering]) * hours / job_vcpu[id(g)]
            moves.append((extra, g, best[1], best[2]))
    moves.sort(key=lambda m: m[0])
    for _, g, to, pieces in moves:
        if excess <= 1e-6:
            break
        per_bin = job_vcpu[id(g)]
        count = min(g.count, math.ceil((excess - 1e-9) / per_bin))
        _split(groups, g, count, to, pieces)
        excess -= count * per_bin
    return excess <= 1e-6


def _diversify(cat: _Catalogue, groups: list[_Group], k: int) -> bool:
    """Move bins out of the fullest spot pool until every pool holds at most 1/k of the spot
    vCPU-hours. Each round ranks the fullest pool's groups once by the extra cost per vCPU-hour of
    their cheapest valid move (a bin's jobs on one or more instances of another offering) and
    applies them in that order until the pool is within its share (re-checking the target's room
    at each move): ranking once per round instead of once per moved bin keeps a repair of
    thousands of bins to a fraction of a second."""
    hours = cat.problem.bucket_hours
    pools = np.zeros(len(cat.offerings))
    for g in groups:
        if cat.spot[g.offering]:
            pools[g.offering] += g.count * cat.vcpus[g.offering] * hours
    moves = 0
    while moves < MAX_MOVES:
        z = pools.sum()
        over = int(np.argmax(pools))
        if z <= 0 or pools[over] <= z / k + 1e-6:
            return True
        per_bin = cat.vcpus[over] * hours
        ranked: list[tuple[float, int, _Group, int, Pieces, float]] = []
        # Within a ranking the pools do not change, so a bin's best move depends on its jobs and
        # the bins moved only: groups of the same bin in other buckets share it (on the Alibaba
        # week in ten-minute buckets, 52,000 packings took 1.4 s of a 9 s solve).
        best_for: dict[tuple[bytes, int], tuple[float, int, Pieces] | None] = {}
        for n, g in enumerate(groups):
            if g.offering != over or g.count <= 0:
                continue
            need = math.ceil((pools[over] - z / k) / per_bin - 1e-9)
            count = max(1, min(g.count, need))
            key = (g.jobs.tobytes(), count)
            if key not in best_for:
                fit = cat.fitting(g.jobs)
                left = z - count * per_bin  # the spot vCPU-hours once the bins leave `over`

                def has_room(to: int, instances: float, count: int = count, left: float = left) -> bool:
                    # a spot target must stay within its own 1/k after the move
                    added = count * instances * cat.vcpus[to] * hours
                    return not cat.spot[to] or pools[to] + added <= (left + added) / k + 1e-6

                best_for[key] = cat.cheapest_packing(g.jobs, fit[fit != over], has_room)
            best = best_for[key]
            if best is not None:
                cost, to, pieces = best
                extra = (cost - cat.hourly[over]) / cat.vcpus[over]
                ranked.append((extra, n, g, to, pieces, float(sum(m for m, _ in pieces))))
        if not ranked:
            return False
        ranked.sort(key=lambda m: (m[0], m[1]))
        moved = False
        for _, _, g, to, pieces, instances in ranked:
            z = pools.sum()
            if pools[over] <= z / k + 1e-6 or moves >= MAX_MOVES:
                break
            count = max(1, min(g.count, math.ceil((pools[over] - z / k) / per_bin - 1e-9)))
            added = count * instances * cat.vcpus[to] * hours
            if cat.spot[to]:
                after_z = z - count * per_bin + added
                if pools[to] + added > after_z / k + 1e-6:
                    continue  # earlier moves filled it: the next round finds another target
            pools[over] -= count * per_bin
            if cat.spot[to]:
                pools[to] += added
            _split(groups, g, count, to, pieces)
            moves += 1
            moved = True
        if not moved:
            return False
    return False


def repair_spot_limits(problem: Problem, plan: Plan) -> Plan | None:
    """`plan` changed to meet `max_spot_share` and diversification, or None when the moves run out
    (no host for some jobs outside the full pool). Other limits are not touched."""
    if not plan.has_solution:
        return None
    cat = _Catalogue(problem)
    groups = _groups(cat, plan)
    policy = problem.policy
    if policy.caps_spot_share and not _cap_spot_share(cat, groups, float(policy.max_spot_share or 0.0)):
        return None
    if policy.diversification and not _diversify(cat, groups, policy.diversification):
        return None
    by_bucket: list[list[RawBin]] = [[] for _ in range(problem.n_buckets)]
    for g in groups:
        if g.count > 0:
            by_bucket[g.bucket].append((cat.offerings[g.offering].key, g.count, g.jobs))
    return heuristic_plan(problem, by_bucket, np.arange(problem.n_buckets), problem.demand)
