"""A small bucket class's exact bill, its commitments' hourly budgets kept as rows: a per-class bound
without the Lagrangian's duality gap.

Why. The partition bound (`partition_bound.py`) prices each commitment's hourly budget C with a
multiplier mu, and for whole instances that dual has a gap wherever a budget is worth about one
instance. A class of one job that fits an on-demand instance of price p and plan rate r > C per hour,
or a spot one of price s < p, pays min(s, p (1 - C / r)) per hour in every plan (the plan covers
C / r of the on-demand hour, or buys spot), but the dual's best mu reads only s (1 - C / r): at
mu = s / r the spot cover also "gives back" mu x C. On the demo's cpu-short queue (2,880
fifteen-minute buckets, a Compute Savings Plan of $0.56/h, no policy) the exact bills of all 649
classes give $739.88 where the dual gave $677.33, under a plan of $748: the plan was within 1.2 %
of the optimum and the bound 8.5 % under it. In the 10 s solve the heaviest classes' bills took
that bound to $718.28 (2026-12-05).

How. For a class with few jobs every pattern (an offering of the pruned set and a sub-multiset of
the class's jobs it can host at once) is a column of `commitment_classes`' per-bucket model: integer
bins covering the class's demand, covered instance-hours per commitment and on-demand offering (at
most those bought, within each budget), objective list price less covered price (exactly the bill
for one Savings Plan; with several, at most AWS's bill, whose fixed order may cover less), plus, under
a priced spot-share cap, w per spot job vCPU-hour. Every cover of the class's jobs is a solution
of it at its own cost, so HiGHS's dual bound (valid at any gap, whatever stopped it) is a lower bound
of the class's part at w; the caller keeps it where it beats the dual value. Dominated columns go
first (`commitment_classes._undominated`, with the spot job vCPUs as a weight when w > 0, so a
column hosting more spot work never replaces a lighter one).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from optimizer.solver.class_partition import FIT_SLACK
from optimizer.solver.columns import Prepared
from optimizer.solver.commitment_classes import _class_model, _undominated

#: Most sub-multisets of a class's jobs for its patterns to be enumerated (the heavy classes of
#: short buckets hold one to a few jobs: 2-48 on the demo's cpu-short).
MAX_SUBSETS = 256
#: Most patterns (offering, sub-multiset) a class's model may have once the offering and job-mix
#: dominance (`_dominated`) has run: the pairwise test after it is quadratic in them.
MAX_PATTERNS = 6000


def class_grid(prep: Prepared, u: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(offerings x sub-multisets) whether the offering can host the sub-multiset of class u's jobs
    at once, and the sub-multisets (jobs per shape); None when the class is too large."""
    demand = prep.demand[:, u].astype(np.int64)
    active = np.flatnonzero(demand > 0)
    if not active.size or int(np.prod(demand[active] + 1, dtype=np.float64)) > MAX_SUBSETS:
        return None
    axes = np.meshgrid(*[np.arange(int(demand[s]) + 1) for s in active], indexing="ij")
    grid = np.stack([a.reshape(-1) for a in axes], axis=1)[1:]  # (the first row is the empty one)
    subsets = np.zeros((len(grid), len(demand)), dtype=np.int64)
    subsets[:, active] = grid
    need = subsets @ prep.sizes  # (K, 3)
    fits = (need[None, :, :] <= prep.caps[:, None, :] + FIT_SLACK).all(axis=2)  # (O, K)
    fits &= ~((subsets[None, :, :] > 0) & ~prep.compat[:, None, :]).any(axis=2)
    return fits, subsets


