"""Per-class integer re-solve with the commitments' budgets as rows: the plan side of commitments.

Why: the Lagrangian solve prices coverage at one multiplier per bucket group and then repairs the
plan, but with a few instances per bucket pricing alone cannot meet a budget (one more covered
on-demand instance overshoots it, one fewer strands part of it). On the busiest KTH-SP2 week with
a Compute Savings Plan the repaired plan was 3.6 % above the exact optimum (computed offline by
enumerating every maximal pattern per class) while the bound was 2.9 % below it.

Without a policy row that couples buckets, every bucket class (buckets with the same demand) is
its own small problem, and the commitments can be modelled exactly in it: integer bins x_p
(pattern p = offering + jobs it hosts) covering the class's demand, and continuous covered
instance-hours y_co >= 0 per commitment c and on-demand offering o it covers, with
    sum_c y_co <= bucket hours x (instances of o),   sum_o use_co y_co <= capacity_c x bucket hours,
minimising bucket hours x hourly objective of the bins - sum price_o y_co. With one Savings Plan
that is exactly the bill (AWS's order is that LP's optimum, see `commitments.py`); with several,
AWS's fixed order may cover less than the model, so each class's new bins are billed exactly and
kept only where that bill beats what the bucket had.

The columns are the patterns the multiplier search's LPs generated, the plan's own bins, and each
one's twin bought the other way (same instance type, on-demand <-> spot): a restricted master, so
this improves plans and proves nothing (the bound stays the Lagrangian one).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

from optimizer.solver.assemble import RawBin, trim_surplus
from optimizer.solver.mip import MipResult, solve_mip
from optimizer.solver.plan import Bin, Plan
from optimizer.solver.problem import Offering, Problem

#: Longest one class's MIP may run (its best solution so far is used past it).
CLASS_MIP_SECONDS = 0.2

#: A pattern: offering key and jobs hosted per shape (in `problem.shapes` order).
Pattern = tuple[str, tuple[int, ...]]


def _twins(problem: Problem, patterns: Iterable[Pattern]) -> set[Pattern]:
    """`patterns` and, for each, the same jobs on the other capacity type of its instance type
    (same size, and able to host every job: spot only for shapes allowed on spot)."""
    from optimizer.solver.commitments import twin_offering

    offerings = {o.key: o for o in problem.offerings}
    out: set[Pattern] = set()
    for key, counts in patterns:
        out.add((key, counts))
        twin = twin_offering(offerings, offerings[key])
        if twin is None:
            continue
        if all(twin.can_host(problem.shapes[s]) for s, n in enumerate(counts) if n):
            out.add((twin.key, counts))
    return out


def _plan_patterns(problem: Problem, plan: Plan) -> set[Pattern]:
    index = {s.id: i for i, s in enumerate(problem.shapes)}
    out: set[Pattern] = set()
    for bins in plan.buckets:
        for b in bins:
            counts = [0] * len(problem.shapes)
            for sid, n in b.jobs.items():
                counts[index[sid]] = int(n)
            out.add((b.offering, tuple(counts)))
    return out


class ExtraRows(Protocol):
    """Rows `matrix x <= upper` over a class's bin counts x, beyond cover and budgets: what a
    policy that couples buckets leaves the class given the rest of the plan
    (`commitment_coupled._SpotRows`)."""

    @property
    def upper(self) -> np.ndarray:
        """(R,) each row's right-hand side."""
        ...

    def matrix(self, offerings: Sequence[Offering], counts: np.ndarray) -> np.ndarray:
        """(R, columns): each row's coefficient of one bin of each column."""
        ...


def class_columns(
    problem: Problem, plan: Plan, patterns: Iterable[Pattern], allowed: set[str]
) -> tuple[list[Offering], np.ndarray]:
    """The per-class re-solves' columns: `patterns`, the plan's own bins and each one's twin bought
    the other way, kept on the `allowed` offering keys and hosting some job, in a fixed order; as
    (offering per column, jobs per shape (columns x shapes))."""
    offerings = {o.key: o for o in problem.offerings}
    found = _twins(problem, set(patterns) | _plan_patterns(problem, plan))
    columns = sorted((k, c) for k, c in found if k in allowed and any(c))
    counts = np.array([c for _, c in columns], dtype=np.int64).reshape(len(columns), len(problem.shapes))
    return [offerings[k] for k, _ in columns], counts


