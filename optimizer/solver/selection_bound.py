"""A lower bound that sees `max_instance_types`: the pattern LP with selection variables, priced out.

The column-generation LP (`column_generation.py`) drops the type cap, so its bound is the uncapped
LP: on the bundled weeks under the README's policy that is 2-10 % below the best plans, because
the LP spreads the work over 15-25 offerings while a plan may run 8. This module keeps the cap,
with its strong linking:

    y_o in [0, 1] per offering,  sum_o y_o <= k                                         (card)
    for every offering o, shape s, class u:  sum_{p on o} a_ps x_pu <= d_su y_o          (link)

(`a_ps` jobs of s in pattern p, `x_pu` instances of p in each bucket of class u, `d_su` the jobs
of s that class u runs). Valid for every plan: a plan can always drop surplus jobs from its bins
(a bin hosting fewer jobs is still a bin, at the same price), so some optimal plan covers demand
exactly; such a plan hosts at most d_su jobs of s on o in class u, and none unless o is selected
(y_o = 1). Every other row of the LP (demand, spot share, diversification) is kept.

The bound never relies on a restricted LP being optimal or having every pattern. For any
multipliers w >= 0 on the rows `A v <= b` (demand, spot rows, card, and a link row for EVERY
(o, s, u), most of them outside the restricted LP), weak duality gives
    L(w) = -w.b + min over v in D of (c + A^T w).v  <=  optimum,
with D = {x >= 0 over all patterns; in each class u, offering o runs at most J_ou bins hosting
jobs (J_ou: the class's jobs o can host, one per bin in an exact cover) and any number of empty
spot bins; y in [0, 1]; z >= 0 (the spot total under diversification)}. w is the restricted LP's
duals on its rows, chosen per offering on the link rows (they only touch that offering's
variables), so
    L(w) = -w.b + sum_o T_o     (requires: every empty spot bin and z have reduced cost >= 0)
and for each offering the larger of two valid terms is taken:
  - the restricted LP's own link duals rho_o (zero for rows it lacks):
        T_o = min(0, rc(y_o)) + sum_u wh_u J_ou min(0, min over o's patterns in u of rc per bin-hour),
    the minimum found by the pricing knapsacks (exact, or a density bound on a pattern's value);
  - the best rho_o: by LP duality the link rows are then enforced inside the offering's own
    problem, min over y_o in [0,1] and x with sum_p a_ps x_pu <= d_su y_o of nu y_o + rc(x), which
    is min(0, nu + sum_u G_ou) with G_ou the least reduced cost o can make serving at most the
    class's demand. G_ou is bounded below by relaxing the bins to fractional ones: for any
    theta on the simplex of dimensions an instance needs at least sum_d theta_d (jobs' size_d /
    capacity_d) of itself, so G_ou >= -wh_u sum_s d_su max(0, value_s - cost_o sum_d theta_d
    size_sd / cap_od); the best of a few theta is taken.
At an optimum of the full LP with selection rows the bound is that LP's value; before, still valid.

Each round's restricted LP starts from the previous round's optimal basis (`warm_lp.py`): the
rounds only add columns and link rows, and from scratch the LP took 2-4 s a round on the Alibaba
week, most of the child's time. The warm start changes how fast the LP is solved, not what the
certificates prove.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from optimizer.solver.column_generation import RC_EPS, _duals
from optimizer.solver.columns import Columns, PatternPool, Prepared, make_columns
from optimizer.solver.master import build_master
from optimizer.solver.plan import Plan
from optimizer.solver.search_kernels import price_offerings
from optimizer.solver.warm_lp import WarmLp

#: Branch-and-bound nodes per pricing knapsack; past it the knapsack's own upper bound is used.
NODE_LIMIT = 50_000
#: Price of an artificial job cover, in multiples of the dearest offering's hourly cost. The
#: artificials only keep a restricted LP feasible; they are not in the Lagrangian's domain.
ARTIFICIAL_PRICE = 10.0
#: Seconds a time-limited restricted LP takes past its limit to return (HiGHS, scipy's wrapper).
LP_RETURN_SECONDS = 0.1
#: Knapsacks solved between two looks at the clock (each takes microseconds; a batch stays well
#: under the time a deadline can tolerate).
KNAPSACKS_PER_CHECK = 512
#: Offerings outside the restricted LP brought in per round (the most negative terms first).
OFFERINGS_PER_ROUND = 20
#: Weights on (vCPU, memory, GPU) for the fractional bound of an offering's profit (module doc).
THETAS = np.array(
    [
        [1, 0, 0],
        [0, 1, 0],
        [0, 0, 1],
        [0.5, 0.5, 0],
        [0.75, 0.25, 0],
        [0.25, 0.75, 0],
        [0.5, 0, 0.5],
        [0, 0.5, 0.5],
    ],
    dtype=float,
)


@dataclass(frozen=True)
class SelectionBound:
    """The best certified bound, the last restricted LP's value (not a bound) and the search."""

    bound: float
    lp_objective: float
    rounds: int
    columns: int
    #: The restricted LP of the best certified round, its columns and its pricing's least reduced
    #: cost per bin-hour (O, U): the multipliers `capped_class_bound` starts from.
    master: SelectionMaster
    master_columns: Columns
    min_rc: np.ndarray


