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

from optimizer.solver.columns import Columns, PatternPool, Prepared, make_columns
from optimizer.solver.constraints.demand import demand_rows
from optimizer.solver.master import MasterSystem, build_master
from optimizer.solver.search_kernels import price_offerings
from optimizer.solver.warm_lp import LpResult, WarmLp

RC_EPS = 1e-7
#: Branch-and-bound nodes per exact pricing knapsack; past it the knapsack's bound is used instead.
EXACT_NODE_LIMIT = 100_000
#: What HiGHS takes past its time limit to hand an answer back, and the least time worth giving a
#: round's LP (a warm round takes 0.05-0.3 s on the Alibaba week in ten-minute buckets).
LP_RETURN_SECONDS = 0.1
LP_MIN_SECONDS = 0.05
#: Rounds start from the last basis only when the first round's master has at least this many
#: columns. Below it a cold round costs milliseconds (the KTH week, hourly: 3,254 columns, the
#: whole LP 0.26 s cold against 0.14 s warm), while primal simplex from the old basis ends on
#: another optimal vertex, whose duals price other columns into the pool the type-cap subsets are
#: scored on: the KTH week under the README policy went from $464.38 to $467.42, and 10 held-out
#: KTH weeks moved either way (3 better, 3 worse). Above it the warm rounds are what make the LP
#: fit: the demo's gpu-training queue (33,725 columns) converged in 3.4 s instead of 25.3 s,
#: cpu-short (14,415) in 1.6 s instead of 5.2 s.
WARM_START_COLUMNS = 5_000


@dataclass
class LpOutcome:
    feasible: bool  # the restricted master covers demand without artificial slack
    converged: bool  # no column prices out: `objective` is the LP optimum
    proven_infeasible: bool  # converged with artificial slack left: no plan exists
    objective: float  # NaN when the first round's LP did not end (`first_deadline`)
    lower_bound: float
    columns: Columns
    values: np.ndarray  # column values
    reduced_costs: np.ndarray  # per column
    iterations: int
    pricing_calls: int
    item_value: np.ndarray  # (S, U) final duals per job and bin-hour (a warm guess for exact solves)
    class_bounds: np.ndarray | None  # (U,) proven LP bound per class; None when rows couple classes
    #: Row duals of the final restricted master (scipy's sign: <= 0), the multipliers a Lagrangian
    #: bound over the coupling rows starts from (`lagrangian_bound.py`); None where not kept.
    marginals: np.ndarray | None = None
    #: The best single round's certificate (`Certificate`); None before any round was certified.
    certificate: Certificate | None = None


@dataclass(frozen=True)
class Certificate:
    """One round's certified LP bound with the duals behind it: a caller taking demand away may
    shift it (at demand d - Delta the same duals certify at least `bound` - item_value . Delta;
    `commitments.dual_coverage_savings`)."""

    bound: float
    item_value: np.ndarray  # (S, U) the round's job values per bin-hour
    #: (O, U) a lower bound on the reduced cost per bin-hour of every pattern of each prepared
    #: offering at those duals: no pattern of o in class u is worth more than its cost less this.
    least_rc: np.ndarray


@dataclass
class _Duals:
    item_value: np.ndarray  # (S, U) per job of shape s in class u, per bin-hour
    spot_item_adjust: np.ndarray  # (S,) added to item values on spot offerings
    #: (O,) adjusted hourly cost of an offering, or (O, U) where it depends on the bucket class (an
    #: on-demand offering a commitment covers costs what its budget row's dual charges in each
    #: class: `committed_lp.py`).
    offering_cost: np.ndarray

    def class_costs(self, offerings: np.ndarray, n_classes: int) -> np.ndarray:
        """(len(offerings), U) the adjusted hourly cost of `offerings` in every class."""
        cost = self.offering_cost[offerings]
        return cost if cost.ndim == 2 else np.broadcast_to(cost[:, None], (len(offerings), n_classes))


def column_keys(cols: Columns, n_classes: int) -> np.ndarray:
    """The warm LP's stable key of each column: its pattern and class."""
    return cols.pattern.astype(np.int64) * n_classes + cols.bucket_class


