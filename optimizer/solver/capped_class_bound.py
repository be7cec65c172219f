"""The selection bound raised by whole instances: integer per-class covers at the capped LP's duals.

The capped LP (`selection_bound.py`) lets every bucket class run fractions of instances. On the
KTH week under the README's policy that LP converges at $451.59 while the best plan known costs
$461.97; no LP of that kind can pass the least LP over 8-subsets ($453.98 at most), so a bound
nearer the plans has to see that a bucket runs whole instances.

Here the demand rows stay in the problem and every other row of the capped LP is relaxed with the
converged LP's multipliers w >= 0: the spot-share and diversification rows, the card row
sum y <= k (multiplier nu) and the link rows "jobs of s on o in u <= d_su y_o" (rho_osu per job
and bin-hour). For every plan (y in {0, 1}, whole instances covering each bucket's demand
exactly, which some optimal plan does: a bin may drop surplus jobs at the same price)
    cost(plan) >= cost(plan) + w.(A v - b)
               = sum_u wh_u C_u(cover of u) + sum_o y_o rc(y_o) + z rc(z) - w.b,
where C_u prices an instance of o at its diversification-adjusted cost and each job of s on it at
rho_osu plus, on spot, the spot-share multiplier x vCPUs. With rc(z) >= 0, y in [0, 1] and every
offering cost >= 0 (checked), the minimum over plans is at least
    -w.b + sum_u wh_u min C_u + sum_o min(0, rc(y_o)),
and each class's minimum is bounded by the exact per-class step (`exact_classes.solve_class`
with those offering costs and per-job surcharges: its incumbent or HiGHS's dual bound over every
pattern that can beat it). A class not solved (yet) keeps its LP term, pi_u.d_u x wh_u plus its
jobs x wh_u x the least reduced cost any of its patterns has (what the selection LP's pricing
proved), so the bound starts where the capped LP's certificate is (at convergence: equal on the
KTH week) and every class solved can only raise it; every partial sum is a valid bound.

Each offering keeps the LP's link multipliers, or, where that gives it a larger term (always for
an offering without link rows in the LP), takes multipliers that make each of its patterns no
cheaper than its value at the class duals: per class either rho_os = max(0, v_s - cost_o x
theta.share_s) (an instance holds at most one of itself along the weights theta) or
v_s (1 - cost_o / U) (U >= any pattern's value: the density bound, or the pricing knapsack's
upper bound where that leaves the offering paying more than nu), whichever totals less; its y
term is then min(0, nu - sum wh_u rho_osu d_su) (the choice the selection LP's certificate makes
per offering). Spending the rest of nu on those offerings' multipliers changed nothing on the
KTH week: the integer covers do not round with offerings outside the LP.

Each class's exact cover comes from the recursion over its sub-multisets of jobs
(`class_partition.py`, through `priced_class_cover`) when it has few enough, else from the MIP.
With every class solved by the recursion the multipliers are then improved by subgradient steps
(`multiplier_ascent.py`): KTH README $453.98 with every class in 0.23 s of CPU, $455.15 after 4 s
of steps. The MIP-path measurements that follow are what ordered the classes.

Measured (KTH week, README policy; converged capped LP $451.59): all 121 classes solved
offline with 10 s per class MIP, $453.85 (+0.50 %; 45-90 s of CPU); with 0.5 s, about +$0.08
per second of class solves, small classes that repeat first (order below). 12 types / 4 spot
types / share 0.8: $449.14 to $451.03 with every class (52 s); README + requirements + big
shapes off spot: $806.73 to $807.61 (8 s). In the solve it runs in the bound's child after the
capped LP converges, at the lowest CPU priority (`bound_process.py`), so it only raises the
bound with what the machine leaves idle.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from optimizer.solver.columns import Columns, Prepared
from optimizer.solver.lagrangian_bound import priced_class_cover
from optimizer.solver.multiplier_ascent import ascend
from optimizer.solver.selection_bound import (
    THETAS,
    SelectionMaster,
    _density_bound,
    _knapsacks,
    _values,
)

#: Longest one class's MIPs may run (its incumbent at these prices, then the exact step).
CLASS_SECONDS = 0.5


def _price_out_multipliers(
    prep: Prepared, m: SelectionMaster, values: np.ndarray, offerings: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(O', S, U) link multipliers for `offerings` that leave none of their patterns cheaper than
    its value (module doc), and (O',) what each pays in total, wh x rho x d."""
    cost = m.offering_cost[offerings]
    v = np.maximum(values[offerings], 0.0) * (prep.demand[None, :, :] > 0)  # (O', S, U)
    caps = np.where(prep.caps[offerings] > 0, prep.caps[offerings], np.inf)
    share = prep.sizes[None, :, :] / caps[:, None, :]  # (O', S, 3)
    demand = prep.demand[None, :, :].astype(float)
    best = np.zeros_like(v)
    best_total = np.full((len(offerings), prep.n_classes), np.inf)
    for theta in THETAS:
        rho = np.maximum(v - (cost[:, None] * (share @ theta))[:, :, None], 0.0)
        total = (rho * demand).sum(axis=1)
        better = total < best_total
        best = np.where(better[:, None, :], rho, best)
        best_total = np.minimum(best_total, total)
    upper = _density_bound(prep, values)[offerings]  # (O', U) >= any pattern's value
    wh = prep.weight * prep.hours
    # Where that bound leaves an offering paying more than nu, the knapsacks' own upper bounds
    # (searching only for packings worth more than the cost: none found means none exists).
    dear = np.flatnonzero(best_total @ wh > m.nu)
    pair_o, pair_u = np.nonzero(upper[dear] > cost[dear, None])
    pair_o = dear[pair_o]
    if pair_o.size:
        vals = np.ascontiguousarray(v[pair_o, :, pair_u])
        limits = np.ascontiguousarray(prep.demand[:, pair_u].T)
        tight, _, _, _ = _knapsacks(prep, vals, limits, offerings[pair_o], cost[pair_o], floor=cost[pair_o])
        upper[pair_o, pair_u] = np.minimum(upper[pair_o, pair_u], tight)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(upper > cost[:, None], 1.0 - cost[:, None] / upper, 0.0)
    rho = v * scale[:, None, :]
    total = (rho * demand).sum(axis=1)
    better = total < best_total
    best = np.where(better[:, None, :], rho, best)
    best_total = np.minimum(best_total, total)
    return best, best_total @ wh