@dataclass(frozen=True)
class SelectionMaster:
    """The restricted LP with selection rows, solved: its duals split by row family."""

    objective: float
    dual_value: float  # -w.b over every row
    item_value: np.ndarray  # (S, U) per job-bin-hour
    spot_adjust: np.ndarray  # (S,) added to job values on spot
    offering_cost: np.ndarray  # (O,) hourly cost with the diversification duals
    rho: np.ndarray  # (O, S, U) link duals per job-bin-hour (0 where the LP has no row)
    rc_y: np.ndarray  # (O,) reduced cost of each selection variable
    linked: np.ndarray  # (O,) bool: the offering has link rows
    nu: float  # dual of the card row (>= 0)
    y: np.ndarray  # (O,) the selection variables' values (which offerings the capped LP picks)
    z_ok: bool  # the spot-total variable's reduced cost is >= 0


def _solve_master(
    prep: Prepared,
    cols: Columns,
    k: int,
    lp: WarmLp,
    *,
    deadline: float,
    clock: Callable[[], float],
) -> SelectionMaster | None:
    system = build_master(prep, cols, with_selection=False)
    n_base = system.layout.n_variables
    o_count, s_count, u_count = len(prep.offerings), prep.sizes.shape[0], prep.n_classes
    col, shape = np.nonzero(cols.counts)
    keys = np.stack([cols.offering[col], shape, cols.bucket_class[col]], axis=1)
    links, row = np.unique(keys.reshape(-1, 3), axis=0, return_inverse=True)
    row = row.reshape(-1)
    r_count = len(links)
    y0 = n_base
    width = n_base + o_count
    demand = prep.demand[links[:, 1], links[:, 2]].astype(float)
    link = sp.csr_matrix(
        (
            np.concatenate([cols.counts[col, shape].astype(float), -demand]),
            (np.concatenate([row, np.arange(r_count)]), np.concatenate([col, y0 + links[:, 0]])),
        ),
        shape=(r_count, width),
    )
    card = sp.csr_matrix(
        (np.ones(o_count), (np.zeros(o_count, dtype=np.int64), y0 + np.arange(o_count))), (1, width)
    )
    base = sp.hstack([system.matrix, sp.csr_matrix((system.matrix.shape[0], o_count))], format="csr")
    matrix = sp.vstack([base, link, card], format="csc")
    rhs = np.concatenate([system.rhs, np.zeros(r_count), [float(k)]])
    cost = np.concatenate([system.cost, np.zeros(o_count)])
    rows = system.row_slices["demand"]
    n_art = rows.stop - rows.start
    art = sp.csc_matrix(
        (-np.ones(n_art), (np.arange(rows.start, rows.stop), np.arange(n_art))),
        shape=(matrix.shape[0], n_art),
    )
    penalty = (ARTIFICIAL_PRICE * float(prep.hourly.max()) * prep.weight * prep.hours)[
        np.nonzero(prep.demand > 0)[1]
    ]
    lower = np.zeros(width + n_art)
    upper = np.full(width + n_art, np.inf)
    upper[y0:width] = 1.0
    # Stable names for the warm start (`warm_lp.py`): a pattern column by (pattern, class), z, each
    # y_o and each artificial by position; a base row by position (their number never changes),
    # a link row by (offering, shape, class), the card row.
    n_rows = system.matrix.shape[0]
    col_keys = np.concatenate(
        [
            cols.pattern.astype(np.int64) * u_count + cols.bucket_class,
            [-1] if system.layout.spot_total is not None else [],
            -2 - np.arange(o_count + n_art),
        ]
    ).astype(np.int64)
    row_keys = np.concatenate(
        [np.arange(n_rows), n_rows + (links[:, 0] * s_count + links[:, 1]) * u_count + links[:, 2], [-1]]
    ).astype(np.int64)
    # Taken after building (a large model takes a while to assemble), less what HiGHS takes past
    # its limit to hand the answer back.
    time_limit = deadline - clock() - LP_RETURN_SECONDS
    if time_limit <= 0.05:
        return None
    res = lp.solve(
        np.concatenate([cost, penalty]),
        sp.hstack([matrix, art], format="csc"),
        rhs,
        lower,
        upper,
        col_keys=col_keys,
        row_keys=row_keys,
        time_limit=time_limit,
    )
    if res.status != 0:
        return None
    assert res.x is not None and res.marginals is not None
    # <= 0 (w = -marg >= 0); clipped so that float noise never makes a multiplier negative.
    marg = np.minimum(res.marginals, 0.0)
    duals = _duals(prep, system, marg[:n_rows])
    wh = prep.weight * prep.hours
    rho = np.zeros((o_count, s_count, u_count))
    rho[links[:, 0], links[:, 1], links[:, 2]] = -marg[n_rows : n_rows + r_count] / wh[links[:, 2]]
    rc = cost - matrix.T @ marg  # artificials excluded: they are not in the domain
    linked = np.zeros(o_count, dtype=bool)
    linked[links[:, 0]] = True
    z = system.layout.spot_total
    return SelectionMaster(
        objective=res.fun,
        dual_value=float(marg @ rhs),
        item_value=duals.item_value,
        spot_adjust=duals.spot_item_adjust,
        offering_cost=duals.offering_cost,
        rho=rho,
        rc_y=np.asarray(rc[y0:width]),
        linked=linked,
        nu=float(-marg[-1]),
        y=np.asarray(res.x[y0:width], dtype=float),
        z_ok=z is None or bool(rc[z] >= 0.0),
    )


