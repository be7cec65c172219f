"""The committed LP: the pattern LP with each commitment's hourly budget as rows, and the bound it
certifies on every committed plan.

Why. A committed plan's other bounds price the budget instead of holding each hour to it: the
commitment-blind LP less what the commitments can take off (at list prices, or at the blind
duals: `commitments.dual_coverage_savings`), one multiplier per commitment (the relaxed problem),
or per-class multipliers with each class's cover exact but the spot spread left out
(`partition_bound.py`). Where a small Savings Plan covers many quiet hours, all of them sit far
below the plans: on the demo's cpu-short queue (README policy, a $0.20-an-hour Compute Savings
Plan, 649 bucket classes) they gave $523-527 under plans of $737-775, while the LP that keeps the
budgets as rows is about $580.

The model. Every on-demand column a commitment covers gets a covered copy: the same pattern in the
same class with the same rows, costing nothing (its fee is sunk) and consuming use(o) of the
commitment per instance in that class's budget row, sum use x <= capacity per hour (x: instances
per bucket; each bucket of the class meets its budget, so their average does). A fractional mix
of a column and its copies is partial coverage, so for one plan the LP bills no more than AWS's
order does (that order is the LP optimum of one bucket's coverage, `commitments.py`), and it
relaxes only integrality and the type cap: its optimum, plus the fees, bounds every plan.

Pricing. A copy's reduced cost is its pattern's less the offering's list cost plus the budget
row's dual times use, so for offering o in class u the best copy is the best pattern of o at the
cost min(list, min_c use_c(o) x dual_cu per bin-hour): the ordinary knapsacks with a class's own
offering costs (`column_generation._Duals.offering_cost` (O, U)). Each round certifies
    fees + z_RMP + sum_{o,u} min(0, least reduced cost of o in u) x (most bins of o in u)
(`column_generation._certified_bound`: an optimal LP solution covers demand exactly, so o runs at
most one bin per job it can host in u, copies included; the empty spot pools' term is unchanged,
copies are on demand), so stopping early still leaves an honest bound.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from optimizer.solver.column_generation import (
    LP_MIN_SECONDS,
    LP_RETURN_SECONDS,
    _add_negative_pairs,
    _certified_bound,
    _class_objectives,
    _density_reduced_costs,
    _Duals,
    _duals,
    _price,
    _solve_lp,
    artificial_penalty,
    column_keys,
)
from optimizer.solver.columns import Columns, PatternPool, Prepared, instance_hours, make_columns
from optimizer.solver.master import MasterSystem, build_master
from optimizer.solver.problem import Problem
from optimizer.solver.warm_lp import WarmLp

if TYPE_CHECKING:
    from optimizer.solver.bound_process import BackgroundBound
    from optimizer.solver.column_generation import LpOutcome

#: Niceness the committed LP's child adds (see `start_committed_lp`).
CHILD_NICENESS = 19

#: Key offset of the covered copies' columns in the warm LP: a pattern's column is keyed
#: pattern x classes + class (far below), the artificial covers and the spot total negatively.
_COPY_KEYS = 1 << 40


@dataclass(frozen=True)
class CommittedLp:
    """The committed LP's best certified bound and its last restricted master, fees included."""

    bound: float
    objective: float
    converged: bool
    rounds: int
    #: Instance-hours per offering key in the last restricted master, covered copies included
    #: (the fractional mix `batchopt optimize --lp` shows), most first.
    instance_hours: dict[str, float] = field(default_factory=dict)
    feasible: bool = True  # the last restricted master covers demand without artificial covers
    #: The best round's certificate split by bucket class at its coupling rows' duals, for the
    #: exact class bills that raise it (`committed_class_bills.py`); None where it does not split.
    split: ClassSplit | None = None


@dataclass(frozen=True)
class ClassSplit:
    """A round's certificate as a Lagrangian bound over the committed LP's coupling rows (spot
    share and diversification), class by class: it is fees + `constant` + sum_u `class_values`[u],
    where class u's value bounds its LP at the coupling duals (`spot_share_price` per spot job
    vCPU-hour, `spot_charge` per spot instance-hour of each prepared offering), the budget rows
    and demand rows kept."""

    #: (U,) sum_s pi_su d_su + sum_c y_cu C_c (y <= 0) + the negative reduced costs' term
    class_values: np.ndarray
    constant: float  # the spot-share row's dual x its right-hand side (<= 0)
    spot_share_price: float  # w >= 0
    spot_charge: np.ndarray  # (O,) hourly; 0 on demand


