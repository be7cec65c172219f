"""Exact per-class solve when no policy couples bucket classes: the optimum and a bound equal to it.

Without `max_instance_types`, diversification or a spot-share cap, the integer problem splits into
one independent covering problem per bucket class: choose bins (offering + jobs) whose jobs cover
the class's demand at least cost. Price-and-branch over generated patterns cannot prove its plan
optimal because the patterns the integer optimum needs may be missing. Here they are not:

For any duals pi_u >= 0 on the class's demand rows, any covering x has
    cost(x) = pi_u . A x + wh_u sum_p rc_p x_p >= D_u + wh_u rc_q + wh_u min(0, m_u) (J_u - 1)
for every pattern q it uses, with D_u = pi_u . b_u, rc_p = hourly(p) - pi_u . jobs(p) per bin-hour,
m_u <= every rc (proven by knapsacks), J_u the class's job count (an optimal x runs no empty bin,
so at most J_u bins). A covering cheaper than the incumbent I_u therefore only uses patterns with
    rc_q < T_u = (I_u - D_u - wh_u min(0, m_u) (J_u - 1)) / wh_u.
Replacing a pattern by a maximal one (no further job of the class fits) keeps the cost and the
cover and lowers rc, so enumerating the maximal patterns with rc <= T_u and solving the integer
master over them (HiGHS) gives the class optimum, or proves the incumbent optimal. The class bound
is min(I_u, MIP dual bound), valid whatever HiGHS's gap tolerance. A class whose enumeration is too
large, or that the deadline leaves unsolved, keeps its LP bound and incumbent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.optimize import LinearConstraint, milp

from optimizer.solver.columns import Prepared
from optimizer.solver.knapsack import best_packing

#: Patterns per class past which the class is left to the LP bound (the master would be slow).
MAX_PATTERNS_PER_CLASS = 4000
#: Search nodes per class for the enumeration.
NODE_BUDGET_PER_CLASS = 200_000


@dataclass(frozen=True)
class ClassOutcome:
    """One class solved exactly: its optimal bins (offering index, count, jobs per shape) and cost."""

    bins: list[tuple[int, int, np.ndarray]]  # empty when the incumbent is already optimal
    cost: float  # objective of the class's optimum (all buckets of the class)
    bound: float  # proven lower bound on that optimum (equal to it up to HiGHS's tolerance)


def separable(prep: Prepared) -> bool:
    """True when no policy row couples classes, so each class can be solved alone."""
    p = prep.problem.policy
    return (
        p.max_instance_types is None
        and not p.diversification
        and (p.max_spot_share is None or p.max_spot_share >= 1.0)
    )


def enumerate_maximal(
    values: np.ndarray,
    sizes: np.ndarray,
    capacity: np.ndarray,
    limits: np.ndarray,
    min_value: float,
    *,
    max_patterns: int,
    node_budget: int,
    out_of_time: Callable[[], bool] = lambda: False,
) -> tuple[list[np.ndarray], int] | None:
    """All maximal packings (no item under its limit still fits) worth at least `min_value`, and
    the nodes used; None when more than `max_patterns` exist, `node_budget` nodes do not suffice
    or `out_of_time()` turns true (checked every few thousand nodes).
    `values` may be zero for some items: they still count for maximality."""
    n = len(values)
    vals = np.maximum(values.astype(float), 0.0).tolist()
    sz = sizes.astype(float).tolist()
    lim = [int(x) for x in limits]
    dims = sizes.shape[1]
    # Bound on what items i.. can add: sum of their values at their limits (jobs are few per class).
    tail = [0.0] * (n + 1)
    for i in range(n - 1, -1, -1):
        tail[i] = tail[i + 1] + vals[i] * lim[i]
    found: list[np.ndarray] = []
    current = [0] * n
    nodes = 0
    failed = False
    target = min_value - 1e-9

    def fits_more(rem: list[float]) -> bool:
        for j in range(n):
            if current[j] < lim[j] and all(sz[j][d] <= rem[d] + 1e-9 for d in range(dims)):
                return True
        return False

    def dfs(i: int, rem: list[float], value: float) -> None:
        nonlocal nodes, failed
        nodes += 1
        if nodes > node_budget or failed or (nodes % 4096 == 0 and out_of_time()):
            failed = True
            return
        if value + tail[i] < target:
            return
        if i == n:
            if not fits_more(rem):
                found.append(np.array(current, dtype=np.int64))
                if len(found) > max_patterns:
                    failed = True
            return
        size = sz[i]
        most = min([int((rem[d] + 1e-9) // size[d]) for d in range(dims) if size[d] > 0] + [lim[i]])
        for c in range(most, -1, -1):
            current[i] = c
            dfs(i + 1, [rem[d] - c * size[d] for d in range(dims)], value + c * vals[i])
            if failed:
                break
        current[i] = 0

    dfs(0, capacity.astype(float).tolist(), 0.0)
    return None if failed else (found, nodes)


def solve_class(
    prep: Prepared,
    u: int,
    item_value: np.ndarray,
    incumbent_cost: float,
    *,
    deadline: float,
    clock: Callable[[], float],
) -> ClassOutcome | None:
    """Solve class `u` exactly given duals `item_value` (S,) per job-bin-hour; None if too large."""
    demand = prep.demand[:, u]
    wh = float(prep.weight[u] * prep.hours)
    pi = np.where(demand > 0, np.maximum(item_value, 0.0), 0.0)
    dual_obj = float(pi @ demand) * wh
    jobs = int(demand.sum())
    candidates = np.flatnonzero(prep.compat[:, demand > 0].any(axis=1))
    # m_u: the most negative reduced cost of any pattern (knapsacks only look for value > cost).
    best_gain = 0.0
    for o in candidates:
        items = np.flatnonzero(prep.compat[o] & (demand > 0))
        packing = best_packing(
            pi[items], prep.sizes[items], prep.caps[o], limits=demand[items], at_least=prep.hourly[o]
        )
        best_gain = max(best_gain, packing.upper_bound - float(prep.hourly[o]))
        if clock() >= deadline:
            return None
    threshold = (incumbent_cost - dual_obj + wh * best_gain * max(jobs - 1, 0)) / wh
    pattern_offering: list[int] = []
    pattern_counts: list[np.ndarray] = []
    budget = NODE_BUDGET_PER_CLASS
    for o in candidates:
        items = np.flatnonzero(prep.compat[o] & (demand > 0))
        min_value = float(prep.hourly[o]) - threshold
        if float(pi[items] @ demand[items]) < min_value - 1e-9:
            continue  # even every job of the class on one instance is not worth it
        got = enumerate_maximal(
            pi[items],
            prep.sizes[items],
            prep.caps[o],
            demand[items],
            min_value,
            max_patterns=MAX_PATTERNS_PER_CLASS - len(pattern_counts),
            node_budget=budget,
            out_of_time=lambda: clock() >= deadline,
        )
        if got is None or clock() >= deadline:
            return None
        patterns, used = got
        budget -= used
        for counts in patterns:
            if counts.any():
                full = np.zeros(len(demand), dtype=np.int64)
                full[items] = counts
                pattern_offering.append(int(o))
                pattern_counts.append(full)
    if not pattern_counts:
        # No pattern can appear in a cheaper cover: the incumbent is optimal.
        return ClassOutcome([], incumbent_cost, incumbent_cost)
    offering = np.array(pattern_offering)
    counts = np.vstack(pattern_counts)  # (P, S)
    cost = prep.hourly[offering] * wh
    rows = np.flatnonzero(demand > 0)
    left = max(deadline - clock(), 0.0)
    if left <= 0.01:
        return None
    res = milp(
        cost,
        constraints=LinearConstraint(counts[:, rows].T.astype(float), lb=demand[rows].astype(float)),
        integrality=np.ones(len(cost)),
        bounds=(0, np.inf),
        options={"time_limit": left, "mip_rel_gap": 1e-9},
    )
    dual_bound = getattr(res, "mip_dual_bound", None)
    if res.x is None or dual_bound is None or not np.isfinite(dual_bound):
        return None
    bound = min(incumbent_cost, float(dual_bound))
    value = float(res.fun)
    if value >= incumbent_cost - 1e-9:
        return ClassOutcome([], incumbent_cost, bound)
    x = np.round(res.x).astype(np.int64)
    bins = [(int(offering[p]), int(x[p]), counts[p]) for p in np.flatnonzero(x > 0)]
    return ClassOutcome(bins, float(cost @ x), bound)
