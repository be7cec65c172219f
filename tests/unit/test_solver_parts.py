"""Pricing knapsack, dominance pruning, the validator and the baselines, each on its own."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from optimizer.solver.baselines import LEGACY_OPTIMAL_FAMILIES, cheapest_fit, legacy_optimal, single_type
from optimizer.solver.knapsack import best_packing
from optimizer.solver.plan import Bin
from optimizer.solver.problem import Offering, Policy, Problem, Shape
from optimizer.solver.pruning import prune_dominated
from optimizer.solver.validate import validate_plan
from tests.solver_helpers import offerings, random_problem, run, shapes


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.floats(0.0, 5.0), min_size=1, max_size=4),
    seed=st.integers(0, 1000),
    capped=st.booleans(),
)
def test_knapsack_matches_brute_force(values: list[float], seed: int, capped: bool) -> None:
    rng = np.random.default_rng(seed)
    k = len(values)
    sizes = np.column_stack([rng.integers(1, 5, k), rng.integers(1, 5, k), rng.integers(0, 2, k)]).astype(
        float
    )
    cap = np.array([rng.integers(1, 9), rng.integers(1, 9), rng.integers(0, 3)], dtype=float)
    limits = rng.integers(0, 4, k) if capped else None
    vals = np.array(values)
    got = best_packing(vals, sizes, cap, limits=limits)
    best = 0.0
    for combo in itertools.product(range(9), repeat=k):
        c = np.array(combo)
        if limits is not None and (c > limits).any():
            continue
        if (sizes.T @ c <= cap + 1e-9).all():
            best = max(best, float(vals @ c))
    assert got.exact
    assert got.value == pytest_approx(best)
    assert (sizes.T @ got.counts <= cap + 1e-9).all()
    assert got.upper_bound >= best - 1e-9


def pytest_approx(x: float):
    import pytest

    return pytest.approx(x, abs=1e-9)


def test_dominated_offerings_are_pruned_within_capacity_type_and_arch() -> None:
    offs = (
        Offering("small", "ON_DEMAND", 2, 4000, 0, "x86_64", 0.10),
        Offering("bigger_cheaper", "ON_DEMAND", 4, 8000, 0, "x86_64", 0.09),
        Offering("arm", "ON_DEMAND", 2, 4000, 0, "arm64", 0.05),
        Offering("small", "SPOT", 2, 4000, 0, "x86_64", 0.03, 0.001),
    )
    problem = Problem(3600, (Shape("s", 1, 1000),), np.array([[2]]), offs, Policy())
    kept, removed = prune_dominated(problem)
    assert removed == {"small/ON_DEMAND": "bigger_cheaper/ON_DEMAND"}
    assert {o.key for o in kept} == {"bigger_cheaper/ON_DEMAND", "arm/ON_DEMAND", "small/SPOT"}
    # Under spot diversification spot offerings are kept whole (pruning would not be exact).
    div = problem.with_policy(Policy(min_spot_instance_types=2))
    assert "small/SPOT" in {o.key for o in prune_dominated(div)[0]}


def test_under_diversification_the_cheapest_pools_no_job_fits_are_kept_to_balance_the_others() -> None:
    offs = (
        Offering("x86", "SPOT", 2, 4000, 0, "x86_64", 0.03),
        *(Offering(f"arm{i}", "SPOT", 2, 4000, 0, "arm64", 0.01 * (4 - i)) for i in range(4)),
        Offering("tiny", "SPOT", 1, 4000, 0, "arm64", 0.011),  # $0.011 per vCPU: dearer than arm2
    )
    problem = Problem(3600, (Shape("s", 2, 1000, arch="x86_64"),), np.array([[2]]), offs, Policy())
    assert {o.key for o in prune_dominated(problem)[0]} == {"x86/SPOT"}  # (no diversification)
    for k, pads in ((2, {"arm3/SPOT"}), (3, {"arm3/SPOT", "arm2/SPOT"})):
        kept = {o.key for o in prune_dominated(problem.with_policy(Policy(min_spot_instance_types=k)))[0]}
        assert kept == {"x86/SPOT"} | pads


def test_validator_reports_each_kind_of_violation() -> None:
    problem = random_problem(7, n_buckets=2, policy=Policy(max_instance_types=3, max_spot_share=0.2))
    plan = run(problem)
    assert validate_plan(problem, plan) == []
    t = next(i for i, b in enumerate(plan.buckets) if b)
    first = plan.buckets[t][0]

    def broken(**changes) -> list[str]:
        bins = [list(b) for b in plan.buckets]
        bins[t] = [replace(first, **changes), *plan.buckets[t][1:]]
        return validate_plan(problem, replace(plan, buckets=bins))

    assert any("unknown offering" in e for e in broken(offering="x9.huge/SPOT"))
    assert any("jobs need" in e for e in broken(jobs={"s4": 99}))
    assert any("< demand" in e for e in broken(jobs={}))
    assert any("cost_usd" in e for e in validate_plan(problem, replace(plan, cost_usd=plan.cost_usd + 1)))
    assert any("above objective" in e for e in validate_plan(problem, replace(plan, lower_bound_usd=1e9)))
    too_many = validate_plan(problem, replace(plan, selected=[o.key for o in problem.offerings]))
    assert any("max_instance_types" in e for e in too_many)
    spot = next(o.key for o in problem.offerings if o.is_spot)
    spot_heavy = [[Bin(spot, 50, {"s0": 1}), *list(b)] for b in plan.buckets]
    errors = validate_plan(problem, replace(plan, buckets=spot_heavy, selected=[*plan.selected, spot]))
    assert any("max_spot_share" in e for e in errors)


def test_validator_rejects_spot_for_shapes_that_must_avoid_it() -> None:
    problem = Problem(3600, shapes(spot_ok=False), np.array([[1], [0], [0], [0], [0]]), offerings(), Policy())
    plan = run(problem)
    spot_bin = Bin("c5.large/SPOT", 1, {"s0": 1})
    errors = validate_plan(problem, replace(plan, buckets=[[spot_bin]], selected=["c5.large/SPOT"]))
    assert any("cannot host shape s0" in e for e in errors)


def test_baselines_are_valid_and_keep_to_their_rules() -> None:
    problem = random_problem(8, n_buckets=5)
    legacy = legacy_optimal(problem)
    assert validate_plan(problem, legacy) == []
    assert all(
        k.split(".")[0] in LEGACY_OPTIMAL_FAMILIES or k.endswith("/ON_DEMAND") for k in legacy.selected
    )
    assert all(k.endswith("/ON_DEMAND") for k in legacy.selected)
    single = single_type(problem)
    assert validate_plan(problem, single) == [] and len(single.selected) == 1
    fit = cheapest_fit(problem)
    assert validate_plan(problem, fit) == []
    assert run(problem).objective_usd <= min(fit.objective_usd, single.objective_usd) + 1e-6