def _undominated(
    problem: Problem, offerings: Sequence[Offering], counts: np.ndarray, extra: np.ndarray | None = None
) -> np.ndarray:
    """Indices of the columns no other column dominates. Column k dominates j when it hosts at
    least j's jobs of every shape, its hourly objective is no higher, and every commitment that
    covers j's offering covers k's with no more capacity per instance-hour: swapping j's bins
    for k's keeps the cover, and whatever coverage y of j's instance-hours stays possible for k's
    (within the same budgets) and costs price_k x (hours - y) <= price_j x (hours - y) there (a
    covered offering is on-demand, whose hourly objective is its price). With `extra` rows
    ((R, columns), `<=`), k must also weigh no more than j in each, or the swap could break one
    (a spot column against an on-demand one under a spot-share cap). Among equal columns the
    first is kept."""
    icf = problem.policy.interruption_cost_factor
    hourly = np.array([o.hourly_objective(icf) for o in offerings])
    use = problem.commitment_uses(offerings)
    n = len(offerings)
    weigh = np.zeros((n, 0)) if extra is None else np.asarray(extra, dtype=float).T
    keep = np.ones(n, dtype=bool)
    order = np.arange(n)
    for start in range(0, n, 256):
        j = order[start : start + 256]
        # [k, j]: k dominates j, or equals it and comes first.
        geq = (counts[:, None, :] >= counts[None, j, :]).all(axis=2)
        cheaper = hourly[:, None] <= hourly[None, j] + 1e-12
        lighter = (use[:, None, :] <= use[None, j, :]).all(axis=2)
        lighter &= (weigh[:, None, :] <= weigh[None, j, :]).all(axis=2)
        dominates = geq & cheaper & lighter
        same = (
            (counts[:, None, :] == counts[None, j, :]).all(axis=2)
            & (np.abs(hourly[:, None] - hourly[None, j]) <= 1e-12)
            & (use[:, None, :] == use[None, j, :]).all(axis=2)
            & (weigh[:, None, :] == weigh[None, j, :]).all(axis=2)
        )
        dominates &= ~same | (order[:, None] < j[None, :])
        dominates[j, np.arange(j.size)] = False
        keep[j] = ~dominates.any(axis=0)
    return np.flatnonzero(keep)


@dataclass
class _ClassModel:
    """One bucket's covering problem with the commitments' rows, as `A z <= b`-style row bounds
    (variables: the columns' bin counts, then the covered instance-hours)."""

    cost: np.ndarray
    matrix: sp.csr_matrix
    lower: np.ndarray
    upper: np.ndarray
    n_cols: int
    cover_rows: np.ndarray  # the shapes with demand

    def solve(self, *, time_limit: float, relative_gap: float) -> MipResult:
        """The model as a MIP: integer bin counts, continuous covered instance-hours."""
        return solve_mip(
            self.cost,
            self.matrix,
            self.lower,
            self.upper,
            integer=np.arange(len(self.cost)) < self.n_cols,
            time_limit=time_limit,
            relative_gap=relative_gap,
        )


def _class_model(
    problem: Problem,
    offerings: Sequence[Offering],
    counts: np.ndarray,
    demand: np.ndarray,
    extra: ExtraRows | None = None,
) -> _ClassModel:
    """The model; `extra` rows (on the bin counts only) go last."""
    hours = problem.bucket_hours
    icf = problem.policy.interruption_cost_factor
    rows = np.flatnonzero(demand > 0)
    n_cols = len(offerings)
    keys = [o.key for o in offerings]
    by_key = {o.key: o for o in offerings}
    cover_pairs = [
        (ci, k)
        for ci, c in enumerate(problem.commitments)
        for k in sorted(by_key)
        if c.use_per_instance_hour(by_key[k]) is not None
    ]
    covered_keys = sorted({k for _, k in cover_pairs})
    link_row = {k: rows.size + j for j, k in enumerate(covered_keys)}
    budget_row = rows.size + len(covered_keys)
    n_rows = budget_row + len(problem.commitments)
    matrix = sp.lil_matrix((n_rows, n_cols + len(cover_pairs)))
    matrix[: rows.size, :n_cols] = counts[:, rows].T
    for p, k in enumerate(keys):
        if k in link_row:
            matrix[link_row[k], p] = -hours
    cost = np.empty(n_cols + len(cover_pairs))
    cost[:n_cols] = [hours * o.hourly_objective(icf) for o in offerings]
    for j, (ci, k) in enumerate(cover_pairs):
        o = by_key[k]
        use = problem.commitments[ci].use_per_instance_hour(o)
        assert use is not None
        matrix[link_row[k], n_cols + j] = 1.0
        matrix[budget_row + ci, n_cols + j] = use
        cost[n_cols + j] = -o.price_per_hour
    lower = np.concatenate([demand[rows].astype(float), np.full(n_rows - rows.size, -np.inf)])
    upper = np.concatenate(
        [
            np.full(rows.size, np.inf),
            np.zeros(len(covered_keys)),
            [c.capacity_per_hour * hours for c in problem.commitments],
        ]
    )
    out = matrix.tocsr()
    if extra is not None and extra.upper.size:
        weights = sp.csr_matrix(extra.matrix(offerings, counts))
        block = sp.hstack([weights, sp.csr_matrix((extra.upper.size, len(cover_pairs)))])
        out = sp.vstack([out, block], format="csr")
        lower = np.concatenate([lower, np.full(extra.upper.size, -np.inf)])
        upper = np.concatenate([upper, extra.upper])
    return _ClassModel(cost, out, lower, upper, n_cols, rows)


