"""Exact per-class solve: on small separable problems the plan and bound equal a brute-force optimum."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import LinearConstraint, milp

from optimizer.solver.by_class import ClassIncumbents, partition_per_class
from optimizer.solver.exact_classes import enumerate_maximal
from optimizer.solver.problem import Policy, Problem
from optimizer.solver.solve import _prepare_pool
from optimizer.solver.validate import validate_plan
from tests.solver_helpers import CATALOG, offerings, run, shapes


def _bucket_optimum(problem: Problem, demand: np.ndarray) -> float:
    """Cheapest cover of one bucket over EVERY feasible packing of every offering (reference)."""
    icf = problem.policy.interruption_cost_factor
    sizes = np.array([[s.vcpus, s.memory_mib] for s in problem.shapes])
    cols, costs = [], []
    for o in problem.offerings:
        hosts = [i for i, s in enumerate(problem.shapes) if o.can_host(s) and demand[i] > 0]
        for combo in itertools.product(*(range(int(demand[i]) + 1) for i in hosts)):
            counts = np.zeros(len(problem.shapes))
            counts[hosts] = combo
            if counts.any() and (counts @ sizes <= [o.vcpus, o.memory_mib]).all():
                cols.append(counts)
                costs.append(o.hourly_objective(icf) * problem.bucket_hours)
    a = np.array(cols).T
    res = milp(np.array(costs), constraints=LinearConstraint(a, lb=demand), integrality=np.ones(len(costs)))
    assert res.status == 0
    return float(res.fun)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), n_offerings=st.integers(1, 5), n_buckets=st.integers(1, 3))
def test_separable_problems_are_solved_to_a_proven_optimum(
    seed: int, n_offerings: int, n_buckets: int
) -> None:
    rng = np.random.default_rng(seed)
    catalog = [CATALOG[i] for i in sorted(rng.choice(len(CATALOG), n_offerings, replace=False))]
    demand = rng.integers(0, 4, size=(5, n_buckets))
    demand[rng.integers(0, 5), rng.integers(0, n_buckets)] += 1  # some demand
    policy = Policy(gap_target=0.0, time_limit_seconds=20, interruption_cost_factor=0.5)
    problem = Problem(3600, shapes(), demand, offerings(catalog=catalog), policy)
    plan = run(problem)
    assert validate_plan(problem, plan) == []
    if not plan.has_solution:
        return  # a shape fits no sampled offering
    optimum = sum(_bucket_optimum(problem, demand[:, t]) for t in range(n_buckets) if demand[:, t].any())
    assert plan.lower_bound_usd <= optimum + 1e-6
    assert plan.objective_usd == pytest.approx(optimum, rel=1e-7)
    assert plan.status == "OPTIMAL"


def test_enumeration_lists_exactly_the_maximal_packings_worth_enough() -> None:
    vals = np.array([3.0, 2.0, 0.0])
    sizes = np.array([[2.0, 1.0], [1.0, 2.0], [1.0, 1.0]])
    cap = np.array([4.0, 4.0])
    limits = np.array([2, 2, 1])
    got = enumerate_maximal(vals, sizes, cap, limits, 4.0, max_patterns=100, node_budget=10_000)
    assert got is not None
    found = {tuple(int(x) for x in c) for c in got[0]}
    expected = set()
    for combo in itertools.product(range(3), range(3), range(2)):
        c = np.array(combo)
        if (c > limits).any() or (c @ sizes > cap + 1e-9).any() or vals @ c < 4.0:
            continue
        maximal = all(
            c[j] >= limits[j] or (sizes[j] > cap - c @ sizes + 1e-9).any() for j in range(len(vals))
        )
        if maximal:
            expected.add(combo)
    assert found == expected and found
    assert enumerate_maximal(vals, sizes, cap, limits, 0.0, max_patterns=1, node_budget=10_000) is None


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), n_buckets=st.integers(1, 3))
def test_the_partition_pass_settles_small_classes_at_their_optimum_with_bins_that_cover_them(
    seed: int, n_buckets: int
) -> None:
    """Pass 0 of the class-by-class solve replaces a dear incumbent by each class's optimum (the
    brute-force cover above) and proves it; a class too large for the recursion is left open."""
    rng = np.random.default_rng(seed)
    catalog = [CATALOG[i] for i in sorted(rng.choice(len(CATALOG), 4, replace=False))]
    demand = rng.integers(0, 4, size=(5, n_buckets))
    demand[:, 0] += 1  # every shape runs in bucket 0: a class with some demand
    policy = Policy(gap_target=0.0, interruption_cost_factor=0.5)
    problem = Problem(3600, shapes(), demand, offerings(catalog=catalog), policy)
    prep = _prepare_pool(problem)[0]
    if not prep.compat.any(axis=0).all():
        return  # a shape fits no sampled offering
    dear = np.array([1e6] * prep.n_classes)
    state = ClassIncumbents([[] for _ in range(prep.n_classes)], dear.copy(), np.zeros(prep.n_classes))
    settled = partition_per_class(prep, state, gap_target=0.0, deadline=np.inf, clock=lambda: 0.0)
    assert settled == prep.n_classes
    for u in range(prep.n_classes):
        t = int(np.flatnonzero(prep.bucket_class == u)[0])
        optimum = _bucket_optimum(problem, prep.demand[:, u]) * prep.weight[u]
        assert state.cost[u] == pytest.approx(optimum, rel=1e-9)
        assert state.bound[u] == pytest.approx(optimum, rel=1e-9)
        hosted = sum(count * jobs for _, count, jobs in state.bins[u])
        assert (hosted >= demand[:, t]).all()
        by_key = {o.key: o for o in problem.offerings}
        cost = sum(count * by_key[key].hourly_objective(0.5) for key, count, _ in state.bins[u])
        assert cost * prep.hours * prep.weight[u] == pytest.approx(optimum, rel=1e-9)
    # Too large for the recursion: untouched (the MIP of pass 2 takes it).
    big = Problem(3600, shapes(), np.full((5, 1), 400), offerings(catalog=catalog), policy)
    prep = _prepare_pool(big)[0]
    state = ClassIncumbents([[]], np.array([1e6]), np.array([0.0]))
    assert partition_per_class(prep, state, gap_target=0.0, deadline=np.inf, clock=lambda: 0.0) == 0
    assert state.cost[0] == 1e6 and state.bound[0] == 0.0
