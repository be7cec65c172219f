"""Heuristic fleets the optimizer is measured against (and seeded with); pure functions.

All three fill one instance at a time with the largest remaining jobs first ("bin completion"),
then repeat that instance while the remaining jobs allow, which is first-fit-decreasing when jobs of
one shape are interchangeable and runs in time proportional to bins opened, not jobs. They differ
in which offering a new instance is:

- `legacy_optimal`: AWS Batch's legacy `optimal` category, c4/m4/r4 on-demand; the instance that
  best fits the largest waiting job (least idle share after filling), cheaper on ties. A shape none of
  them can host falls back to the cheapest on-demand offering that can.
- `cheapest_fit`: Karpenter-style over the whole catalogue: the offering with the lowest objective
  per unit of work packed, where a job's work is the cheapest per-job price of its shape on any
  offering filled with that shape alone.
- `single_type`: the one offering, among those that can host every shape, whose fleet costs least.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from optimizer.solver.assemble import RawBin, build_plan
from optimizer.solver.columns import Prepared, prepare
from optimizer.solver.plan import Plan
from optimizer.solver.problem import Offering, Problem
from optimizer.solver.search_kernels import fill_instances

LEGACY_OPTIMAL_FAMILIES = ("c4", "m4", "r4")

# chooser(prep, candidate offering indices, takes (C, S), remaining (S,)) -> position in candidates
Chooser = Callable[[Prepared, np.ndarray, np.ndarray, np.ndarray], int]


def shape_order(prep: Prepared) -> np.ndarray:
    """Shapes largest first (by their largest share of the biggest request in any dimension)."""
    top = np.maximum(prep.sizes.max(axis=0), 1e-9)
    key = (prep.sizes / top).max(axis=1)
    return np.argsort(-key, kind="stable")


def _fill(prep: Prepared, cands: np.ndarray, remaining: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Greedy largest-first fill of one instance of every candidate: (C, S) job counts."""
    return fill_instances(
        prep.caps[cands], prep.compat[cands], prep.sizes, remaining.astype(np.int64), order.astype(np.int64)
    )


