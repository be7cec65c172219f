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
    vals_l = vals.tolist()
    sz_l = sz.tolist()
    lim_l = np.minimum(lim, 2**52).tolist()
    # Per dimension, the items by decreasing value density (items free in the dimension first): the
    # order in which the fractional relaxation of that dimension fills the remaining capacity.
    with np.errstate(divide="ignore"):
        density = np.where(sz > 0, vals[:, None] / np.where(sz > 0, sz, 1.0), np.inf)
    fill_order = [np.argsort(-density[:, d], kind="stable").tolist() for d in range(dims)]
    # suffix[i][d]: best density in dimension d among items i.., for a cheap first bound.
    suffix_l = [*np.maximum.accumulate(density[::-1], axis=0)[::-1].tolist(), [0.0] * dims]
    floor = max(0.0, float(at_least))
    best_value = floor
    best_counts = [0] * n
    current = [0] * n
    nodes = 0
    exhausted = False
    open_bound = 0.0

    def bound(i: int, rem: list[float]) -> float:
        """Most value items i.. can add within `rem`: the least, over dimensions, of the fractional
        bounded knapsack in that dimension alone (each is a relaxation; the job limits make it much
        tighter than capacity x best density when a class runs few jobs)."""
        b = np.inf
        for d in range(dims):
            room = rem[d]
            total = 0.0
            for j in fill_order[d]:
                if j < i:
                    continue
                size = sz_l[j][d]
                if size <= 0:
                    total += lim_l[j] * vals_l[j]
                    continue
                take = room / size
                if take >= lim_l[j]:
                    total += lim_l[j] * vals_l[j]
                    room -= lim_l[j] * size
                else:
                    total += take * vals_l[j]
                    break
                if total >= b:
                    break
            if total < b:
                b = total
        return b

    def rough_bound(i: int, rem: list[float]) -> float:
        """Capacity x best density, per dimension: looser than `bound` but a few times cheaper, so
        it prunes first."""
        row = suffix_l[i]
        return min([rem[d] * row[d] for d in range(dims) if row[d] != np.inf] + [np.inf])

    def dfs(i: int, rem: list[float], value: float) -> None:
        nonlocal best_value, best_counts, nodes, exhausted, open_bound
        nodes += 1
        if nodes > node_limit:
            # Unexplored: this whole node; its bound keeps the reported upper bound honest.
            exhausted = True
            open_bound = max(open_bound, value + bound(i, rem))
            return
        if value > best_value + 1e-12:
            best_value = value
            best_counts = current.copy()
        if i == n or value + rough_bound(i, rem) <= best_value + 1e-12:
            return
        if value + bound(i, rem) <= best_value + 1e-12:
            return
        size = sz_l[i]
        most = min([int(rem[d] // size[d]) for d in range(dims) if size[d] > 0] + [lim_l[i]])
        for c in range(most, -1, -1):
            current[i] = c
            child = [rem[d] - c * size[d] for d in range(dims)]
            dfs(i + 1, child, value + c * vals_l[i])
            if exhausted:
                # The siblings not tried yet (fewer of item i) stay open: add their bounds.
                for c2 in range(c - 1, -1, -1):
                    left = [rem[d] - c2 * size[d] for d in range(dims)]
                    open_bound = max(open_bound, value + c2 * vals_l[i] + bound(i + 1, left))
                break
        current[i] = 0

    dfs(0, cap.tolist(), 0.0)
    chosen = np.zeros(n, dtype=np.int64)
    chosen[:] = best_counts
    counts[positive[order]] = chosen
    exact = not exhausted
    found = float(vals @ chosen)
    # Exhausted: every packing better than the best found lies in an open node, so the largest open
    # bound (or the root relaxation, whichever is smaller) bounds the optimum.
    return Packing(found, counts, exact, best_value if exact else max(best_value, min(upper, open_bound)))