def capped_class_bound(
    prep: Prepared,
    m: SelectionMaster,
    cols: Columns,
    min_rc: np.ndarray,
    *,
    deadline: float,
    clock: Callable[[], float],
    on_bound: Callable[[float], None] | None = None,
) -> float | None:
    """The bound of the module doc at the selection LP `m`'s multipliers, classes solved one by
    one until `deadline` (each improvement reported through `on_bound`); None when a multiplier
    would let empty bins or the spot total pay. `cols`: the restricted LP's columns (incumbents
    per class); `min_rc` (O, U): a lower bound on every pattern's reduced cost per bin-hour at
    `m`'s duals (0 where its pricing proved none negative)."""
    if not m.z_ok or (m.offering_cost < 0).any():
        return None
    values = _values(prep, m)  # (O, S, U) before link multipliers
    wh = prep.weight * prep.hours
    rho = np.maximum(m.rho, 0.0)
    y_term = np.minimum(m.rc_y, 0.0)
    # Each offering keeps the LP's link multipliers or takes ones that price all its patterns out,
    # whichever term is larger (as the selection LP's certificate chooses): an offering outside
    # the LP has no multipliers of its own.
    own = np.where(m.linked, y_term + (wh * prep.max_bins() * np.minimum(min_rc, 0.0)).sum(axis=1), -np.inf)
    kill_rho, paid = _price_out_multipliers(prep, m, values, np.arange(len(prep.offerings)))
    free = np.minimum(0.0, m.nu - paid)
    kill = np.flatnonzero(free > own)
    rho[kill] = kill_rho[kill]
    y_term[kill] = free[kill]
    min_rc = min_rc.copy()
    min_rc[kill] = 0.0  # their patterns cost at least their value now
    jobs = prep.demand.sum(axis=0)
    pi = m.item_value
    lp_terms = wh * ((pi * prep.demand).sum(axis=0) + jobs * np.minimum(min_rc.min(axis=0), 0.0))
    constant = m.dual_value - float((pi * prep.demand).sum(axis=0) @ wh) + float(y_term.sum())
    class_bound = lp_terms.copy()
    best = constant + float(class_bound.sum())
    spot_surcharge = np.where(prep.spot[:, None], np.maximum(-m.spot_adjust[None, :], 0.0), 0.0)
    # Small classes that repeat first: their exact step takes tens of milliseconds and their gain
    # counts wh_u times (KTH README: +$0.32 in the first 2 s of class solves in this order, +$0.08
    # largest wh_u x jobs first).
    shapes = (prep.demand > 0).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        priority = np.where(jobs > 0, wh / (jobs * shapes), -np.inf)
    order = np.argsort(-priority, kind="stable")
    for u in order[jobs[order] > 0]:
        if clock() >= deadline:
            break
        surcharge = rho[:, :, u] + spot_surcharge  # (O, S)
        idx = np.flatnonzero(cols.bucket_class == u)
        adjusted = wh[u] * (
            m.offering_cost[cols.offering] + (cols.counts * surcharge[cols.offering]).sum(axis=1)
        )
        out = priced_class_cover(
            prep,
            cols,
            adjusted,
            idx,
            int(u),
            pi[:, u],
            m.offering_cost,
            surcharge,
            deadline=deadline,
            clock=clock,
            class_seconds=CLASS_SECONDS,
        )
        if out is None or out.bound <= class_bound[u]:
            continue
        class_bound[u] = out.bound
        best = constant + float(class_bound.sum())
        if on_bound is not None:
            on_bound(best)
    if clock() < deadline:
        # Every class small enough for the recursion: better multipliers than the LP's, by
        # subgradient steps from these (`multiplier_ascent.py`; KTH README: $453.98 to $454.5 in
        # 2.5 s of CPU, $455.10 in 8 s).
        k = prep.problem.policy.max_instance_types
        assert k is not None
        spot_constant = m.dual_value - float((pi * prep.demand).sum(axis=0) @ wh) + m.nu * k
        raised = ascend(
            prep,
            m.offering_cost,
            spot_surcharge,
            rho,
            m.nu,
            spot_constant,
            deadline=deadline,
            clock=clock,
            on_bound=None if on_bound is None else (lambda b: on_bound(b) if b > best else None),
        )
        if raised is not None:
            best = max(best, raised)
    return best
