"""Integer plans under rows that couple bucket classes, by pricing the coupling rows instead.

Under a spot-share cap or spot diversification every bucket class shares a few rows, and the
integer master over all classes is large and slow: HiGHS often stops without a plan, and rounding
the LP (floor plus a cheapest-fit cover of the rest) loses a lot because the big instances of a
policy plan run a few per bucket, so the fractional part is a large share of the cost (40 % on the
KTH week under the README's policy). The LP duals of the coupling rows are the Lagrange multipliers
that make the LP separable: with each column's cost adjusted by them,

    adjusted_c = cost_c - sum over coupling rows r of dual_r x A_rc
               = reduced_c + (value of c's jobs at the demand duals),

every class is an independent small covering MIP, solved exactly over the columns column
generation made for it. The union of those per-class plans nearly meets the coupling rows (the
multipliers are the ones that balance them); `spot_repair` moves the few bins that break a limit.
When the union still breaks the spot share by much, the multipliers are scaled up and the classes
re-solved. A heuristic: it gives incumbents, never bounds.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from optimizer.solver.assemble import RawBin, heuristic_plan
from optimizer.solver.bin_reassignment import reassign_bins
from optimizer.solver.columns import Columns, Prepared
from optimizer.solver.mip import solve_mip
from optimizer.solver.plan import Plan
from optimizer.solver.problem import Problem
from optimizer.solver.spot_repair import repair_spot_limits
from optimizer.solver.validate import validate_plan

#: Relative gap at which a class's MIP stops (HiGHS's start-up and proof dominate its time).
CLASS_MIP_GAP = 1e-4
#: Longest one class's MIP may run (a few ms is typical).
CLASS_MIP_SECONDS = 0.2
#: Scale on the coupling duals tried when the per-class union puts too much work on spot.
DUAL_SCALE_UP = 1.03
#: Longest the exact re-assignment of the union's bins may run.
REASSIGN_SECONDS = 0.3
#: Columns kept in a class MIP: on in the LP, or reduced cost within this share of the class's LP value.
KEEP_REDUCED_SHARE = 0.05


def adjusted_costs(prep: Prepared, cols: Columns, reduced: np.ndarray, item_value: np.ndarray) -> np.ndarray:
    """Each column's cost with the coupling rows priced at their LP duals (see the module doc)."""
    value = np.einsum("ns,sn->n", cols.counts, item_value[:, cols.bucket_class]) * cols.weight_hours
    return reduced + value


def _class_cover(
    prep: Prepared,
    cols: Columns,
    costs: np.ndarray,
    idx: np.ndarray,
    u: int,
    pool_limit: np.ndarray | None,
    time_limit: float,
) -> list[RawBin] | None:
    """The cheapest cover of class u at `costs` among columns `idx`, with at most
    `pool_limit[o, u]` instances of each spot offering o when given; None when none is found."""
    rows = np.flatnonzero(prep.demand[:, u] > 0)
    if idx.size == 0:
        return None
    matrix = sp.csr_matrix(cols.counts[idx][:, rows].T.astype(float))
    demand = prep.demand[rows, u].astype(float)
    full, lower, upper = matrix, demand, np.full(rows.size, np.inf)
    if pool_limit is not None:
        pools = np.unique(cols.offering[idx][prep.spot[cols.offering[idx]]])
        if pools.size:
            limit_rows = sp.csr_matrix((cols.offering[idx][None, :] == pools[:, None]).astype(float))
            full = sp.vstack([matrix, limit_rows], format="csr")
            lower = np.concatenate([demand, np.zeros(pools.size)])
            upper = np.concatenate([upper, pool_limit[pools, u]])
    # Tie-break towards the real cost: a zero adjusted cost must not buy idle instances.
    result = solve_mip(
        np.maximum(costs[idx], 0.0) + 1e-6 * cols.cost[idx],
        full,
        lower,
        upper,
        time_limit=time_limit,
        relative_gap=CLASS_MIP_GAP,
    )
    if not result.has_solution:
        return None
    x = np.round(result.values).astype(np.int64)
    if (matrix @ x < demand - 1e-6).any():
        return None
    return [
        (prep.offerings[int(cols.offering[idx[n]])].key, int(x[n]), cols.counts[idx[n]])
        for n in np.flatnonzero(x > 0)
    ]


def _solve_classes(
    prep: Prepared,
    cols: Columns,
    costs: np.ndarray,
    keep: np.ndarray,
    pool_limit: np.ndarray | None,
    lp_values: np.ndarray | None,
    *,
    fallback: list[list[RawBin]] | None,
    order: np.ndarray,
    deadline: float,
    clock: Callable[[], float],
) -> list[list[RawBin]] | None:
    """Per class (in `order`), the cheapest cover at `costs` (`_class_cover`), first among the
    `keep` columns within the pool limits, then without the limits, then among all the class's
    columns. A class left unsolved (time ran out, or no cover found) takes its `fallback` bins
    (the LP rounding's), so a pass cut short keeps what it solved; None when there is no fallback.
    `lp_values`, when the costs are the LP's own adjusted costs: a class whose LP solution is
    already integral keeps it (it is that class's optimum)."""
    by_class = np.argsort(cols.bucket_class, kind="stable")
    starts = np.searchsorted(cols.bucket_class[by_class], np.arange(prep.n_classes + 1))
    out: list[list[RawBin] | None] = [None] * prep.n_classes
    for u in order.tolist():
        if not prep.demand[:, u].any():
            out[u] = []
            continue
        every = by_class[starts[u] : starts[u + 1]]
        if lp_values is not None:
            x = lp_values[every]
            if np.all(np.abs(x - np.round(x)) <= 1e-6):
                on = every[np.round(x) > 0]
                out[u] = [
                    (prep.offerings[int(cols.offering[n])].key, round(lp_values[n]), cols.counts[n])
                    for n in on
                ]
                continue
        kept = every[keep[every]]
        for idx, limit in ((kept, pool_limit), (kept, None), (every, None)):
            left = deadline - clock()
            if left <= 0.01:
                break
            out[u] = _class_cover(prep, cols, costs, idx, u, limit, min(left, CLASS_MIP_SECONDS))
            if out[u] is not None:
                break
        if deadline - clock() <= 0.01:
            break
    if fallback is None and any(bins is None for bins in out):
        return None
    return [bins if bins is not None else fallback[u] for u, bins in enumerate(out)]  # type: ignore[index]


