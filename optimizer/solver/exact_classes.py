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
from optimizer.solver.mip import MipResult, solve_mip
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
    offering_cost: np.ndarray | None = None,
    surcharge: np.ndarray | None = None,
    mip_seconds: float = CLASS_MIP_SECONDS,
) -> ClassOutcome | None:
    """Solve class `u` exactly given duals `item_value` (S,) per job-bin-hour; None if too large.

    The class's own problem at Lagrangian prices (`lagrangian_bound.py`): `offering_cost` (O,)
    replaces the hourly cost of an instance (>= 0: diversification multipliers move it), and
    `surcharge` (O, S) >= 0 is added per job hosted (the spot-share multiplier on a spot
    offering). Adding a job to a bin then costs more, so the maximal patterns no longer suffice:
    the MIP may remove jobs of shape s from the bins of offering o (continuous r_os, refunding
    their surcharge), which gives every pattern as a maximal one minus some jobs. A pattern a
    cheaper cover uses has rc < T, and so has value >= cost - T at the non-negative part of its
    job values, as its maximal extensions do: the enumeration still finds them. With a
    surcharge only the bound is returned (no bins)."""
    demand = prep.demand[:, u]
    wh = float(prep.weight[u] * prep.hours)
    pi = np.where(demand > 0, np.maximum(item_value, 0.0), 0.0)
    hourly = prep.hourly if offering_cost is None else offering_cost
    if (hourly < 0).any() or (surcharge is not None and (surcharge < 0).any()):
        raise ValueError("solve_class: offering costs and surcharges must be >= 0")
    dual_obj = float(pi @ demand) * wh
    jobs = int(demand.sum())
    candidates = np.flatnonzero(prep.compat[:, demand > 0].any(axis=1))

    def job_values(o: int) -> np.ndarray:
        return pi if surcharge is None else np.where(demand > 0, pi - surcharge[o], 0.0)

    # m_u: the most negative reduced cost of any pattern (knapsacks only look for value > cost).
    best_gain = 0.0
    for o in candidates:
        items = np.flatnonzero(prep.compat[o] & (demand > 0))
        packing = best_packing(
            job_values(o)[items], prep.sizes[items], prep.caps[o], limits=demand[items], at_least=hourly[o]
        )
        best_gain = max(best_gain, packing.upper_bound - float(hourly[o]))
        if clock() >= deadline:
            return None
    threshold = (incumbent_cost - dual_obj + wh * best_gain * max(jobs - 1, 0)) / wh
    pattern_offering: list[int] = []
    pattern_counts: list[np.ndarray] = []
    budget = NODE_BUDGET_PER_CLASS
    for o in candidates:
        items = np.flatnonzero(prep.compat[o] & (demand > 0))
        values = job_values(o)
        min_value = float(hourly[o]) - threshold
        if float(np.maximum(values[items], 0.0) @ demand[items]) < min_value - 1e-9:
            continue  # even every job of the class on one instance is not worth it
        got = enumerate_maximal(
            values[items],
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
    rows = np.flatnonzero(demand > 0)
    left = deadline - clock()
    if left <= 0.01:
        return None
    if surcharge is None:
        cost = prep.hourly[offering] * wh if offering_cost is None else offering_cost[offering] * wh
        result = solve_mip(
            cost,
            sp.csr_matrix(counts[:, rows].T.astype(float)),
            demand[rows].astype(float),
            np.full(rows.size, np.inf),
            time_limit=min(left, mip_seconds),
            relative_gap=1e-9,
        )
    else:
        result = _solve_with_removals(
            offering, counts, rows, demand, hourly, surcharge, wh, time_limit=min(left, mip_seconds)
        )
        if not np.isfinite(result.bound) or result.status in ("INFEASIBLE", "NO_SOLUTION"):
            return None
        return ClassOutcome([], min(incumbent_cost, result.objective), min(incumbent_cost, result.bound))
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


def _solve_with_removals(
    offering: np.ndarray,
    counts: np.ndarray,
    rows: np.ndarray,
    demand: np.ndarray,
    hourly: np.ndarray,
    surcharge: np.ndarray,
    wh: float,
    *,
    time_limit: float,
) -> MipResult:
    """min sum_p wh (cost_o + surcharge_o . a_p) x_p - sum wh surcharge_os r_os over integer x
    and continuous r, covering demand with sum_p a_ps x_p - sum_o r_os >= d_s and removing no more
    jobs than the offering's bins host: r_os <= sum_{p on o} a_ps x_p. For fixed integer x the
    best r is a greedy fractional knapsack with integer data, so r is integral at an optimum."""
    p_count = len(offering)
    pairs = [(int(o), int(s)) for o in np.unique(offering) for s in rows if surcharge[o, s] > 0]
    r_count = len(pairs)
    cost = np.concatenate(
        [
            wh * (hourly[offering] + (counts * surcharge[offering]).sum(axis=1)),
            [-wh * surcharge[o, s] for o, s in pairs],
        ]
    )
    row_of = {int(s): i for i, s in enumerate(rows)}
    cover = sp.lil_matrix((rows.size + r_count, p_count + r_count))
    cover[: rows.size, :p_count] = counts[:, rows].T
    for j, (o, s) in enumerate(pairs):
        cover[row_of[s], p_count + j] = -1.0
        on_o = np.flatnonzero(offering == o)
        cover[rows.size + j, on_o] = -counts[on_o, s]
        cover[rows.size + j, p_count + j] = 1.0
    lower = np.concatenate([demand[rows].astype(float), np.full(r_count, -np.inf)])
    upper = np.concatenate([np.full(rows.size, np.inf), np.zeros(r_count)])
    integer = np.concatenate([np.ones(p_count, dtype=bool), np.zeros(r_count, dtype=bool)])
    return solve_mip(
        cost, cover.tocsr(), lower, upper, integer=integer, time_limit=time_limit, relative_gap=1e-9
    )