def _pack_class(
    prep: Prepared, demand: np.ndarray, allowed: np.ndarray, choose: Chooser
) -> list[RawBin] | None:
    order = shape_order(prep)
    remaining = demand.astype(np.int64).copy()
    bins: list[RawBin] = []
    while remaining.any():
        first = next(s for s in order if remaining[s] > 0)
        cands = np.flatnonzero(allowed & prep.compat[:, first])
        if cands.size == 0:
            return None
        takes = _fill(prep, cands, remaining, order)
        pick = choose(prep, cands, takes, remaining)
        take = takes[pick]
        used = take > 0
        repeat = int((remaining[used] // take[used]).min())
        bins.append((prep.offerings[int(cands[pick])].key, repeat, take.copy()))
        remaining -= repeat * take
    return bins


def _plan(problem: Problem, prep: Prepared, allowed: np.ndarray, choose: Chooser, name: str) -> Plan:
    class_bins = []
    for u in range(prep.n_classes):
        bins = _pack_class(prep, prep.demand[:, u], allowed, choose)
        if bins is None:
            return Plan(
                "INFEASIBLE",
                f"{name}: some shape fits none of its offerings",
                0,
                0,
                0,
                0,
                0,
                [],
                [[] for _ in range(problem.n_buckets)],
            )
        class_bins.append(bins)
    return build_plan(
        problem,
        class_bins,
        prep.bucket_class,
        prep.demand,
        status="FEASIBLE",
        reason=name,
        lower_bound=0.0,
        solve_seconds=0.0,
        stats={"heuristic": name},
    )


def job_work_values(prep: Prepared) -> np.ndarray:
    """Per shape: the cheapest objective per job on an instance filled with that shape alone."""
    values = np.full(len(prep.sizes), np.inf)
    for s in range(len(prep.sizes)):
        fit = np.full(len(prep.offerings), np.inf)
        for d in range(3):
            if prep.sizes[s, d] > 0:
                fit = np.minimum(fit, np.floor((prep.caps[:, d] + 1e-9) / prep.sizes[s, d]))
        ok = prep.compat[:, s] & (fit >= 1)
        if ok.any():
            values[s] = float((prep.hourly[ok] / fit[ok]).min())
    return np.where(np.isfinite(values), values, 0.0)


def cheapest_fit_chooser(work: np.ndarray) -> Chooser:
    """Pick the candidate with the lowest objective per unit of work packed."""

    def choose(prep: Prepared, cands: np.ndarray, takes: np.ndarray, remaining: np.ndarray) -> int:
        value = takes @ work
        score = np.where(value > 0, prep.hourly[cands] / np.maximum(value, 1e-300), np.inf)
        return int(np.argmin(score))

    return choose


def cheapest_fit_bins(
    prep: Prepared, demand: np.ndarray, allowed: np.ndarray | None = None, *, work: np.ndarray | None = None
) -> list[RawBin] | None:
    """Cheapest-fit bins for one demand vector (used by the solver to cover LP rounding residuals,
    and to rank type-cap subsets: `work`, the per-job work values (S,), defaults to
    `job_work_values(prep)`; a caller packing many classes passes it once)."""
    mask = np.ones(len(prep.offerings), dtype=bool) if allowed is None else allowed
    values = job_work_values(prep) if work is None else work
    return _pack_class(prep, demand, mask, cheapest_fit_chooser(values))


def cheapest_fit(problem: Problem, offerings: Sequence[Offering] | None = None) -> Plan:
    prep = prepare(problem, list(offerings if offerings is not None else problem.offerings))
    choose = cheapest_fit_chooser(job_work_values(prep))
    return _plan(problem, prep, np.ones(len(prep.offerings), dtype=bool), choose, "cheapest-fit FFD")


def legacy_optimal(problem: Problem) -> Plan:
    offerings = list(problem.offerings)
    prep = prepare(problem, offerings)
    allowed = np.array(
        [
            o.capacity_type == "ON_DEMAND" and o.instance_type.split(".")[0] in LEGACY_OPTIMAL_FAMILIES
            for o in offerings
        ],
        dtype=bool,
    )
    on_demand = ~prep.spot
    for s in range(len(problem.shapes)):
        if prep.demand[s].any() and not (allowed & prep.compat[:, s]).any():
            hosts = np.flatnonzero(on_demand & prep.compat[:, s])
            if hosts.size:
                allowed[hosts[np.argmin(prep.price[hosts])]] = True

    def choose(prep: Prepared, cands: np.ndarray, takes: np.ndarray, remaining: np.ndarray) -> int:
        used = takes @ prep.sizes
        caps = prep.caps[cands]
        idle = np.maximum(1 - used[:, 0] / caps[:, 0], 1 - used[:, 1] / caps[:, 1])
        return int(np.lexsort((prep.price[cands], np.round(idle, 9)))[0])

    return _plan(problem, prep, allowed, choose, "legacy optimal best-fit")


def single_type(problem: Problem, *, candidates: int = 12) -> Plan:
    offerings = list(problem.offerings)
    prep = prepare(problem, offerings)
    needed = prep.demand.any(axis=1)
    hosts_all = (
        np.flatnonzero(prep.compat[:, needed].all(axis=1)) if needed.any() else np.arange(len(offerings))
    )
    if hosts_all.size == 0:
        return Plan(
            "INFEASIBLE",
            "single type: no offering hosts every shape",
            0,
            0,
            0,
            0,
            0,
            [],
            [[] for _ in range(problem.n_buckets)],
        )
    # Rank by a fluid estimate (capacity-only) and pack only the most promising few.
    load = prep.sizes.T @ (prep.demand @ prep.weight)
    fluid = prep.hourly[hosts_all] * np.max(load[None, :2] / prep.caps[hosts_all, :2], axis=1)
    best: Plan | None = None
    for o in hosts_all[np.argsort(fluid)[:candidates]]:
        allowed = np.zeros(len(offerings), dtype=bool)
        allowed[o] = True
        plan = _plan(problem, prep, allowed, lambda p, c, t, r: 0, f"single type {offerings[o].key}")
        if best is None or plan.objective_usd < best.objective_usd:
            best = plan
    assert best is not None
    return best
