"""A committed plan from the committed LP's own columns, solved as an integer program, where the time
limit leaves it the seconds it needs.

Why. Under coupling policies the committed solve's plan stages (the budget-first plan, the relaxed
solve, the per-class re-solve) improve one class at a time, and once the spot rows bind they stop:
on the demo's cpu-batch queue (README policy, a $0.41-an-hour Compute Savings Plan, 703 hourly
buckets) the plan sat at $763-767 at 10 s and at 60 s alike, its spot share at exactly 0.8 and two
spot pools at exactly a third, and the per-class re-solve given 30 s more found nothing. The same
columns the committed LP's child has already generated (the patterns, their covered copies and each
class's budget row, `committed_lp.py`), solved whole as an integer program with the type cap's
selection rows, trade across classes at once: HiGHS found a plan billed at $669.38 after 10 s and
$666.58 after 20 s (validator-clean; 2026-12-06, idle 2-core Xeon). It needs those seconds: after 6 s
its best was $3,816 (HiGHS's first incumbents are all on demand), so the step runs only where the
child has `MIN_SECONDS` left for it, which the default 30 s limit gives and a 10 s limit does not.

Every solution of that program is a plan: its columns meet demand, the spot rows and the type cap,
every bucket of a class runs the class's bins, and each budget row holds the covered copies' use to
the commitment's hourly capacity, so AWS's order of coverage (the cheapest for one bucket,
`commitments.py`) bills it at most at the program's objective. The parent still bills it exactly and
keeps it only when the validator passes it and it is cheaper.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from optimizer.solver.assemble import RawBin
from optimizer.solver.columns import PatternPool, Prepared, make_columns
from optimizer.solver.committed_lp import _with_copies, coverage_arrays
from optimizer.solver.master import build_master
from optimizer.solver.mip import solve_mip

#: Fewest seconds the integer program is started with: on cpu-batch above, HiGHS's incumbent after
#: 6 s was all on demand ($3,816) and after 10 s $669.38.
MIN_SECONDS = 8.0
#: Share of the child's time left after the committed LP that the integer program gets when that is
#: more than `MIN_SECONDS`; the class bills (the bound) get the rest first.
TIME_SHARE = 0.5
#: Seconds HiGHS is given less than the time left, to be killed (`solve_mip`'s hard limit) and its
#: last incumbent read back before the child's own deadline.
RETURN_SECONDS = 0.5


@dataclass(frozen=True)
class MasterPlan:
    """The integer program's solution as bins per bucket class, with what `assemble.build_plan`
    needs to spread them over the buckets (the child's prepared problem is not the parent's)."""

    class_bins: list[list[RawBin]]
    bucket_class: np.ndarray  # (T,) class of each bucket, -1 without demand
    class_demand: np.ndarray  # (S, U)
    objective: float  # the program's, fees included (the exact bill is at most this)


def master_seconds(left: float) -> float:
    """The integer program's share of `left` seconds (0: not worth starting)."""
    share = max(MIN_SECONDS, TIME_SHARE * left)
    return share if left >= share + MIN_SECONDS * (1.0 - TIME_SHARE) else 0.0


def committed_master_plan(
    prep: Prepared,
    pool: PatternPool,
    pairs: set[tuple[int, int]],
    *,
    deadline: float,
    clock: Callable[[], float],
) -> MasterPlan | None:
    """The committed LP's columns (`pool`, `pairs`, after `committed_lp_bound`) solved as an integer
    program until `deadline`; None when HiGHS found no solution or too little time is left."""
    problem = prep.problem
    time_left = deadline - clock() - RETURN_SECONDS
    if time_left < MIN_SECONDS or not pairs:
        return None
    cols = make_columns(prep, pool, np.array(sorted(pairs), dtype=np.int64).reshape(-1, 2))
    k = problem.policy.max_instance_types
    base = build_master(prep, cols, with_selection=k is not None and len(prep.offerings) > k)
    cover = _with_copies(prep, cols, base, *coverage_arrays(prep))
    system = cover.system
    n_copies = cover.copy_of.size
    time_left = deadline - clock() - RETURN_SECONDS  # (building takes a while on large masters)
    if time_left < MIN_SECONDS:
        return None
    result = solve_mip(
        system.cost,
        system.matrix,
        np.full(system.matrix.shape[0], -np.inf),
        system.rhs,
        integer=np.concatenate([base.integer, np.ones(n_copies, dtype=bool)]),
        upper=np.concatenate([base.upper, np.full(n_copies, np.inf)]),
        time_limit=time_left,
        relative_gap=1e-4,
        hard_limit=time_left + RETURN_SECONDS * 0.8,
    )
    if not result.has_solution:
        return None
    n = len(cols)
    values = np.round(result.values[:n])
    # A covered copy is its column's pattern on the same on-demand offering: the same bins.
    np.add.at(values, cover.copy_of, np.round(result.values[cover.n_base : cover.n_base + n_copies]))
    class_bins: list[list[RawBin]] = [[] for _ in range(prep.n_classes)]
    for j in np.flatnonzero(values > 0.5):
        class_bins[int(cols.bucket_class[j])].append(
            (prep.offerings[int(cols.offering[j])].key, int(values[j]), cols.counts[j].copy())
        )
    return MasterPlan(
        class_bins,
        prep.bucket_class.copy(),
        prep.demand.copy(),
        float(result.objective) + problem.commitment_fees_usd,
    )