@dataclass(frozen=True)
class _Coverage:
    system: MasterSystem  # the master with the copies after its own variables and the budget rows
    n_base: int  # variables of the master without the copies
    copy_of: np.ndarray  # (N',) column each copy duplicates
    commitment: np.ndarray  # (N',) which commitment covers it


def coverage_arrays(prep: Prepared) -> tuple[np.ndarray, np.ndarray]:
    """What the covered copies and budget rows need: each prepared offering's use of each commitment
    per instance-hour (O, C), inf where it does not cover it, and each commitment's hourly capacity."""
    problem = prep.problem
    capacity = np.array([c.capacity_per_hour for c in problem.commitments], dtype=float)
    return problem.commitment_uses(prep.offerings), capacity


def _with_copies(
    prep: Prepared, cols: Columns, system: MasterSystem, uses: np.ndarray, capacity: np.ndarray
) -> _Coverage:
    """`system` with a covered copy of every column a commitment covers and one budget row per
    commitment and class."""
    n_rows, n_base = system.matrix.shape
    n_classes = prep.n_classes
    cover = np.isfinite(uses[cols.offering])  # (N, C)
    copy_of, which = np.nonzero(cover)
    base = system.matrix.tocsc()
    copies = base[:, copy_of] if copy_of.size else sp.csc_matrix((n_rows, 0))
    budget = sp.csr_matrix(
        (
            uses[cols.offering[copy_of], which],
            (which * n_classes + cols.bucket_class[copy_of], np.arange(copy_of.size)),
        ),
        shape=(len(capacity) * n_classes, copy_of.size),
    )
    matrix = sp.vstack(
        [sp.hstack([base, copies]), sp.hstack([sp.csr_matrix((budget.shape[0], n_base)), budget])],
        format="csr",
    )
    slices = dict(system.row_slices)
    slices["commitment_budget"] = slice(n_rows, n_rows + budget.shape[0])
    augmented = replace(
        system,
        matrix=matrix,
        rhs=np.concatenate([system.rhs, np.repeat(capacity, n_classes)]),
        cost=np.concatenate([system.cost, np.zeros(copy_of.size)]),
        row_slices=slices,
    )
    return _Coverage(augmented, n_base, copy_of, which)


def _covered_duals(prep: Prepared, duals: _Duals, budget_duals: np.ndarray, uses: np.ndarray) -> _Duals:
    """`duals` with each covered offering's cost per class the cheaper of its list cost and its
    copies' (use x the budget row's dual, per bin-hour)."""
    wh = prep.weight * prep.hours  # (U,)
    charge = np.where(
        np.isfinite(uses)[:, :, None],
        np.where(np.isfinite(uses), uses, 0.0)[:, :, None] * budget_duals[None],
        np.inf,
    )  # (O, C, U)
    covered = (
        charge.min(axis=1) / wh[None, :] if uses.shape[1] else np.full((len(uses), prep.n_classes), np.inf)
    )
    cost = np.minimum(duals.offering_cost[:, None], covered)
    return _Duals(duals.item_value, duals.spot_item_adjust, cost)


