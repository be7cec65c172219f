"""The pricing knapsack's bounds stay honest when the search is cut short or told a floor."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from optimizer.solver.knapsack import best_packing
from optimizer.solver.search_kernels import price_offerings


def _brute_force(vals: np.ndarray, sizes: np.ndarray, cap: np.ndarray, limits: np.ndarray) -> float:
    best = 0.0
    for combo in itertools.product(*(range(int(n) + 1) for n in limits)):
        c = np.array(combo)
        if (sizes.T @ c <= cap + 1e-9).all():
            best = max(best, float(vals @ c))
    return best


def _instance(seed: int, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    vals = rng.uniform(0.1, 5.0, k)
    sizes = np.column_stack([rng.integers(1, 6, k), rng.integers(1, 6, k), rng.integers(0, 2, k)]).astype(
        float
    )
    cap = np.array([rng.integers(4, 16), rng.integers(4, 16), rng.integers(0, 3)], dtype=float)
    limits = rng.integers(0, 5, k)
    return vals, sizes, cap, limits


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), k=st.integers(1, 5), node_limit=st.integers(1, 30))
def test_node_limited_search_still_bounds_the_optimum(seed: int, k: int, node_limit: int) -> None:
    vals, sizes, cap, limits = _instance(seed, k)
    best = _brute_force(vals, sizes, cap, limits)
    got = best_packing(vals, sizes, cap, limits=limits, node_limit=node_limit)
    assert got.upper_bound >= best - 1e-9
    assert got.value <= best + 1e-9
    assert (sizes.T @ got.counts <= cap + 1e-9).all() and (got.counts <= limits).all()
    if got.exact:
        assert abs(got.value - best) < 1e-9


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), k=st.integers(1, 5), share=st.floats(0.0, 1.5))
def test_floor_either_finds_the_optimum_or_proves_nothing_beats_it(seed: int, k: int, share: float) -> None:
    vals, sizes, cap, limits = _instance(seed, k)
    best = _brute_force(vals, sizes, cap, limits)
    floor = share * best
    got = best_packing(vals, sizes, cap, limits=limits, at_least=floor)
    assert got.exact
    assert got.upper_bound >= best - 1e-9
    if best > floor + 1e-9:
        assert abs(got.value - best) < 1e-9
        assert abs(float(vals @ got.counts) - best) < 1e-9
    else:
        assert got.value == 0.0 and not got.counts.any()
        assert got.upper_bound <= max(floor, best) + 1e-9


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), k=st.integers(1, 5), n=st.integers(1, 6), by_ratio=st.booleans())
def test_compiled_pricing_loop_answers_as_one_knapsack_per_row(
    seed: int, k: int, n: int, by_ratio: bool
) -> None:
    """`price_offerings` (the pricing loops of the column generation and the selection bound,
    compiled) gives each row it solves what `best_packing` gives on the same jobs, limits and
    floor (raised, with the ratio rule, to what the best ratio so far implies), and stops only
    where no later row's optimistic ratio can beat the best proven one."""
    rng = np.random.default_rng(seed)
    vals, sizes, _, _ = _instance(seed, k)
    values = vals * rng.uniform(0.5, 1.5, (n, k))
    limits = rng.integers(0, 5, (n, k))
    comp = rng.random((n, k)) < 0.8
    caps = np.column_stack([rng.integers(4, 16, n), rng.integers(4, 16, n), rng.integers(0, 3, n)]).astype(
        float
    )
    cost = rng.uniform(0.0, 6.0, n)
    ratio = np.sort(rng.uniform(0.5, 4.0, n))[::-1].copy()
    floor = np.where(rng.random(n) < 0.5, cost, 0.0)
    upper, value, counts, solved = price_offerings(
        values, comp, limits, sizes, caps, cost, ratio, floor, 10_000, by_ratio
    )
    best_ratio = 1.0
    for j in range(n):
        if by_ratio and ratio[j] <= best_ratio + 1e-12:
            assert solved == j
            return
        items = np.flatnonzero(comp[j])
        at_least = max(floor[j], best_ratio * cost[j]) if by_ratio and cost[j] > 0 else floor[j]
        want = best_packing(
            values[j, items],
            sizes[items],
            caps[j],
            limits=limits[j, items],
            node_limit=10_000,
            at_least=at_least,
        )
        assert upper[j] == want.upper_bound and value[j] == want.value
        assert (counts[j][items] == want.counts).all() and not counts[j][~comp[j]].any()
        if by_ratio and cost[j] > 0:
            best_ratio = max(best_ratio, want.upper_bound / cost[j])
    assert solved == n