def artificial_penalty(prep: Prepared) -> np.ndarray:
    """Per demand row (the demanded (shape, class) pairs, in the master's order), the cost of one
    artificial job cover: ten times the dearest offering's hourly objective (plus a dollar) per
    bin-hour of the class, so the LP uses one only where no column covers the job. Every master
    over `prep`'s demand rows (the pattern LP, the committed LP, a subset's LP) prices them so."""
    per_job = float(prep.hourly.max()) * 10.0 + 1.0
    return np.broadcast_to(per_job * prep.weight[None, :] * prep.hours, prep.demand.shape)[prep.demand > 0]


def _solve_lp(
    lp: WarmLp,
    system: MasterSystem,
    cols: Columns,
    n_classes: int,
    penalty: np.ndarray,
    time_limit: float,
    more_keys: np.ndarray | None = None,
) -> LpResult:
    """The restricted master with an artificial cover per demand row, from the last round's basis.
    `more_keys`: stable keys of variables the caller appended after the layout's (the committed
    LP's covered copies, `committed_lp.py`), which must not collide with the columns' keys.

    Rounds differ by the columns they add, so the last optimal basis (new columns at zero) is a
    primal feasible start: on the Alibaba week in ten-minute buckets under the README policy
    (8,901 rows, 67,000 columns) a cold solve took 2.0 s a round, and 10 rounds to converge took
    21.5 s. Columns are named by (pattern, class), the spot total and each artificial by position;
    rows by position (they depend on the prepared problem only)."""
    artificial_rows = system.row_slices["demand"]
    n_art = artificial_rows.stop - artificial_rows.start
    art = sp.csr_matrix(
        (-np.ones(n_art), (np.arange(artificial_rows.start, artificial_rows.stop), np.arange(n_art))),
        shape=(system.matrix.shape[0], n_art),
    )
    n_extra = system.layout.n_variables - len(cols)
    more = np.zeros(0, dtype=np.int64) if more_keys is None else more_keys
    col_keys = np.concatenate(
        [
            column_keys(cols, n_classes),
            -1 - np.arange(n_extra, dtype=np.int64),
            more,
            -1 - n_extra - np.arange(n_art, dtype=np.int64),
        ]
    )
    width = system.matrix.shape[1] + n_art
    return lp.solve(
        np.concatenate([system.cost, penalty]),
        sp.hstack([system.matrix, art], format="csc"),
        system.rhs,
        np.zeros(width),
        np.full(width, np.inf),
        col_keys=col_keys,
        row_keys=np.arange(system.matrix.shape[0], dtype=np.int64),
        time_limit=time_limit,
    )


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


def _density_reduced_costs(prep: Prepared, duals: _Duals) -> np.ndarray:
    """(O, U) lower bound on the best reduced cost per bin-hour of any pattern, without knapsacks:
    cost minus an upper bound on a pattern's value (capacity x best density, or all jobs)."""
    out = np.zeros((len(prep.offerings), prep.n_classes))
    for spot_flag in (False, True):
        offerings = np.flatnonzero(prep.spot == spot_flag)
        if offerings.size == 0:
            continue
        vals = duals.item_value + (duals.spot_item_adjust[:, None] if spot_flag else 0.0)  # (S, U)
        vals = np.where(prep.demand > 0, np.maximum(vals, 0.0), 0.0)
        comp = prep.compat[offerings].astype(float)  # (O', S)
        ub = comp @ (vals * prep.demand)  # every job of the class on one instance
        for d in (0, 1):
            dens = vals / prep.sizes[:, d][:, None]  # (S, U)
            best = np.max(np.where(comp[:, :, None] > 0, dens[None, :, :], 0.0), axis=1)  # (O', U)
            ub = np.minimum(ub, prep.caps[offerings, d][:, None] * best)
        # Surrogate dimension (sum of the constraints scaled by capacity), as in the knapsack.
        caps = prep.caps[offerings]
        scale = np.where(caps > 0, 1.0 / np.where(caps > 0, caps, 1.0), 0.0)  # (O', 3)
        frac = scale @ prep.sizes.T  # (O', S): share of an instance one job takes, summed over dims
        dens = np.where(comp > 0, 1.0 / np.maximum(frac, 1e-12), 0.0)[:, :, None] * vals[None, :, :]
        ub = np.minimum(ub, (caps > 0).sum(axis=1)[:, None] * dens.max(axis=1))
        out[offerings] = duals.class_costs(offerings, prep.n_classes) - ub
    return out