def committed_lp_bound(
    prep: Prepared,
    pool: PatternPool,
    pairs: set[tuple[int, int]],
    *,
    deadline: float,
    clock: Callable[[], float],
    max_rounds: int = 500,
    on_bound: Callable[[float], None] | None = None,
) -> CommittedLp | None:
    """Column generation on the committed LP (module docstring) from `pool` and `pairs` until it
    converges or `deadline`; None when no round's LP ended in time. `prep` must be prepared from
    the committed problem (`pruning.prune_dominated` keeps what a commitment covers undominated).
    `on_bound` gets each round's certified bound that beats the ones before."""
    problem = prep.problem
    fees = problem.commitment_fees_usd
    uses, capacity = coverage_arrays(prep)
    art_penalty = artificial_penalty(prep)
    bins_cap = prep.max_bins()
    master = WarmLp()
    best: CommittedLp | None = None
    rounds = 0
    while True:
        time_limit = deadline - clock() - LP_RETURN_SECONDS
        if time_limit <= LP_MIN_SECONDS:
            return best
        rounds += 1
        pair_arr = np.array(sorted(pairs), dtype=np.int64).reshape(-1, 2)
        cols = make_columns(prep, pool, pair_arr)
        base = build_master(prep, cols, with_selection=False)
        cover = _with_copies(prep, cols, base, uses, capacity)
        res = _solve(master, cover, cols, prep.n_classes, art_penalty, time_limit)
        if res is None:
            return best
        x, objective, marginals = res
        n_rows = base.matrix.shape[0]
        duals = _duals(prep, base, marginals[:n_rows])
        budget_duals = -marginals[n_rows:].reshape(len(capacity), prep.n_classes)
        priced = _covered_duals(prep, duals, np.maximum(budget_duals, 0.0), uses)
        rough = _density_reduced_costs(prep, priced)
        added = _add_negative_pairs(prep, pool, priced, pairs)
        new, best_rc, complete, _ = _price(prep, pool, priced, deadline=deadline, clock=clock, fallback=rough)
        least = rough if best_rc is None else np.maximum(rough, best_rc)
        bound = fees + _certified_bound(
            prep, cover.system, cols, x, objective, least, bins_cap, duals.offering_cost
        )
        if new:
            added += _add_negative_pairs(prep, pool, priced, pairs)
        converged = added == 0 and complete and best_rc is not None and not (best_rc < -1e-6).any()
        if converged:
            bound = max(bound, fees + objective)
            least = np.maximum(least, 0.0)  # (converged: no pattern prices out)
        split = _class_split(prep, base, marginals, duals, capacity, objective, least, bins_cap)
        if split is not None:
            # Class by class at most one bin per job in all, which the certificate under
            # diversification cannot use (its empty spot bins): never lower, often far higher early.
            bound = max(bound, fees + split.constant + float(split.class_values.sum()))
        hours, feasible = _mix(prep, cols, cover, x)
        if best is None or bound > best.bound:
            best = CommittedLp(bound, fees + objective, converged, rounds, hours, feasible, split)
            if on_bound is not None:
                on_bound(bound)
        else:
            best = replace(
                best,
                objective=fees + objective,
                converged=converged,
                rounds=rounds,
                instance_hours=hours,
                feasible=feasible,
            )
        if converged or added == 0 or clock() >= deadline or rounds >= max_rounds:
            return best


def _class_split(
    prep: Prepared,
    base: MasterSystem,
    marginals: np.ndarray,
    duals: _Duals,
    capacity: np.ndarray,
    objective: float,
    least_rc: np.ndarray,
    bins_cap: np.ndarray,
) -> ClassSplit | None:
    """The restricted master's certificate split by class (`ClassSplit`): each class's dual
    objective plus what columns not yet in the master could take off it at `least_rc` (O, U), a
    lower bound on every pattern's reduced cost per bin-hour (as in
    `column_generation._certified_bound`): each offering at most one bin per job it can host
    (`bins_cap`), and all of them together at most one per job. So each value bounds its class's
    LP at the coupling duals whether or not the LP converged. None where an empty spot instance
    would have a negative price at the duals (each class's Lagrangian problem would then be
    unbounded; the certificate needs its global term for empty bins instead) or the split does not
    add up (numerical trouble)."""
    n_rows = base.matrix.shape[0]
    y = marginals[:n_rows]
    # (<= 0 on `<=` rows; clipped so that float noise never makes a multiplier the wrong sign)
    budget = np.minimum(marginals[n_rows:], 0.0).reshape(len(capacity), prep.n_classes)
    wh = prep.weight * prep.hours
    below = np.minimum(least_rc, 0.0)
    by_offering = (below * bins_cap).sum(axis=0)
    negative = wh * np.maximum(by_offering, below.min(axis=0) * prep.demand.sum(axis=0))
    values = _class_objectives(prep, duals) + (budget * capacity[:, None]).sum(axis=0)
    constant, w = 0.0, 0.0
    if "max_spot_share" in base.row_slices:
        row = base.row_slices["max_spot_share"]
        w = max(0.0, -float(y[row][0]))
        constant = -w * float(base.rhs[row][0])
    charge = np.where(prep.spot, duals.offering_cost - prep.hourly, 0.0)
    if (prep.hourly + charge < -1e-9).any():
        return None
    if abs(constant + float(values.sum()) - objective) > 1e-6 * max(1.0, abs(objective)):
        return None
    return ClassSplit(values + negative, constant, w, charge)


def _mix(prep: Prepared, cols: Columns, cover: _Coverage, x: np.ndarray) -> tuple[dict[str, float], bool]:
    """(instance-hours per offering key, most first; whether no artificial cover is used) of a
    restricted master's solution `x` (variables then artificial covers)."""
    n = len(cols)
    values = np.concatenate([x[:n], x[cover.n_base : cover.n_base + cover.copy_of.size]])
    rows = np.concatenate([np.arange(n), cover.copy_of])
    hours = instance_hours(prep, cols.offering[rows], values, cols.weight_hours[rows])
    artificial = float(x[cover.system.matrix.shape[1] :].sum())
    return dict(sorted(hours.items(), key=lambda kv: -kv[1])), artificial <= 1e-6


