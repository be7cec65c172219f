"""Pricing problem of the column generation: the most valuable set of jobs one instance can host.

An integer knapsack in three dimensions (vCPU, memory, GPU) with at most a few dozen item types.
Depth-first branch and bound, largest counts first (so the first leaf is the greedy packing), with
the bound "remaining capacity x best value density" taken in each dimension separately. A node limit
keeps the worst case bounded; when it is hit the answer says so and callers fall back to the bound,
which keeps the reported lower bound honest.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Packing:
    value: float
    counts: np.ndarray  # per item, int64
    exact: bool
    upper_bound: float


def density_bound(values: np.ndarray, sizes: np.ndarray, capacity: np.ndarray) -> float:
    """Value of the LP relaxation in the tightest single dimension (valid upper bound)."""
    best = np.inf
    for d in range(sizes.shape[1]):
        col = sizes[:, d]
        if (col <= 0).any():
            continue  # an item free in this dimension: the dimension bounds nothing
        best = min(best, capacity[d] * float((values / col).max()))
    return float(best)


def best_packing(
    values: np.ndarray,
    sizes: np.ndarray,
    capacity: np.ndarray,
    *,
    limits: np.ndarray | None = None,
    node_limit: int = 20_000,
) -> Packing:
    """Maximise values @ counts subject to sizes.T @ counts <= capacity, 0 <= counts <= limits.

    `values` (k,), `sizes` (k, d), `capacity` (d,), `limits` (k,) or None for no per-item cap.
    Items with value <= 0 are never packed.
    """
    k = len(values)
    counts = np.zeros(k, dtype=np.int64)
    positive = np.flatnonzero(values > 0)
    if positive.size == 0:
        return Packing(0.0, counts, True, 0.0)
    vals = values[positive].astype(float)
    sz = sizes[positive].astype(float)
    cap = capacity.astype(float) + 1e-9
    # Surrogate dimension: the sum of the constraints scaled by capacity. Implied by them, so adding
    # it changes no packing, but its density bound is much tighter when items are unbalanced.
    used = capacity > 0
    surrogate = (sz[:, used] / capacity[used]).sum(axis=1)
    sz = np.column_stack([sz, surrogate])
    cap = np.append(cap, used.sum() + 1e-9)
    lim = (np.full(len(values), np.iinfo(np.int64).max) if limits is None else limits)[positive].astype(
        np.int64
    )
    upper = min(density_bound(vals, sz, cap), float(np.minimum(lim, 1e12) @ vals))
    # Order by value per unit of the item's scarcest dimension relative to this instance.
    with np.errstate(divide="ignore"):
        rel = np.where(sz > 0, sz / np.where(cap > 0, cap, 1.0), 0.0).max(axis=1)
    order = np.argsort(-(vals / np.maximum(rel, 1e-12)), kind="stable")
    vals, sz, lim = vals[order], sz[order], lim[order]
    n, dims = len(vals), sz.shape[1]
    # suffix_density[i, d]: best value/size in dimension d among items i.. (inf if some item is free in d)
    suffix = np.full((n + 1, dims), 0.0)
    for i in range(n - 1, -1, -1):
        for d in range(dims):
            dens = np.inf if sz[i, d] <= 0 else vals[i] / sz[i, d]
            suffix[i, d] = max(suffix[i + 1, d], dens)
    vals_l = vals.tolist()
    sz_l = sz.tolist()
    lim_l = lim.tolist()
    suffix_l = suffix.tolist()
    best_value = 0.0
    best_counts = [0] * n
    current = [0] * n
    nodes = 0
    exhausted = False

    def bound(i: int, rem: list[float]) -> float:
        row = suffix_l[i]
        b = np.inf
        for d in range(dims):
            if row[d] != np.inf:
                b = min(b, rem[d] * row[d])
        return b

    def dfs(i: int, rem: list[float], value: float) -> None:
        nonlocal best_value, best_counts, nodes, exhausted
        nodes += 1
        if nodes > node_limit:
            exhausted = True
            return
        if value > best_value + 1e-12:
            best_value = value
            best_counts = current.copy()
        if i == n or value + bound(i, rem) <= best_value + 1e-12:
            return
        size = sz_l[i]
        most = min([int(rem[d] // size[d]) for d in range(dims) if size[d] > 0] + [lim_l[i]])
        for c in range(most, -1, -1):
            current[i] = c
            dfs(i + 1, [rem[d] - c * size[d] for d in range(dims)], value + c * vals_l[i])
            if exhausted:
                break
        current[i] = 0

    dfs(0, cap.tolist(), 0.0)
    chosen = np.zeros(n, dtype=np.int64)
    chosen[:] = best_counts
    counts[positive[order]] = chosen
    exact = not exhausted
    return Packing(best_value, counts, exact, best_value if exact else max(best_value, upper))