def _pattern_reduced_costs(prep: Prepared, pool: PatternPool, duals: _Duals) -> np.ndarray:
    """(P, U) reduced cost per bin-hour of every pooled pattern in every class."""
    off, counts = pool.matrix()
    values = counts @ duals.item_value + (prep.spot[off] * (counts @ duals.spot_item_adjust))[:, None]
    return duals.class_costs(off, prep.n_classes) - values


@dataclass
class _Optimistic:
    """One capacity type's offerings and, per class, the jobs' values and each offering's
    optimistic value (capacity x best density per dimension, or every job the class runs)."""

    offerings: np.ndarray  # (O',) prepared indices
    compat: np.ndarray  # (O', S)
    vals: np.ndarray  # (S, U) a job's value on this capacity type
    useful: np.ndarray  # (S, U) the class runs the shape and its job has a positive value
    cost: np.ndarray  # (O', U) adjusted hourly cost
    ub: np.ndarray  # (O', U)
    ratio: np.ndarray  # (O', U) ub / cost (inf at cost 0)


def _optimistic(prep: Prepared, duals: _Duals, spot_flag: bool) -> _Optimistic:
    offerings = np.flatnonzero(prep.spot == spot_flag)
    vals = duals.item_value + (duals.spot_item_adjust[:, None] if spot_flag else 0.0)
    useful = (vals > 0) & (prep.demand > 0)
    compat = prep.compat[offerings]
    ub = compat.astype(float) @ np.where(useful, prep.demand * np.maximum(vals, 0.0), 0.0)
    for d in (0, 1):
        dens = np.where(useful, vals / prep.sizes[:, d, None], 0.0)  # (S, U)
        best = np.where(compat[:, :, None], dens[None, :, :], 0.0).max(axis=1, initial=0.0)
        ub = np.minimum(ub, prep.caps[offerings, d, None] * best)
    cost = duals.class_costs(offerings, prep.n_classes)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(cost > 0, ub / cost, np.inf)
    return _Optimistic(offerings, compat, vals, useful, cost, ub, ratio)