def _values(prep: Prepared, m: SelectionMaster) -> np.ndarray:
    """(O, S, U) value of one job on each offering in each class, per bin-hour, before link duals."""
    spot = prep.spot[:, None, None] * m.spot_adjust[None, :, None]
    return np.where(prep.compat[:, :, None], m.item_value[None, :, :] + spot, 0.0)


def _density_bound(prep: Prepared, values: np.ndarray) -> np.ndarray:
    """(O, U) upper bound on one instance's job value: capacity x best density per dimension, or
    every job of the class."""
    pos = np.maximum(values, 0.0) * (prep.demand[None, :, :] > 0)
    ub = (pos * prep.demand[None, :, :]).sum(axis=1)
    for d in (0, 1):
        dens = (pos / prep.sizes[None, :, d, None]).max(axis=1)
        ub = np.minimum(ub, prep.caps[:, d, None] * dens)
    return ub


def _free_terms(
    prep: Prepared,
    m: SelectionMaster,
    values: np.ndarray,
    needed: np.ndarray,
    *,
    deadline: float,
    clock: Callable[[], float],
) -> np.ndarray | None:
    """(O,) min(0, nu + sum_u G_ou): each offering's term with its best link duals (module doc),
    tightened by knapsacks only for the `needed` offerings (the others keep the cheap bounds).

    G_ou (per bin-hour, times wh_u) is bounded below three ways, the largest kept: 0 when no
    pattern of o prices out in u (knapsack); the fractional bins of the module doc; and, with
    R_ou >= 1 the largest value/cost ratio of any pattern (knapsack), every bin's profit
    value - cost <= value (1 - 1/R), so G_ou >= -(1 - 1/R) x (value of the class's demand on o).
    None when the deadline stops the knapsacks."""
    cost = m.offering_cost
    caps = np.where(prep.caps > 0, prep.caps, np.inf)
    share = prep.sizes[None, :, :] / caps[:, None, :]  # (O, S, 3): an instance's share one job takes
    demand = prep.demand[None, :, :].astype(float)
    positive = np.maximum(values, 0.0)
    frac = np.full((len(cost), prep.n_classes), np.inf)
    for theta in THETAS:
        price = cost[:, None] * (share @ theta)  # (O, S): a job's least share of the instance's cost
        frac = np.minimum(frac, (np.maximum(values - price[:, :, None], 0.0) * demand).sum(axis=1))
    whole = (positive * demand).sum(axis=1)  # (O, U) value of all the class's jobs o can host
    ub = _density_bound(prep, values)
    wh = prep.weight * prep.hours
    with np.errstate(divide="ignore", invalid="ignore"):
        # The ratio bound with the density bound's ratio ub / cost (>= any pattern's): no knapsack.
        rough = np.where(cost[:, None] > 0, whole * (1.0 - cost[:, None] / ub), whole)
    profit = np.where(ub > cost[:, None], np.minimum(frac, rough), 0.0)  # what o earns, at most
    # An offering whose earnings cannot exceed nu has term 0 whatever the knapsacks say: only the
    # others (few) are tightened pair by pair.
    tighten = (needed & (profit @ wh > m.nu))[:, None] & (profit > 0)
    pair_o, pair_u = np.nonzero(tighten)
    for start in range(0, pair_o.size, KNAPSACKS_PER_CHECK):
        if clock() >= deadline:
            return None
        o, u = pair_o[start : start + KNAPSACKS_PER_CHECK], pair_u[start : start + KNAPSACKS_PER_CHECK]
        vals = values[o, :, u]  # (n, S)
        limits = np.ascontiguousarray(prep.demand[:, u].T)
        upper, _, _, _ = _knapsacks(prep, vals, limits, o, cost[o], floor=cost[o])
        # Where the bound is `at_least` (the cost), no pattern earns anything.
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(cost[o] > 0, upper / cost[o], np.inf)
        earns = upper > cost[o]
        profit[o, u] = np.where(
            earns, np.minimum(frac[o, u], whole[o, u] * (1.0 - 1.0 / np.where(earns, ratio, 1.0))), 0.0
        )
    g = -(profit * wh[None, :]).sum(axis=1)
    return np.minimum(0.0, m.nu + g)


