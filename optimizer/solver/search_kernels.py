"""The two depth-first searches the solver runs thousands of times, compiled with Numba.

Pricing solves one small knapsack per offering and bucket class and round (about ten thousand on a
week of a GPU trace), and the exact per-class step enumerates maximal packings. In the interpreter
each node costs microseconds of bookkeeping, which made those searches most of the solve time;
compiled, the same searches (same node order, same bounds, same node limits, so the same answers)
run some fifty times faster. Callers in `knapsack.py` and `exact_classes.py` prepare the arrays and
keep the documented semantics; this module only holds the loops.

Compiled code is cached on disk next to this file (or under NUMBA_CACHE_DIR when that is not
writable), so only the first process after an install pays the compile time.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from optimizer.solver.class_partition import warm_up_partition
from optimizer.solver.subset_kernels import warm_up_quick_plan


@njit(cache=True)
def fractional_bound(
    i: int,
    rem: np.ndarray,
    vals: np.ndarray,
    sz: np.ndarray,
    lim: np.ndarray,
    fill_order: np.ndarray,
) -> float:
    """Most value items i.. can add within `rem`: the least, over dimensions, of the fractional
    bounded knapsack in that dimension alone (each one is a relaxation)."""
    dims = sz.shape[1]
    n = vals.shape[0]
    best = np.inf
    for d in range(dims):
        room = rem[d]
        total = 0.0
        for jj in range(n):
            j = fill_order[d, jj]
            if j < i:
                continue
            size = sz[j, d]
            if size <= 0:
                total += lim[j] * vals[j]
                continue
            take = room / size
            if take >= lim[j]:
                total += lim[j] * vals[j]
                room -= lim[j] * size
            else:
                total += take * vals[j]
                break
            if total >= best:
                break
        if total < best:
            best = total
    return best


@njit(cache=True)
def _rough_bound(i: int, rem: np.ndarray, suffix: np.ndarray) -> float:
    """Capacity x best density per dimension: looser than `fractional_bound`, cheaper, so it prunes
    first."""
    best = np.inf
    for d in range(suffix.shape[1]):
        if suffix[i, d] != np.inf:
            v = rem[d] * suffix[i, d]
            if v < best:
                best = v
    return best


@njit(cache=True)
def _most(i: int, rem: np.ndarray, sz: np.ndarray, lim: np.ndarray, slack: float) -> int:
    """Most copies of item i that fit in `rem` (and its limit)."""
    most = lim[i]
    for d in range(sz.shape[1]):
        if sz[i, d] > 0:
            k = int(np.floor((rem[d] + slack) / sz[i, d]))
            if k < most:
                most = k
    return most


@njit(cache=True)
def _up(i: int, count: np.ndarray) -> int:
    """Back to the parent, on its next (smaller) count; -1 when the walk is back above the root."""
    if i == 0:
        return -1
    count[i - 1] -= 1
    return i - 1


@njit(cache=True)
def _down(
    i: int, count: np.ndarray, current: np.ndarray, rems: np.ndarray, value_at: np.ndarray,
    sz: np.ndarray, vals: np.ndarray,
) -> int:  # fmt: skip
    """Take count[i] copies of item i and enter depth i + 1."""
    current[i] = count[i]
    for d in range(sz.shape[1]):
        rems[i + 1, d] = rems[i, d] - count[i] * sz[i, d]
    value_at[i + 1] = value_at[i] + count[i] * vals[i]
    return i + 1


@njit(cache=True)
def knapsack_search(
    vals: np.ndarray,
    sz: np.ndarray,
    cap: np.ndarray,
    lim: np.ndarray,
    fill_order: np.ndarray,
    suffix: np.ndarray,
    floor: float,
    node_limit: int,
) -> tuple[float, np.ndarray, bool, float]:
    """Branch and bound, largest counts first, over items already sorted by the caller.

    An explicit stack instead of recursion (Numba cannot cache recursive functions reliably):
    depth i holds the count of item i being tried, the value and the remaining capacity on entry.
    Returns (best value found, at least `floor`; its counts; whether the node limit was hit; the
    largest bound of the nodes left open)."""
    n = vals.shape[0]
    dims = sz.shape[1]
    rems = np.empty((n + 1, dims))
    rems[0] = cap
    value_at = np.zeros(n + 1)
    count = np.zeros(n + 1, dtype=np.int64)
    current = np.zeros(n, dtype=np.int64)
    best_counts = np.zeros(n, dtype=np.int64)
    scratch = np.empty(dims)
    best = floor
    nodes = 0
    open_bound = 0.0
    exhausted = False
    i = 0
    expand = True  # entering node i (value_at[i], rems[i]); else trying count[i] of item i
    while True:
        if expand:
            expand = False
            nodes += 1
            value = value_at[i]
            rem = rems[i]
            if nodes > node_limit:
                # Unexplored: this node, and every sibling not tried yet on the path to the root.
                exhausted = True
                b = value + fractional_bound(i, rem, vals, sz, lim, fill_order)
                if b > open_bound:
                    open_bound = b
                for j in range(i - 1, -1, -1):
                    for c2 in range(count[j] - 1, -1, -1):
                        for d in range(dims):
                            scratch[d] = rems[j, d] - c2 * sz[j, d]
                        b = (
                            value_at[j]
                            + c2 * vals[j]
                            + fractional_bound(j + 1, scratch, vals, sz, lim, fill_order)
                        )
                        if b > open_bound:
                            open_bound = b
                break
            if value > best + 1e-12:
                best = value
                best_counts[:] = current
            if (
                i < n
                and value + _rough_bound(i, rem, suffix) > best + 1e-12
                and value + fractional_bound(i, rem, vals, sz, lim, fill_order) > best + 1e-12
            ):
                count[i] = _most(i, rem, sz, lim, 0.0)
                continue
            i = _up(i, count)  # a leaf or a pruned node
            if i < 0:
                break
            continue
        if count[i] < 0:  # every count of item i tried
            current[i] = 0
            i = _up(i, count)
            if i < 0:
                break
            continue
        i = _down(i, count, current, rems, value_at, sz, vals)
        expand = True
    return best, best_counts, exhausted, open_bound


@njit(cache=True)
def _fits_more(current: np.ndarray, rem: np.ndarray, sz: np.ndarray, lim: np.ndarray) -> bool:
    for j in range(sz.shape[0]):
        if current[j] < lim[j]:
            ok = True
            for d in range(sz.shape[1]):
                if sz[j, d] > rem[d] + 1e-9:
                    ok = False
                    break
            if ok:
                return True
    return False


@njit(cache=True)
def enumerate_search(
    vals: np.ndarray,
    sz: np.ndarray,
    cap: np.ndarray,
    lim: np.ndarray,
    target: float,
    max_patterns: int,
    node_budget: int,
) -> tuple[np.ndarray, int, bool]:
    """All maximal packings (no item under its limit still fits) worth at least `target`, as rows of
    counts; the nodes used; whether the search failed (more than `max_patterns` packings or more
    than `node_budget` nodes). Same explicit-stack walk as `knapsack_search`."""
    n = vals.shape[0]
    dims = sz.shape[1]
    tail = np.zeros(n + 1)
    for j in range(n - 1, -1, -1):
        tail[j] = tail[j + 1] + vals[j] * lim[j]
    # The fractional bound prunes much harder than `tail` when capacity, not the limits, binds.
    fill_order = np.empty((dims, n), dtype=np.int64)
    for d in range(dims):
        density = np.empty(n)
        for r in range(n):
            density[r] = vals[r] / sz[r, d] if sz[r, d] > 0 else np.inf
        fill_order[d] = np.argsort(-density, kind="mergesort")
    rems = np.empty((n + 1, dims))
    rems[0] = cap
    value_at = np.zeros(n + 1)
    count = np.zeros(n + 1, dtype=np.int64)
    current = np.zeros(n, dtype=np.int64)
    found = np.zeros((16, n), dtype=np.int64)
    n_found = 0
    nodes = 0
    failed = False
    i = 0
    expand = True
    while True:
        if expand:
            expand = False
            nodes += 1
            if nodes > node_budget:
                failed = True
                break
            if value_at[i] + tail[i] >= target and (
                i == n
                or value_at[i] + fractional_bound(i, rems[i], vals, sz, lim, fill_order) >= target - 1e-9
            ):
                if i < n:
                    count[i] = _most(i, rems[i], sz, lim, 1e-9)
                    continue
                if not _fits_more(current, rems[n], sz, lim):
                    if n_found >= max_patterns:
                        failed = True
                        break
                    if n_found >= found.shape[0]:
                        grown = np.zeros((2 * found.shape[0], n), dtype=np.int64)
                        grown[:n_found] = found
                        found = grown
                    found[n_found] = current
                    n_found += 1
            i = _up(i, count)
            if i < 0:
                break
            continue
        if count[i] < 0:
            current[i] = 0
            i = _up(i, count)
            if i < 0:
                break
            continue
        i = _down(i, count, current, rems, value_at, sz, vals)
        expand = True
    return found[:n_found].copy(), nodes, failed


@njit(cache=True)
def solve_knapsack(
    values: np.ndarray,
    sizes: np.ndarray,
    capacity: np.ndarray,
    limits: np.ndarray,
    node_limit: int,
    at_least: float,
) -> tuple[float, np.ndarray, bool, float]:
    """`knapsack.best_packing` without the Python overhead: item selection, the surrogate dimension,
    the orders and the search in one compiled call. Returns (value, counts, exact, upper bound)."""
    k = values.shape[0]
    counts = np.zeros(k, dtype=np.int64)
    positive = np.flatnonzero(values > 0)
    n = positive.shape[0]
    if n == 0:
        return 0.0, counts, True, 0.0
    dims0 = sizes.shape[1]
    used = 0
    for d in range(dims0):
        if capacity[d] > 0:
            used += 1
    dims = dims0 + 1
    vals0 = np.empty(n)
    sz0 = np.zeros((n, dims))
    lim0 = np.empty(n, dtype=np.int64)
    cap = np.empty(dims)
    for d in range(dims0):
        cap[d] = capacity[d] + 1e-9
    # Surrogate dimension: the sum of the constraints scaled by capacity. Implied by them, so adding
    # it changes no packing, but its density bound is much tighter when items are unbalanced.
    cap[dims0] = used + 1e-9
    for r in range(n):
        j = positive[r]
        vals0[r] = values[j]
        lim0[r] = limits[j]
        surrogate = 0.0
        for d in range(dims0):
            sz0[r, d] = sizes[j, d]
            if capacity[d] > 0:
                surrogate += sizes[j, d] / capacity[d]
        sz0[r, dims0] = surrogate
    # Root bound: tightest single-dimension LP (dimensions with a free item bound nothing), and
    # every item at its limit.
    upper = 0.0
    for r in range(n):
        upper += min(lim0[r], 1e12) * vals0[r]
    for d in range(dims):
        free = False
        top = 0.0
        for r in range(n):
            if sz0[r, d] <= 0:
                free = True
                break
            top = max(top, vals0[r] / sz0[r, d])
        if not free:
            upper = min(upper, cap[d] * top)
    # Order by value per unit of the item's scarcest dimension relative to this instance.
    key = np.empty(n)
    for r in range(n):
        rel = 0.0
        for d in range(dims):
            if sz0[r, d] > 0:
                rel = max(rel, sz0[r, d] / (cap[d] if cap[d] > 0 else 1.0))
        key[r] = -(vals0[r] / max(rel, 1e-12))
    order = np.argsort(key, kind="mergesort")
    vals = vals0[order]
    sz = sz0[order]
    lim = np.minimum(lim0[order], 2**52)
    # Per dimension, items by decreasing value density (free items first): the order in which the
    # fractional relaxation of that dimension fills the remaining capacity; and suffix maxima of
    # the densities for the cheap first bound.
    fill_order = np.empty((dims, n), dtype=np.int64)
    suffix = np.zeros((n + 1, dims))
    for d in range(dims):
        density = np.empty(n)
        for r in range(n):
            density[r] = vals[r] / sz[r, d] if sz[r, d] > 0 else np.inf
        fill_order[d] = np.argsort(-density, kind="mergesort")
        running = -np.inf
        for r in range(n - 1, -1, -1):
            running = max(running, density[r])
            suffix[r, d] = running
    best, chosen, exhausted, open_bound = knapsack_search(
        vals, sz, cap, lim, fill_order, suffix, max(0.0, at_least), node_limit
    )
    found = 0.0
    for r in range(n):
        counts[positive[order[r]]] = chosen[r]
        found += vals[r] * chosen[r]
    if not exhausted:
        return found, counts, True, best
    return found, counts, False, max(best, min(upper, open_bound))


@njit(cache=True)
def price_offerings(
    vals: np.ndarray,
    comp: np.ndarray,
    limits: np.ndarray,
    sizes: np.ndarray,
    caps: np.ndarray,
    cost: np.ndarray,
    ratio: np.ndarray,
    floor: np.ndarray,
    node_limit: int,
    by_ratio: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Pricing knapsacks in a row, j in the given order: the jobs `comp[j]` (values `vals[j]`, at
    most `limits[j]`) on one instance of capacity `caps[j]`, searching only for packings worth
    more than `floor[j]`: exactly what `knapsack.best_packing` solves for each (the same items in
    the same order, so the same answers). With `by_ratio` the column generation's rule within one
    class: stop at the first offering whose optimistic value/cost `ratio[j]` cannot beat the best
    proven ratio so far, and only search for packings beating it. Returns each solved knapsack's
    proven upper bound and best packing's value and job counts, and how many were solved (the
    rest keep the caller's optimistic bound). In the interpreter the per-call overhead of twenty
    thousand small knapsacks was about half of the KTH week's LP."""
    n, s_count = vals.shape
    upper = np.zeros(n)
    value = np.zeros(n)
    counts = np.zeros((n, s_count), dtype=np.int64)
    best_ratio = 1.0
    v = np.empty(s_count)
    for j in range(n):
        if by_ratio and ratio[j] <= best_ratio + 1e-12:
            return upper, value, counts, j
        for s in range(s_count):
            v[s] = vals[j, s] if comp[j, s] else 0.0
        at_least = floor[j]
        if by_ratio and cost[j] > 0:
            at_least = max(at_least, best_ratio * cost[j])
        found, chosen, _, bound = solve_knapsack(v, sizes, caps[j], limits[j], node_limit, at_least)
        upper[j] = bound
        value[j] = found
        counts[j] = chosen
        if by_ratio and cost[j] > 0:
            best_ratio = max(best_ratio, bound / cost[j])
    return upper, value, counts, n