def _price(
    prep: Prepared,
    pool: PatternPool,
    duals: _Duals,
    *,
    deadline: float,
    clock: Callable[[], float],
    fallback: np.ndarray | None = None,
    cache: dict[int, tuple[bytes, np.ndarray]] | None = None,
    settled: np.ndarray | None = None,
) -> tuple[list[int], np.ndarray | None, bool, int]:
    """Solve the pricing knapsacks. Returns new pattern ids; per (o, u) a lower bound on the reduced
    cost per bin-hour (exact where priced, `fallback` for classes the deadline left unpriced, None
    without a fallback); whether every class was priced; and the number of knapsacks solved.

    `cache` (exact pricing only) keeps each class's result keyed by its dual values: a class whose
    duals did not move since it was last priced exactly has the same answer, and its patterns are
    already in the pool. `settled` (U,) marks classes whose LP optimum is already proven: they are
    not priced (they take `fallback`, still a valid bound)."""
    o_count = len(prep.offerings)
    u_count = prep.n_classes
    best_rc: np.ndarray | None = np.zeros((o_count, u_count))
    new: list[int] = []
    calls = 0
    # What every class's pricing needs, for all classes at once (per class in numpy it was most of
    # the pricing's time on the KTH week: 121 classes x 2 capacity types x 8 rounds).
    by_type = [_optimistic(prep, duals, spot_flag) for spot_flag in (False, True)]
    tail = np.concatenate([duals.spot_item_adjust, duals.offering_cost.ravel()]).round(12)
    sizes = np.ascontiguousarray(prep.sizes, dtype=float)
    for u in range(u_count):
        if clock() >= deadline:
            if fallback is None or best_rc is None:
                return new, None, False, calls
            best_rc[:, u:] = fallback[:, u:]
            return new, best_rc, False, calls
        if settled is not None and settled[u] and fallback is not None and best_rc is not None:
            best_rc[:, u] = fallback[:, u]
            continue
        limits = np.ascontiguousarray(prep.demand[:, u], dtype=np.int64)
        key = b""
        if cache is not None and best_rc is not None:
            key = np.concatenate([duals.item_value[:, u].round(12), tail]).tobytes()
            hit = cache.get(u)
            if hit is not None and hit[0] == key:
                best_rc[:, u] = hit[1]
                continue
        for t in by_type:
            if t.offerings.size == 0:
                continue
            assert best_rc is not None
            # Offerings in decreasing order of their optimistic value/cost ratio; once that ratio is
            # below the best exact one found, no later offering can set the bound or price out, so
            # they keep the optimistic (still valid) reduced cost and are not solved.
            ub, ratio = t.ub[:, u], t.ratio[:, u]
            candidates = np.flatnonzero(ub > t.cost[:, u] + RC_EPS)
            candidates = candidates[np.argsort(-ratio[candidates], kind="stable")]
            cost = t.cost[candidates, u]
            best_rc[t.offerings[candidates], u] = cost - ub[candidates]
            # Only a packing beating the best ratio found can move the bound or price out (the
            # loop is compiled: `search_kernels.price_offerings`).
            upper, value, counts, solved = price_offerings(
                # C-ordered copies: with one candidate `ascontiguousarray` hands back the read-only
                # broadcast view itself, and `np.array`'s default order keeps the view's strides,
                # which for a column (`vals[:, u]`) are Fortran's. Either is another signature
                # Numba compiles inside the timed solve (4.1 s of CPU, after `warm_up`).
                np.array(np.broadcast_to(t.vals[:, u], (candidates.size, t.vals.shape[0])), order="C"),
                np.ascontiguousarray(t.compat[candidates] & t.useful[None, :, u]),
                np.array(np.broadcast_to(limits, (candidates.size, limits.size)), order="C"),
                sizes,
                np.ascontiguousarray(prep.caps[t.offerings[candidates]], dtype=float),
                np.ascontiguousarray(cost, dtype=float),
                np.ascontiguousarray(ratio[candidates], dtype=float),
                np.zeros(candidates.size),
                EXACT_NODE_LIMIT,
                True,
            )
            calls += solved
            done = t.offerings[candidates[:solved]]
            best_rc[done, u] = cost[:solved] - upper[:solved]
            for j in np.flatnonzero(value[:solved] > cost[:solved] + RC_EPS):
                pid, added = pool.add(int(done[j]), counts[j].copy())
                if added:
                    new.append(pid)
        if key and best_rc is not None and cache is not None:
            cache[u] = (key, best_rc[:, u].copy())
    return new, best_rc, True, calls