def _dominated(
    prep: Prepared, fits: np.ndarray, subsets: np.ndarray, w: float, hourly: np.ndarray
) -> np.ndarray:
    """(offerings x sub-multisets) the patterns another one dominates, found offering by offering
    and job mix by job mix before the pairwise test (which is quadratic in the patterns: 60 ms of a
    class's 72 on the demo's cpu-short). (o, q) is dominated by (o', q), o' bought the same way,
    no dearer at `hourly` (per offering) and using no more of any commitment (ties: the first),
    and, where its cost does not grow with its jobs (on demand, or spot at w = 0), by (o, q') for
    q' a strict superset of q: swapping either into a cover keeps it a cover at no more cost or
    budget."""
    uses = prep.problem.commitment_uses(prep.offerings)
    spot = prep.spot
    index = np.arange(len(hourly))
    equal = (np.abs(hourly[:, None] - hourly[None, :]) <= 1e-12) & (uses[:, None, :] == uses[None, :, :]).all(
        axis=2
    )
    beats = (spot[:, None] == spot[None, :]) & (hourly[:, None] <= hourly[None, :] + 1e-12)
    beats &= (uses[:, None, :] <= uses[None, :, :]).all(axis=2) & (~equal | (index[:, None] < index[None, :]))
    np.fill_diagonal(beats, False)
    as_int = fits.astype(np.int32)
    out = (beats.T.astype(np.int32) @ as_int) > 0
    larger = (subsets[:, None, :] >= subsets[None, :, :]).all(axis=2)
    np.fill_diagonal(larger, False)
    by_jobs = (as_int @ larger.astype(np.int32)) > 0
    if w > 0:
        by_jobs &= ~spot[:, None]
    return fits & (out | by_jobs)


class ClassBill(NamedTuple):
    """A class's exact bill: the lower bound per bucket-hour and the bins of the best cover found
    (offering index in the prepared set, jobs per shape, instances), columns for the per-class
    plan stage."""

    bound: float
    bins: list[tuple[int, tuple[int, ...], int]]


def class_bill_bound(
    prep: Prepared, u: int, w: float, *, time_limit: float, spot_charge: np.ndarray | None = None
) -> ClassBill | None:
    """A lower bound, per bucket-hour, of what class u's cheapest cover costs beyond the fees with
    the budgets exact, w per spot job vCPU-hour and, when given, `spot_charge` (per prepared
    offering, zero on demand, never below minus its hourly objective) per spot instance-hour (module
    docstring), and the cover reaching it; None when the class is too large, no cover exists or
    HiGHS proved nothing."""
    grid = class_grid(prep, u)
    if grid is None:
        return None
    charge = np.zeros(len(prep.offerings)) if spot_charge is None else spot_charge
    fits, subsets = grid
    fits = fits & ~_dominated(prep, fits, subsets, w, prep.hourly + charge)
    if int(fits.sum()) > MAX_PATTERNS:
        return None
    offering, subset = np.nonzero(fits)
    counts = subsets[subset]
    problem = prep.problem
    offerings = [prep.offerings[o] for o in offering]
    # What a bin costs beyond its hourly objective: the offering's charge and w per spot job vCPU.
    surcharge = np.where(prep.spot[offering], w * (counts @ prep.sizes[:, 0]) + charge[offering], 0.0)
    priced = w > 0 or spot_charge is not None
    keep = _undominated(problem, offerings, counts, surcharge[None, :] if priced else None)
    offerings, counts, surcharge = [offerings[k] for k in keep], counts[keep], surcharge[keep]
    offering = offering[keep]
    model = _class_model(problem, offerings, counts, prep.demand[:, u])
    model.cost[: model.n_cols] += problem.bucket_hours * surcharge
    result = model.solve(time_limit=max(0.01, time_limit), relative_gap=1e-9)
    if result.status == "INFEASIBLE" or not np.isfinite(result.bound):
        return None
    used = np.flatnonzero(result.values[: model.n_cols] > 0.5) if result.has_solution else np.zeros(0, int)
    x = np.round(result.values[: model.n_cols]).astype(np.int64) if used.size else np.zeros(0, np.int64)
    bins = [(int(offering[k]), tuple(int(n) for n in counts[k]), int(x[k])) for k in used]
    return ClassBill(float(result.bound) / problem.bucket_hours, bins)