@njit(cache=True)
def fill_instances(
    caps: np.ndarray, compat: np.ndarray, sizes: np.ndarray, remaining: np.ndarray, order: np.ndarray
) -> np.ndarray:
    """Greedy largest-first fill of one instance of every candidate (rows of `caps` (C, 3) and
    `compat` (C, S)): shapes in `order`, each as many jobs as fit and remain. (C, S) job counts;
    the heuristics open thousands of instances, and this loop in numpy cost ~0.5 ms each."""
    c_count, s_count = compat.shape
    takes = np.zeros((c_count, s_count), dtype=np.int64)
    rem = np.empty(3)
    for c in range(c_count):
        rem[:] = caps[c]
        for i in range(order.size):
            s = order[i]
            if remaining[s] <= 0 or not compat[c, s]:
                continue
            room = np.inf
            for d in range(3):
                if sizes[s, d] > 0:
                    room = min(room, np.floor((rem[d] + 1e-9) / sizes[s, d]))
            k = int(min(room, remaining[s]))
            takes[c, s] = k
            for d in range(3):
                rem[d] -= k * sizes[s, d]
    return takes


def warm_up() -> None:
    """Compile (or load from the cache) every kernel now, so that no solve pays for it: run once at
    install time (`make install`, the Dockerfile) to fill the on-disk cache."""
    sizes = np.array([[1.0, 1.0, 0.0], [2.0, 1.0, 0.0]])
    solve_knapsack(np.array([1.0, 1.5]), sizes, np.array([3.0, 2.0, 0.0]), np.array([2, 1]), 100, 0.0)
    price_offerings(
        np.array([[1.0, 1.5]]),
        np.ones((1, 2), dtype=np.bool_),
        np.array([[2, 1]]),
        sizes,
        np.array([[3.0, 2.0, 0.0]]),
        np.array([1.0]),
        np.array([2.0]),
        np.zeros(1),
        100,
        True,
    )
    enumerate_search(np.array([1.0, 1.5]), sizes, np.array([3.0, 2.0, 0.0]), np.array([2, 1]), 0.0, 10, 100)
    fill_instances(
        np.array([[3.0, 2.0, 0.0]]),
        np.ones((1, 2), dtype=np.bool_),
        sizes,
        np.array([2, 1]),
        np.array([1, 0]),
    )
    warm_up_quick_plan()
    warm_up_partition()