def _solve_lp(model: _ClassModel) -> tuple[float, np.ndarray, np.ndarray] | None:
    """The model's LP relaxation: (optimum, solution, reduced costs), None if it fails.

    For the duals lambda <= 0 of the rows written as `<=`, every solution z costs at least
    LP + rc . z (rc >= 0 at the optimum), so a column whose reduced cost exceeds incumbent - LP is
    in no solution cheaper than the incumbent."""
    a = model.matrix
    finite_up = np.isfinite(model.upper)
    finite_lo = np.isfinite(model.lower)
    a_ub = sp.vstack([a[finite_up], -a[finite_lo]], format="csr")
    b_ub = np.concatenate([model.upper[finite_up], -model.lower[finite_lo]])
    res = linprog(model.cost, A_ub=a_ub, b_ub=b_ub, bounds=(0, None), method="highs")
    if res.status != 0:
        return None
    reduced = model.cost - a_ub.T @ np.asarray(res.ineqlin.marginals)
    return float(res.fun), np.asarray(res.x), reduced


@dataclass
class _OpenClass:
    """A class whose LP relaxation beats its incumbent but is fractional: the MIP's input."""

    u: int
    offerings: list[Offering]
    counts: np.ndarray
    incumbent: float
    lp_value: float


def _relax_class(
    problem: Problem,
    offerings: Sequence[Offering],
    counts: np.ndarray,
    demand: np.ndarray,
    incumbent: float,
    extra: ExtraRows | None = None,
) -> tuple[float, list[RawBin] | None, list[Offering], np.ndarray] | None:
    """One bucket's LP over the undominated columns. None when it cannot beat `incumbent` (the
    bucket's objective now); else (LP optimum, its bins if integral, the columns the MIP needs:
    reduced cost at most incumbent - LP). `extra` rows are in the LP, so its duals price them
    and the reduced-cost filter stays exact."""
    weights = None if extra is None else extra.matrix(offerings, counts)
    keep = _undominated(problem, offerings, counts, weights)
    offerings, counts = [offerings[p] for p in keep], counts[keep]
    model = _class_model(problem, offerings, counts, demand, extra)
    lp = _solve_lp(model)
    tolerance = 1e-9 * max(1.0, abs(incumbent))
    if lp is None or lp[0] >= incumbent - tolerance:
        return None
    value, z, reduced = lp
    x = z[: model.n_cols]
    if np.abs(x - np.round(x)).max(initial=0.0) <= 1e-6:
        return value, _bins(offerings, counts, demand, x), offerings, counts
    useful = np.flatnonzero(reduced[: model.n_cols] <= incumbent - value + tolerance)
    return value, None, [offerings[p] for p in useful], counts[useful]


def _bins(
    offerings: Sequence[Offering], counts: np.ndarray, demand: np.ndarray, x: np.ndarray
) -> list[RawBin] | None:
    chosen = np.round(x).astype(np.int64)
    rows = np.flatnonzero(demand > 0)
    if (counts[:, rows].T @ chosen < demand[rows]).any():
        return None
    return [(offerings[p].key, int(chosen[p]), counts[p]) for p in np.flatnonzero(chosen > 0)]


def _class_mip(
    problem: Problem,
    work: _OpenClass,
    demand: np.ndarray,
    *,
    time_limit: float,
    extra: ExtraRows | None = None,
) -> list[RawBin] | None:
    """The MIP over the columns `_relax_class` kept; its bins when cheaper than the incumbent."""
    model = _class_model(problem, work.offerings, work.counts, demand, extra)
    result = model.solve(time_limit=time_limit, relative_gap=0.02)
    if not result.has_solution or result.objective >= work.incumbent - 1e-9 * max(1.0, abs(work.incumbent)):
        return None
    return _bins(work.offerings, work.counts, demand, result.values[: model.n_cols])