def _solve(
    lp: WarmLp, cover: _Coverage, cols: Columns, n_classes: int, penalty: np.ndarray, time_limit: float
) -> tuple[np.ndarray, float, np.ndarray] | None:
    """The restricted committed master (`column_generation._solve_lp`, the copies keyed apart from
    the columns): (x, the artificial covers last; objective; row duals), None past `time_limit`
    or on a solver failure."""
    copy_keys = (
        _COPY_KEYS * (1 + cover.commitment.astype(np.int64)) + column_keys(cols, n_classes)[cover.copy_of]
    )
    res = _solve_lp(lp, cover.system, cols, n_classes, penalty, time_limit, more_keys=copy_keys)
    if res.status != 0 or res.x is None or res.marginals is None:
        return None
    return res.x, float(res.fun), res.marginals


def seed_from_columns(
    prep: Prepared,
    pool: PatternPool,
    pairs: set[tuple[int, int]],
    columns: Iterable[tuple[str, Sequence[int], int]],
) -> None:
    """Add (offering key, jobs per shape, class) columns another LP of the same demand found (the
    commitment-blind one's, the last multiplier round's) to `pool` and `pairs`; an offering `prep`
    pruned is skipped (a dominating one is there)."""
    index = {o.key: i for i, o in enumerate(prep.offerings)}
    for key, counts, u in columns:
        o = index.get(key)
        if o is not None and u < prep.n_classes:
            pid, _ = pool.add(o, np.asarray(counts, dtype=np.int64))
            pairs.add((pid, u))


def committed_lp_applies(problem: Problem) -> bool:
    """Whether the committed LP is the problem's: demand, every demanded shape hosted by some
    offering (else no plan exists and the LP only prices its artificial covers), and no gangs
    (their nodes are held for job hours, not whole buckets: `gangs.py`)."""
    from optimizer.solver.solve import _unhostable

    return (
        bool(problem.demand.any()) and not _unhostable(problem) and not any(s.is_gang for s in problem.shapes)
    )


def start_committed_lp(
    problem: Problem,
    blind: tuple[Prepared, LpOutcome] | None,
    *,
    deadline: float,
    clock: Callable[[], float],
) -> BackgroundBound | None:
    """The committed LP's bound computed in a forked child until `deadline`, from the columns of
    the commitment-blind LP (`blind`, same demand) when there is one; None where it does not
    apply (gangs, a shape no offering hosts, no demand) or no child can be forked.

    Why a child: the committed solve's plan stages after the blind one (the budget-first plan,
    the groups' relaxed solves, the per-class re-solves) are single-threaded, and on the demo's
    cpu-short queue the LP needs 4-7 s from the blind columns, most of a 10 s solve. It runs at
    niceness `CHILD_NICENESS`, so it takes idle CPU only: a loaded machine gets no bound from it
    rather than worse plans. `problem` is already restricted to its instance requirements."""
    from optimizer.solver.bound_process import BackgroundBound, lower_priority
    from optimizer.solver.solve import _prepare_pool

    if not committed_lp_applies(problem):
        return None

    def task(send: Callable[[object], None]) -> None:
        lower_priority(CHILD_NICENESS)
        prep, pool, pairs = _prepare_pool(problem)
        if blind is not None:
            seed_prep, lp = blind
            cols = lp.columns
            keys = [seed_prep.offerings[int(o)].key for o in cols.offering]
            seed_from_columns(
                prep, pool, pairs, zip(keys, cols.counts.tolist(), cols.bucket_class.tolist(), strict=True)
            )
        found = committed_lp_bound(prep, pool, pairs, deadline=deadline, clock=clock, on_bound=send)
        if found is None:
            return
        from optimizer.solver.committed_master import committed_master_plan, master_seconds

        # Where the limit leaves the integer program its seconds (`committed_master.py`), the
        # class bills get the time before its share, else all of it.
        due = master_seconds(deadline - clock())
        bills_end = deadline - due
        if due > 0:
            send(("master_due", None))  # the parent waits for the plan until the deadline
        if found.split is not None:
            from optimizer.solver.committed_class_bills import raise_by_class_bills

            raise_by_class_bills(
                prep,
                found.split,
                problem.commitment_fees_usd,
                deadline=bills_end,
                clock=clock,
                on_bound=lambda bound, raised: send(("class_bills", (bound, raised))),
            )
        master = committed_master_plan(prep, pool, pairs, deadline=deadline, clock=clock)
        if master is not None:
            send(("master_plan", master))

    return BackgroundBound.start_task(task)
