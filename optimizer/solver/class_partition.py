"""One bucket class's cheapest exact cover by dynamic programming over its sub-multisets of jobs.

Both Lagrangian bounds (`lagrangian_bound.py`, `capped_class_bound.py`) need, per bucket class,
the least cost of hosting exactly its jobs in whole instances at Lagrangian prices: an instance of
offering o costs `offering_cost[o]` (>= 0) and each job of shape s it hosts `surcharge[o, s]`
(>= 0). The exact step (`exact_classes.solve_class`) gets it from a HiGHS MIP over enumerated
patterns with job-removal variables; on the KTH week under the README's policy the 121 classes
took 45-90 s of CPU that way, so the 10 s solve could afford a fraction of them.

The classes of an hourly week are small: a bucket runs a few dozen jobs of a few shapes (KTH
week: at most 12,096 sub-multisets of a class's jobs, the median 96). A cover is a partition of
the class's jobs into bins, so with
    g(q) = min over offerings o that can host the multiset q at once of
           offering_cost[o] + surcharge[o] . q                 (one bin hosting exactly q)
    f(0) = 0,  f(S) = min over q <= S, q != 0, q holding S's first job of g(q) + f(S - q)
f(demand) is the class's optimum exactly (each partition is found: the bin that holds the first
job of S comes first), not a bound from a truncated search. The states are indexed in mixed radix
(digit s runs 0..d_s), so S - q is the index difference; the loops are compiled with Numba. A
class with too many (state, sub-state) pairs is left to the MIP (`solve_class`): `None`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from optimizer.solver.columns import Prepared

#: Most (state, sub-state) pairs one class's recursion may visit (tens of nanoseconds each,
#: compiled; KTH README's largest class has 10.4 million, the median 1,620).
MAX_PAIRS = 30_000_000
#: Most sub-multisets of one class's jobs (the g table is states x offerings).
MAX_STATES = 100_000
#: Slack on capacity checks: catalogue capacities are integers, shapes may be fractional.
FIT_SLACK = 1e-9


def class_pairs(demand: np.ndarray) -> int:
    """(state, sub-state) pairs the recursion visits at most for a class with `demand` (S,)."""
    d = demand[demand > 0].astype(np.int64)
    return int(np.prod((d + 1) * (d + 2) // 2, dtype=np.float64))


def enumerable(demand: np.ndarray) -> bool:
    """Whether a class with `demand` (S,) is small enough for the recursion."""
    d = demand[demand > 0].astype(np.int64)
    return int(np.prod(d + 1, dtype=np.float64)) <= MAX_STATES and class_pairs(demand) <= MAX_PAIRS


def cheapest_partition(
    prep: Prepared, u: int, offering_cost: np.ndarray, surcharge: np.ndarray
) -> float | None:
    """Least cost per bucket-hour of hosting exactly class u's jobs (module doc), +inf when some
    job fits no offering; None when the class is too large for the recursion."""
    out = cheapest_partition_bins(prep, u, offering_cost, surcharge)
    return None if out is None else out[0]


def cheapest_partition_bins(
    prep: Prepared, u: int, offering_cost: np.ndarray, surcharge: np.ndarray
) -> tuple[float, list[tuple[int, np.ndarray]]] | None:
    """`cheapest_partition` and one partition reaching it: (offering, jobs per shape (S,)) per
    instance (empty when the cost is +inf)."""
    if (offering_cost < 0).any() or (surcharge < 0).any():
        raise ValueError("cheapest_partition: offering costs and surcharges must be >= 0")
    demand = prep.demand[:, u].astype(np.int64)
    shapes = np.flatnonzero(demand > 0)
    if shapes.size == 0:
        return 0.0, []
    if not enumerable(demand):
        return None
    radix = (demand[shapes] + 1).astype(np.int64)
    n_states = int(np.prod(radix, dtype=np.float64))
    strides = np.concatenate([[1], np.cumprod(radix)[:-1]]).astype(np.int64)
    hosts = np.flatnonzero(prep.compat[:, shapes].any(axis=1))
    # Cheapest instances first: g stops at the first offering whose cost alone reaches the best.
    hosts = hosts[np.argsort(offering_cost[hosts], kind="stable")]
    g, who = _bin_costs(
        radix,
        np.ascontiguousarray(prep.sizes[shapes], dtype=np.float64),
        np.ascontiguousarray(prep.caps[hosts] + FIT_SLACK, dtype=np.float64),
        np.ascontiguousarray(offering_cost[hosts], dtype=np.float64),
        np.ascontiguousarray(surcharge[hosts][:, shapes], dtype=np.float64),
        np.ascontiguousarray(prep.compat[hosts][:, shapes]),
    )
    g[0] = np.inf  # an empty bin is never part of a partition
    f, pick = _partition(g, radix, strides)
    cost = float(f[-1])
    bins: list[tuple[int, np.ndarray]] = []
    state = n_states - 1
    while np.isfinite(cost) and state > 0:
        q = int(pick[state])
        jobs = np.zeros(len(demand), dtype=np.int64)
        jobs[shapes] = (q // strides) % radix
        bins.append((int(hosts[who[q]]), jobs))
        state -= q
    return cost, bins


@njit(cache=True)
def _bin_costs(
    radix: np.ndarray,
    sizes: np.ndarray,
    caps: np.ndarray,
    base: np.ndarray,
    extra: np.ndarray,
    compat: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """g over every state (module doc): the cheapest single instance hosting exactly that multiset,
    +inf when none can, and which offering (position in the sorted ones, -1: none); offerings
    sorted by `base` (their cost without surcharges, >= 0)."""
    r_count = radix.shape[0]
    n = 1
    for r in range(r_count):
        n *= radix[r]
    g = np.full(n, np.inf)
    who = np.full(n, -1, dtype=np.int64)
    q = np.zeros(r_count, dtype=np.int64)
    load = np.zeros(3)
    for i in range(1, n):
        r = 0
        while q[r] == radix[r] - 1:
            q[r] = 0
            r += 1
        q[r] += 1
        for d in range(3):
            load[d] = 0.0
            for s in range(r_count):
                load[d] += q[s] * sizes[s, d]
        best = np.inf
        for o in range(base.shape[0]):
            if base[o] >= best:
                break
            if load[0] > caps[o, 0] or load[1] > caps[o, 1] or load[2] > caps[o, 2]:
                continue
            cost = base[o]
            ok = True
            for s in range(r_count):
                if q[s] > 0:
                    if not compat[o, s]:
                        ok = False
                        break
                    cost += q[s] * extra[o, s]
            if ok and cost < best:
                best = cost
                who[i] = o
        g[i] = best
    return g, who


@njit(cache=True)
def _partition(g: np.ndarray, radix: np.ndarray, strides: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """f over every state (module doc): f[i] the least cost of partitioning state i into bins,
    and the first bin of such a partition (a state index)."""
    n = g.shape[0]
    r_count = radix.shape[0]
    f = np.full(n, np.inf)
    pick = np.zeros(n, dtype=np.int64)
    f[0] = 0.0
    digits = np.zeros(r_count, dtype=np.int64)
    q = np.zeros(r_count, dtype=np.int64)
    for i in range(1, n):
        rest = i
        low = -1
        for r in range(r_count):
            digits[r] = rest % radix[r]
            rest //= radix[r]
            if low < 0 and digits[r] > 0:
                low = r
        for r in range(r_count):
            q[r] = 0
        q[low] = 1
        qi = strides[low]
        best = np.inf
        while True:
            gq = g[qi]
            if gq < np.inf:
                value = gq + f[i - qi]
                if value < best:
                    best = value
                    pick[i] = qi
            r = 0
            while r < r_count:
                if q[r] < digits[r]:
                    q[r] += 1
                    qi += strides[r]
                    break
                lowest = 1 if r == low else 0
                qi -= (q[r] - lowest) * strides[r]
                q[r] = lowest
                r += 1
            if r == r_count:
                break
        f[i] = best
    return f, pick


def warm_up_partition() -> None:
    """Compile (or load from the cache) both loops now (`search_kernels.warm_up`)."""
    radix = np.array([2, 2], dtype=np.int64)
    g, _ = _bin_costs(
        radix,
        np.ones((2, 3)),
        np.full((1, 3), 2.0),
        np.ones(1),
        np.zeros((1, 2)),
        np.ones((1, 2), dtype=np.bool_),
    )
    _partition(g, radix, np.array([1, 2], dtype=np.int64))
