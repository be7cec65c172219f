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
master over them (MathOpt + HiGHS) gives the class optimum, or proves the incumbent optimal. The class bound
is min(I_u, MIP dual bound), valid whatever HiGHS's gap tolerance. A class whose enumeration is too
large, or that the deadline leaves unsolved, keeps its LP bound and incumbent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from optimizer.solver.columns import Prepared
from optimizer.solver.knapsack import best_packing
from optimizer.solver.mip import solve_mip
from optimizer.solver.search_kernels import enumerate_search

#: Patterns per class past which the class is left to the LP bound (the master would be slow).
MAX_PATTERNS_PER_CLASS = 4000
#: Search nodes per class for the enumeration (compiled: a few ms per hundred thousand).
NODE_BUDGET_PER_CLASS = 300_000
#: Longest the MIP of one class may run; past it its dual bound still counts.
CLASS_MIP_SECONDS = 1.0


@dataclass(frozen=True)
class ClassOutcome:
    """One class solved exactly: its optimal bins (offering index, count, jobs per shape) and cost."""

    bins: list[tuple[int, int, np.ndarray]]  # empty when the incumbent is already optimal
    cost: float  # objective of the class's optimum (all buckets of the class)
    bound: float  # proven lower bound on that optimum (equal to it up to HiGHS's tolerance)


def enumerate_maximal(
    values: np.ndarray,
    sizes: np.ndarray,
    capacity: np.ndarray,
    limits: np.ndarray,
    min_value: float,
    *,
    max_patterns: int,
    node_budget: int,
) -> tuple[list[np.ndarray], int] | None:
    """All maximal packings (no item under its limit still fits) worth at least `min_value`, and
    the nodes used; None when more than `max_patterns` exist or `node_budget` nodes do not suffice
    (the budget also bounds the time: the search is compiled, tens of nanoseconds a node).
    `values` may be zero for some items: they still count for maximality."""
    found, nodes, failed = enumerate_search(
        np.maximum(values.astype(float), 0.0),
        np.ascontiguousarray(sizes, dtype=float),
        capacity.astype(float),
        limits.astype(np.int64),
        float(min_value) - 1e-9,
        int(max_patterns),
        int(node_budget),
    )
    return None if failed else (list(found), nodes)


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
    left = deadline - clock()
    if left <= 0.01:
        return None
    result = solve_mip(
        cost,
        sp.csr_matrix(counts[:, rows].T.astype(float)),
        demand[rows].astype(float),
        np.full(rows.size, np.inf),
        time_limit=min(left, CLASS_MIP_SECONDS),
        relative_gap=1e-9,
    )
    if not np.isfinite(result.bound) or result.status in ("INFEASIBLE", "NO_SOLUTION"):
        return None
    # Every pattern a cheaper cover could use is in this model, so its dual bound bounds the class
    # (whether or not HiGHS finished).
    bound = min(incumbent_cost, result.bound)
    if result.objective >= incumbent_cost - 1e-9:
        return ClassOutcome([], incumbent_cost, bound)
    x = np.round(result.values).astype(np.int64)
    bins = [(int(offering[p]), int(x[p]), counts[p]) for p in np.flatnonzero(x > 0)]
    return ClassOutcome(bins, float(cost @ x), bound)
