"""The swap local search over type-cap subsets (`subset_search.py`) and its compiled quick plan:
the kernel packs exactly as cheapest-fit does, a swap that rounds better is found, and a swap never
leaves a shape without a host nor (under diversification) changes the spot pools."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from optimizer.solver.baselines import cheapest_fit_bins, job_work_values
from optimizer.solver.columns import prepare
from optimizer.solver.problem import Offering, Policy, Problem, Shape
from optimizer.solver.search_kernels import warm_up
from optimizer.solver.subset_search import QuickPlan, improve_subset
from tests.solver_helpers import random_problem

warm_up()


def _clock() -> float:
    return 0.0  # never reaches the deadline: the search stops at its local optimum


def _offering(name: str, vcpus: int, memory: float, price: float, spot: bool = False) -> Offering:
    return Offering(name, "SPOT" if spot else "ON_DEMAND", vcpus, memory, 0, "x86_64", price, 0.0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_kernel_packs_as_cheapest_fit_does(seed: int) -> None:
    problem = random_problem(seed, n_buckets=10)
    prep = prepare(problem, list(problem.offerings))
    rng = np.random.default_rng(seed)
    quick = QuickPlan(prep)
    for _ in range(5):
        subset = sorted(rng.choice(len(prep.offerings), size=5, replace=False).tolist())
        if not quick.hosts_all(subset):
            continue
        allowed = np.zeros(len(prep.offerings), dtype=bool)
        allowed[subset] = True
        work = quick.prices[allowed].min(axis=0)
        work = np.where(np.isfinite(work), work, 0.0)
        index = {o.key: i for i, o in enumerate(prep.offerings)}
        spend = np.zeros(len(prep.offerings))
        for u in range(prep.n_classes):
            bins = cheapest_fit_bins(prep, prep.demand[:, u], allowed, work=work)
            assert bins is not None
            for key, count, _ in bins:
                spend[index[key]] += prep.weight[u] * prep.hours * count * prep.hourly[index[key]]
        got = quick.run(subset)
        assert got is not None
        np.testing.assert_allclose(got.spend, spend, rtol=1e-12, atol=1e-12)
        assert got.shape_spend.sum() == pytest.approx(spend.sum())
    # With every offering allowed the work values are cheapest-fit's own.
    everything = list(range(len(prep.offerings)))
    allowed = np.ones(len(prep.offerings), dtype=bool)
    np.testing.assert_allclose(quick.prices[allowed].min(axis=0), job_work_values(prep))
    assert quick.run(everything) is not None


def _problem(offerings: list[Offering], policy: Policy) -> Problem:
    # One 4-vCPU job in each of three buckets, and a memory job in the first.
    shapes = (Shape("a", 4.0, 4096.0), Shape("mem", 1.0, 30000.0))
    return Problem(3600.0, shapes, np.array([[1, 1, 1], [1, 0, 0]]), tuple(offerings), policy)


def test_the_big_instance_the_lp_likes_is_swapped_for_the_one_that_rounds_well() -> None:
    # big hosts four "a" jobs for $0.60 ($0.15 each: the LP's favourite), small one for $0.20; one
    # runs at a time, so a whole big instance costs $0.60 an hour against small's $0.20.
    offerings = [
        _offering("big", 16, 65536.0, 0.60),
        _offering("small", 4, 8192.0, 0.20),
        _offering("mid", 8, 16384.0, 0.35),
        _offering("memory", 2, 32768.0, 0.30),
    ]
    prep = prepare(_problem(offerings, Policy(max_instance_types=2)), offerings)
    keys = [o.key for o in prep.offerings]
    start = [keys.index("big/ON_DEMAND"), keys.index("memory/ON_DEMAND")]
    found = improve_subset(prep, start, deadline=1.0, clock=_clock)
    assert found is not None
    assert sorted(keys[o] for o in found.subset) == ["memory/ON_DEMAND", "small/ON_DEMAND"]
    assert found.start_objective == pytest.approx(3 * 0.60)  # big hosts the memory job too
    assert found.objective == pytest.approx(3 * 0.20 + 0.30)  # the best pair: checked by brute force
    quick = QuickPlan(prep)
    best = min(
        got.objective
        for pair in itertools.combinations(range(len(keys)), 2)
        if quick.hosts_all(list(pair)) and (got := quick.run(list(pair))) is not None
    )
    assert found.objective == pytest.approx(best)


def test_a_swap_keeps_every_shape_hosted() -> None:
    # "memory" is the only host of the memory job: swapping it for the cheaper small would leave
    # that job without a host, so only big (too little memory for it here) may go.
    offerings = [
        _offering("big", 16, 16384.0, 0.60),
        _offering("small", 4, 8192.0, 0.20),
        _offering("memory", 2, 32768.0, 0.90),
    ]
    prep = prepare(_problem(offerings, Policy(max_instance_types=2)), offerings)
    keys = [o.key for o in prep.offerings]
    found = improve_subset(
        prep, [keys.index("memory/ON_DEMAND"), keys.index("big/ON_DEMAND")], deadline=1.0, clock=_clock
    )
    assert found is not None
    assert sorted(keys[o] for o in found.subset) == ["memory/ON_DEMAND", "small/ON_DEMAND"]


def test_under_diversification_the_spot_pools_stay() -> None:
    # The spot "big" pool rounds badly too, but the quick plan ignores the spot rows: under
    # diversification the LP's spot pools are kept, and only the on-demand side is swapped.
    offerings = [
        _offering("big", 16, 65536.0, 0.30, spot=True),
        _offering("small", 4, 8192.0, 0.10, spot=True),
        _offering("big", 16, 65536.0, 0.60),
        _offering("small", 4, 8192.0, 0.20),
        _offering("memory", 2, 32768.0, 0.30),
    ]
    for spot_types, expected in ((2, "big/SPOT"), (0, "small/SPOT")):
        policy = Policy(max_instance_types=3, min_spot_instance_types=spot_types)
        prep = prepare(_problem(offerings, policy), offerings)
        keys = [o.key for o in prep.offerings]
        start = [keys.index("big/SPOT"), keys.index("big/ON_DEMAND"), keys.index("memory/ON_DEMAND")]
        found = improve_subset(prep, start, deadline=1.0, clock=_clock)
        assert found is not None
        chosen = sorted(keys[o] for o in found.subset)
        assert expected in chosen
        assert "small/ON_DEMAND" in chosen or "small/SPOT" in chosen


def test_a_subset_without_a_host_gets_no_search() -> None:
    offerings = [_offering("big", 16, 16384.0, 0.60), _offering("memory", 2, 32768.0, 0.30)]
    prep = prepare(_problem(offerings, Policy(max_instance_types=1)), offerings)
    assert improve_subset(prep, [0], deadline=1.0, clock=_clock) is None


def test_the_parent_lp_columns_seed_the_subset_in_the_same_classes() -> None:
    # The subset's solve starts from the bigger problem's columns on its offerings: each lands in
    # the class whose demand it was priced for (found through a bucket of that class, whatever the
    # class numbering), and columns of offerings outside the subset stay out.
    from optimizer.solver.columns import PatternPool, make_columns
    from optimizer.solver.solve import _patterns_on, _prepare_pool, _seed_from_patterns

    problem = random_problem(3, n_buckets=8, policy=Policy(max_instance_types=3))
    parent, pool, pairs = _prepare_pool(problem)
    cols = make_columns(parent, pool, np.array(sorted(pairs), dtype=np.int64))
    chosen = [0, 3, 5]
    keys = {parent.offerings[o].key for o in chosen}
    sub = problem.with_offerings([o for o in problem.offerings if o.key in keys])
    child = prepare(sub, [o for o in sub.offerings])
    patterns = _patterns_on(parent, cols, chosen)
    assert len(patterns) == int(np.isin(cols.offering, chosen).sum()) > 0
    child_pool = PatternPool(len(problem.shapes))
    child_pairs: set[tuple[int, int]] = set()
    _seed_from_patterns(child, patterns, child_pool, child_pairs)
    assert child_pairs
    seeded = make_columns(child, child_pool, np.array(sorted(child_pairs), dtype=np.int64))
    expected = {
        (
            parent.offerings[int(cols.offering[n])].key,
            cols.counts[n].tobytes(),
            parent.demand[:, cols.bucket_class[n]].tobytes(),
        )
        for n in np.flatnonzero(np.isin(cols.offering, chosen))
    }
    got = {
        (
            child.offerings[int(seeded.offering[n])].key,
            seeded.counts[n].tobytes(),
            child.demand[:, seeded.bucket_class[n]].tobytes(),
        )
        for n in range(len(seeded))
    }
    assert got == expected