def _spot_share_excess(prep: Prepared, bins: list[list[RawBin]]) -> float:
    """Job vCPU-hours the per-class bins put on spot above the policy's cap (0 without a cap)."""
    share = prep.problem.policy.max_spot_share
    if share is None:
        return 0.0
    spot = {o.key for o in prep.offerings if o.is_spot}
    on_spot = sum(
        prep.weight[u] * prep.hours * count * float(jobs @ prep.sizes[:, 0])
        for u, class_bins in enumerate(bins)
        for key, count, jobs in class_bins
        if key in spot
    )
    return on_spot - share * prep.job_vcpu_hours


def lagrangian_plan(
    prep: Prepared,
    problem: Problem,
    cols: Columns,
    reduced: np.ndarray,
    item_value: np.ndarray,
    values: np.ndarray,
    *,
    fallback: list[list[RawBin]] | None = None,
    deadline: float,
    clock: Callable[[], float],
    passes: list[list[list[RawBin]]] | None = None,
) -> Plan | None:
    """The cheapest valid plan found from per-class solves at (scaled) coupling duals, repaired.

    `fallback`: per class, bins that cover it (the LP rounding's). With them a pass the deadline
    cuts short still gives a plan: the classes it solved, where rounding loses most first, and
    the fallback bins for the rest. `passes`, when given, receives every pass's per-class bins:
    covers the cover master (`cover_master.py`) can mix across a class's buckets."""
    adjusted = adjusted_costs(prep, cols, reduced, item_value)
    # Columns far from the LP optimum rarely enter a per-class optimum; leaving them out keeps the
    # class MIPs small (HiGHS's start-up dominates their time).
    class_value = np.bincount(cols.bucket_class, weights=cols.cost * values, minlength=prep.n_classes)
    order = np.arange(prep.n_classes)
    if fallback is not None:
        index = {o.key: i for i, o in enumerate(prep.offerings)}
        fallback_cost = np.array(
            [
                prep.weight[u] * prep.hours * sum(prep.hourly[index[key]] * count for key, count, _ in bins)
                for u, bins in enumerate(fallback)
            ]
        )
        order = np.argsort(-(fallback_cost - class_value), kind="stable")
    keep = (values > 1e-9) | (reduced <= KEEP_REDUCED_SHARE * class_value[cols.bucket_class])
    pool_limit = None
    if prep.problem.policy.diversification:
        # Each spot pool at most its LP instance count rounded up, per class: independent class
        # solves otherwise break ties their own way and pile the spot work onto one pool.
        lp_bins = np.zeros((len(prep.offerings), prep.n_classes))
        np.add.at(lp_bins, (cols.offering, cols.bucket_class), values)
        pool_limit = np.ceil(lp_bins - 1e-6)
    best: Plan | None = None
    # (scale on the coupling duals, per-class pool limits): the pure Lagrangian first; then, for
    # the limit the union broke, spot priced dearer or the pools held to the LP's instance counts.
    todo: list[tuple[float, bool]] = [(1.0, False)]
    done: set[tuple[float, bool]] = set()
    while todo and clock() < deadline:
        scale, limited = todo.pop(0)
        done.add((scale, limited))
        costs = cols.cost + scale * (adjusted - cols.cost)
        bins = _solve_classes(
            prep,
            cols,
            costs,
            keep,
            pool_limit if limited else None,
            values if scale == 1.0 else None,
            fallback=fallback,
            order=order,
            deadline=deadline - REASSIGN_SECONDS,  # the union's re-assignment gets its time
            clock=clock,
        )
        if bins is None:
            break
        if passes is not None:
            passes.append(bins)
        plan = heuristic_plan(problem, bins, prep.bucket_class, prep.demand)
        violations = validate_plan(problem, plan, check_bound=False)
        if _spot_share_excess(prep, bins) > 1e-9 and (DUAL_SCALE_UP, limited) not in done:
            todo.append((DUAL_SCALE_UP, limited))
        if pool_limit is not None and any("spot pool" in v for v in violations) and (scale, True) not in done:
            todo.append((scale, True))
        # The union's bins re-placed by the exact re-assignment (bin_reassignment.py), and by the
        # greedy repair when the union breaks a limit: the cheaper valid one is kept.
        candidates = [reassign_bins(problem, plan, time_limit=min(REASSIGN_SECONDS, deadline - clock()))]
        if violations:
            candidates.append(repair_spot_limits(problem, plan))
        else:
            candidates.append(plan)
        valid = [c for c in candidates if c is not None and not validate_plan(problem, c, check_bound=False)]
        plan = min(valid, key=lambda c: c.objective_usd) if valid else None
        if plan is not None and (best is None or plan.objective_usd < best.objective_usd - 1e-9):
            best = plan
    if best is not None:
        best.stats = {"heuristic": "Lagrangian per-class rounding"}
    return best
