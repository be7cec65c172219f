"""The per-class re-solve under commitments, and plans and bounds against exact optima of small
problems with several shapes (the optimum from a MILP written from the billing rules)."""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optimizer.solver.commitment_classes import improve_by_class
from optimizer.solver.commitments import bill_plan
from optimizer.solver.plan import Bin, Plan
from optimizer.solver.problem import Commitment, Offering, Policy, Problem, Shape
from optimizer.solver.solve import solve
from optimizer.solver.validate import validate_plan

CATALOGUE = (("m6i.large", 2, 8192, 0.096), ("m6i.xlarge", 4, 16384, 0.192), ("c6i.large", 2, 4096, 0.085))
SHAPES = (Shape("small", 1, 1500), Shape("big", 2, 6000))


def _offerings(spot_share: float) -> tuple[Offering, ...]:
    return tuple(
        Offering(name, kind, v, m, 0, "x86_64", round(p * (spot_share if kind == "SPOT" else 1.0), 4))
        for name, v, m, p in CATALOGUE
        for kind in ("ON_DEMAND", "SPOT")
    )


def _patterns(offering: Offering, demand: np.ndarray) -> list[np.ndarray]:
    """Every non-empty job mix (per shape, at most the bucket's demand) one instance can hold."""
    out = []
    for counts in itertools.product(*(range(int(d) + 1) for d in demand)):
        c = np.array(counts)
        if c.any() and all(
            c @ [getattr(s, f) for s in SHAPES] <= getattr(offering, f) for f in ("vcpus", "memory_mib")
        ):
            out.append(c)
    return out


def _exact_optimum(problem: Problem) -> float:
    """Per bucket, a MILP from the rules: integer instances per (offering, job mix) covering the
    demand, covered instance-hours per commitment and on-demand offering it covers (no more than
    the instance-hours bought, plan capacity used <= capacity per hour), minimising list price -
    covered list price; plus every commitment's fee for every bucket."""
    from scipy.optimize import Bounds, LinearConstraint, milp

    offs = list(problem.offerings)
    total = sum(c.fee_per_hour for c in problem.commitments) * problem.n_buckets * problem.bucket_hours
    for t in range(problem.n_buckets):
        demand = problem.demand[:, t]
        if not demand.any():
            continue
        cols = [(k, c) for k, o in enumerate(offs) for c in _patterns(o, demand)]
        cov = [(c, k, a) for c in problem.commitments for k, o in enumerate(offs)
               if (a := c.use_per_instance_hour(o)) is not None]  # fmt: skip
        n = len(cols) + len(cov)
        cost = np.array(
            [offs[k].price_per_hour for k, _ in cols] + [-offs[k].price_per_hour for _, k, _ in cov]
        )
        rows, lo, hi = [], [], []
        for s in np.flatnonzero(demand):
            rows.append([c[s] for _, c in cols] + [0.0] * len(cov)), lo.append(demand[s]), hi.append(np.inf)
        for k in range(len(offs)):
            row = [-1.0 if kk == k else 0.0 for kk, _ in cols] + [1.0 if kk == k else 0.0 for _, kk, _ in cov]
            rows.append(row), lo.append(-np.inf), hi.append(0.0)
        for c in problem.commitments:
            row = [0.0] * len(cols) + [a if cc is c else 0.0 for cc, _, a in cov]
            rows.append(row), lo.append(-np.inf), hi.append(c.capacity_per_hour)
        integrality = np.array([1] * len(cols) + [0] * len(cov))
        res = milp(cost, constraints=LinearConstraint(np.array(rows, dtype=float), lo, hi),
                   integrality=integrality, bounds=Bounds(0, np.inf))  # fmt: skip
        assert res.status == 0 and n == len(res.x)
        total += float(res.fun) * problem.bucket_hours
    return total


@st.composite
def _problems(draw: st.DrawFn) -> Problem:
    n_buckets = draw(st.integers(1, 4))
    demand = np.array([[draw(st.integers(0, 4)) for _ in range(n_buckets)] for _ in SHAPES], dtype=np.int64)
    discount = draw(st.sampled_from([0.28, 0.4]))
    rates = {name: round(p * (1 - discount), 4) for name, _, _, p in CATALOGUE}
    commitments = [
        Commitment(
            "sp", "COMPUTE_SAVINGS_PLAN", usd_per_hour=draw(st.sampled_from([0.05, 0.13, 0.3])), rates=rates
        )
    ]
    if draw(st.booleans()):
        commitments.append(Commitment("ri", "RESERVED_INSTANCE", instance_type="c6i.large", count=1))
    offerings = _offerings(draw(st.sampled_from([0.3, 0.6])))
    return Problem(3600.0, SHAPES, demand, offerings, Policy(time_limit_seconds=5), tuple(commitments))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_problems())