def column_generation(
    prep: Prepared,
    pool: PatternPool,
    pairs: set[tuple[int, int]],
    *,
    deadline: float,
    clock: Callable[[], float],
    max_rounds: int = 500,
    first_deadline: float | None = None,
) -> LpOutcome:
    """Grow `pool` and `pairs` (pattern, class) until the LP is optimal or time runs out.

    The first round's LP runs to its end (nothing else gives the columns and a bound), or until
    `first_deadline` when given: past it the outcome is infeasible with no columns, and the
    caller keeps its heuristic plan rather than end past its own time limit. A later round's LP
    cut short by `deadline` leaves the last round's answer, still optimal for its restricted
    master."""
    art_penalty = artificial_penalty(prep)
    bins_cap = prep.max_bins()
    best_bound = 0.0
    # Without rows that couple classes the LP splits into one independent LP per class, so each
    # class keeps the best bound any round certified for it and the bound is their sum (a round
    # that prices some classes well and others badly no longer wastes the good ones).
    separable = not prep.problem.policy.couples_spot  # the LP relaxes max_instance_types
    class_best = np.zeros(prep.n_classes)
    cache: dict[int, tuple[bytes, np.ndarray]] = {}
    pricing_calls = 0
    rounds = 0
    converged = False
    stalled = False
    master = WarmLp()
    last: _Round | None = None
    best_certificate: Certificate | None = None
    while True:
        rounds += 1
        pair_arr = np.array(sorted(pairs), dtype=np.int64).reshape(-1, 2)
        cols = make_columns(prep, pool, pair_arr)
        system = build_master(prep, cols, with_selection=False)
        if last is None and len(cols) < WARM_START_COLUMNS:
            master.available = False  # cold rounds (`linprog`), as `WARM_START_COLUMNS` says
        end = deadline if last is not None else first_deadline
        time_limit = np.inf if end is None else end - clock() - LP_RETURN_SECONDS
        if time_limit <= LP_MIN_SECONDS:
            if last is None:
                return _no_round(prep, pool)
            return last.outcome(
                rounds - 1, pricing_calls, best_bound, class_best, separable, False, best_certificate
            )
        res = _solve_lp(master, system, cols, prep.n_classes, art_penalty, time_limit)
        if res.status == 1:  # the time limit
            if last is None:
                return _no_round(prep, pool)
            return last.outcome(
                rounds - 1, pricing_calls, best_bound, class_best, separable, False, best_certificate
            )
        if res.status != 0:
            raise RuntimeError(f"HiGHS failed on the master LP (status {res.status})")
        assert res.x is not None and res.marginals is not None
        n_vars = system.layout.n_variables
        x = res.x
        objective = float(res.fun)
        marginals = res.marginals
        duals = _duals(prep, system, marginals)
        rc_cols = system.cost[: len(cols)] - system.matrix[:, : len(cols)].T @ marginals
        # A cheap certificate every round (knapsack values bounded by densities), so an early stop
        # still has an honest bound; exact pricing below tightens it.
        rough = _density_reduced_costs(prep, duals)
        certified = _certified_bound(prep, system, cols, x, objective, rough, bins_cap, duals.offering_cost)
        least_rc = rough
        best_bound = max(best_bound, certified)
        settled = None
        if separable:
            class_obj = _class_objectives(prep, duals)
            class_best = np.maximum(class_best, _class_bounds(prep, duals, class_obj, rough))
            best_bound = max(best_bound, float(class_best.sum()))
            settled = class_best >= class_obj - 1e-9 * np.maximum(1.0, class_obj)
        # Re-price the pooled patterns in every class, then solve the pricing knapsacks (compiled,
        # so exact pricing every round is cheaper than extra LP rounds): each round certifies a bound.
        added = _add_negative_pairs(prep, pool, duals, pairs)
        if clock() < deadline:
            new, best_rc, complete, calls = _price(
                prep,
                pool,
                duals,
                deadline=deadline,
                clock=clock,
                fallback=rough,
                cache=cache,
                settled=settled,
            )
            pricing_calls += calls
            if best_rc is not None:
                exact_bound = _certified_bound(
                    prep, system, cols, x, objective, best_rc, bins_cap, duals.offering_cost
                )
                certified = max(certified, exact_bound)
                least_rc = np.maximum(rough, best_rc)
                best_bound = max(best_bound, exact_bound)
                if separable:
                    class_best = np.maximum(class_best, _class_bounds(prep, duals, class_obj, best_rc))
                    best_bound = max(best_bound, float(class_best.sum()))
            if new:
                added += _add_negative_pairs(prep, pool, duals, pairs)
            # Converged only when every class was priced (or is settled) and no pattern can have a
            # negative reduced cost: a knapsack cut short by its node limit leaves its bound, which
            # may still be below zero although it found no column.
            if added == 0 and complete and best_rc is not None:
                open_rc = best_rc.min(axis=0) < -1e-6
                if settled is not None:
                    open_rc &= ~settled
                converged = not open_rc.any()
                stalled = True  # nothing new to add: more rounds would repeat this one
        if best_certificate is None or certified > best_certificate.bound:
            best_certificate = Certificate(certified, duals.item_value, least_rc)
        artificial = float(x[n_vars:].sum()) if len(x) > n_vars else 0.0
        last = _Round(
            cols, x[:n_vars], objective, marginals, duals.item_value, np.asarray(rc_cols), artificial
        )
        if stalled or clock() >= deadline or rounds >= max_rounds:
            if converged:
                best_bound = max(best_bound, objective)
                if separable:
                    # Each class's LP is optimal: its share of the objective is its bound.
                    class_cost = np.bincount(
                        cols.bucket_class, weights=cols.cost * x[: len(cols)], minlength=prep.n_classes
                    )
                    class_best = np.maximum(class_best, class_cost)
            return last.outcome(
                rounds, pricing_calls, best_bound, class_best, separable, converged, best_certificate
            )


