"""Column generation for the pattern LP, and the Lagrangian lower bound it certifies.

The restricted master LP is solved with HiGHS (scipy's sparse interface: rebuilding a MathOpt model
per iteration costs more than the solve). Each round first re-prices the patterns already found
against every bucket class (a matrix product), and only when that adds nothing solves the pricing
knapsacks, one per offering and bucket class, with each shape capped at the jobs the class runs
(any real bin hosts no more, and the caps make the bound much tighter when few jobs run). Every
round with exact pricing yields the Lagrangian bound
    z_RMP + sum_{o,u} min(0, best reduced cost of o in u) x (most bins of o in u),
valid for the full LP, so a time limit mid-way still leaves an honest bound; at convergence it equals
the LP optimum (the Gilmore-Gomory bound).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

from optimizer.solver.columns import Columns, PatternPool, Prepared, make_columns
from optimizer.solver.constraints.demand import demand_rows
from optimizer.solver.knapsack import best_packing
from optimizer.solver.master import MasterSystem, build_master

RC_EPS = 1e-7


@dataclass
class LpOutcome:
    feasible: bool  # the restricted master covers demand without artificial slack
    converged: bool  # no column prices out: `objective` is the LP optimum
    proven_infeasible: bool  # converged with artificial slack left: no plan exists
    objective: float
    lower_bound: float
    columns: Columns
    values: np.ndarray  # column values
    reduced_costs: np.ndarray  # per column
    iterations: int
    pricing_calls: int


@dataclass
class _Duals:
    item_value: np.ndarray  # (S, U) per job of shape s in class u, per bin-hour
    spot_item_adjust: np.ndarray  # (S,) added to item values on spot offerings
    offering_cost: np.ndarray  # (O,) adjusted hourly cost of an offering


def _solve_lp(system: MasterSystem, artificial_rows: slice, penalty: np.ndarray) -> tuple[object, int]:
    n_art = artificial_rows.stop - artificial_rows.start
    art = sp.csr_matrix(
        (-np.ones(n_art), (np.arange(artificial_rows.start, artificial_rows.stop), np.arange(n_art))),
        shape=(system.matrix.shape[0], n_art),
    )
    a_ub = sp.hstack([system.matrix, art], format="csc")
    cost = np.concatenate([system.cost, penalty])
    res = linprog(cost, A_ub=a_ub, b_ub=system.rhs, bounds=(0, None), method="highs")
    return res, system.layout.n_variables


def _duals(prep: Prepared, system: MasterSystem, marginals: np.ndarray) -> _Duals:
    y = marginals  # <= 0 for `<=` rows (scipy convention); reduced cost = c - A^T y
    s_count, u_count = prep.demand.shape
    index = demand_rows(prep)
    pi = np.zeros((s_count, u_count))
    mask = index >= 0
    pi[mask] = -y[system.row_slices["demand"]][index[mask]]
    item_value = pi / (prep.weight[None, :] * prep.hours)
    spot_adjust = np.zeros(s_count)
    if "max_spot_share" in system.row_slices:
        spot_adjust = y[system.row_slices["max_spot_share"]][0] * prep.sizes[:, 0]
    offering_cost = prep.hourly.copy()
    if "spot_diversity" in system.row_slices:
        div = y[system.row_slices["spot_diversity"]]
        pool_dual = np.zeros(len(prep.offerings))
        pool_dual[system.pool_offerings] = div[1:]
        spot = prep.spot
        offering_cost[spot] -= prep.caps[spot, 0] * (pool_dual[spot] - div[0])
    return _Duals(item_value, spot_adjust, offering_cost)


def _pattern_reduced_costs(prep: Prepared, pool: PatternPool, duals: _Duals) -> np.ndarray:
    """(P, U) reduced cost per bin-hour of every pooled pattern in every class."""
    off, counts = pool.matrix()
    values = counts @ duals.item_value + (prep.spot[off] * (counts @ duals.spot_item_adjust))[:, None]
    return duals.offering_cost[off][:, None] - values


def _price(
    prep: Prepared, pool: PatternPool, duals: _Duals, *, exact: bool
) -> tuple[list[int], np.ndarray, int]:
    """Solve the pricing knapsacks: new pattern ids, per (o, u) best reduced cost per bin-hour, calls."""
    o_count = len(prep.offerings)
    u_count = prep.n_classes
    best_rc = np.zeros((o_count, u_count))
    new: list[int] = []
    calls = 0
    node_limit = 20_000 if exact else 1
    for u in range(u_count):
        base = duals.item_value[:, u]
        limits = prep.demand[:, u]
        for spot_flag in (False, True):
            offerings = np.flatnonzero(prep.spot == spot_flag)
            if offerings.size == 0:
                continue
            vals = base + (duals.spot_item_adjust if spot_flag else 0.0)
            positive = vals > 0
            # Vectorised upper bound per offering: capacity x best density over compatible shapes.
            comp = prep.compat[offerings] & positive[None, :] & (limits > 0)[None, :]
            ub = comp @ (limits * np.maximum(vals, 0.0))
            for d in (0, 1):
                dens = np.where(comp, vals[None, :] / prep.sizes[None, :, d], 0.0).max(axis=1)
                ub = np.minimum(ub, prep.caps[offerings, d] * dens)
            cost = duals.offering_cost[offerings]
            for j in np.flatnonzero(ub > cost + RC_EPS):
                o = int(offerings[j])
                items = np.flatnonzero(comp[j])
                calls += 1
                packing = best_packing(
                    vals[items], prep.sizes[items], prep.caps[o], limits=limits[items], node_limit=node_limit
                )
                value = packing.upper_bound if exact else packing.value
                best_rc[o, u] = min(best_rc[o, u], float(cost[j]) - value)
                if packing.value > float(cost[j]) + RC_EPS:
                    counts = np.zeros(prep.sizes.shape[0], dtype=np.int64)
                    counts[items] = packing.counts
                    pid, added = pool.add(o, counts)
                    if added:
                        new.append(pid)
    return new, best_rc, calls


def column_generation(
    prep: Prepared,
    pool: PatternPool,
    pairs: set[tuple[int, int]],
    *,
    deadline: float,
    clock: Callable[[], float],
    max_rounds: int = 500,
) -> LpOutcome:
    """Grow `pool` and `pairs` (pattern, class) until the LP is optimal or time runs out."""
    penalty_per_job = float(prep.hourly.max()) * 10.0 + 1.0
    mask = prep.demand > 0
    art_penalty = np.broadcast_to(penalty_per_job * prep.weight[None, :] * prep.hours, prep.demand.shape)[
        mask
    ]
    bins_cap = np.array(
        [[prep.max_bins(o, u) for u in range(prep.n_classes)] for o in range(len(prep.offerings))],
        dtype=float,
    ).reshape(len(prep.offerings), prep.n_classes)
    best_bound = 0.0
    pricing_calls = 0
    rounds = 0
    converged = False
    while True:
        rounds += 1
        pair_arr = np.array(sorted(pairs), dtype=np.int64).reshape(-1, 2)
        cols = make_columns(prep, pool, pair_arr)
        system = build_master(prep, cols, with_selection=False)
        res, n_vars = _solve_lp(system, system.row_slices["demand"], art_penalty)
        if res.status != 0:
            raise RuntimeError(f"HiGHS failed on the master LP: {res.message}")
        x = res.x
        objective = float(res.fun)
        marginals = np.asarray(res.ineqlin.marginals)
        duals = _duals(prep, system, marginals)
        rc_cols = system.cost[: len(cols)] - system.matrix[:, : len(cols)].T @ marginals
        # 1) re-price pooled patterns in every class.
        added = _add_negative_pairs(prep, pool, duals, pairs)
        if added == 0 and clock() < deadline:
            # 2) heuristic pricing (greedy packings), then exact pricing for the bound.
            new, _, calls = _price(prep, pool, duals, exact=False)
            pricing_calls += calls
            if new:
                added = _add_negative_pairs(prep, pool, duals, pairs)
            if added == 0:
                new, best_rc, calls = _price(prep, pool, duals, exact=True)
                pricing_calls += calls
                wh = prep.weight * prep.hours
                lagrange = objective + float((np.minimum(best_rc, 0.0) * wh[None, :] * bins_cap).sum())
                best_bound = max(best_bound, lagrange)
                added = _add_negative_pairs(prep, pool, duals, pairs) if new else 0
                if added == 0:
                    converged = True
        artificial = float(x[n_vars:].sum()) if len(x) > n_vars else 0.0
        if converged or clock() >= deadline or rounds >= max_rounds:
            if converged:
                best_bound = max(best_bound, objective)
            return LpOutcome(
                feasible=artificial <= 1e-6,
                converged=converged,
                proven_infeasible=converged and artificial > 1e-6,
                objective=objective,
                lower_bound=min(best_bound, objective),
                columns=cols,
                values=x[: len(cols)],
                reduced_costs=np.asarray(rc_cols),
                iterations=rounds,
                pricing_calls=pricing_calls,
            )


def _add_negative_pairs(prep: Prepared, pool: PatternPool, duals: _Duals, pairs: set[tuple[int, int]]) -> int:
    if len(pool) == 0:
        return 0
    rc = _pattern_reduced_costs(prep, pool, duals)
    _, counts = pool.matrix()
    # A pattern is usable in a class only if it hosts no more jobs of a shape than the class runs.
    fits = (counts[:, :, None] <= prep.demand[None, :, :]).all(axis=1)
    p_idx, u_idx = np.nonzero((rc < -RC_EPS) & fits)
    before = len(pairs)
    pairs.update(zip(p_idx.tolist(), u_idx.tolist(), strict=True))
    return len(pairs) - before