def test_plans_and_bounds_bracket_the_exact_optimum_with_several_shapes(problem: Problem) -> None:
    plan = solve(problem, clock=time.perf_counter)
    assert validate_plan(problem, plan) == []  # money re-billed, bound below the objective
    optimum = _exact_optimum(problem)
    assert plan.lower_bound_usd <= optimum + 1e-6 * max(1.0, optimum)
    assert optimum <= plan.objective_usd + 1e-6 * max(1.0, optimum)


def _fixed_clock() -> float:
    return 0.0


def test_the_class_resolve_fills_the_commitment_from_an_all_spot_plan() -> None:
    # $0.48/h at the m6i.large plan rate $0.06 covers 8 instances; the commitment-blind plan
    # runs all 10 jobs on m6i spot. Its bins and their on-demand twins are the only columns.
    sp = Commitment("sp", "COMPUTE_SAVINGS_PLAN", usd_per_hour=0.48, rates={"m6i.large": 0.06})
    offerings = (
        Offering("m6i.large", "ON_DEMAND", 2, 7600, 0, "x86_64", 0.096),
        Offering("m6i.large", "SPOT", 2, 7600, 0, "x86_64", 0.03),
    )
    hours = 24
    problem = Problem(3600.0, (Shape("s", 2, 3000),), np.full((1, hours), 10), offerings, Policy(), (sp,))
    blind = Plan("FEASIBLE", "", 0.0, 0.0, 0.0, 0.0, 0.0, ["m6i.large/SPOT"],
                 [[Bin("m6i.large/SPOT", 10, {"s": 1})] for _ in range(hours)])  # fmt: skip
    blind = bill_plan(problem, blind)
    plan = improve_by_class(problem, blind, [], deadline=1.0, clock=_fixed_clock)
    assert plan is not None
    assert validate_plan(problem, plan, check_bound=False) == []
    for bins in plan.buckets:
        assert {b.offering: b.count for b in bins} == {"m6i.large/ON_DEMAND": 8, "m6i.large/SPOT": 2}
    assert plan.objective_usd == pytest.approx(0.48 * hours + 2 * 0.03 * hours)
    assert plan.objective_usd < blind.objective_usd


def test_the_class_resolve_stands_aside_under_policies_that_couple_buckets() -> None:
    sp = Commitment("sp", "COMPUTE_SAVINGS_PLAN", usd_per_hour=0.48, rates={"m6i.large": 0.06})
    offerings = _offerings(0.3)
    problem = Problem(
        3600.0, SHAPES, np.ones((2, 3), dtype=np.int64), offerings, Policy(max_spot_share=0.5), (sp,)
    )
    plan = solve(problem.with_policy(Policy(time_limit_seconds=5)), clock=time.perf_counter)
    assert improve_by_class(problem, plan, [], deadline=1.0, clock=_fixed_clock) is None


def test_dominated_columns_are_those_a_cheaper_column_replaces_under_every_budget() -> None:
    from optimizer.solver.commitment_classes import _undominated

    rates = {"m6i.large": 0.06, "m6i.xlarge": 0.125, "c6i.large": 0.055}
    sp = Commitment("sp", "COMPUTE_SAVINGS_PLAN", usd_per_hour=1.0, rates=rates)
    by_key = {o.key: o for o in _offerings(0.3)}
    problem = Problem(
        3600.0, SHAPES, np.ones((2, 1), dtype=np.int64), tuple(by_key.values()), Policy(), (sp,)
    )
    columns = [
        ("m6i.large/ON_DEMAND", (1, 0)),  # 0: c6i.large on demand hosts it, costs less, uses less plan
        ("c6i.large/ON_DEMAND", (1, 0)),  # 1: kept
        ("c6i.large/SPOT", (1, 0)),  # 2: cheapest, but no commitment covers spot: kept
        ("m6i.xlarge/ON_DEMAND", (1, 0)),  # 3: dearer than 4, the same offering hosting more
        ("m6i.xlarge/ON_DEMAND", (1, 1)),  # 4: kept
        ("c6i.large/ON_DEMAND", (1, 0)),  # 5: equal to 1, which comes first
    ]
    kept = _undominated(
        problem, [by_key[k] for k, _ in columns], np.array([c for _, c in columns], dtype=np.int64)
    )
    assert kept.tolist() == [1, 2, 4]
