"""Commitments under policies that couple buckets (type cap, spot diversification, spot share):
plans and bounds against the exact optimum of small problems (a MILP written from the rules), and
the per-class re-solve that keeps the rows over all buckets."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optimizer.solver.commitment_coupled import improve_by_class_coupled
from optimizer.solver.commitments import bill_plan, without_coupling
from optimizer.solver.plan import Bin, Plan
from optimizer.solver.problem import Commitment, Offering, Policy, Problem, Shape
from optimizer.solver.solve import solve
from optimizer.solver.validate import validate_plan
from tests.clock import StepClock
from tests.unit.test_solver_commitment_classes import CATALOGUE, SHAPES, _offerings, _patterns


def _exact_optimum(problem: Problem) -> float:
    """One MILP over every bucket: integer instances per (bucket, offering, job mix), covered
    instance-hours per (bucket, commitment, on-demand offering it covers) within the instances
    bought and each bucket's capacity, a 0/1 selection per offering (at most the type cap, an
    instance only of a selected one), spot job vCPUs <= share x all job vCPUs, and each spot
    pool's instance vCPUs <= 1/K of all spot instance vCPUs; minimising list price - covered list
    price, plus the fees. One-hour buckets and no interruption cost: hours and objective are 1."""
    from scipy.optimize import Bounds, LinearConstraint, milp

    policy = problem.policy
    offs = list(problem.offerings)
    vcpus = np.array([s.vcpus for s in SHAPES], dtype=float)
    # An instance may also host nothing: an idle spot instance can balance the pools under 1/K.
    empty = np.zeros(len(SHAPES), dtype=np.int64)
    cols = [(t, k, c) for t in range(problem.n_buckets) for k, o in enumerate(offs)
            for c in [empty, *_patterns(o, problem.demand[:, t])]]  # fmt: skip
    cov = [(t, ci, k, a) for t in range(problem.n_buckets) for ci, c in enumerate(problem.commitments)
           for k, o in enumerate(offs) if (a := c.use_per_instance_hour(o)) is not None]  # fmt: skip
    n_x, n_y, n_z = len(cols), len(cov), len(offs)
    n = n_x + n_y + n_z
    cost = np.concatenate(
        [
            [offs[k].price_per_hour for _, k, _ in cols],
            [-offs[k].price_per_hour for _, _, k, _ in cov],
            np.zeros(n_z),
        ]
    )
    rows: list[np.ndarray] = []
    lo: list[float] = []
    hi: list[float] = []

    def add(row: np.ndarray, low: float, high: float) -> None:
        rows.append(row), lo.append(low), hi.append(high)

    for t in range(problem.n_buckets):
        for s in np.flatnonzero(problem.demand[:, t]):
            row = np.zeros(n)
            row[:n_x] = [c[s] if tt == t else 0 for tt, _, c in cols]
            add(row, float(problem.demand[s, t]), np.inf)
        for k in range(n_z):
            row = np.zeros(n)
            row[:n_x] = [-1.0 if (tt, kk) == (t, k) else 0.0 for tt, kk, _ in cols]
            row[n_x : n_x + n_y] = [1.0 if (tt, kk) == (t, k) else 0.0 for tt, _, kk, _ in cov]
            add(row, -np.inf, 0.0)
        for ci, c in enumerate(problem.commitments):
            row = np.zeros(n)
            row[n_x : n_x + n_y] = [a if (tt, cc) == (t, ci) else 0.0 for tt, cc, _, a in cov]
            add(row, -np.inf, c.capacity_per_hour)
    big = 100.0  # more instances of one offering than any optimum of these sizes holds
    for k in range(n_z):  # an instance only of a selected offering
        row = np.zeros(n)
        row[:n_x] = [1.0 if kk == k else 0.0 for _, kk, _ in cols]
        row[n_x + n_y + k] = -big
        add(row, -np.inf, 0.0)
    if policy.max_instance_types is not None:
        row = np.zeros(n)
        row[n_x + n_y :] = 1.0
        add(row, -np.inf, float(policy.max_instance_types))
    spot = [offs[k].is_spot for _, k, _ in cols]
    if policy.caps_spot_share:
        assert policy.max_spot_share is not None
        row = np.zeros(n)
        row[:n_x] = [float(c @ vcpus) if s else 0.0 for (_, _, c), s in zip(cols, spot, strict=True)]
        add(row, -np.inf, policy.max_spot_share * float(vcpus @ problem.demand.sum(axis=1)))
    if policy.diversification:
        for k, o in enumerate(offs):
            if o.is_spot:
                row = np.zeros(n)
                row[:n_x] = [
                    (policy.diversification * (kk == k) - 1.0) * offs[kk].vcpus if s else 0.0
                    for (_, kk, _), s in zip(cols, spot, strict=True)
                ]
                add(row, -np.inf, 0.0)
    integrality = np.array([1] * n_x + [0] * n_y + [1] * n_z)
    upper = np.concatenate([np.full(n_x + n_y, np.inf), np.ones(n_z)])
    res = milp(cost, constraints=LinearConstraint(np.array(rows), lo, hi), integrality=integrality,
               bounds=Bounds(0, upper))  # fmt: skip
    assert res.status == 0, res.message
    fees = sum(c.fee_per_hour for c in problem.commitments) * problem.n_buckets
    return float(res.fun) + fees


def draw_policy(draw: st.DrawFn) -> Policy:
    """A policy over the rows that couple buckets, each on or off: a type cap of 2 or 3, two
    spot pools, a spot share of one half (no interruption cost: the exact MILP has none)."""
    return Policy(
        time_limit_seconds=20.0,
        max_instance_types=draw(st.sampled_from([None, 2, 3])),
        min_spot_instance_types=draw(st.sampled_from([0, 2])),
        max_spot_share=draw(st.sampled_from([None, 0.5])),
        interruption_cost_factor=0.0,
    )


@st.composite
def _problems(draw: st.DrawFn) -> Problem:
    n_buckets = draw(st.integers(1, 3))
    demand = np.array([[draw(st.integers(0, 3)) for _ in range(n_buckets)] for _ in SHAPES], dtype=np.int64)
    rates = {name: round(p * 0.72, 4) for name, _, _, p in CATALOGUE}
    sp = Commitment(
        "sp", "COMPUTE_SAVINGS_PLAN", usd_per_hour=draw(st.sampled_from([0.05, 0.13, 0.3])), rates=rates
    )
    policy = draw_policy(draw)
    if not policy.couples_buckets:
        policy = Policy(time_limit_seconds=20.0, max_instance_types=2, interruption_cost_factor=0.0)
    offerings = _offerings(draw(st.sampled_from([0.3, 0.6])))
    return Problem(3600.0, SHAPES, demand, offerings, policy, (sp,))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_problems())
def test_under_coupling_policies_plans_and_bounds_bracket_the_exact_optimum(problem: Problem) -> None:
    plan = solve(problem, clock=StepClock(0.01))
    assert plan.has_solution, plan.reason  # an all-on-demand plan within the cap always exists here
    assert validate_plan(problem, plan) == []  # policy rows, money re-billed, bound below the objective
    optimum = _exact_optimum(problem)
    assert plan.lower_bound_usd <= optimum + 1e-6 * max(1.0, optimum)
    assert optimum <= plan.objective_usd + 1e-6 * max(1.0, optimum)
    if plan.status != "OPTIMAL":  # a gap left: the reason names what the bound leaves out
        policy = problem.policy
        if "counts instances fractionally" in plan.reason:  # the committed LP's: it keeps the spot rows
            assert plan.lower_bound_usd == pytest.approx(plan.stats["committed_lp_bound_usd"], abs=1e-6)
            assert ("the instance-type cap" in plan.reason) == (policy.max_instance_types is not None)
            assert "spot" not in plan.reason
            return
        named = {
            "the instance-type cap": policy.max_instance_types is not None,
            "the spread over spot types": bool(policy.diversification),
            # priced where the class covers gave the bound (every class here is small enough; the
            # rescue path, when the blind plan is the all-on-demand last resort, does not use them)
            "the spot-share cap": policy.max_spot_share is not None
            and not any(g.get("partition_bound") for g in plan.stats["commitment_groups"]),
        }
        for words, left_out in named.items():
            assert (words in plan.reason) == left_out, (words, plan.reason)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_problems())
def test_the_class_resolve_lands_between_the_exact_optimum_and_its_start(problem: Problem) -> None:
    # From the commitment-blind plan (valid: the commitments change money, not feasibility) the
    # stage runs to its end (the clock stands still): every class re-solved with the spot rows in
    # its model, pass after pass. Its plan must still meet every row, cost no more than the start,
    # and no less than the exact optimum.
    blind = solve(problem.with_commitments(()), clock=StepClock(0.01))
    assert blind.has_solution
    start = bill_plan(problem, blind)
    assert validate_plan(problem, start, check_bound=False) == []
    plan = improve_by_class_coupled(problem, start, [], deadline=1.0, clock=_fixed_clock)
    if plan is None:  # (nothing to re-solve: no demand)
        assert not problem.demand.any()
        return
    assert validate_plan(problem, plan, check_bound=False) == []
    assert plan.objective_usd <= start.objective_usd + 1e-9
    optimum = _exact_optimum(problem)
    assert optimum <= plan.objective_usd + 1e-6 * max(1.0, optimum)


def test_without_coupling_drops_only_the_rows_over_all_buckets() -> None:
    policy = Policy(
        time_limit_seconds=3.0,
        max_instance_types=4,
        min_spot_instance_types=3,
        max_spot_share=0.8,
        gap_target=0.02,
    )
    problem = Problem(3600.0, SHAPES, np.ones((len(SHAPES), 2), dtype=np.int64), _offerings(0.3), policy)
    loose = without_coupling(problem).policy
    assert not loose.couples_buckets
    assert (loose.time_limit_seconds, loose.gap_target) == (3.0, 0.02)
    assert without_coupling(loose_problem := problem.with_policy(loose)) is loose_problem


def _fixed_clock() -> float:
    return 0.0


def _two_pool_problem(policy: Policy) -> Problem:
    """Ten 2-vCPU jobs every hour of a day; $0.48/h at the m6i.large plan rate $0.06 covers 8."""
    sp = Commitment("sp", "COMPUTE_SAVINGS_PLAN", usd_per_hour=0.48, rates={"m6i.large": 0.06})
    offerings = (
        Offering("m6i.large", "ON_DEMAND", 2, 7600, 0, "x86_64", 0.096),
        Offering("m6i.large", "SPOT", 2, 7600, 0, "x86_64", 0.03),
        Offering("c6i.large", "SPOT", 2, 3800, 0, "x86_64", 0.025),
    )
    return Problem(3600.0, (Shape("s", 2, 3000),), np.full((1, 24), 10), offerings, policy, (sp,))


def _plan(problem: Problem, counts: dict[str, int]) -> Plan:
    bins = [[Bin(k, n, {"s": 1}) for k, n in counts.items()] for _ in range(problem.n_buckets)]
    return bill_plan(problem, Plan("FEASIBLE", "", 0.0, 0.0, 0.0, 0.0, 0.0, sorted(counts), bins))


def test_under_a_spot_share_cap_the_class_resolve_fills_the_commitment_on_the_plans_offerings() -> None:
    problem = _two_pool_problem(Policy(max_spot_share=0.5, max_instance_types=2))
    start = _plan(problem, {"m6i.large/ON_DEMAND": 5, "m6i.large/SPOT": 5})
    plan = improve_by_class_coupled(problem, start, [], deadline=1.0, clock=_fixed_clock)
    assert plan is not None
    assert validate_plan(problem, plan, check_bound=False) == []
    for bins in plan.buckets:  # c6i spot is cheaper but not selected: the cap stays met
        assert {b.offering: b.count for b in bins} == {"m6i.large/ON_DEMAND": 8, "m6i.large/SPOT": 2}
    assert plan.objective_usd < start.objective_usd


def test_the_class_resolve_meets_spot_diversification_inside_its_model() -> None:
    # Per class the cheapest cover alone is 8 covered on-demand + 2 c6i spot, which puts all spot
    # in one pool: checked only after the solve, that broke "spot over 2 pools" and the class kept
    # its $0.22/h of spot. With the rows in the class's MIP the best cover that keeps them is
    # 8 covered on-demand + one spot instance in each pool (a tie at 1/2 each, which is valid).
    problem = _two_pool_problem(Policy(min_spot_instance_types=2))
    start = _plan(problem, {"m6i.large/ON_DEMAND": 2, "m6i.large/SPOT": 4, "c6i.large/SPOT": 4})
    assert validate_plan(problem, start, check_bound=False) == []
    plan = improve_by_class_coupled(problem, start, [], deadline=1.0, clock=_fixed_clock)
    assert plan is not None
    assert validate_plan(problem, plan, check_bound=False) == []
    for bins in plan.buckets:
        assert {b.offering: b.count for b in bins} == {
            "m6i.large/ON_DEMAND": 8,
            "m6i.large/SPOT": 1,
            "c6i.large/SPOT": 1,
        }
    assert plan.objective_usd < start.objective_usd - 24 * 0.1


def _moved(problem: Problem, start: Plan, *, rows: bool) -> Plan:
    from optimizer.solver.commitment_coupled import SpotRowKeeper
    from optimizer.solver.commitments import improve_capacity_types

    keeper = SpotRowKeeper.of(problem, start) if rows else None
    return bill_plan(
        problem, improve_capacity_types(problem, start, allowed=set(start.selected), rows=keeper)
    )


def test_under_a_type_cap_instances_move_to_another_type_bought_the_other_way() -> None:
    # The plan holds m6i.large on demand and c6i.large spot, no type's both halves: the twin moves
    # alone left it at 5 + 5; moving spot instances onto the covered m6i.large fills the commitment.
    problem = _two_pool_problem(Policy(max_spot_share=0.5, max_instance_types=2))
    start = _plan(problem, {"m6i.large/ON_DEMAND": 5, "c6i.large/SPOT": 5})
    assert validate_plan(problem, start, check_bound=False) == []
    plan = _moved(problem, start, rows=True)
    assert validate_plan(problem, plan, check_bound=False) == []
    for bins in plan.buckets:
        assert {b.offering: b.count for b in bins} == {"m6i.large/ON_DEMAND": 8, "c6i.large/SPOT": 2}
    assert plan.objective_usd == pytest.approx(24 * (0.48 + 2 * 0.025))


def test_capacity_moves_keep_the_spot_share_over_all_buckets() -> None:
    # The commitment covers 2 of the 10 on-demand instances an hour: each bucket alone would move
    # the other 8 to spot, 80 % of its jobs against a share cap of 50 % over the day. With the rows
    # kept, 120 of the 192 uncovered job-hours go to spot and the rest stays on demand, the optimum.
    sp = Commitment("sp", "COMPUTE_SAVINGS_PLAN", usd_per_hour=0.12, rates={"m6i.large": 0.06})
    problem = _two_pool_problem(Policy(max_spot_share=0.5, max_instance_types=2)).with_commitments((sp,))
    start = _plan(problem, {"m6i.large/ON_DEMAND": 10, "c6i.large/SPOT": 0})
    start = bill_plan(
        problem, replace(start, buckets=[[b for b in bins if b.count] for bins in start.buckets])
    )
    start = replace(start, selected=["c6i.large/SPOT", "m6i.large/ON_DEMAND"])
    unguarded = _moved(problem, start, rows=False)
    assert any("spot" in e for e in validate_plan(problem, unguarded, check_bound=False))
    plan = _moved(problem, start, rows=True)
    assert validate_plan(problem, plan, check_bound=False) == []
    assert plan.objective_usd == pytest.approx(72 * 0.096 + 120 * 0.025 + 24 * 0.12)


def test_a_group_of_classes_trades_through_a_binding_spot_share_single_classes_cannot_move() -> None:
    # Two hours, one job each: a small job that fits both types, a big one only the big type. Half
    # the job vCPUs may run on spot. The start runs the small job on spot and the big one on demand
    # ($1.05 a day): moving either class alone is dearer (the small job on demand) or breaks the
    # share (both on spot), so single classes keep it; the two re-solved together swap them
    # ($0.10 + $0.05).
    shapes = (Shape("small", 2, 1000), Shape("big", 2, 30000))
    offerings = (
        Offering("c6i.large", "ON_DEMAND", 2, 3800, 0, "x86_64", 0.10),
        Offering("c6i.large", "SPOT", 2, 3800, 0, "x86_64", 0.05),
        Offering("r6i.xlarge", "ON_DEMAND", 2, 32000, 0, "x86_64", 1.00),
        Offering("r6i.xlarge", "SPOT", 2, 32000, 0, "x86_64", 0.05),
    )
    sp = Commitment("sp", "COMPUTE_SAVINGS_PLAN", usd_per_hour=0.001, rates={"c6i.large": 0.07})
    demand = np.array([[1, 0], [0, 1]], dtype=np.int64)
    problem = Problem(3600.0, shapes, demand, offerings, Policy(max_spot_share=0.5), (sp,))
    bins = [[Bin("c6i.large/SPOT", 1, {"small": 1})], [Bin("r6i.xlarge/ON_DEMAND", 1, {"big": 1})]]
    keys = sorted({b.offering for bs in bins for b in bs} | {o.key for o in offerings})
    start = bill_plan(problem, Plan("FEASIBLE", "", 0.0, 0.0, 0.0, 0.0, 0.0, keys, bins))
    assert validate_plan(problem, start, check_bound=False) == []
    plan = improve_by_class_coupled(problem, start, [], deadline=1.0, clock=_fixed_clock)
    assert plan is not None
    assert validate_plan(problem, plan, check_bound=False) == []
    assert [[(b.offering, b.count) for b in bs] for bs in plan.buckets] == [
        [("c6i.large/ON_DEMAND", 1)],
        [("r6i.xlarge/SPOT", 1)],
    ]
    # (the $0.001/h Savings Plan covers a sliver of the on-demand hour in both)
    assert plan.objective_usd == pytest.approx(start.objective_usd - 0.90, abs=0.002)
