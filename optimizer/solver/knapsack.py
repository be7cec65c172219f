"""Pricing problem of the column generation: the most valuable set of jobs one instance can host.

An integer knapsack in three dimensions (vCPU, memory, GPU) with at most a few dozen item types.
Depth-first branch and bound, largest counts first (so the first leaf is the greedy packing). Each
node is pruned first by "remaining capacity x best value density" per dimension, then by the
fractional bounded knapsack of each dimension alone (job limits included: a class that runs few
jobs caps the value far below what the capacity alone allows, which cuts most nodes). A node limit
keeps the worst case bounded; when it is hit the answer says so and its upper bound is the largest
bound of the nodes left open, so the lower bound callers derive from it stays honest.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from optimizer.solver.search_kernels import solve_knapsack


@dataclass(frozen=True)
class Packing:
    value: float
    counts: np.ndarray  # per item, int64
    exact: bool
    upper_bound: float


def best_packing(
    values: np.ndarray,
    sizes: np.ndarray,
    capacity: np.ndarray,
    *,
    limits: np.ndarray | None = None,
    node_limit: int = 20_000,
    at_least: float = 0.0,
) -> Packing:
    """Maximise values @ counts subject to sizes.T @ counts <= capacity, 0 <= counts <= limits.

    `values` (k,), `sizes` (k, d), `capacity` (d,), `limits` (k,) or None for no per-item cap.
    Items with value <= 0 are never packed.

    `at_least`: only packings worth more than this are of interest (a pricing caller already knows
    a column at least that good). The search prunes every node that cannot beat it, which is much
    faster; when none does, the answer is the empty packing with `upper_bound = at_least`, still a
    proven bound on the optimum.
    """
    lim = np.full(len(values), np.iinfo(np.int64).max) if limits is None else limits
    value, counts, exact, upper = solve_knapsack(
        np.ascontiguousarray(values, dtype=float),
        np.ascontiguousarray(sizes, dtype=float),
        np.ascontiguousarray(capacity, dtype=float),
        np.ascontiguousarray(lim, dtype=np.int64),
        int(node_limit),
        float(at_least),
    )
    return Packing(value, counts, exact, upper)
