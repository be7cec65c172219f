"""Spot-limit repair: cheap plans that break a spot limit become valid plans, never invalid ones."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optimizer.solver.assemble import build_plan
from optimizer.solver.baselines import cheapest_fit
from optimizer.solver.plan import Plan
from optimizer.solver.problem import Offering, Policy, Problem, Shape
from optimizer.solver.spot_repair import repair_spot_limits
from optimizer.solver.validate import validate_plan
from tests.solver_helpers import random_problem


def _spot_vcpu_share(problem, plan) -> float:
    offerings = {o.key: o for o in problem.offerings}
    sizes = {s.id: s.vcpus for s in problem.shapes}
    on_spot = sum(
        b.count * n * sizes[sid] for bins in plan.buckets for b in bins if offerings[b.offering].is_spot
        for sid, n in b.jobs.items()
    )  # fmt: skip
    total = sum(float(problem.demand[i].sum()) * s.vcpus for i, s in enumerate(problem.shapes))
    return on_spot / total


def _one_bucket_plan(problem: Problem, offering: str, count: int, jobs: list[int]) -> Plan:
    """A one-bucket plan of `count` instances of `offering`, each holding `jobs` (per shape)."""
    return build_plan(
        problem,
        [[(offering, count, np.array(jobs))]],
        np.arange(1),
        problem.demand,
        status="FEASIBLE",
        reason="",
        lower_bound=0.0,
        solve_seconds=0.0,
    )


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    share=st.sampled_from([None, 0.0, 0.3, 0.7]),
    k=st.sampled_from([0, 2, 3]),
)
def test_repaired_plans_pass_the_validator(seed: int, share: float | None, k: int) -> None:
    problem = random_problem(
        seed, n_buckets=6, policy=Policy(max_spot_share=share, min_spot_instance_types=k)
    )
    base = cheapest_fit(problem)  # ignores spot limits
    repaired = repair_spot_limits(problem, base)
    if repaired is None:
        return  # no move left (e.g. too few spot pools host the jobs): the caller keeps its incumbent
    base_errors = validate_plan(problem.with_policy(Policy()), base)
    assert base_errors == []
    repaired.lower_bound_usd, repaired.gap = 0.0, 1.0
    assert validate_plan(problem, repaired) == []


def test_a_spot_share_cap_moves_the_cheapest_work_to_on_demand_and_no_more() -> None:
    problem = random_problem(3, n_buckets=8, policy=Policy(max_spot_share=0.4))
    base = cheapest_fit(problem)
    assert _spot_vcpu_share(problem, base) > 0.4  # the heuristic puts nearly everything on spot
    repaired = repair_spot_limits(problem, base)
    assert repaired is not None
    share = _spot_vcpu_share(problem, repaired)
    assert share <= 0.4 + 1e-9
    assert share > 0.25  # it moves what the cap needs, not everything
    assert repaired.objective_usd >= base.objective_usd - 1e-9


def test_diversification_spreads_spot_capacity_over_k_pools() -> None:
    problem = random_problem(5, n_buckets=8, policy=Policy(min_spot_instance_types=3))
    repaired = repair_spot_limits(problem, cheapest_fit(problem))
    assert repaired is not None
    pools: dict[str, float] = {}
    offerings = {o.key: o for o in problem.offerings}
    for bins in repaired.buckets:
        for b in bins:
            if offerings[b.offering].is_spot:
                pools[b.offering] = pools.get(b.offering, 0.0) + b.count * offerings[b.offering].vcpus
    total = sum(pools.values())
    assert len(pools) >= 3
    assert max(pools.values()) <= total / 3 + 1e-6
    assert np.isfinite(repaired.objective_usd)


def test_diversification_splits_a_bin_over_smaller_instances_of_another_pool() -> None:
    # Two 8-GPU spot bins of eight 1-GPU jobs each; the other spot pool has 1-GPU instances only,
    # so no whole bin fits there. Meeting 1/2 per pool takes one bin's jobs onto eight small spot
    # instances ($4.80), not onto the 8-GPU type on demand ($13.00).
    shape = Shape("g1", 4.0, 16_000.0, 1, None, True)
    big_spot = Offering("g.big", "SPOT", 32.0, 128_000.0, 8, "x86_64", 4.0, 0.0)
    small_spot = Offering("g.small", "SPOT", 4.0, 16_000.0, 1, "x86_64", 0.6, 0.0)
    big_od = Offering("g.big", "ON_DEMAND", 32.0, 128_000.0, 8, "x86_64", 13.0, 0.0)
    problem = Problem(
        3600.0,
        (shape,),
        np.array([[16]]),
        (big_spot, small_spot, big_od),
        Policy(min_spot_instance_types=2),
    )
    base = _one_bucket_plan(problem, big_spot.key, 2, [8])
    repaired = repair_spot_limits(problem, base)
    assert repaired is not None
    used = {b.offering: b.count for b in repaired.buckets[0]}
    assert used == {big_spot.key: 1, small_spot.key: 8}
    assert repaired.cost_usd == pytest.approx(4.0 + 8 * 0.6)
    repaired.lower_bound_usd, repaired.gap = 0.0, 1.0
    assert validate_plan(problem, repaired) == []


def test_a_spot_share_cap_splits_a_bin_over_smaller_on_demand_instances() -> None:
    # One 96-vCPU spot bin of three 32-vCPU jobs; the only on-demand offering has 32 vCPUs, so no
    # whole bin fits there. A spot share of at most 0.5 (of 192 job vCPUs, two such bins) takes
    # one bin's jobs onto three on-demand instances; with whole-bin moves alone the repair failed.
    shape = Shape("v32", 32.0, 64_000.0, 0, None, True)
    big_spot = Offering("c.24x", "SPOT", 96.0, 192_000.0, 0, "x86_64", 1.5, 0.0)
    small_od = Offering("c.8x", "ON_DEMAND", 32.0, 64_000.0, 0, "x86_64", 1.2, 0.0)
    problem = Problem(3600.0, (shape,), np.array([[6]]), (big_spot, small_od), Policy(max_spot_share=0.5))
    base = _one_bucket_plan(problem, big_spot.key, 2, [3])
    repaired = repair_spot_limits(problem, base)
    assert repaired is not None
    used = {b.offering: b.count for b in repaired.buckets[0]}
    assert used == {big_spot.key: 1, small_od.key: 3}
    assert repaired.cost_usd == pytest.approx(1.5 + 3 * 1.2)
    repaired.lower_bound_usd, repaired.gap = 0.0, 1.0
    assert validate_plan(problem, repaired) == []