def _no_round(prep: Prepared, pool: PatternPool) -> LpOutcome:
    """The outcome when the first round's LP did not end by its deadline: no columns, no bound,
    not feasible (so no step rounds or prices from it)."""
    cols = make_columns(prep, pool, np.zeros((0, 2), dtype=np.int64))
    return LpOutcome(
        feasible=False,
        converged=False,
        proven_infeasible=False,
        objective=float("nan"),
        lower_bound=0.0,
        columns=cols,
        values=np.zeros(0),
        reduced_costs=np.zeros(0),
        iterations=1,
        pricing_calls=0,
        item_value=np.zeros(prep.demand.shape),
        class_bounds=None,
    )


@dataclass
class _Round:
    """One round's restricted master: what the outcome reports when the next round's LP does not
    finish by the deadline."""

    columns: Columns
    x: np.ndarray  # (variables,) without the artificial covers
    objective: float
    marginals: np.ndarray
    item_value: np.ndarray
    reduced_costs: np.ndarray
    artificial: float  # the artificial covers' total: above 0, the columns do not cover demand

    def outcome(
        self,
        rounds: int,
        pricing_calls: int,
        bound: float,
        class_best: np.ndarray,
        separable: bool,
        converged: bool,
        certificate: Certificate | None,
    ) -> LpOutcome:
        feasible = self.artificial <= 1e-6
        return LpOutcome(
            feasible=feasible,
            converged=converged,
            proven_infeasible=converged and not feasible,
            objective=self.objective,
            lower_bound=bound,  # not clamped to `objective`: a wrong bound must show
            columns=self.columns,
            values=self.x[: len(self.columns)],
            reduced_costs=self.reduced_costs,
            iterations=rounds,
            pricing_calls=pricing_calls,
            item_value=self.item_value,
            class_bounds=class_best if separable else None,
            marginals=self.marginals,
            certificate=certificate,
        )


def _class_objectives(prep: Prepared, duals: _Duals) -> np.ndarray:
    """(U,) dual objective of each class's demand rows: sum_s pi_su x demand_su."""
    wh = prep.weight * prep.hours
    return (duals.item_value * prep.demand).sum(axis=0) * wh


