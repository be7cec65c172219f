"""The budget-first committed plan under coupling policies (`commitment_prefill.py`): covered
on-demand instances in every bucket, the rest of the jobs solved at list prices under the policy."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from optimizer.solver.commitment_prefill import (
    _candidates,
    _narrowed,
    _rest_policy,
    job_costs,
    prefill_candidate,
)
from optimizer.solver.commitments import bill_plan
from optimizer.solver.plan import Bin, Plan
from optimizer.solver.problem import Commitment, Offering, Policy, Problem, Shape
from optimizer.solver.solve import solve
from optimizer.solver.validate import validate_plan
from tests.clock import StepClock

SP = Commitment("sp", "COMPUTE_SAVINGS_PLAN", usd_per_hour=0.48, rates={"m6i.large": 0.06})
OFFERINGS = (
    Offering("m6i.large", "ON_DEMAND", 2, 7600, 0, "x86_64", 0.096),
    Offering("m6i.large", "SPOT", 2, 7600, 0, "x86_64", 0.03),
    Offering("c6i.large", "SPOT", 2, 3800, 0, "x86_64", 0.025),
)


def _problem(policy: Policy) -> Problem:
    """Ten 2-vCPU jobs every hour of a day; the plan's $0.48/h at the m6i.large rate $0.06 covers 8."""
    return Problem(3600.0, (Shape("s", 2, 3000),), np.full((1, 24), 10), OFFERINGS, policy, (SP,))


def _blind(problem: Problem) -> Plan:
    """What a commitment-blind planner runs under the share cap: four jobs in each spot pool every
    hour and two on demand."""
    hour = [
        Bin("c6i.large/SPOT", 4, {"s": 1}),
        Bin("m6i.large/SPOT", 4, {"s": 1}),
        Bin("m6i.large/ON_DEMAND", 2, {"s": 1}),
    ]
    plan = Plan("FEASIBLE", "", 0.0, 0.0, 0.0, 0.0, 0.0, sorted(b.offering for b in hour), [hour] * 24)
    return bill_plan(problem, plan)


def test_job_costs_split_every_dollar_of_the_plan_over_its_jobs() -> None:
    problem = Problem(
        3600.0,
        (Shape("small", 1, 1500), Shape("big", 2, 6000)),
        np.array([[3, 0, 5], [1, 2, 0]]),
        OFFERINGS,
        Policy(interruption_cost_factor=0.0),
    )
    plan = solve(problem, clock=StepClock(0.01))
    value = job_costs(problem, plan)
    job_hours = problem.demand.sum(axis=1) * problem.bucket_hours
    # Every bin's dollars go to the jobs it hosts (idle room included), so the split adds up.
    assert float(value @ job_hours) == pytest.approx(plan.objective_usd)
    assert (value > 0).all()


def test_covered_instances_come_first_and_the_rest_meets_the_policy() -> None:
    # Blind, the $0.48/h plan covers 2 of 8 possible instances: $0.22/h of spot beside the fee.
    # Budget first, 8 covered m6i.large a bucket host 8 jobs for the fee alone, and the 2 jobs left
    # go one to each spot pool (diversification over 2 pools, type cap 3 with one type taken).
    problem = _problem(Policy(max_instance_types=3, min_spot_instance_types=2, max_spot_share=0.9))
    blind = _blind(problem)
    assert validate_plan(problem, blind, check_bound=False) == []
    plan = prefill_candidate(problem, blind, deadline=5.0, clock=StepClock(0.001))
    assert plan is not None
    assert validate_plan(problem, plan, check_bound=False) == []
    for bins in plan.buckets:
        counts: dict[str, int] = {}
        for b in bins:
            counts[b.offering] = counts.get(b.offering, 0) + b.count
        assert counts == {"m6i.large/ON_DEMAND": 8, "c6i.large/SPOT": 1, "m6i.large/SPOT": 1}
    assert plan.commitments[0]["utilization"] == pytest.approx(1.0)
    assert plan.objective_usd == pytest.approx(24 * (0.025 + 0.03 + 0.48))
    assert plan.objective_usd < blind.objective_usd


def test_no_budget_first_plan_when_the_cap_leaves_the_rest_too_few_types() -> None:
    # Two spot pools are required and the cap is 2: the covered type would leave one for the rest.
    problem = _problem(Policy(max_instance_types=2, min_spot_instance_types=2))
    assert prefill_candidate(problem, _blind(problem), deadline=5.0, clock=StepClock(0.001)) is None


def test_a_covered_type_another_beats_on_every_count_is_not_a_candidate() -> None:
    # m7i.large: the same size and hosts as m6i.large, dearer and consuming more of the plan.
    dearer = Offering("m7i.large", "ON_DEMAND", 2, 7600, 0, "x86_64", 0.1)
    sp = replace(SP, rates={"m6i.large": 0.06, "m7i.large": 0.07})
    problem = replace(_problem(Policy()), offerings=(*OFFERINGS, dearer), commitments=(sp,))
    kept = [c.offering.key for c in _candidates(problem, np.ones(1))]
    assert kept == ["m6i.large/ON_DEMAND"]


