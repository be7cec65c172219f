"""The committed bound that takes what the commitments can cover off the commitment-blind LP at
that LP's duals (`commitments.dual_coverage_savings`): never above the exact optimum, whichever
column-generation round certified it and whatever policy rows couple the buckets, and above the
list-price credit (`coverage_savings_per_hour`) where spot is cheap."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optimizer.solver.column_generation import column_generation
from optimizer.solver.commitments import bill_plan, coverage_savings_per_hour, dual_coverage_savings
from optimizer.solver.plan import Bin, Plan
from optimizer.solver.problem import Commitment, Offering, Policy, Problem, Shape
from optimizer.solver.requirements import restrict_to_requirements
from optimizer.solver.solve import _prepare_pool, solve
from optimizer.solver.validate import validate_plan
from tests.clock import StepClock
from tests.unit.test_solver_commitment_classes import CATALOGUE, SHAPES, _offerings
from tests.unit.test_solver_commitments_coupled import _exact_optimum, draw_policy

RATES = {name: round(price * 0.72, 4) for name, _, _, price in CATALOGUE}


def _shifted_bound(problem: Problem, rounds: int) -> float | None:
    """The bound after `rounds` rounds of the blind problem's column generation (None when no
    round certified one, or no demand: the solve answers without an LP)."""
    problem = restrict_to_requirements(problem)
    if not problem.demand.any():
        return None
    prep, pool, pairs = _prepare_pool(problem.with_commitments(()))
    lp = column_generation(prep, pool, pairs, deadline=np.inf, clock=StepClock(0.001), max_rounds=rounds)
    if lp.certificate is None:
        return None
    return (
        lp.certificate.bound
        + problem.commitment_fees_usd
        - dual_coverage_savings(problem, prep, lp.certificate)
    )


@st.composite
def _problems(draw: st.DrawFn) -> Problem:
    n_buckets = draw(st.integers(1, 3))
    demand = np.array([[draw(st.integers(0, 3)) for _ in range(n_buckets)] for _ in SHAPES], dtype=np.int64)
    commitments = [
        Commitment(
            "sp", "COMPUTE_SAVINGS_PLAN", usd_per_hour=draw(st.sampled_from([0.05, 0.13, 0.3])), rates=RATES
        )
    ]
    if draw(st.booleans()):
        commitments.append(
            Commitment("ri", "RESERVED_INSTANCE", instance_type=draw(st.sampled_from(list(RATES))), count=1)
        )
    offerings = _offerings(draw(st.sampled_from([0.3, 0.6])))
    return Problem(3600.0, SHAPES, demand, offerings, draw_policy(draw), tuple(commitments))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_problems(), st.sampled_from([1, 2, 100]))
def test_the_shifted_bound_never_exceeds_the_exact_optimum(problem: Problem, rounds: int) -> None:
    bound = _shifted_bound(problem, rounds)
    if bound is None:
        return
    optimum = _exact_optimum(problem)
    assert bound <= optimum + 1e-6 * max(1.0, optimum)


def _cheap_spot_problem() -> Problem:
    """Two shapes over six hours, spot at 30 % of list, a Savings Plan worth $0.30 an hour of
    plan rates: the work is worth spot prices, far below the list price the plan covers."""
    demand = np.array([[3, 1, 2, 0, 3, 2], [2, 2, 0, 1, 3, 1]], dtype=np.int64)
    sp = Commitment("sp", "COMPUTE_SAVINGS_PLAN", usd_per_hour=0.3, rates=RATES)
    policy = Policy(time_limit_seconds=20.0, interruption_cost_factor=0.0)
    return Problem(3600.0, SHAPES, demand, _offerings(0.3), policy, (sp,))


def test_where_spot_is_cheap_the_shifted_bound_beats_the_list_price_credit() -> None:
    problem = _cheap_spot_problem()
    blind = solve(problem.with_commitments(()), clock=StepClock(0.001))
    hours = problem.n_buckets * problem.bucket_hours
    by_list = blind.lower_bound_usd + problem.commitment_fees_usd - coverage_savings_per_hour(problem) * hours
    bound = _shifted_bound(problem, 100)
    assert bound is not None
    optimum = _exact_optimum(problem)
    # (the list credit takes $0.30 / 0.72 off every hour; covered work here is only worth spot)
    assert by_list + 0.5 < bound <= optimum + 1e-6
    committed = solve(problem, clock=StepClock(0.001))
    assert committed.lower_bound_usd >= bound - 1e-6
    assert committed.lower_bound_usd <= optimum + 1e-6 <= committed.objective_usd + 2e-6


def test_under_diversification_a_pool_no_job_fits_may_balance_the_others() -> None:
    """One x86 job, two spot pools required, the other spot pool arm64: the job on x86 spot
    beside an empty arm64 instance ($0.04) meets the 1/K rule. The LP once dropped the arm64 pool
    (it hosts nothing) and proved $0.096; the list-price credit of the arm64 Reserved Instance
    hid that in the committed bound, the duals' credit (nothing to cover) would not have."""
    offerings = (
        Offering("m6i.large", "ON_DEMAND", 2, 8192, 0, "x86_64", 0.096),
        Offering("m6i.large", "SPOT", 2, 8192, 0, "x86_64", 0.03),
        Offering("m6g.large", "ON_DEMAND", 2, 8192, 0, "arm64", 0.077),
        Offering("m6g.large", "SPOT", 2, 8192, 0, "arm64", 0.01),
    )
    ri = Commitment("ri", "RESERVED_INSTANCE", instance_type="m6g.large", count=1)
    policy = Policy(min_spot_instance_types=2, interruption_cost_factor=0.0, time_limit_seconds=5)
    problem = Problem(
        3600.0, (Shape("s", 2, 4000, arch="x86_64"),), np.array([[1]]), offerings, policy, (ri,)
    )
    idle = [[Bin("m6i.large/SPOT", 1, {"s": 1}), Bin("m6g.large/SPOT", 1, {})]]
    hand = bill_plan(
        problem, Plan("FEASIBLE", "", 0.0, 0.0, 0.0, 0.0, 0.0, ["m6g.large/SPOT", "m6i.large/SPOT"], idle)
    )
    assert validate_plan(problem, hand, check_bound=False) == []
    assert abs(hand.objective_usd - 0.04) < 1e-9
    for p in (problem, problem.with_commitments(())):
        plan = solve(p, clock=StepClock(0.01))
        assert plan.lower_bound_usd <= hand.objective_usd + 1e-9
        assert abs(plan.objective_usd - 0.04) < 1e-9
        assert validate_plan(p, plan) == []
