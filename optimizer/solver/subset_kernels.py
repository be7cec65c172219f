"""Cheapest-fit over every bucket class in one compiled loop: the quick plan `subset_search.py`
prices each candidate subset with.

The same packing as `baselines.cheapest_fit_bins` (largest job first; every allowed offering that
hosts it filled greedily largest-first; the one with the lowest objective per unit of work packed
opened, and repeated while the remaining jobs allow), without building bins: only what the subset
search reads (spend per offering, job-hours per offering and shape, spend per shape). In the
interpreter one subset costs ~90 ms on a 168-class week (its bookkeeping per opened instance);
the local search tries tens of subsets within the solve's time limit.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def quick_plan_kernel(
    allowed: np.ndarray,
    compat: np.ndarray,
    caps: np.ndarray,
    sizes: np.ndarray,
    hourly: np.ndarray,
    demand: np.ndarray,
    class_hours: np.ndarray,
    order: np.ndarray,
    work: np.ndarray,
) -> tuple[bool, np.ndarray, np.ndarray, np.ndarray]:
    """(ok, spend (O,), job-hours (O, S), spend per shape (S,)) of cheapest-fit restricted to the
    `allowed` offerings (bool (O,)), class by class (`demand` (S, U), `class_hours` (U,) hours each
    class's buckets last in all). ok is False when a job has no allowed host."""
    o_count, s_count = compat.shape
    u_count = demand.shape[1]
    spend = np.zeros(o_count)
    jobs = np.zeros((o_count, s_count))
    shape_spend = np.zeros(s_count)
    remaining = np.zeros(s_count, dtype=np.int64)
    take = np.zeros(s_count, dtype=np.int64)
    best_take = np.zeros(s_count, dtype=np.int64)
    rem = np.empty(3)
    for u in range(u_count):
        for s in range(s_count):
            remaining[s] = demand[s, u]
        while True:
            first = -1
            for i in range(order.size):
                if remaining[order[i]] > 0:
                    first = order[i]
                    break
            if first < 0:
                break
            best = -1
            best_score = np.inf
            # The fill rule of `search_kernels.fill_instances`, written out here on purpose: calling
            # it (on the hosts' rows, or a one-instance helper, even inlined) made this kernel 1.4-3x
            # slower (KTH week 0.37 -> 0.46-1.1 ms a subset), and the swap search is time-boxed.
            for o in range(o_count):
                if not allowed[o] or not compat[o, first]:
                    continue
                rem[:] = caps[o]
                value = 0.0
                for i in range(order.size):
                    s = order[i]
                    take[s] = 0
                    if remaining[s] <= 0 or not compat[o, s]:
                        continue
                    room = np.inf
                    for d in range(3):
                        if sizes[s, d] > 0:
                            room = min(room, np.floor((rem[d] + 1e-9) / sizes[s, d]))
                    k = int(min(room, remaining[s]))
                    take[s] = k
                    value += k * work[s]
                    for d in range(3):
                        rem[d] -= k * sizes[s, d]
                score = hourly[o] / value if value > 0 else np.inf
                if best < 0 or score < best_score:
                    best = o
                    best_score = score
                    best_take[:] = take
            if best < 0:
                return False, spend, jobs, shape_spend
            repeat = -1
            total = 0
            valued = 0.0
            for s in range(s_count):
                if best_take[s] > 0:
                    r = remaining[s] // best_take[s]
                    repeat = r if repeat < 0 else min(repeat, r)
                    total += best_take[s]
                    valued += best_take[s] * work[s]
            if repeat <= 0:  # a filled instance that hosts nothing: cannot happen for a host
                return False, spend, jobs, shape_spend
            money = class_hours[u] * repeat * hourly[best]
            spend[best] += money
            for s in range(s_count):
                if best_take[s] > 0:
                    remaining[s] -= repeat * best_take[s]
                    jobs[best, s] += class_hours[u] * repeat * best_take[s]
                    share = best_take[s] * work[s] / valued if valued > 0 else best_take[s] / total
                    shape_spend[s] += money * share
    return True, spend, jobs, shape_spend


def warm_up_quick_plan() -> None:
    """Compile (or load from the cache) the kernel on a tiny input."""
    quick_plan_kernel(
        np.ones(1, dtype=np.bool_),
        np.ones((1, 2), dtype=np.bool_),
        np.array([[3.0, 2.0, 0.0]]),
        np.array([[1.0, 1.0, 0.0], [2.0, 1.0, 0.0]]),
        np.array([1.0]),
        np.array([[2], [1]], dtype=np.int64),
        np.array([1.0]),
        np.array([1, 0], dtype=np.int64),
        np.array([0.5, 1.0]),
    )