def _price_linked(
    prep: Prepared,
    pool: PatternPool,
    m: SelectionMaster,
    values: np.ndarray,
    offerings: np.ndarray,
    *,
    deadline: float,
    clock: Callable[[], float],
) -> tuple[np.ndarray | None, list[tuple[int, int]]]:
    """(O, U) lower bound on each listed offering's least reduced cost per bin-hour in each class at
    the LP's link duals (others: 0), and new (pattern, class) pairs with a negative one; None for
    the bounds when the deadline stops the pricing."""
    o_count = prep.compat.shape[0]
    min_rc = np.zeros((o_count, prep.n_classes))
    new: list[tuple[int, int]] = []
    for u in range(prep.n_classes):
        if clock() >= deadline:
            return None, new
        limits = prep.demand[:, u]
        vals = values[offerings, :, u] - m.rho[offerings, :, u]  # (O', S)
        comp = prep.compat[offerings] & (vals > 0) & (limits > 0)[None, :]
        pos = np.where(comp, vals, 0.0)
        ub = pos @ limits
        for d in (0, 1):
            ub = np.minimum(ub, prep.caps[offerings, d] * (pos / prep.sizes[None, :, d]).max(axis=1))
        cost = m.offering_cost[offerings]
        rc = np.minimum(cost - ub, 0.0)
        j = np.flatnonzero(ub > cost + RC_EPS)
        upper, value, counts, _ = _knapsacks(
            prep, vals[j], np.tile(limits, (j.size, 1)), offerings[j], cost[j], comp=comp[j]
        )
        rc[j] = np.minimum(0.0, cost[j] - upper)
        for i in np.flatnonzero(value > cost[j] + RC_EPS):
            pid, _ = pool.add(int(offerings[j[i]]), counts[i].copy())
            new.append((pid, u))
        min_rc[offerings, u] = rc
    return min_rc, new


