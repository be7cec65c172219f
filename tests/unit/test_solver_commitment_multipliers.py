"""The multipliers the relaxed solve runs at under policies that couple buckets: each shape's
break-even between covered on-demand and spot, and the rule that prices the relaxed problem just
above the highest (`commitments.relaxed_solve_multipliers`)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from optimizer.solver.commitments import (
    RELAXED_MU_CLUSTER,
    RELAXED_MU_MARGIN,
    _clusters,
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


def _problem(policy: Policy, *, od_only: int = 1, spot: bool = True, big: int = 0) -> Problem:
    """Ten two-vCPU jobs every hour (and `od_only` allowed on-demand only, `big` of four vCPUs);
    m6i.large on-demand and spot, a c6i.xlarge on-demand that holds two small jobs or one big, and
    a m6i.xlarge spot at $0.09 (two small jobs, or a big one). A Compute SP at plan rates $0.06
    (m6i.large) and $0.10 (c6i.xlarge): per small job, $0.05 of plan rate on the c6i.xlarge, the
    cheaper cover; its budget covers two small jobs an hour. A shape without demand, and the
    on-demand-only one, have no break-even."""
    shapes = (
        Shape("s", 2, 3000),
        Shape("idle", 2, 3000),
        Shape("od-only", 2, 3000, spot_ok=False),
        Shape("big", 4, 7000),
    )
    demand = np.zeros((4, HOURS), dtype=np.int64)
    demand[0] = 10
    demand[2] = od_only
    demand[3] = big
    offerings = [
        Offering("m6i.large", "ON_DEMAND", 2, 7600, 0, "x86_64", 0.096),
        Offering("c6i.xlarge", "ON_DEMAND", 4, 7600, 0, "x86_64", 0.17),
    ]
    if spot:
        offerings.append(Offering("m6i.large", "SPOT", 2, 7600, 0, "x86_64", SPOT_PRICE, SPOT_RATE))
        offerings.append(Offering("m6i.xlarge", "SPOT", 4, 15200, 0, "x86_64", 0.09))
    sp = Commitment(
        "sp", "COMPUTE_SAVINGS_PLAN", usd_per_hour=0.1, rates={"m6i.large": 0.06, "c6i.xlarge": 0.10}
    )
    return Problem(3600.0, shapes, demand, tuple(offerings), policy, (sp,))


def test_a_shape_breaks_even_where_its_cheapest_cover_costs_its_cheapest_spot_job() -> None:
    problem = _problem(Policy(interruption_cost_factor=ICF))
    # spot: 0.03 x (1 + 0.1 x 0.5) = 0.0315 per job-hour; cover: min(0.06 / 1, 0.10 / 2) = 0.05.
    assert break_even_multipliers(problem) == {"sp": [pytest.approx(0.0315 / 0.05)]}


def test_break_evens_within_the_cluster_step_chain_into_one_cluster() -> None:
    step = 1 + RELAXED_MU_CLUSTER
    assert _clusters([]) == []
    assert _clusters([0.5, 0.4, 0.4 * step]) == [(0.4, 0.4 * step), (0.5, 0.5)]
    assert _clusters([0.4, 0.4 * 1.05, 0.4 * 1.05 * 1.05]) == [(0.4, pytest.approx(0.441))]


def test_the_relaxed_solve_keeps_the_searched_mu_between_clusters_else_runs_above_a_cluster() -> None:
    problem = _problem(Policy(interruption_cost_factor=ICF), big=1)
    # small jobs: 0.0315 / 0.05; big ones: $0.09 on the m6i.xlarge spot against $0.10 of plan rate.
    small, big = 0.0315 / 0.05, 0.09 / 0.10
    assert break_even_multipliers(problem) == {"sp": [pytest.approx(small), pytest.approx(big)]}
    above_small, above_big = small * (1 + RELAXED_MU_MARGIN), big * (1 + RELAXED_MU_MARGIN)
    cases = {
        0.1: above_small,  # below every break-even: the relaxed plan would be all on-demand
        small: above_small,  # inside a cluster
        0.7: 0.7,  # between clusters: the search's balance is kept
        0.85: 0.85,
        big: above_big,
        0.95: above_big,  # above them all
        5.0: above_big,
    }
    for searched, expected in cases.items():
        assert relaxed_solve_multipliers(problem, {"sp": searched}) == {"sp": pytest.approx(expected)}
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
    # One break-even: the relaxed solve ran just above it, wherever the search stopped.
    assert group["multipliers"] == {"sp": pytest.approx(0.0315 / 0.05 * (1 + RELAXED_MU_MARGIN))}
    assert "sp" in group["searched_multipliers"]
