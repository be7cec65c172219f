"""The per-class partition bound (`partition_bound.py`): never above the exact optimum of small
problems (the MILP written from the rules in test_solver_commitments_coupled), equal to it where
nothing is relaxed, valid whatever the deadline leaves, and standing in for the multiplier search
in the committed solve."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from optimizer.solver.partition_bound import partition_bound
from optimizer.solver.problem import Commitment, Offering, Policy, Problem, Shape
from optimizer.solver.pruning import prune_dominated
from optimizer.solver.solve import solve
from optimizer.solver.validate import validate_plan
from tests.clock import StepClock
from tests.unit.test_solver_commitment_classes import SHAPES, _offerings
from tests.unit.test_solver_commitments_coupled import _exact_optimum, _problems


def _bound(problem: Problem, *, deadline: float = 60.0, step: float = 1e-6) -> float:
    found = partition_bound(problem, deadline=deadline, clock=StepClock(step))
    assert found is not None
    return found.bound


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_problems())
def test_the_bound_never_exceeds_the_exact_optimum_with_or_without_the_commitment(problem: Problem) -> None:
    for case in (problem, problem.with_commitments(())):
        if not case.demand.any():
            assert partition_bound(case, deadline=60.0, clock=StepClock(1e-6)) is None
            continue
        optimum = _exact_optimum(case)
        assert _bound(case) <= optimum + 1e-6 * max(1.0, optimum)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_problems())
def test_with_nothing_to_relax_the_bound_is_the_exact_optimum(problem: Problem) -> None:
    # No commitment and no row over all buckets: every class's exact cover is the optimum itself.
    policy = Policy(time_limit_seconds=20.0, interruption_cost_factor=0.0)
    free = problem.with_commitments(()).with_policy(policy)
    if not free.demand.any():
        return
    optimum = _exact_optimum(free)
    assert _bound(free) == pytest.approx(optimum, rel=1e-9, abs=1e-9)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_problems())
def test_a_deadline_already_passed_still_gives_a_valid_bound(problem: Problem) -> None:
    # Every class then keeps its per-job charges: weaker, never wrong.
    if not problem.demand.any():
        return
    optimum = _exact_optimum(problem)
    late = partition_bound(problem, deadline=0.0, clock=StepClock(1.0))
    assert late is not None and late.rounds == 0
    assert late.bound <= optimum + 1e-6 * max(1.0, optimum)
    assert late.bound <= _bound(problem) + 1e-9


def test_a_savings_plan_smaller_than_one_instance_is_priced_near_its_bill() -> None:
    # One job, one covered on-demand type, a plan paying for 72 % of one instance's plan-rate hour:
    # the bill is the fee plus the uncovered 28 % at list. The bisection on the multiplier gets
    # within its last step (1/64 of the range) of it.
    shape = Shape("one", 2, 4000)
    offering = Offering("m6i.large", "ON_DEMAND", 2, 8192, 0, "x86_64", 0.096)
    rate = 0.0691
    sp = Commitment("sp", "COMPUTE_SAVINGS_PLAN", usd_per_hour=0.05, rates={"m6i.large": rate})
    policy = Policy(interruption_cost_factor=0.0)
    problem = Problem(3600.0, (shape,), np.array([[1]]), (offering,), policy, (sp,))
    bill = 0.05 + 0.096 * (1 - 0.05 / rate)
    bound = _bound(problem)
    assert bound <= bill + 1e-9
    assert bound >= bill - 0.096 * (1 - 0.05 / rate) / 64 - 1e-9


def test_classes_too_large_to_enumerate_leave_the_bound_to_the_caller() -> None:
    # 40 jobs of each shape in one bucket: 41^2 sub-multisets are fine, but 12 shapes of 5 jobs
    # each are 6^12 > the recursion's limit.
    shapes = tuple(Shape(f"s{k}", 1 + k % 2, 1000 + 100 * k) for k in range(12))
    offerings = _offerings(0.5)
    problem = Problem(3600.0, shapes, np.full((12, 1), 5), offerings, Policy(max_spot_share=0.5))
    # (told before anything is prepared)
    assert partition_bound(problem, deadline=60.0, clock=StepClock(1e-6), min_exact_share=0.9) is None
    found = partition_bound(problem, deadline=60.0, clock=StepClock(1e-6))
    assert found is not None and found.exact_classes == 0 and found.bound > 0


def test_pruning_keeps_a_covered_offering_a_cheaper_uncovered_one_beats_at_list() -> None:
    # At list prices c6i.large is beaten by a cheaper, bigger uncovered type; under the plan's
    # multiplier it may be the cheapest, so it stays when the problem has commitments.
    covered = Offering("c6i.large", "ON_DEMAND", 2, 4096, 0, "x86_64", 0.085)
    cheaper = Offering("c7a.large", "ON_DEMAND", 2, 8192, 0, "x86_64", 0.080)
    sp = Commitment("sp", "COMPUTE_SAVINGS_PLAN", usd_per_hour=0.05, rates={"c6i.large": 0.06})
    problem = Problem(3600.0, SHAPES, np.array([[1], [0]]), (covered, cheaper), Policy())
    assert [o.key for o in prune_dominated(problem)[0]] == ["c7a.large/ON_DEMAND"]
    kept = prune_dominated(problem.with_commitments((sp,)))[0]
    assert sorted(o.key for o in kept) == ["c6i.large/ON_DEMAND", "c7a.large/ON_DEMAND"]


def test_the_committed_solve_takes_the_partition_bound_and_skips_the_relaxed_solve() -> None:
    # Buckets of a few jobs: every class is small, so the partition bound stands in for the
    # multiplier search and the relaxed solve's time goes to the per-class stage. (A blind plan
    # that is the all-on-demand last resort takes the rescue path instead: the spot share 0.7
    # leaves the blind search a plan of its own.)
    rng = np.random.default_rng(7)
    demand = rng.integers(1, 4, size=(len(SHAPES), 12))
    rates = {"m6i.large": 0.0691, "m6i.xlarge": 0.1382, "c6i.large": 0.0612}
    sp = Commitment("sp", "COMPUTE_SAVINGS_PLAN", usd_per_hour=0.1, rates=rates)
    policy = Policy(max_instance_types=3, min_spot_instance_types=2, max_spot_share=0.7,
                    time_limit_seconds=5.0, interruption_cost_factor=0.0)  # fmt: skip
    problem = Problem(3600.0, SHAPES, demand, _offerings(0.4), policy, (sp,))
    plan = solve(problem, clock=StepClock(0.001))
    assert validate_plan(problem, plan) == []
    group = plan.stats["commitment_groups"][0]
    assert group["relaxed_status"] == "skipped"
    assert group["search_bound_usd"] == pytest.approx(_bound(problem), abs=1e-6)  # (stats keep 6 decimals)
    assert plan.lower_bound_usd >= group["search_bound_usd"] - 1e-9
    optimum = _exact_optimum(problem)
    assert plan.lower_bound_usd <= optimum + 1e-6 <= plan.objective_usd + 2e-6


def test_under_a_share_cap_the_multiplier_raises_the_bound_over_dropping_the_cap() -> None:
    # Spot at 40 % of on-demand and at most half the job vCPUs on it: without the cap's price the
    # covers run everything on spot; priced, the bound moves towards the capped optimum.
    rng = np.random.default_rng(3)
    demand = rng.integers(1, 4, size=(len(SHAPES), 6))
    capped = Problem(3600.0, SHAPES, demand, _offerings(0.4),
                     Policy(max_spot_share=0.5, interruption_cost_factor=0.0))  # fmt: skip
    found = partition_bound(capped, deadline=60.0, clock=StepClock(1e-6))
    assert found is not None and found.spot_multiplier > 0
    uncapped = replace(capped, policy=Policy(interruption_cost_factor=0.0))
    assert found.bound > _bound(uncapped) + 1e-6
    assert found.bound <= _exact_optimum(capped) + 1e-6


@pytest.mark.parametrize("type_cap", [None, 3])
def test_an_unconverged_lp_under_a_share_cap_gets_the_partition_bound(
    monkeypatch: pytest.MonkeyPatch, type_cap: int | None
) -> None:
    # Where column generation stops unconverged (the demo's gpu-training queue: 4 rounds in 7.4 s)
    # its bound is weak; the partition bound then runs, in-process without a type cap and first
    # in the child process beside the offering subsets under one. Either way the plan's bound
    # holds it and stays under the exact optimum.
    import optimizer.solver.solve as solve_module

    real = solve_module.column_generation

    def unconverged(*args: object, **kwargs: object) -> object:
        return replace(real(*args, **kwargs), converged=False)

    monkeypatch.setattr(solve_module, "column_generation", unconverged)
    rng = np.random.default_rng(5)
    demand = rng.integers(0, 4, size=(len(SHAPES), 6))
    policy = Policy(max_spot_share=0.5, max_instance_types=type_cap, time_limit_seconds=10.0,
                    interruption_cost_factor=0.0)  # fmt: skip
    problem = Problem(3600.0, SHAPES, demand, _offerings(0.4), policy)
    plan = solve(problem, clock=StepClock(0.01))
    assert validate_plan(problem, plan) == []
    assert plan.stats["partition_bound_usd"] == pytest.approx(_bound(problem), abs=1e-6)
    assert plan.lower_bound_usd >= plan.stats["partition_bound_usd"] - 1e-9
    assert plan.lower_bound_usd <= _exact_optimum(problem) + 1e-6


@pytest.mark.parametrize("share", [None, 0.5])
def test_a_reserved_instance_beside_a_savings_plan_keeps_the_bound_under_the_optimum(
    share: float | None,
) -> None:
    # Two commitments, each with its own multiplier per class: the bound stays valid (every
    # multiplier gives one) and says more than the fees alone ($0.46 against $0.25, the optimum
    # $0.65 or $0.75 with the cap). (With half the jobs and a $0.08 plan it is the fees alone,
    # however the multipliers are chosen: the exact dual on a 41 x 41 grid is 0 in every class,
    # since a convex mix of covers may run half the time on two reserved instances.)
    rng = np.random.default_rng(11)
    demand = rng.integers(0, 4, size=(len(SHAPES), 5)) * 2
    ri = Commitment("ri", "RESERVED_INSTANCE", instance_type="m6i.large", count=1)
    sp = Commitment("sp", "COMPUTE_SAVINGS_PLAN", usd_per_hour=0.05, rates={"m6i.xlarge": 0.1382})
    policy = Policy(max_spot_share=share, interruption_cost_factor=0.0)
    problem = Problem(3600.0, SHAPES, demand, _offerings(0.4), policy, (ri, sp))
    optimum = _exact_optimum(problem)
    bound = _bound(problem)
    assert problem.commitment_fees_usd < bound <= optimum + 1e-6


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_problems())
def test_without_a_coupling_policy_the_committed_solve_keeps_the_partition_bound(problem: Problem) -> None:
    # Every bucket is its own problem: the groups' LP bounds and the class covers' combine bucket
    # by bucket, so the solve's bound is at least the partition bound and still under the optimum.
    free = problem.with_policy(Policy(time_limit_seconds=5.0, interruption_cost_factor=0.0))
    if not free.demand.any():
        return
    plan = solve(free, clock=StepClock(0.001))
    assert validate_plan(free, plan) == []
    assert plan.objective_usd <= plan.stats["blind_objective_usd"] + 1e-6  # never dearer than ignoring it
    assert plan.stats["partition_bound_usd"] == pytest.approx(_bound(free), abs=1e-6)
    assert plan.lower_bound_usd >= plan.stats["partition_bound_usd"] - 1e-6
    optimum = _exact_optimum(free)
    assert plan.lower_bound_usd <= optimum + 1e-6 * max(1.0, optimum) <= plan.objective_usd + 2e-6


def test_without_a_coupling_policy_groups_without_a_plan_take_the_blind_plans_buckets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The groups' relaxed solves may find no plan in their share (on the Alibaba week in
    # ten-minute buckets they ran past it to plans dearer than the blind one): the committed solve
    # still answers, with the blind plan's buckets, billed and checked like any other.
    from optimizer.solver import commitments
    from optimizer.solver.assemble import empty_plan

    real = commitments._solve_group

    def no_plan(problem: Problem, **kwargs: object) -> tuple:
        _, bound, search, stats = real(problem, **kwargs)
        none = empty_plan(problem, "TIMEOUT", "no plan in its share", lower_bound=bound, solve_seconds=0.0)
        return commitments.bill_plan(problem, none), bound, search, stats

    monkeypatch.setattr(commitments, "_solve_group", no_plan)
    rng = np.random.default_rng(3)
    sp = Commitment("sp", "COMPUTE_SAVINGS_PLAN", usd_per_hour=0.13,
                    rates={"m6i.large": 0.0691, "m6i.xlarge": 0.1382, "c6i.large": 0.0612})  # fmt: skip
    policy = Policy(time_limit_seconds=5.0, interruption_cost_factor=0.0)
    demand = rng.integers(0, 4, size=(len(SHAPES), 9))
    problem = Problem(3600.0, SHAPES, demand, _offerings(0.4), policy, (sp,))
    plan = solve(problem, clock=StepClock(0.001))
    assert plan.has_solution, plan.reason
    assert validate_plan(problem, plan) == []
    assert all(group.get("blind_buckets") for group in plan.stats["commitment_groups"])
    assert plan.objective_usd <= plan.stats["blind_objective_usd"] + 1e-6
    assert plan.lower_bound_usd <= _exact_optimum(problem) + 1e-6
