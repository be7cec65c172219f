"""Exact bin re-assignment: valid plans, never dearer than the greedy repair, and the true optimum."""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from optimizer.solver.assemble import build_plan
from optimizer.solver.baselines import cheapest_fit
from optimizer.solver.bin_reassignment import reassign_bins
from optimizer.solver.problem import Policy
from optimizer.solver.spot_repair import _Catalogue, _groups, repair_spot_limits
from optimizer.solver.validate import validate_plan
from tests.solver_helpers import random_problem


def _every_offering(problem) -> frozenset[str]:
    return frozenset(o.key for o in problem.offerings)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    share=st.sampled_from([None, 0.0, 0.3, 0.7]),
    k=st.sampled_from([0, 2, 3]),
)
def test_reassigned_plans_are_valid_and_no_dearer_than_the_greedy_repair(
    seed: int, share: float | None, k: int
) -> None:
    problem = random_problem(
        seed, n_buckets=6, policy=Policy(max_spot_share=share, min_spot_instance_types=k)
    )
    base = cheapest_fit(problem)  # ignores spot limits
    exact = reassign_bins(problem, base, time_limit=5.0, extra_offerings=_every_offering(problem))
    greedy = repair_spot_limits(problem, base)
    if exact is None:
        # No re-assignment meets the limits: then the greedy moves cannot either.
        assert greedy is None or validate_plan(problem, greedy, check_bound=False) != []
        return
    assert validate_plan(problem, exact, check_bound=False) == []
    # The same jobs run in every bucket, and the demand is covered.
    assert validate_plan(problem.with_policy(Policy()), exact, check_bound=False) == []
    if (
        greedy is not None
        and not validate_plan(problem, greedy, check_bound=False)
        and _packings(greedy) == _packings(base)
    ):
        # A repair that re-placed whole bins (it may also split one over several instances of
        # another pool) made a plan of the exact model.
        assert exact.objective_usd <= greedy.objective_usd * (1 + 1e-4) + 1e-9


def _packings(plan) -> list[Counter]:
    """Per bucket, how many bins pack each job multiset, whatever offering runs them."""
    return [_bins_by_jobs(bins) for bins in plan.buckets]


def _bins_by_jobs(bins) -> Counter:
    out: Counter = Counter()
    for b in bins:
        out[tuple(sorted((sid, n) for sid, n in b.jobs.items() if n))] += b.count
    return out


def _brute_force(problem, plan) -> float:
    """Cheapest valid plan over every offering for every single instance of every bin."""
    cat = _Catalogue(problem)
    instances = [g for g in _groups(cat, plan) for _ in range(g.count)]
    best = np.inf
    for choice in itertools.product(*(cat.hosts(g.jobs) for g in instances)):
        by_bucket = [[] for _ in range(problem.n_buckets)]
        for g, h in zip(instances, choice, strict=True):
            by_bucket[g.bucket].append((cat.offerings[int(h)].key, 1, g.jobs))
        trial = build_plan(
            problem, by_bucket, np.arange(problem.n_buckets), problem.demand, status="FEASIBLE",
            reason="", lower_bound=0.0, solve_seconds=0.0,
        )  # fmt: skip
        if trial.objective_usd < best and not validate_plan(problem, trial, check_bound=False):
            best = trial.objective_usd
    return best


def test_the_reassignment_is_the_optimum_of_small_plans() -> None:
    checked = 0
    for seed in range(60):
        for share, k in ((0.5, 0), (None, 2), (0.6, 2)):
            problem = random_problem(
                seed, n_buckets=1, policy=Policy(max_spot_share=share, min_spot_instance_types=k)
            )
            base = cheapest_fit(problem)
            cat = _Catalogue(problem)
            groups = _groups(cat, base)
            space = np.prod([float(len(cat.hosts(g.jobs))) ** g.count for g in groups])
            if space > 20_000:
                continue
            optimum = _brute_force(problem, base)
            exact = reassign_bins(problem, base, time_limit=5.0, extra_offerings=_every_offering(problem))
            if not np.isfinite(optimum):
                assert exact is None
                continue
            assert exact is not None
            assert abs(exact.objective_usd - optimum) <= 1e-4 * optimum + 1e-9
            checked += 1
    assert checked >= 10  # the comparison really ran