def _class_bounds(prep: Prepared, duals: _Duals, class_obj: np.ndarray, min_rc: np.ndarray) -> np.ndarray:
    """(U,) lower bound on each class's LP optimum, valid only when no row couples classes.

    For any covering x of class u (demand rows A_u x >= b_u, duals pi_u >= 0):
        cost(x) = pi_u . A_u x + sum_p rc_p x_p >= pi_u . b_u + wh_u x (bins) x min(0, min rc),
    and an optimal x runs at most one bin per job of u (a bin without jobs is dropped), so
    (Lagrangian) class_obj_u + wh_u x jobs_u x min(0, min_o rc[o, u]) is a bound. Scaling pi_u by
    1/lambda_u, lambda_u = max(1, largest value/cost of any bin in u), makes it dual feasible
    (Farley), so class_obj_u / lambda_u is one too. Both need `min_rc` to be a lower bound on every
    pattern's reduced cost per bin-hour, which exact or density pricing guarantees.
    """
    wh = prep.weight * prep.hours
    negative = np.minimum(min_rc, 0.0).min(axis=0)
    lagrange = class_obj + wh * prep.demand.sum(axis=0) * negative
    cost = duals.offering_cost[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(cost > 0, (cost - min_rc) / cost, np.inf)
    lam = np.maximum(1.0, ratio.max(axis=0))
    farley = np.where(np.isfinite(lam), class_obj / lam, 0.0)
    return np.maximum(np.maximum(lagrange, farley), 0.0)


def _certified_bound(
    prep: Prepared,
    system: MasterSystem,
    cols: Columns,
    x: np.ndarray,
    objective: float,
    min_rc: np.ndarray,
    bins_cap: np.ndarray,
    empty_rc: np.ndarray,
) -> float:
    """Best valid LP lower bound from the restricted master and a lower bound `min_rc` (O, U) on the
    reduced cost per bin-hour of every pattern (`empty_rc` (O,): that of a bin hosting no job).

    - Lagrangian: z + sum_u wh_u * (bins in u) * most negative reduced cost, where bins in u are at
      most the jobs of u (a bin without jobs is dropped), or per offering under diversification.
      Diversification also keeps empty spot bins, which hold capacity so that no pool exceeds 1/K of
      the spot total; their number is not bounded by any job count. An optimal LP solution holds at
      most K x (spot capacity hosting jobs) of empty spot capacity: were there more, some pool would
      be all empty slack, or every pool at its 1/K limit (at most K of them) would hold empty
      capacity, and removing a little from each would stay feasible and cost less. So the empty bins
      add at least K x (largest job-hosting spot vCPU-hours) x (most negative empty reduced cost per
      vCPU-hour).
    - Farley, when no row couples classes: class u's duals scaled by 1/lambda_u, lambda_u = the
      largest value/cost ratio of any pattern, are dual feasible, so z_u / lambda_u bounds class u.
    """
    wh = prep.weight * prep.hours
    negative = np.minimum(min_rc, 0.0) * wh[None, :]
    k_div = prep.problem.policy.diversification
    if k_div:
        lagrange = objective + float((negative * bins_cap).sum())
        spot = prep.spot
        if spot.any():
            caps = prep.caps[spot, 0]
            hosting = float((caps[:, None] * wh[None, :] * bins_cap[spot]).sum())
            per_vcpu_hour = float(np.min(np.minimum(empty_rc[spot], 0.0) / caps))
            lagrange += k_div * hosting * per_vcpu_hour
    else:
        lagrange = objective + float((negative.min(axis=0) * prep.demand.sum(axis=0)).sum())
    coupled = any(name != "demand" for name in system.row_slices)
    if coupled or len(cols) == 0:
        return lagrange
    class_obj = np.bincount(cols.bucket_class, weights=cols.cost * x[: len(cols)], minlength=prep.n_classes)
    cost = prep.hourly[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(cost > 0, (cost - min_rc) / cost, np.inf)
    lam = np.maximum(1.0, ratio.max(axis=0))
    farley = float(np.where(np.isfinite(lam), class_obj / lam, 0.0).sum())
    return max(lagrange, farley)


def _add_negative_pairs(prep: Prepared, pool: PatternPool, duals: _Duals, pairs: set[tuple[int, int]]) -> int:
    if len(pool) == 0:
        return 0
    rc = _pattern_reduced_costs(prep, pool, duals)
    _, counts = pool.matrix()
    p_idx, u_idx = np.nonzero(rc < -RC_EPS)
    # A pattern is usable in a class only if it hosts no more jobs of a shape than the class runs
    # (checked on the pairs that price out only: on all of them it was most of this step).
    fits = (counts[p_idx] <= prep.demand[:, u_idx].T).all(axis=1)
    p_idx, u_idx = p_idx[fits], u_idx[fits]
    before = len(pairs)
    pairs.update(zip(p_idx.tolist(), u_idx.tolist(), strict=True))
    return len(pairs) - before
