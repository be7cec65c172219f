"""Local search over type-cap subsets: swap one offering of a subset for another while a quick
plan on the subset gets cheaper.

Under `max_instance_types` the solver plans on a subset of at most `cap` offerings
(`type_cap_subsets.py`), picked from what the LP relaxation spends on. The LP packs jobs
fractionally, so it favours large instances that share their room between shapes; in whole
instances, with few jobs per bucket, those round badly, and a smaller offering the LP never uses
can be much cheaper. (Alibaba-GPU week, README policy with requirements and big shapes kept on
demand: the LP's subset holds m6a.24xlarge for the 32-vCPU on-demand jobs, three per instance,
while one to eight run per hour; swapping it for m6a.8xlarge, which the LP leaves at zero, lowers
the subset's best plan from $5,973 to $5,804.)

The quick plan is cheapest-fit (largest jobs first, the offering with the lowest objective per
unit of work) restricted to the subset, class by class, compiled (`subset_kernels.py`): it already
pays for whole instances, which is what separates the subsets here, and costs about a millisecond.
It ignores the spot rows (their repair, moving whole bins to on-demand, is far too coarse to rank
subsets by), so a swap keeps the capacity type, keeps an on-demand host for every shape the start
had one for (where that repair moves work), and under diversification leaves the spot pools alone
(the LP chose them under the 1/K rows; pools the quick plan likes may not share the spot work).

Swaps are tried where they pay most: the subset's offerings whose quick-plan spend exceeds most
what their jobs would cost on the subset's cheapest host for each (their rounding waste) first,
each against (a) the outside offerings that would host its own jobs most cheaply alone and (b)
the cheapest hosts of the shapes the quick plan pays most above their cheapest price anywhere.
The best replacement of the first offering that has one saving at least `MIN_IMPROVEMENT` is
kept and the search restarts from the new subset, until no swap helps or the deadline passes.
A heuristic: it gives subsets for plans, never bounds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from optimizer.solver.baselines import shape_order
from optimizer.solver.columns import Prepared
from optimizer.solver.subset_kernels import quick_plan_kernel

#: Replacements tried per offering of the subset in one pass (the cheapest hosts of its jobs).
REPLACEMENTS_PER_OFFERING = 4
#: A swap must lower the quick plan's objective by at least this share to be kept. Cheapest-fit
#: misses a subset's optimum by a few per cent (Alibaba week: $6,001 against $5,973, $5,821
#: against $5,804), so a smaller gain may rank the subsets wrongly (KTH week, max_instance_types
#: = 12: swaps worth 0.4 % of the quick plan gave a plan 0.3 % dearer than the LP's subset).
MIN_IMPROVEMENT = 0.01


@dataclass(frozen=True)
class SubsetSearch:
    """The best subset found, its quick-plan objective and what the search did."""

    subset: list[int]
    objective: float
    start_objective: float
    evaluations: int
    swaps: int


def per_job_prices(prep: Prepared) -> np.ndarray:
    """(O, S) objective per job of an instance of o filled with shape s alone (inf where none fits)."""
    fit = np.full(prep.compat.shape, np.inf)
    for d in range(3):
        size = prep.sizes[:, d]
        with np.errstate(divide="ignore"):
            room = np.floor((prep.caps[:, d, None] + 1e-9) / np.where(size > 0, size, 1.0)[None, :])
        fit = np.where(size[None, :] > 0, np.minimum(fit, room), fit)
    ok = prep.compat & (fit >= 1)
    return np.where(ok, prep.hourly[:, None] / np.where(ok, fit, 1.0), np.inf)


@dataclass(frozen=True)
class Quick:
    """A subset's quick plan: objective, spend per offering (O,), job-hours per offering and shape
    (O, S), and spend per shape (S,) (each bin's money split by the work of the jobs it hosts)."""

    objective: float
    spend: np.ndarray
    jobs: np.ndarray
    shape_spend: np.ndarray


class QuickPlan:
    """Cheapest-fit restricted to a subset of prepared offerings: its objective and, per offering,
    its spend and the job-hours of each shape it hosts."""

    def __init__(self, prep: Prepared) -> None:
        self.prep = prep
        self.prices = per_job_prices(prep)
        self.index = {o.key: i for i, o in enumerate(prep.offerings)}
        self.needed = np.flatnonzero(prep.demand.any(axis=1))
        self.order = shape_order(prep).astype(np.int64)
        self.evaluations = 0

    def hosts_all(self, subset: list[int]) -> bool:
        """Every shape with demand fits some offering of `subset`."""
        return bool(self.prep.compat[np.ix_(subset, self.needed)].any(axis=0).all())

    def on_demand_hosted(self, subset: list[int]) -> np.ndarray:
        """(S,) bool: the shapes some on-demand offering of `subset` hosts (where the spot repair
        moves work when a spot limit is exceeded)."""
        od = [o for o in subset if not self.prep.spot[o]]
        return self.prep.compat[od].any(axis=0) if od else np.zeros(self.prep.compat.shape[1], dtype=bool)

    def run(self, subset: list[int]) -> Quick | None:
        """The quick plan's objective, spend and job-hours; None when a shape has no host."""
        prep = self.prep
        self.evaluations += 1
        allowed = np.zeros(len(prep.offerings), dtype=bool)
        allowed[subset] = True
        work = self.prices[allowed].min(axis=0)
        work = np.where(np.isfinite(work), work, 0.0)
        ok, spend, jobs, shape_spend = quick_plan_kernel(
            allowed,
            prep.compat,
            prep.caps,
            prep.sizes,
            prep.hourly,
            np.ascontiguousarray(prep.demand, dtype=np.int64),  # C order: one compiled signature
            prep.weight * prep.hours,
            self.order,
            work,
        )
        if not ok:
            return None
        return Quick(float(spend.sum()), spend, jobs, shape_spend)


def improve_subset(
    prep: Prepared,
    start: list[int],
    *,
    deadline: float,
    clock: Callable[[], float],
    quick: QuickPlan | None = None,
    trace: Callable[[int, float, str], None] | None = None,
) -> SubsetSearch | None:
    """Swap offerings of `start` (prepared indices) for others of the same capacity type while the
    quick plan gets cheaper (module doc), until no swap helps or `clock` reaches `deadline`. None
    when the quick plan of `start` itself fails (a shape without a host). `trace`, for
    diagnostics, hears (quick plans so far, new objective, new subset) at every kept swap."""
    quick = quick or QuickPlan(prep)
    current = list(start)
    state = quick.run(current)
    if state is None:
        return None
    start_objective = state.objective
    # The quick plan ignores the spot rows: a swap must not take away an on-demand host the start
    # had for a shape, or the spot limits' repair (bins moved to on-demand) could fail where it
    # did not.
    keep_on_demand = quick.on_demand_hosted(current) & prep.demand.any(axis=1)
    swaps = 0
    improved = True
    while improved and clock() < deadline:
        improved = False
        for i, replacements in _moves(prep, quick, current, state):
            best: tuple[list[int], Quick] | None = None
            for j in replacements:
                if clock() >= deadline:
                    break
                trial = [j if o == i else o for o in current]
                if not quick.hosts_all(trial) or (keep_on_demand & ~quick.on_demand_hosted(trial)).any():
                    continue
                got = quick.run(trial)
                if got is not None and (best is None or got.objective < best[1].objective):
                    best = (trial, got)
            if best is not None and best[1].objective < state.objective * (1.0 - MIN_IMPROVEMENT):
                if trace is not None:
                    trace(quick.evaluations, best[1].objective, str(best[0]))
                current, state = best
                swaps += 1
                improved = True
                break
    return SubsetSearch(current, state.objective, start_objective, quick.evaluations, swaps)


def _moves(prep: Prepared, quick: QuickPlan, subset: list[int], state: Quick) -> list[tuple[int, list[int]]]:
    """(out, in) swaps in the order to try: the subset's offerings with the most rounding waste
    first, each against (a) the outside offerings of its capacity type that would host its own
    jobs most cheaply alone and (b) the cheapest hosts of the shapes the quick plan pays most
    above their cheapest price anywhere (the subset lacks a good host for them)."""
    prices = quick.prices
    inside = np.zeros(len(prep.offerings), dtype=bool)
    inside[subset] = True
    finite = np.isfinite(prices)
    best_in = np.where(finite[inside].any(axis=0), np.where(finite, prices, np.inf)[inside].min(axis=0), 0.0)
    waste = {o: state.spend[o] - float(state.jobs[o] @ best_in) for o in subset}
    job_hours = state.jobs.sum(axis=0)
    best_any = np.where(finite.any(axis=0), np.where(finite, prices, np.inf).min(axis=0), 0.0)
    excess = state.shape_spend - job_hours * best_any
    by_excess = {flag: _shape_hosts(prices, ~inside & (prep.spot == flag), excess) for flag in (False, True)}
    moves: list[tuple[int, list[int]]] = []
    # Under diversification the quick plan, which ignores the spot rows, would pick spot pools
    # that cannot share the spot work evenly: the LP's pools, chosen under those rows, stay.
    fixed = prep.problem.policy.diversification > 0
    for i in sorted(subset, key=lambda o: -waste[o]):
        if fixed and prep.spot[i]:
            continue
        hosted = state.jobs[i] > 0
        if not hosted.any():
            hosted = prep.demand.any(axis=1)  # unused in the quick plan: any host may do better
        h = np.flatnonzero(hosted)
        others = np.flatnonzero(~inside & (prep.spot == prep.spot[i]) & finite[:, h].any(axis=1))
        alone = np.where(finite[np.ix_(others, h)], prices[np.ix_(others, h)], 0.0) @ state.jobs[i, h]
        misses = (~finite[np.ix_(others, h)]).sum(axis=1)  # hosts of only some of i's jobs go last
        own = [int(j) for j in others[np.lexsort((alone, misses))][:REPLACEMENTS_PER_OFFERING]]
        extra = [j for j in by_excess[bool(prep.spot[i])] if j not in own][:REPLACEMENTS_PER_OFFERING]
        moves.append((i, own + extra))
    return moves


def _shape_hosts(prices: np.ndarray, allowed: np.ndarray, excess: np.ndarray) -> list[int]:
    """Allowed offerings, the cheapest two hosts per job of each shape, shapes by `excess` (the
    quick plan's money above their cheapest price), most first; shapes without excess skipped."""
    out: list[int] = []
    for s in np.argsort(-excess, kind="stable"):
        if excess[s] <= 0:
            break
        hosts = np.flatnonzero(allowed & np.isfinite(prices[:, s]))
        for j in hosts[np.argsort(prices[hosts, s], kind="stable")][:2]:
            if int(j) not in out:
                out.append(int(j))
    return out