def improve_by_class(
    problem: Problem,
    plan: Plan,
    patterns: Iterable[Pattern],
    *,
    bucket_bounds: np.ndarray | None = None,
    deadline: float,
    clock: Callable[[], float],
) -> Plan | None:
    """`plan` with each bucket class re-solved exactly over the columns (see the module
    docstring) until `deadline`; None where it does not apply (a policy that couples buckets,
    gangs, no plan). New bins replace a bucket's only where their exact bill is lower.

    Classes go by the money a better plan could still save: their buckets' objectives minus
    `bucket_bounds` (T,) (a lower bound per bucket, without the fees), or the objectives alone;
    a class already at its bound is skipped. Per class the LP comes first (a few ms): it settles
    the class when it cannot beat the incumbent or is integral, and shrinks the MIP."""
    from optimizer.solver.commitments import _bucket_objective, _on_demand_prices, bill_plan

    if problem.policy.couples_buckets or any(s.is_gang for s in problem.shapes) or not plan.has_solution:
        return None
    offerings = {o.key: o for o in problem.offerings}
    prices = _on_demand_prices(problem)
    col_offerings, col_counts = class_columns(problem, plan, patterns, set(offerings))
    demand = problem.demand
    active = np.flatnonzero(demand.any(axis=0))
    if not col_offerings or not active.size:
        return None
    classes, inverse = np.unique(demand[:, active].T, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    members = [active[inverse == u] for u in range(len(classes))]
    buckets = [list(bins) for bins in plan.buckets]
    value = np.array([_bucket_objective(problem, offerings, prices, bins) for bins in buckets])
    floor = np.zeros(problem.n_buckets) if bucket_bounds is None else np.asarray(bucket_bounds, dtype=float)
    drop_empty = problem.policy.diversification == 0
    room = np.array([float((value[m] - floor[m]).sum()) for m in members])
    for u in np.argsort(-room, kind="stable").tolist():
        left = deadline - clock()
        if left <= 0.02:
            break
        if room[u] <= 1e-6 * max(1.0, float(value[members[u]].sum())):
            break  # this class and every later one is at its bound
        new = resolve_class(
            problem,
            col_offerings,
            col_counts,
            classes[u],
            float(value[members[u]].min()),
            drop_empty=drop_empty,
            deadline=deadline,
            clock=clock,
        )
        if new is None:
            continue
        new_value = _bucket_objective(problem, offerings, prices, new)
        for t in members[u]:
            if new_value < value[t] - 1e-9:
                buckets[t], value[t] = list(new), new_value
    selected = sorted({b.offering for bins in buckets for b in bins})
    return bill_plan(problem, replace(plan, buckets=buckets, selected=selected))


def resolve_class(
    problem: Problem,
    col_offerings: Sequence[Offering],
    col_counts: np.ndarray,
    need: np.ndarray,
    incumbent: float,
    *,
    drop_empty: bool,
    deadline: float,
    clock: Callable[[], float],
    extra: ExtraRows | None = None,
    mip_seconds: float = CLASS_MIP_SECONDS,
) -> list[Bin] | None:
    """One bucket class (jobs `need` per shape) re-solved over the columns that fit it with the
    commitment budgets as rows: its LP first (it settles the class when it cannot beat
    `incumbent`, the class's billed objective now, or is integral), else the MIP; the bins, surplus
    trimmed, or None. `extra`: rows the bin counts must meet too (under coupling policies, the
    rows over all buckets given the rest of the plan). The caller keeps the bins only where their
    exact bill is lower (and, under coupling policies, the rows still hold: trimming may move
    amounts). `mip_seconds`: longest the MIP may run."""
    idx = fitting_columns(col_counts, need)
    relaxed = _relax_class(problem, [col_offerings[p] for p in idx], col_counts[idx], need, incumbent, extra)
    if relaxed is None:
        return None
    lp_value, raw, kept, kept_counts = relaxed
    if raw is None:
        work = _OpenClass(0, kept, kept_counts, incumbent, lp_value)
        raw = _class_mip(problem, work, need, time_limit=min(deadline - clock(), mip_seconds), extra=extra)
    if raw is None:
        return None
    return trimmed_bins(problem, raw, need, drop_empty=drop_empty)


def fitting_columns(col_counts: np.ndarray, need: np.ndarray) -> np.ndarray:
    """Indices of the columns a class with jobs `need` per shape can use: no more jobs of any shape
    than it has, and some job it has."""
    fits = (col_counts <= need[None, :]).all(axis=1) & (col_counts[:, need > 0] > 0).any(axis=1)
    return np.flatnonzero(fits)


def trimmed_bins(problem: Problem, raw: Sequence[RawBin], need: np.ndarray, *, drop_empty: bool) -> list[Bin]:
    """A class's re-solved bins as plan bins, jobs beyond `need` trimmed (`assemble.trim_surplus`)."""
    ids = [s.id for s in problem.shapes]
    return [
        Bin(k, n, {ids[s]: int(j[s]) for s in np.flatnonzero(j)})
        for k, n, j in trim_surplus(raw, need.astype(np.int64), drop_empty=drop_empty)
    ]
