"""The multipliers the relaxed solve runs at under policies that couple buckets: each shape's
break-even between covered on-demand and spot, and the rule that prices the relaxed problem just
above the highest (`commitments.relaxed_solve_multipliers`)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from optimizer.solver.commitments import (
    RELAXED_MU_MARGIN,
    break_even_multipliers,
    relaxed_problem,
    relaxed_solve_multipliers,
)
from optimizer.solver.plan import Plan
from optimizer.solver.problem import Commitment, Offering, Policy, Problem, Shape
from optimizer.solver.solve import solve
from optimizer.solver.validate import validate_plan

HOURS = 6
ICF = 0.5
SPOT_PRICE, SPOT_RATE = 0.03, 0.1


def _problem(policy: Policy, *, od_only: int = 1, spot: bool = True) -> Problem:
    """Ten two-vCPU jobs every hour (and `od_only` allowed on-demand only); m6i.large on-demand
    and spot, and a c6i.xlarge on-demand that holds two of them. A Compute SP at plan rates $0.06
    (m6i.large) and $0.10 (c6i.xlarge): per job, $0.05 of plan rate on the c6i.xlarge, the cheaper
    cover; its budget covers two jobs an hour. A second shape without demand, and the third, have
    no break-even."""
    shapes = (Shape("s", 2, 3000), Shape("idle", 2, 3000), Shape("od-only", 2, 3000, spot_ok=False))
    demand = np.zeros((3, HOURS), dtype=np.int64)
    demand[0] = 10
    demand[2] = od_only
    offerings = [
        Offering("m6i.large", "ON_DEMAND", 2, 7600, 0, "x86_64", 0.096),
        Offering("c6i.xlarge", "ON_DEMAND", 4, 7600, 0, "x86_64", 0.17),
    ]
    if spot:
        offerings.append(Offering("m6i.large", "SPOT", 2, 7600, 0, "x86_64", SPOT_PRICE, SPOT_RATE))
    sp = Commitment(
        "sp", "COMPUTE_SAVINGS_PLAN", usd_per_hour=0.1, rates={"m6i.large": 0.06, "c6i.xlarge": 0.10}
    )
    return Problem(3600.0, shapes, demand, tuple(offerings), policy, (sp,))


def test_a_shape_breaks_even_where_its_cheapest_cover_costs_its_cheapest_spot_job() -> None:
    problem = _problem(Policy(interruption_cost_factor=ICF))
    # spot: 0.03 x (1 + 0.1 x 0.5) = 0.0315 per job-hour; cover: min(0.06 / 1, 0.10 / 2) = 0.05.
    assert break_even_multipliers(problem) == {"sp": [pytest.approx(0.0315 / 0.05)]}


def test_the_relaxed_solve_keeps_the_searched_mu_among_the_break_evens_else_runs_just_above_them() -> None:
    problem = _problem(Policy(interruption_cost_factor=ICF))
    [b] = break_even_multipliers(problem)["sp"]
    above = b * (1 + RELAXED_MU_MARGIN)
    for searched in (0.1, 0.99 * b, 1.01 * above, 5.0):  # below every break-even, or above them all
        assert relaxed_solve_multipliers(problem, {"sp": searched}) == {"sp": pytest.approx(above)}
    for searched in (b, 1.01 * b, above):
        assert relaxed_solve_multipliers(problem, {"sp": searched}) == {"sp": searched}
    without_spot = _problem(Policy(interruption_cost_factor=ICF), spot=False)
    assert break_even_multipliers(without_spot) == {"sp": []}
    assert relaxed_solve_multipliers(without_spot, {"sp": 0.4}) == {"sp": 0.4}


def _jobs_on_demand(plan: Plan) -> int:
    return sum(
        b.count * b.jobs.get("s", 0)
        for bins in plan.buckets
        for b in bins
        if b.offering.endswith("/ON_DEMAND")
    )


def test_below_the_break_even_the_relaxed_plan_covers_every_job_on_demand_and_above_it_none() -> None:
    """The side of the break-even decides the relaxed plan: a little below it every job is covered
    on-demand, five times what the budget covers; a little above it spot takes them all."""
    problem = _problem(Policy(interruption_cost_factor=ICF, time_limit_seconds=5), od_only=0)
    [b] = break_even_multipliers(problem)["sp"]
    below = solve(relaxed_problem(problem, {"sp": 0.97 * b}), clock=time.perf_counter)
    above = solve(
        relaxed_problem(problem, relaxed_solve_multipliers(problem, {"sp": 0.0})), clock=time.perf_counter
    )
    assert _jobs_on_demand(below) == 10 * HOURS
    assert _jobs_on_demand(above) == 0


def test_the_committed_solve_under_a_coupling_policy_runs_the_relaxed_solve_among_the_break_evens() -> None:
    policy = Policy(interruption_cost_factor=ICF, time_limit_seconds=5, max_spot_share=0.8)
    problem = _problem(policy)
    plan = solve(problem, clock=time.perf_counter)
    assert plan.has_solution and validate_plan(problem, plan) == []
    [group] = plan.stats["commitment_groups"]
    # The relaxed solve ran among the break-evens (here one), wherever the search stopped.
    b = 0.0315 / 0.05
    assert b - 1e-9 <= group["multipliers"]["sp"] <= b * (1 + RELAXED_MU_MARGIN) + 1e-9
    assert group["multipliers"]["sp"] == pytest.approx(
        relaxed_solve_multipliers(problem, group["searched_multipliers"])["sp"]
    )
