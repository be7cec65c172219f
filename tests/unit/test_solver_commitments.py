"""Savings Plans and Reserved Instances in the fleet problem: reading, billing, solving, validating."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from optimizer.errors import InputError
from optimizer.solver.commitments import bill_bucket, bill_plan
from optimizer.solver.plan import Plan, load_plan, plan_to_dict
from optimizer.solver.problem import (
    Commitment,
    Offering,
    Policy,
    Problem,
    Shape,
    problem_from_dict,
    problem_to_dict,
)
from optimizer.solver.solve import solve, solve_lp_estimate
from optimizer.solver.validate import validate_plan

HOURS = 24
M6I_OD, M6I_SPOT, C6I_OD, C6I_SPOT = 0.096, 0.03, 0.085, 0.035


def _offerings(m6i_spot: float = M6I_SPOT, c6i_spot: float = C6I_SPOT) -> tuple[Offering, ...]:
    return (
        Offering("m6i.large", "ON_DEMAND", 2, 7600, 0, "x86_64", M6I_OD),
        Offering("m6i.large", "SPOT", 2, 7600, 0, "x86_64", m6i_spot),
        Offering("c6i.large", "ON_DEMAND", 2, 3800, 0, "x86_64", C6I_OD),
        Offering("c6i.large", "SPOT", 2, 3800, 0, "x86_64", c6i_spot),
    )


def _problem(jobs: int, commitments: tuple[Commitment, ...], offerings: tuple[Offering, ...]) -> Problem:
    """`jobs` two-vCPU jobs running every hour for a day: one per instance of any offering."""
    demand = np.full((1, HOURS), jobs, dtype=np.int64)
    shapes = (Shape("s", 2, 3000),)
    return Problem(3600.0, shapes, demand, offerings, Policy(time_limit_seconds=10), commitments)


def _per_bucket(plan: Plan) -> list[dict[str, int]]:
    out = []
    for bins in plan.buckets:
        counts: dict[str, int] = {}
        for b in bins:
            counts[b.offering] = counts.get(b.offering, 0) + b.count
        out.append(counts)
    return out


def test_compute_savings_plan_keeps_on_demand_up_to_the_commitment_and_spot_beyond() -> None:
    # $0.48/h at the m6i.large plan rate $0.06 covers exactly 8 of the 10 instances every hour.
    sp = Commitment("sp-1", "COMPUTE_SAVINGS_PLAN", usd_per_hour=0.48, rates={"m6i.large": 0.06})
    problem = _problem(10, (sp,), _offerings(c6i_spot=0.05))
    without = solve(problem.with_commitments(()), clock=time.perf_counter)
    assert all(b == {"m6i.large/SPOT": 10} for b in _per_bucket(without))  # spot is cheapest alone

    plan = solve(problem, clock=time.perf_counter)
    assert validate_plan(problem, plan) == []
    assert all(b == {"m6i.large/ON_DEMAND": 8, "m6i.large/SPOT": 2} for b in _per_bucket(plan))
    fee = 0.48 * HOURS
    assert plan.commitment_usd == pytest.approx(fee)
    assert plan.cost_usd == pytest.approx(fee + 2 * M6I_SPOT * HOURS)
    assert plan.commitments == [
        {
            "id": "sp-1",
            "type": "COMPUTE_SAVINGS_PLAN",
            "utilization": 1.0,
            "covered_usd": round(8 * M6I_OD * HOURS, 6),
        }
    ]
    assert plan.lower_bound_usd <= plan.objective_usd + 1e-6
    assert plan.gap <= 0.005
    # Moving the covered work to spot looks cheaper on list prices but strands the commitment.
    all_spot = bill_plan(problem, replace(without, lower_bound_usd=0.0))
    assert all_spot.cost_usd == pytest.approx(fee + 10 * M6I_SPOT * HOURS)
    assert all_spot.commitments[0]["utilization"] == 0.0
    assert all_spot.cost_usd > plan.cost_usd


def test_reserved_instances_run_free_and_spot_takes_the_rest() -> None:
    ri = Commitment("ri-1", "RESERVED_INSTANCE", instance_type="c6i.large", count=3)
    problem = _problem(5, (ri,), _offerings())
    plan = solve(problem, clock=time.perf_counter)
    assert validate_plan(problem, plan) == []
    assert all(b == {"c6i.large/ON_DEMAND": 3, "m6i.large/SPOT": 2} for b in _per_bucket(plan))
    assert plan.commitment_usd == 0.0  # a reservation's fee is sunk, not part of the document
    assert plan.cost_usd == pytest.approx(2 * M6I_SPOT * HOURS)
    assert plan.commitments[0]["utilization"] == 1.0


def test_ec2_instance_savings_plan_covers_only_its_family() -> None:
    # m6i spot is dear here, c6i spot cheap: the m6i plan's 5 covered instances stay on m6i on-demand.
    sp = Commitment(
        "ec2-m6i", "EC2_INSTANCE_SAVINGS_PLAN", usd_per_hour=0.30, rates={"m6i.large": 0.06}, family="m6i"
    )
    problem = _problem(8, (sp,), _offerings(m6i_spot=0.07, c6i_spot=0.03))
    plan = solve(problem, clock=time.perf_counter)
    assert validate_plan(problem, plan) == []
    assert all(b == {"m6i.large/ON_DEMAND": 5, "c6i.large/SPOT": 3} for b in _per_bucket(plan))
    assert plan.cost_usd == pytest.approx((0.30 + 3 * 0.03) * HOURS)


def test_highest_savings_percentage_is_covered_first() -> None:
    sp = Commitment("sp", "COMPUTE_SAVINGS_PLAN", usd_per_hour=0.1, rates={"a.large": 0.05, "b.large": 0.08})
    # a saves 1 - 0.05/0.1 = 50 %, b 1 - 0.08/0.1 = 20 %: a is covered first, b gets what is left.
    bill = bill_bucket((sp,), {"a.large": 1.0, "b.large": 1.0}, {"a.large": 0.1, "b.large": 0.1}, 1.0)
    assert bill.consumed == {"sp": pytest.approx(0.1)}
    assert bill.savings_usd == pytest.approx(0.1 + 0.1 * 0.05 / 0.08)


def test_the_validator_recomputes_commitment_money() -> None:
    sp = Commitment("sp-1", "COMPUTE_SAVINGS_PLAN", usd_per_hour=0.48, rates={"m6i.large": 0.06})
    problem = _problem(10, (sp,), _offerings())
    plan = solve(problem, clock=time.perf_counter)
    assert validate_plan(problem, plan) == []
    no_fee = replace(plan, cost_usd=plan.cost_usd - plan.commitment_usd)
    assert any(e.startswith("cost_usd") for e in validate_plan(problem, no_fee))
    wrong_use = replace(plan, commitments=[{**plan.commitments[0], "utilization": 0.5}])
    assert any("utilization 0.5" in e for e in validate_plan(problem, wrong_use))
    assert "commitment_usd or commitments reported but the problem has no commitments" in validate_plan(
        problem.with_commitments(()), plan
    )


def test_commitments_round_trip_through_the_documents(tmp_path: Path) -> None:
    commitments = (
        Commitment("sp", "COMPUTE_SAVINGS_PLAN", usd_per_hour=0.2, rates={"m6i.large": 0.06}),
        Commitment(
            "ec2", "EC2_INSTANCE_SAVINGS_PLAN", usd_per_hour=0.1, rates={"c6i.large": 0.05}, family="c6i"
        ),
        Commitment("ri", "RESERVED_INSTANCE", instance_type="c6i.large", count=2),
    )
    problem = _problem(6, commitments, _offerings())
    again = problem_from_dict(json.loads(json.dumps(problem_to_dict(problem))))
    assert again.commitments == commitments
    plan = solve(again, clock=time.perf_counter)
    assert validate_plan(again, plan) == []
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan_to_dict(plan)))
    loaded = load_plan(path)
    assert loaded.commitment_usd == pytest.approx(plan.commitment_usd)
    assert [c["id"] for c in loaded.commitments] == ["sp", "ec2", "ri"]
    assert validate_plan(again, loaded) == []


def _document(commitments: Any) -> dict[str, Any]:
    doc = problem_to_dict(_problem(1, (), _offerings()))
    doc["commitments"] = commitments
    return doc


SP = {"id": "sp", "type": "COMPUTE_SAVINGS_PLAN", "usd_per_hour": 1.0, "rates": {"m6i.large": 0.06}}


@pytest.mark.parametrize(
    ("commitments", "message"),
    [
        ({"id": "x"}, "commitments: must be an array"),
        ([{**SP, "family": "m6i"}], "commitments[0].family: unknown key"),
        ([{**SP, "type": "RESERVED"}], "commitments[0].type: must be one of"),
        ([{**SP, "usd_per_hour": 0}], "commitments[0].usd_per_hour: must be > 0"),
        ([{**SP, "rates": {}}], "commitments[0].rates: must be a non-empty object"),
        ([{**SP, "rates": {"m6i.large": -1}}], "commitments[0].rates.m6i.large: must be > 0"),
        ([SP, SP], "commitments[1].id: duplicate commitment id 'sp'"),
        (
            [{**SP, "type": "EC2_INSTANCE_SAVINGS_PLAN", "family": "c6i"}],
            "commitments[0].rates.m6i.large: not in the plan's family 'c6i'",
        ),
        (
            [{"id": "ri", "type": "RESERVED_INSTANCE", "instance_type": "m6i.large", "count": 0}],
            "commitments[0].count: must be >= 1",
        ),
        (
            [
                {
                    "id": "ri",
                    "type": "RESERVED_INSTANCE",
                    "instance_type": "m6i.large",
                    "count": 1,
                    "rates": {},
                }
            ],
            "commitments[0].rates: unknown key",
        ),
    ],
)
def test_bad_commitment_is_refused_with_its_field(commitments: Any, message: str) -> None:
    with pytest.raises(InputError, match=None) as err:
        problem_from_dict(_document(commitments))
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_unknown_problem_key_is_refused_by_name() -> None:
    doc = _document([SP])
    doc["comitments"] = []
    with pytest.raises(InputError, match="comitments: unknown key"):
        problem_from_dict(doc)


def test_left_out_round_trips_and_must_be_sentences() -> None:
    from optimizer.solver.problem import problem_to_dict

    doc = _document([SP])
    doc["left_out"] = ["jobs of 1 vCPU, 65,536.0 GiB fit no instance type"]
    problem = problem_from_dict(doc)
    assert problem.left_out == ("jobs of 1 vCPU, 65,536.0 GiB fit no instance type",)
    assert problem_to_dict(problem)["left_out"] == doc["left_out"]
    assert "left_out" not in problem_to_dict(problem_from_dict(_document([SP])))
    for bad in ("one string", [""], [3]):
        doc["left_out"] = bad
        with pytest.raises(InputError, match="left_out: must be an array of non-empty strings"):
            problem_from_dict(doc)


def test_lp_estimate_with_commitments_is_a_bound_including_the_fees() -> None:
    sp = Commitment("sp-1", "COMPUTE_SAVINGS_PLAN", usd_per_hour=0.48, rates={"m6i.large": 0.06})
    problem = _problem(10, (sp,), _offerings(c6i_spot=0.05))
    plan = solve(problem, clock=time.perf_counter)
    estimate = solve_lp_estimate(problem, clock=time.perf_counter)
    assert estimate.feasible
    assert 0.95 * plan.objective_usd <= estimate.lower_bound_usd <= plan.objective_usd + 1e-6
    assert estimate.lower_bound_usd > 0.48 * HOURS  # the fee alone is below it: spot work is priced too


@pytest.mark.parametrize(
    "policy",
    [
        Policy(time_limit_seconds=5, max_spot_share=0.5),
        Policy(time_limit_seconds=5, max_instance_types=3),
        Policy(time_limit_seconds=5, min_spot_instance_types=2),
    ],
)
def test_commitments_under_coupling_policies_give_valid_plans_and_bounds(policy: Policy) -> None:
    from tests.solver_helpers import random_problem

    base = random_problem(3, n_buckets=8, policy=policy)
    rates = {o.instance_type: o.price_per_hour * 0.7 for o in base.offerings if not o.is_spot}
    problem = base.with_commitments(
        (
            Commitment("sp", "COMPUTE_SAVINGS_PLAN", usd_per_hour=0.3, rates=rates),
            Commitment("ri", "RESERVED_INSTANCE", instance_type="m5.xlarge", count=1),
        )
    )
    plan = solve(problem, clock=time.perf_counter)
    assert plan.has_solution
    assert validate_plan(problem, plan) == []  # policy, money, utilization, bound below the objective
    assert {c["id"] for c in plan.commitments} == {"sp", "ri"}


def _exact_optimum(problem: Problem) -> float:
    """The optimum of a one-shape problem without policy limits, by a MILP of its own: instance counts
    per offering and bucket, and coverage per commitment, offering and bucket (sum(use x) <= capacity,
    covered <= instances), minimising list cost - covered + fees (interruption rates are 0)."""
    from scipy.optimize import Bounds, LinearConstraint, milp

    [shape] = problem.shapes
    offs = list(problem.offerings)
    per = [int(min(o.vcpus // shape.vcpus, o.memory_mib // shape.memory_mib)) for o in offs]
    cov = [
        (c, k, a)
        for c in problem.commitments
        for k, o in enumerate(offs)
        if (a := c.use_per_instance_hour(o))
    ]
    n_t, n_o, n_c = problem.n_buckets, len(offs), len(cov)
    nv = n_t * (n_o + n_c)
    cost = np.zeros(nv)
    rows, lo, hi = [], [], []
    for t in range(n_t):
        base, cbase = t * (n_o + n_c), t * (n_o + n_c) + n_o
        cost[base : base + n_o] = [o.price_per_hour for o in offs]
        row = np.zeros(nv)
        row[base : base + n_o] = per
        rows.append(row), lo.append(problem.demand[0, t]), hi.append(np.inf)
        for j, (_c, k, _a) in enumerate(cov):
            cost[cbase + j] = -offs[k].price_per_hour
        for k in range(n_o):
            row = np.zeros(nv)
            row[base + k] = -1.0
            for j, (_c, kk, _a) in enumerate(cov):
                if kk == k:
                    row[cbase + j] = 1.0
            rows.append(row), lo.append(-np.inf), hi.append(0.0)
        for c in problem.commitments:
            row = np.zeros(nv)
            for j, (cc, _k, a) in enumerate(cov):
                if cc is c:
                    row[cbase + j] = a
            rows.append(row), lo.append(-np.inf), hi.append(c.capacity_per_hour)
    integrality = np.array([1 if (i % (n_o + n_c)) < n_o else 0 for i in range(nv)])
    res = milp(cost, constraints=LinearConstraint(np.array(rows), lo, hi), integrality=integrality,
               bounds=Bounds(0, np.inf))  # fmt: skip
    assert res.status == 0
    fees = sum(c.fee_per_hour for c in problem.commitments) * n_t
    return float(res.fun) * problem.bucket_hours + fees


@pytest.mark.parametrize("seed", range(5))
def test_the_bound_never_exceeds_the_exact_optimum(seed: int) -> None:
    rng = np.random.default_rng(seed)
    offerings = tuple(
        Offering(name, kind, v, 4000.0 * v, 0, "x86_64", round(p * (0.35 if kind == "SPOT" else 1.0), 4))
        for name, v, p in (("m6i.large", 2, 0.096), ("m6i.xlarge", 4, 0.192), ("c6i.large", 2, 0.085))
        for kind in ("ON_DEMAND", "SPOT")
    )
    rates = {"m6i.large": 0.06, "m6i.xlarge": 0.125, "c6i.large": 0.055}
    commitments = (
        Commitment("sp", "COMPUTE_SAVINGS_PLAN", usd_per_hour=float(rng.uniform(0.05, 0.6)), rates=rates),
        Commitment("ri", "RESERVED_INSTANCE", instance_type="c6i.large", count=int(rng.integers(1, 3))),
    )
    demand = rng.integers(0, 14, size=(1, 6))
    problem = Problem(
        3600.0, (Shape("s", 2, 3000),), demand, offerings, Policy(time_limit_seconds=5), commitments
    )
    plan = solve(problem, clock=time.perf_counter)
    assert validate_plan(problem, plan) == []
    optimum = _exact_optimum(problem)
    assert plan.lower_bound_usd <= optimum + 1e-6 <= plan.objective_usd + 2e-6


def test_without_demand_the_plan_pays_only_the_fees_and_is_optimal() -> None:
    sp = Commitment("sp-1", "COMPUTE_SAVINGS_PLAN", usd_per_hour=0.48, rates={"m6i.large": 0.06})
    problem = _problem(0, (sp,), _offerings())
    plan = solve(problem, clock=time.perf_counter)
    assert validate_plan(problem, plan) == []
    assert plan.status == "OPTIMAL"
    assert plan.cost_usd == pytest.approx(0.48 * HOURS) == plan.commitment_usd
    assert plan.commitments[0]["utilization"] == 0.0


def _type_capped_committed_problem(limit: float) -> tuple[Problem, Problem]:
    """(blind, committed): random demand under a type cap and both spot rows, a Compute SP."""
    from tests.solver_helpers import random_problem

    policy = Policy(
        time_limit_seconds=limit, max_instance_types=3, min_spot_instance_types=1, max_spot_share=0.8
    )
    base = random_problem(5, n_buckets=24, policy=policy)
    rates = {o.instance_type: o.price_per_hour * 0.7 for o in base.offerings if not o.is_spot}
    sp = Commitment("sp", "COMPUTE_SAVINGS_PLAN", usd_per_hour=0.4, rates=rates)
    return base, base.with_commitments((sp,))


@pytest.mark.parametrize("step", [0.05, 0.2])
def test_a_committed_solve_with_little_time_under_a_type_cap_still_returns_a_valid_plan(
    step: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each reading of the clock costs `step` seconds of a 2 s limit, and the relaxed solve at the
    # multipliers finds no plan in what is left (as on a big GPU week under the README policy):
    # the blind plan billed with the commitments is always valid, so that is the answer, with a
    # bound that holds.
    import optimizer.solver.solve as solve_module
    from optimizer.solver.commitments import blind_time_share
    from tests.clock import StepClock

    base, problem = _type_capped_committed_problem(2.0)
    list_prices = {o.key: o.price_per_hour for o in base.offerings}
    real_solve = solve_module.solve

    def relaxed_finds_nothing(p: Problem, *, clock: Any, **options: Any) -> Plan:
        plan = real_solve(p, clock=clock, **options)
        if any(o.price_per_hour != list_prices[o.key] for o in p.offerings):  # the relaxed problem
            return replace(plan, status="TIMEOUT", reason="no plan in time", buckets=[], selected=[])
        return plan

    monkeypatch.setattr(solve_module, "solve", relaxed_finds_nothing)
    plan = solve(problem, clock=StepClock(step))
    assert plan.has_solution, plan.reason
    assert validate_plan(problem, plan) == []  # policy, money, and a bound below the objective
    share = blind_time_share(problem)
    blind_policy = replace(base.policy, time_limit_seconds=share * base.policy.time_limit_seconds)
    blind = real_solve(base.with_policy(blind_policy), clock=StepClock(step))
    assert blind.has_solution
    assert plan.objective_usd <= bill_plan(problem, blind).objective_usd + 1e-6


def test_under_a_type_cap_the_committed_plan_is_no_dearer_than_the_blind_plan_billed() -> None:
    from optimizer.solver.commitments import blind_time_share
    from tests.clock import StepClock

    base, problem = _type_capped_committed_problem(2.0)
    plan = solve(problem, clock=StepClock(0.05))
    assert validate_plan(problem, plan) == []
    share = blind_time_share(problem)
    blind_policy = replace(base.policy, time_limit_seconds=share * base.policy.time_limit_seconds)
    blind = solve(base.with_policy(blind_policy), clock=StepClock(0.05))
    assert plan.objective_usd <= bill_plan(problem, blind).objective_usd + 1e-6


def test_the_blind_solve_gets_more_time_where_the_commitments_are_small_next_to_the_work() -> None:
    """The blind stage's share follows what the commitments can take off against the work's
    cheapest cost: a $2-an-hour plan on this random week can cover more than half of it, a
    $0.01 one far less."""
    from optimizer.solver.commitments import (
        BLIND_TIME_SHARE,
        SMALL_COMMITMENT_BLIND_SHARE,
        SMALL_COMMITMENT_RATIO,
        blind_time_share,
        coverage_savings_per_hour,
    )
    from optimizer.solver.resource_bound import resource_bound

    base, committed = _type_capped_committed_problem(2.0)
    (sp,) = committed.commitments
    large = base.with_commitments((replace(sp, usd_per_hour=2.0),))
    small = base.with_commitments((replace(sp, usd_per_hour=0.01),))
    floor = resource_bound(base)
    hours = base.n_buckets * base.bucket_hours
    assert coverage_savings_per_hour(large) * hours >= SMALL_COMMITMENT_RATIO * floor
    assert coverage_savings_per_hour(small) * hours < SMALL_COMMITMENT_RATIO * floor
    assert blind_time_share(large) == BLIND_TIME_SHARE
    assert blind_time_share(small) == SMALL_COMMITMENT_BLIND_SHARE