def selection_bound(
    prep: Prepared,
    pool: PatternPool,
    cols: Columns,
    seed_plan: Plan | None = None,
    *,
    deadline: float,
    clock: Callable[[], float],
    max_rounds: int = 50,
    on_bound: Callable[[float], None] | None = None,
    on_selection: Callable[[np.ndarray], None] | None = None,
) -> SelectionBound | None:
    """Column generation on the LP with selection rows, from every column of the uncapped LP
    (`cols`: a first LP near the capped one, which the certificates need to pass the LP bound
    early; KTH week, README policy: above it from the 3rd round instead of the 5th). Returns the
    best certified bound (module doc), or None without a type cap or when no round was certified
    before the deadline. `on_bound` is called with every certified bound that beats the previous
    ones, as soon as it is certified (a child process reports them to its parent that way, so a
    kill at the deadline loses nothing proven). `on_selection` is called with every restricted
    LP's selection values y (O,), certified or not: which offerings the capped LP picks, a subset
    rule for the plan search (`type_cap_subsets.selection_subset`), never part of the bound."""
    k = prep.problem.policy.max_instance_types
    if k is None or len(cols) == 0:
        return None
    pairs = set(zip(cols.pattern.tolist(), cols.bucket_class.tolist(), strict=True))
    if seed_plan is not None and seed_plan.has_solution:
        # A plan that meets the cap makes the first restricted LP feasible without artificials,
        # whose prohibitive duals would make the first certificates worthless.
        from optimizer.solver.solve import _seed_from_plan

        _seed_from_plan(prep, seed_plan, pool, pairs)
    wh = prep.weight * prep.hours
    hostable = prep.max_bins()  # (O, U): J_ou
    best = -np.inf
    best_round: tuple[SelectionMaster, Columns, np.ndarray] | None = None
    objective = np.inf
    rounds = 0
    current = cols
    lp = WarmLp()  # each round's LP starts from the last one's basis
    while clock() < deadline and rounds < max_rounds:
        rounds += 1
        current = make_columns(prep, pool, np.array(sorted(pairs), dtype=np.int64).reshape(-1, 2))
        master = _solve_master(prep, current, k, lp, deadline=deadline, clock=clock)
        if master is None:
            break
        objective = master.objective
        if on_selection is not None:
            on_selection(master.y)
        job_values = _values(prep, master)
        linked = np.flatnonzero(master.linked)
        min_rc, new = _price_linked(prep, pool, master, job_values, linked, deadline=deadline, clock=clock)
        if min_rc is None:
            break
        own = np.minimum(master.rc_y, 0.0) + (wh[None, :] * hostable * min_rc).sum(axis=1)
        # A linked offering whose own term is 0 needs no other; the rest get the knapsacks.
        own = np.where(master.linked, own, -np.inf)
        free = _free_terms(prep, master, job_values, own < 0, deadline=deadline, clock=clock)
        if free is None:
            break
        empty_ok = master.z_ok and bool((master.offering_cost[prep.spot] >= 0.0).all())
        if empty_ok:
            terms = np.maximum(own, free)
            certified = master.dual_value + float(terms.sum())
            if certified > best:
                best = certified
                best_round = (master, current, min_rc)
                if on_bound is not None:
                    on_bound(best)
        # Offerings outside the LP whose term costs the bound most: their best patterns join it.
        outside = np.flatnonzero(~master.linked & (free < -1e-9))
        for o in outside[np.argsort(free[outside], kind="stable")][:OFFERINGS_PER_ROUND]:
            new += _best_patterns(prep, pool, master, job_values, int(o))
        for o in np.flatnonzero(prep.spot & (master.offering_cost < -RC_EPS)):
            pid, _ = pool.add(int(o), np.zeros(prep.sizes.shape[0], dtype=np.int64))
            new += [(pid, u) for u in range(prep.n_classes)]
        before = len(pairs)
        pairs.update(new)
        if len(pairs) == before:
            break
    if not np.isfinite(best):
        return None
    assert best_round is not None
    return SelectionBound(best, objective, rounds, len(current), *best_round)


def _best_patterns(
    prep: Prepared, pool: PatternPool, m: SelectionMaster, job_values: np.ndarray, o: int
) -> list[tuple[int, int]]:
    """Offering o's most valuable pattern in every class where it prices out (no link duals yet)."""
    out: list[tuple[int, int]] = []
    vals = job_values[o].T  # (U, S)
    limits = np.ascontiguousarray(prep.demand.T)
    rows = np.full(prep.n_classes, o)
    cost = np.full(prep.n_classes, float(m.offering_cost[o]))
    comp = prep.compat[rows] & (vals > 0) & (limits > 0)
    _, value, counts, _ = _knapsacks(prep, vals, limits, rows, cost, comp=comp)
    # (a class with no job o hosts has no pattern, whatever o's cost)
    for u in np.flatnonzero((value > cost + RC_EPS) & comp.any(axis=1)):
        pid, _ = pool.add(o, counts[u].copy())
        out.append((pid, int(u)))
    return out


def _knapsacks(
    prep: Prepared,
    vals: np.ndarray,
    limits: np.ndarray,
    offerings: np.ndarray,
    cost: np.ndarray,
    *,
    comp: np.ndarray | None = None,
    floor: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """One pricing knapsack per row (offering `offerings[j]`, job values `vals[j]`, at most
    `limits[j]` jobs; by default the jobs it hosts that are worth something and that the class
    runs), in one compiled call (`search_kernels.price_offerings`, what `best_packing` solves for
    each): each row's upper bound, best packing value and job counts."""
    if comp is None:
        comp = prep.compat[offerings] & (vals > 0) & (limits > 0)
    n = len(offerings)
    return price_offerings(
        np.ascontiguousarray(vals, dtype=float),
        np.ascontiguousarray(comp),
        np.ascontiguousarray(limits, dtype=np.int64),
        np.ascontiguousarray(prep.sizes, dtype=float),
        np.ascontiguousarray(prep.caps[offerings], dtype=float),
        np.ascontiguousarray(cost, dtype=float),
        np.zeros(n),
        np.zeros(n) if floor is None else np.ascontiguousarray(floor, dtype=float),
        NODE_LIMIT,
        False,
    )
