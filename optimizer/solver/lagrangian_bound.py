"""The proven bound under coupling policies: what `solve` asks once its plans are in.

Under a type cap with spot rows `solve` runs the selection bound in a forked child beside the
subset search instead (`bound_process.py`), and asks `policy_bound` only where it cannot fork.

The column-generation LP bound drops `max_instance_types` (its big-M rows are useless in an LP).
`policy_bound` raises it where a valid argument exists within the time given:

- under spot rows (share cap, diversification), a Lagrangian bound with INTEGER per-class
  subproblems: the spot rows priced at the LP's duals (and the type cap dropped), the problem
  splits into one covering problem per bucket class at adjusted prices, whose integer optimum
  the exact per-class step (`exact_classes.solve_class`, with a per-job spot surcharge) bounds;
- under a type cap, the LP with selection variables and strong per-(offering, shape, class)
  linking, certified over every pattern by a Lagrangian argument (`selection_bound.py`; valid
  for any multipliers, so a time limit mid-way still leaves an honest bound).

Both are valid whatever the multipliers and wherever the time limit stops them; the larger is
returned, never less than `lp.lower_bound`.

Why the per-class bound is valid. With multipliers w >= 0 on the spot rows (w_share on "spot job
vCPU-hours <= share x all", w_0 and w_o on the diversification rows "z <= spot vCPU-hours" and
"pool_o <= z / K"), every plan x meets
    cost(x) >= cost(x) + w.(A x - b) = sum_u C_u(x_u) - w.b + z (w_0 - sum_o w_o / K),
where C_u prices class u's bins at offering_cost_o = hourly_o + cap_o (w_o - w_0) per spot
instance-hour and a surcharge w_share x vCPUs per job on spot. When z's coefficient and every
offering_cost are >= 0 (checked; empty bins then never pay), the minimum over plans is at least
sum_u min C_u - w.b, and each class's minimum is bounded below by the exact step (its incumbent
or HiGHS's dual bound over every pattern that can beat it), or, unsolved, by the LP's own
certificate pi_u.d_u + J_u x min(0, least reduced cost), the least reduced cost being >= -1e-6
when column generation converged (it priced every pattern exactly).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from optimizer.solver.class_partition import cheapest_partition
from optimizer.solver.column_generation import LpOutcome, _duals
from optimizer.solver.columns import Columns, PatternPool, Prepared
from optimizer.solver.exact_classes import ClassOutcome, solve_class
from optimizer.solver.master import build_master
from optimizer.solver.mip import solve_mip
from optimizer.solver.plan import Plan
from optimizer.solver.selection_bound import selection_bound

#: Less time than this (seconds) is not worth starting: the first rounds' certificates sit below
#: the LP bound while the offerings the cap favours join the restricted LP (KTH week, README
#: policy: $450.51 against $448.32 from the 3rd round, 1.8 s of CPU; converged at $451.59).
MIN_SECONDS = 1.5
#: Longest one class's MIPs may run (its incumbent at adjusted prices, then the exact step).
CLASS_SECONDS = 0.3
#: The converged LP's least reduced cost per bin-hour is at least minus this (column generation's
#: convergence test).
RC_TOLERANCE = 1e-6
#: Columns in a class's incumbent MIP: on in the LP, or reduced cost within this share of its value.
KEEP_REDUCED_SHARE = 0.05


def policy_bound(
    prep: Prepared,
    pool: PatternPool,
    lp: LpOutcome,
    plan: Plan | None,
    *,
    deadline: float,
    clock: Callable[[], float],
) -> float:
    """The best proven lower bound on the policy's optimum found by `deadline`: at least the LP's.

    `plan`, a plan that meets the policy (the incumbent), seeds the selection LP's columns so that
    its first rounds are feasible without artificial covers. `pool` grows with the patterns found."""
    bound = lp.lower_bound
    policy = prep.problem.policy
    if not lp.feasible or deadline - clock() < MIN_SECONDS:
        return bound
    if policy.max_instance_types is None:
        # Under a cap the selection LP gets the time: at the LP's spot duals the per-class integer
        # optimum barely differs from the class LP on the bundled weeks (KTH, README policy:
        # +0.01 %), the LP's fractions there being a mix of spot and on-demand bins that every
        # class can match in whole instances at those prices.
        if policy.couples_spot:
            integer = integer_class_bound(prep, lp, deadline=deadline, clock=clock)
            if integer is not None:
                bound = max(bound, integer)
        return bound
    selected = selection_bound(prep, pool, lp.columns, plan, deadline=deadline, clock=clock)
    if selected is None:
        return bound
    bound = max(bound, selected.bound)
    if clock() < deadline:
        from optimizer.solver.capped_class_bound import capped_class_bound  # (it imports this module)

        raised = capped_class_bound(
            prep, selected.master, selected.master_columns, selected.min_rc, deadline=deadline, clock=clock
        )
        if raised is not None:
            bound = max(bound, raised)
    return bound


def integer_class_bound(
    prep: Prepared, lp: LpOutcome, *, deadline: float, clock: Callable[[], float]
) -> float | None:
    """The Lagrangian bound with integer per-class subproblems at the LP's spot-row duals (module
    doc), classes with the most LP money on fractional instances first; None when the LP did not
    converge, its duals are not kept, or a multiplier would let empty bins pay."""
    if not lp.converged or lp.marginals is None or len(lp.columns) == 0:
        return None
    cols = lp.columns
    system = build_master(prep, cols, with_selection=False)
    marg = np.minimum(lp.marginals[: system.matrix.shape[0]], 0.0)  # multipliers w = -marg >= 0
    duals = _duals(prep, system, marg)
    z = system.layout.spot_total
    if z is not None and float(-(system.matrix[:, z].T @ marg)[0]) < 0:
        return None
    offering_cost = duals.offering_cost
    if (offering_cost < 0).any():
        return None
    demand_rows = system.row_slices["demand"]
    coupling = np.ones(len(marg), dtype=bool)
    coupling[demand_rows] = False
    constant = float(marg[coupling] @ system.rhs[coupling])  # -w.b over the spot rows
    surcharge = -(prep.spot[:, None] * duals.spot_item_adjust[None, :])  # (O, S) >= 0
    surcharge = np.where(prep.compat, np.maximum(surcharge, 0.0), 0.0)
    wh = prep.weight * prep.hours
    pi = duals.item_value  # (S, U) per job-bin-hour
    jobs = prep.demand.sum(axis=0)
    class_bound = wh * ((pi * prep.demand).sum(axis=0) - jobs * RC_TOLERANCE)
    # Adjusted column costs: what each column pays at these multipliers.
    adjusted = wh[cols.bucket_class] * (
        offering_cost[cols.offering] + (cols.counts * surcharge[cols.offering]).sum(axis=1)
    )
    frac = np.abs(lp.values - np.round(lp.values)) > 1e-6
    fractional_money = np.bincount(cols.bucket_class, weights=adjusted * frac, minlength=prep.n_classes)
    class_value = np.bincount(cols.bucket_class, weights=cols.cost * lp.values, minlength=prep.n_classes)
    keep = (lp.values > 1e-9) | (lp.reduced_costs <= KEEP_REDUCED_SHARE * class_value[cols.bucket_class])
    order = np.argsort(-fractional_money, kind="stable")
    for u in order[fractional_money[order] > 0]:
        if clock() >= deadline:
            break
        idx = np.flatnonzero((cols.bucket_class == u) & keep)
        out = priced_class_cover(
            prep,
            cols,
            adjusted,
            idx,
            int(u),
            pi[:, u],
            offering_cost,
            surcharge,
            deadline=deadline,
            clock=clock,
            class_seconds=CLASS_SECONDS,
        )
        if out is not None:
            class_bound[u] = max(class_bound[u], out.bound)
    return float(class_bound.sum()) + constant


def priced_class_cover(
    prep: Prepared,
    cols: Columns,
    adjusted: np.ndarray,
    idx: np.ndarray,
    u: int,
    item_value: np.ndarray,
    offering_cost: np.ndarray,
    surcharge: np.ndarray,
    *,
    deadline: float,
    clock: Callable[[], float],
    class_seconds: float,
) -> ClassOutcome | None:
    """Class u's exact cover at Lagrangian prices (`exact_classes.solve_class`), started from the
    cheapest cover among columns `idx` at their `adjusted` costs; None when neither is found in
    time. Both Lagrangian bounds (this module's and `capped_class_bound`'s) price a class so.

    A class small enough for the recursion over its sub-multisets of jobs
    (`class_partition.cheapest_partition`: milliseconds, where the MIP takes 0.04-1.2 s) gets its
    optimum from there, with no bins; the MIP takes the others."""
    exact = cheapest_partition(prep, u, offering_cost, surcharge)
    if exact is not None and np.isfinite(exact):
        cost = float(prep.weight[u] * prep.hours) * exact
        return ClassOutcome([], cost, cost)
    incumbent = _class_incumbent(prep, cols, adjusted, idx, u, min(class_seconds, deadline - clock()))
    if incumbent is None:
        return None
    return solve_class(
        prep,
        u,
        item_value,
        incumbent,
        deadline=deadline,
        clock=clock,
        offering_cost=offering_cost,
        surcharge=surcharge,
        mip_seconds=class_seconds,
    )


def _class_incumbent(
    prep: Prepared, cols: Columns, adjusted: np.ndarray, idx: np.ndarray, u: int, time_limit: float
) -> float | None:
    """Adjusted cost of the cheapest cover of class u among columns `idx` (an upper bound on the
    class's optimum at these prices, which the exact step needs), None when none is found."""
    rows = np.flatnonzero(prep.demand[:, u] > 0)
    if idx.size == 0 or rows.size == 0 or time_limit <= 0.01:
        return None
    matrix = sp.csr_matrix(cols.counts[idx][:, rows].T.astype(float))
    result = solve_mip(
        adjusted[idx],
        matrix,
        prep.demand[rows, u].astype(float),
        np.full(rows.size, np.inf),
        time_limit=time_limit,
        relative_gap=1e-4,
    )
    if not result.has_solution:
        return None
    x = np.round(result.values)
    if (matrix @ x < prep.demand[rows, u] - 1e-6).any():
        return None
    return float(adjusted[idx] @ x)
