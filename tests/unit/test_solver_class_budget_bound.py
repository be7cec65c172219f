"""Each small class's exact bill with the budgets as rows (`class_budget_bound.py`): it closes the
Lagrangian dual's gap where a budget is worth less than one instance, and never passes the optimum."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from optimizer.solver.class_budget_bound import class_bill_bound, class_grid
from optimizer.solver.columns import prepare
from optimizer.solver.partition_bound import partition_bound
from optimizer.solver.problem import Commitment, Offering, Policy, Problem, Shape
from tests.clock import StepClock
from tests.unit.test_solver_commitment_classes import SHAPES, _offerings
from tests.unit.test_solver_commitments_coupled import _exact_optimum

PRICE, RATE, BUDGET, SPOT = 0.085, 0.0612, 0.03, 0.0255


def _one_job(share: float | None = None) -> Problem:
    offerings = (
        Offering("c6i.large", "ON_DEMAND", 2, 4096, 0, "x86_64", PRICE),
        Offering("c6i.large", "SPOT", 2, 4096, 0, "x86_64", SPOT),
    )
    sp = Commitment("sp", "COMPUTE_SAVINGS_PLAN", usd_per_hour=BUDGET, rates={"c6i.large": RATE})
    policy = Policy(time_limit_seconds=20.0, interruption_cost_factor=0.0, max_spot_share=share)
    return Problem(3600.0, SHAPES, np.array([[1], [0]]), offerings, policy, (sp,))


def test_one_job_and_a_budget_under_one_instance_is_priced_at_its_bill() -> None:
    # Every plan pays min(spot, price x (1 - C / rate)) an hour besides the fee: spot here. The
    # dual alone reads spot x (1 - C / rate), since at mu = spot / rate a spot cover also "gives
    # back" mu x C; the exact bill does not.
    problem = _one_job()
    bill = BUDGET + min(SPOT, PRICE * (1 - BUDGET / RATE))
    dual = BUDGET + SPOT * (1 - BUDGET / RATE)
    assert _exact_optimum(problem) == pytest.approx(bill, abs=1e-9)
    found = partition_bound(problem, deadline=60.0, clock=StepClock(1e-6))
    assert found is not None and found.exact_bills == 1
    assert found.bound == pytest.approx(bill, abs=1e-7)
    assert found.bound > dual + 0.01


def test_under_a_priced_share_cap_the_exact_bills_raise_the_bound_and_stay_valid(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # No spot allowed: the on-demand hour, part covered, is the only plan. The exact bill at the
    # share's w (found with the dual values) includes w per spot job vCPU-hour and still lifts
    # the bound over the dual's alone.
    from optimizer.solver import class_budget_bound

    problem = _one_job(share=0.0)
    optimum = _exact_optimum(problem)
    assert optimum == pytest.approx(BUDGET + PRICE * (1 - BUDGET / RATE), abs=1e-9)
    found = partition_bound(problem, deadline=60.0, clock=StepClock(1e-6))
    monkeypatch.setattr(class_budget_bound, "class_bill_bound", lambda *args, **kwargs: None)
    dual = partition_bound(problem, deadline=60.0, clock=StepClock(1e-6))
    assert found is not None and dual is not None
    assert dual.bound + 0.005 < found.bound <= optimum + 1e-9


@pytest.mark.parametrize("seed", range(12))
def test_class_bills_stay_under_each_class_optimum(seed: int) -> None:
    # Per class (one bucket each here) the bound is at most the class's own exact optimum, which
    # the whole-problem MILP gives for a one-bucket problem less the fees.
    rng = np.random.default_rng(seed)
    rates = {"m6i.large": 0.0691, "m6i.xlarge": 0.1382, "c6i.large": 0.0612}
    sp = Commitment(
        "sp", "COMPUTE_SAVINGS_PLAN", usd_per_hour=float(rng.choice([0.03, 0.1, 0.2])), rates=rates
    )
    policy = Policy(time_limit_seconds=20.0, interruption_cost_factor=0.0)
    demand = rng.integers(0, 4, size=(len(SHAPES), 1))
    demand[rng.integers(len(SHAPES)), 0] += 1
    problem = Problem(3600.0, SHAPES, demand, _offerings(float(rng.choice([0.3, 0.6]))), policy, (sp,))
    prep = prepare(problem, list(problem.offerings))
    found = class_bill_bound(prep, 0, 0.0, time_limit=5.0)
    assert found is not None
    optimum = _exact_optimum(problem) - sp.usd_per_hour
    assert found.bound <= optimum + 1e-7
    # Its cover hosts the class's jobs, and HiGHS closed the gap: the cover is the optimum.
    assert (sum(n * np.array(jobs) for _, jobs, n in found.bins) >= demand[:, 0]).all()
    assert found.bound == pytest.approx(optimum, abs=1e-6)


def test_patterns_are_every_job_mix_an_offering_can_host() -> None:
    shapes = (Shape("small", 1, 1500), Shape("big", 2, 6000), Shape("gpu", 4, 16000, 1))
    offerings = (
        Offering("c6i.large", "ON_DEMAND", 2, 4096, 0, "x86_64", 0.085),
        Offering("m6i.xlarge", "SPOT", 4, 16384, 0, "x86_64", 0.07),
        Offering("g5.xlarge", "ON_DEMAND", 4, 16000, 1, "x86_64", 1.0),
    )
    problem = Problem(3600.0, shapes, np.array([[3], [1], [1]]), offerings, Policy())
    prep = prepare(problem, list(offerings))
    found = class_grid(prep, 0)
    assert found is not None
    fits, subsets = found
    got = {(int(o), tuple(int(n) for n in subsets[k])) for o, k in zip(*np.nonzero(fits), strict=True)}
    expected = set()
    for o, offering in enumerate(offerings):
        for counts in itertools.product(range(4), range(2), range(2)):
            if not any(counts) or any(n and not offering.can_host(shapes[s]) for s, n in enumerate(counts)):
                continue
            need = np.array(counts) @ np.array([[s.vcpus, s.memory_mib, s.gpus] for s in shapes])
            if (need <= np.array([offering.vcpus, offering.memory_mib, offering.gpus]) + 1e-9).all():
                expected.add((o, counts))
    assert got == expected


def test_the_committed_solve_proves_the_one_job_plan_optimal() -> None:
    # Without the exact bill the solve's bound was the dual's, 22 % under this plan.
    from optimizer.solver.solve import solve
    from optimizer.solver.validate import validate_plan

    problem = _one_job()
    plan = solve(problem, clock=StepClock(0.001))
    assert validate_plan(problem, plan) == []
    assert plan.objective_usd == pytest.approx(BUDGET + SPOT, abs=1e-9)
    assert plan.status == "OPTIMAL", plan.reason


def test_the_reason_says_where_the_budget_was_held() -> None:
    from optimizer.solver.commitments import bound_note

    policy = Policy(max_instance_types=8, min_spot_instance_types=3, max_spot_share=0.8)
    assert bound_note(policy, share_priced=True, budget_exact=True) == (
        "the lower bound is loose: it holds each hour to the commitment's budget only in its most common"
        " hours, pricing it in the rest, and leaves out the instance-type cap and the spread over spot"
        " types, so the plan is likely nearer the cheapest one than the gap says"
    )
    alone = bound_note(Policy(), budget_exact=True)
    assert alone.endswith("in the rest, so the plan is likely nearer the cheapest one than the gap says")
    assert "instead of holding each hour to its budget and leaves out" in bound_note(policy)