def test_the_committed_solve_keeps_the_budget_first_plan_when_it_is_cheapest() -> None:
    problem = _problem(
        Policy(max_instance_types=3, min_spot_instance_types=2, max_spot_share=0.9, time_limit_seconds=5.0)
    )
    plan = solve(problem, clock=StepClock(0.001))
    assert validate_plan(problem, plan) == []
    assert plan.objective_usd <= 24 * (0.025 + 0.03 + 0.48) + 1e-6


def test_the_narrow_rest_keeps_the_blind_plans_types_and_drops_a_cap_that_cannot_bind() -> None:
    # A third spot pool the blind plan does not use: the narrow rest leaves it out, and with the
    # covered type among its 3 offerings a cap of 3 cannot bind, so the rest is solved without it;
    # on the whole catalogue (4 offerings) the rest keeps one type fewer than the cap.
    other = Offering("c7i.large", "SPOT", 2, 3800, 0, "x86_64", 0.026)
    policy = Policy(max_instance_types=3, min_spot_instance_types=2, time_limit_seconds=5.0)
    problem = replace(_problem(policy), offerings=(*OFFERINGS, other))
    left = replace(problem, commitments=())
    covered = "m6i.large/ON_DEMAND"
    narrow = _narrowed(left, _blind(problem).selected, covered)
    assert sorted(o.key for o in narrow.offerings) == sorted(o.key for o in OFFERINGS)
    clock = StepClock(0.001)
    narrow_policy = _rest_policy(problem, narrow, covered, deadline=5.0, clock=clock)
    whole_policy = _rest_policy(problem, left, covered, deadline=5.0, clock=clock)
    assert narrow_policy is not None and narrow_policy.max_instance_types is None
    assert whole_policy is not None and whole_policy.max_instance_types == 2
    plan = prefill_candidate(problem, _blind(problem), deadline=5.0, clock=StepClock(0.001))
    assert plan is not None and validate_plan(problem, plan, check_bound=False) == []
    assert len(plan.selected) <= 3


def test_the_narrow_rest_offers_the_blind_plans_types_bought_either_way() -> None:
    # The blind plan buys c6i.large on spot only; its on-demand offering stays on offer to the rest
    # (the Alibaba week's plan $4,127 against $4,402 on the blind plan's offerings alone), and with
    # 4 offerings the cap of 3 keeps one type fewer.
    on_demand = Offering("c6i.large", "ON_DEMAND", 2, 3800, 0, "x86_64", 0.085)
    policy = Policy(max_instance_types=3, min_spot_instance_types=2, time_limit_seconds=5.0)
    problem = replace(_problem(policy), offerings=(*OFFERINGS, on_demand))
    left = replace(problem, commitments=())
    narrow = _narrowed(left, _blind(problem).selected, "m6i.large/ON_DEMAND")
    assert sorted(o.key for o in narrow.offerings) == sorted(o.key for o in problem.offerings)
    rest = _rest_policy(problem, narrow, "m6i.large/ON_DEMAND", deadline=5.0, clock=StepClock(0.001))
    assert rest is not None and rest.max_instance_types == 2


@pytest.mark.parametrize(("narrow_seconds", "rests"), [(1.0, 2), (3.0, 1)])
def test_the_whole_catalogue_rest_runs_only_with_the_time_the_narrow_one_took(
    monkeypatch: pytest.MonkeyPatch, narrow_seconds: float, rests: int
) -> None:
    # The whole catalogue is the bigger problem: given less time than the narrow rest needed, its
    # solve runs past the deadline to a first plan (the demo's gpu-training queue: 1.3 s past a
    # 0.3 s window). With 5 s and a narrow rest of 1 s it runs; after one of 3 s it does not.
    import optimizer.solver.commitment_prefill as prefill

    now = [0.0]
    sizes: list[int] = []

    def merged(problem: Problem, rest: Problem, *args: object, deadline: float, clock: object) -> None:
        sizes.append(len(rest.offerings))
        now[0] += narrow_seconds

    monkeypatch.setattr(prefill, "_merged", merged)
    policy = Policy(max_instance_types=3, min_spot_instance_types=2, time_limit_seconds=5.0)
    other = Offering("c7i.large", "SPOT", 2, 3800, 0, "x86_64", 0.026)
    problem = replace(_problem(policy), offerings=(*OFFERINGS, other))
    assert prefill.prefill_candidate(problem, _blind(problem), deadline=5.0, clock=lambda: now[0]) is None
    assert sizes == [3, 4][:rests]  # the narrow rest (the blind plan's offerings), then the whole
