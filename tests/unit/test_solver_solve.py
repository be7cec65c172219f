"""Solver behaviour: optimal on hand-checkable cases, honest bounds, policies, INFEASIBLE as a plan."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from optimizer.solver.baselines import cheapest_fit
from optimizer.solver.problem import Offering, Policy, Problem, Shape
from optimizer.solver.validate import validate_plan
from tests.solver_helpers import offerings, random_problem, run, shapes


def test_hand_checked_optimum_mixes_jobs_on_one_instance() -> None:
    # One 3-vCPU job and one 1-vCPU job: a 4-vCPU box ($0.17) beats a 4-vCPU + 2-vCPU pair or two boxes.
    sh = (Shape("big", 3, 1000), Shape("small", 1, 1000))
    offs = (
        Offering("two", "ON_DEMAND", 2, 4000, 0, "x86_64", 0.10),
        Offering("four", "ON_DEMAND", 4, 8000, 0, "x86_64", 0.17),
    )
    problem = Problem(3600, sh, np.array([[1], [1]]), offs, Policy(time_limit_seconds=5))
    plan = run(problem)
    assert plan.status == "OPTIMAL"
    assert plan.cost_usd == pytest.approx(0.17)
    assert [(b.offering, b.count, dict(b.jobs)) for b in plan.buckets[0]] == [
        ("four/ON_DEMAND", 1, {"big": 1, "small": 1})
    ]
    assert validate_plan(problem, plan) == []


def test_identical_buckets_share_one_solution_and_empty_buckets_stay_empty() -> None:
    demand = np.zeros((5, 6), dtype=np.int64)
    demand[0, [0, 2, 4]] = 3
    problem = Problem(1800, shapes(), demand, offerings(), Policy(time_limit_seconds=5))
    plan = run(problem)
    assert plan.stats["bucket_classes"] == 1
    assert plan.buckets[1] == [] and plan.buckets[3] == []
    assert plan.buckets[0] == plan.buckets[2] == plan.buckets[4]
    assert validate_plan(problem, plan) == []


def test_unhostable_shape_is_infeasible_with_reason_not_exception() -> None:
    sh = (Shape("huge", 64, 1000),)
    problem = Problem(3600, sh, np.array([[1]]), offerings(), Policy())
    plan = run(problem)
    assert plan.status == "INFEASIBLE"
    assert "huge" in plan.reason and "fits no offering" in plan.reason
    assert validate_plan(problem, plan) == []


def test_spot_only_catalogue_cannot_host_on_demand_only_shapes() -> None:
    spot_only = tuple(o for o in offerings() if o.is_spot)
    problem = Problem(3600, shapes(spot_ok=False), np.ones((5, 2), dtype=np.int64), spot_only, Policy())
    plan = run(problem)
    assert plan.status == "INFEASIBLE" and "spot_ok=False" in plan.reason


def test_zero_spot_share_forces_on_demand() -> None:
    problem = random_problem(4, n_buckets=4, policy=Policy(max_spot_share=0.0, time_limit_seconds=10))
    plan = run(problem)
    assert plan.has_solution
    assert all(b.offering.endswith("/ON_DEMAND") for bucket in plan.buckets for b in bucket)
    assert validate_plan(problem, plan) == []


def test_policies_are_respected_and_cost_no_less_than_unconstrained() -> None:
    base = random_problem(5, n_buckets=6)
    free = run(base)
    for policy in (
        Policy(max_instance_types=2, time_limit_seconds=10),
        Policy(max_spot_share=0.3, time_limit_seconds=10),
        Policy(min_spot_instance_types=3, time_limit_seconds=10),
    ):
        problem = base.with_policy(policy)
        plan = run(problem)
        assert plan.has_solution, policy
        assert validate_plan(problem, plan) == [], policy
        # A limit can only raise the optimum: its plan is no cheaper than the free bound.
        assert plan.objective_usd >= free.lower_bound_usd - 1e-6


def test_instance_type_cap_below_what_the_shapes_need_is_infeasible() -> None:
    sh = (Shape("cpu", 8, 2000), Shape("mem", 1, 15000))
    offs = (
        Offering("c", "ON_DEMAND", 8, 4000, 0, "x86_64", 0.3),
        Offering("r", "ON_DEMAND", 2, 16000, 0, "x86_64", 0.12),
    )
    problem = Problem(
        3600, sh, np.array([[1], [1]]), offs, Policy(max_instance_types=1, time_limit_seconds=5)
    )
    plan = run(problem)
    assert plan.status == "INFEASIBLE"
    assert validate_plan(problem, plan) == []


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    n_buckets=st.integers(1, 4),
    n_offerings=st.integers(1, 7),
    max_types=st.one_of(st.none(), st.integers(1, 4)),
    share=st.one_of(st.none(), st.sampled_from([0.0, 0.4, 0.8])),
    diversity=st.sampled_from([0, 2]),
)
# Found by this test: an empty spot bin moved by the diversification repair (no job to size it by).
@example(seed=0, n_buckets=2, n_offerings=2, max_types=None, share=None, diversity=2)
def test_random_problems_give_valid_plans_with_honest_bounds(
    seed: int, n_buckets: int, n_offerings: int, max_types: int | None, share: float | None, diversity: int
) -> None:
    rng = np.random.default_rng(seed)
    from tests.solver_helpers import CATALOG

    catalog = [CATALOG[i] for i in sorted(rng.choice(len(CATALOG), n_offerings, replace=False))]
    demand = rng.integers(0, 5, size=(5, n_buckets))
    policy = Policy(
        max_instance_types=max_types,
        max_spot_share=share,
        min_spot_instance_types=diversity,
        time_limit_seconds=5,
    )
    problem = Problem(3600, shapes(), demand, offerings(catalog=catalog), policy)
    plan = run(problem)
    assert plan.status in ("OPTIMAL", "FEASIBLE", "INFEASIBLE", "TIMEOUT")
    assert plan.reason
    assert validate_plan(problem, plan) == []
    if plan.has_solution:
        assert plan.lower_bound_usd <= plan.objective_usd + 1e-6
        if max_types is None and share is None and diversity == 0:
            assert plan.objective_usd <= cheapest_fit(problem).objective_usd + 1e-6


def _two_jobs_one_box() -> Problem:
    """The hand-checked case above: optimum $0.17 (one 4-vCPU box hosts both jobs)."""
    sh = (Shape("big", 3, 1000), Shape("small", 1, 1000))
    offs = (
        Offering("two", "ON_DEMAND", 2, 4000, 0, "x86_64", 0.10),
        Offering("four", "ON_DEMAND", 4, 8000, 0, "x86_64", 0.17),
    )
    return Problem(3600, sh, np.array([[1], [1]]), offs, Policy(time_limit_seconds=5))


def _lp_bound_set_to(monkeypatch: pytest.MonkeyPatch, value: float) -> None:
    """Make column generation report `value` as its proven bound (a deliberately wrong one)."""
    import optimizer.solver.solve as solve_module

    real = solve_module.column_generation

    def wrong_bound(*args, **kwargs):
        lp = real(*args, **kwargs)
        lp.lower_bound = value
        return lp

    monkeypatch.setattr(solve_module, "column_generation", wrong_bound)


def test_a_wrong_bound_above_the_objective_is_reported_not_clamped(monkeypatch: pytest.MonkeyPatch) -> None:
    # A bound above the optimum ($0.17) is impossible: the solve must say so and the validator refuse
    # it, instead of clamping the bound to the objective and calling the plan OPTIMAL.
    from optimizer.solver.plan import plan_from_dict, plan_to_dict

    problem = _two_jobs_one_box()
    _lp_bound_set_to(monkeypatch, 0.25)
    plan = run(problem)
    assert plan.objective_usd == pytest.approx(0.17)
    assert plan.status == "FEASIBLE" and "bound is wrong" in plan.reason
    assert plan.lower_bound_usd == pytest.approx(0.25)
    assert plan.gap == pytest.approx((0.17 - 0.25) / 0.17)  # negative, not clamped at 0
    errors = validate_plan(problem, plan)
    assert any("above objective" in e for e in errors), errors
    # The same through the plan document a reader gets.
    again = plan_from_dict(plan_to_dict(plan))
    assert again.gap < 0 and any("above objective" in e for e in validate_plan(problem, again))
    # A document with the old clamped gap (0 despite the bound) is refused for its gap too.
    clamped = plan_from_dict({**plan_to_dict(plan), "gap": 0.0})
    assert any("gap 0.0 does not match" in e for e in validate_plan(problem, clamped))


def test_bound_a_float_hair_above_the_objective_is_noise_and_stays_optimal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Within BOUND_TOLERANCE (1e-6 relative) a bound above the objective is LP round-off: reported as
    # computed (a gap like -1e-9), status OPTIMAL, accepted by the validator.
    problem = _two_jobs_one_box()
    _lp_bound_set_to(monkeypatch, 0.17 * (1 + 1e-9))
    plan = run(problem)
    assert plan.status == "OPTIMAL"
    assert plan.lower_bound_usd > plan.objective_usd and -1e-6 < plan.gap < 0
    assert validate_plan(problem, plan) == []


def test_optimal_status_with_an_open_gap_is_refused() -> None:
    from dataclasses import replace

    problem = _two_jobs_one_box()
    plan = run(problem)
    assert plan.status == "OPTIMAL" and validate_plan(problem, plan) == []
    low = replace(plan, lower_bound_usd=0.1, gap=(plan.objective_usd - 0.1) / plan.objective_usd)
    assert any("status OPTIMAL but the gap" in e for e in validate_plan(problem, low))


def test_a_cap_with_both_spot_rows_still_finds_the_all_on_demand_plan() -> None:
    # Two spot pools at <= 1/2 each, spot share <= 0.5 and at most 2 offerings: the jobs cannot
    # use spot without three offerings (two spot pools and an on-demand one for the rest), so the
    # only plans are on demand: "small" on c6i.large, "big" on m6i.large, $0.181. The LP's
    # offering subsets held no all-on-demand pair, and the solve answered TIMEOUT in 0.04 s.
    sh = (Shape("small", 1, 1500), Shape("big", 2, 6000))
    offs = []
    for name, vcpus, mib, price in (("m6i.large", 2, 8192, 0.096), ("c6i.large", 2, 4096, 0.085)):
        offs += [
            Offering(name, "ON_DEMAND", vcpus, mib, 0, "x86_64", price),
            Offering(name, "SPOT", vcpus, mib, 0, "x86_64", round(price * 0.3, 4)),
        ]
    policy = Policy(
        time_limit_seconds=5,
        max_instance_types=2,
        min_spot_instance_types=2,
        max_spot_share=0.5,
        interruption_cost_factor=0.0,
    )
    problem = Problem(3600, sh, np.array([[1], [1]]), tuple(offs), policy)
    plan = run(problem)
    assert plan.has_solution, plan.reason
    assert plan.cost_usd == pytest.approx(0.181)
    assert set(plan.selected) == {"c6i.large/ON_DEMAND", "m6i.large/ON_DEMAND"}
    assert validate_plan(problem, plan) == []


@pytest.mark.parametrize(
    ("outer", "given", "first_deadline"),
    [(None, None, 4.0), (None, 100.0, 4.0), (None, 1.0, 3.8), (50.0, None, 50.0), (50.0, 2.0, 3.8)],
)
def test_the_first_lp_runs_to_the_outermost_solves_end_at_most(
    outer: float | None, given: float | None, first_deadline: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A 4 s solve starting at 0 on this clock (a microsecond a reading) ends its own steps at 3.8
    # (95 %). Outermost (`outer` None), its first LP may run to its limit, 4.0; nested in a solve
    # ending at 50, to 50, or to what its caller gives (the commitment-blind plan), never before
    # its own end nor past the outermost one.
    import itertools

    import optimizer.solver.solve as solve_module

    seen: list[object] = []
    real = solve_module.column_generation

    def spy(*args: object, **kwargs: object) -> object:
        seen.append(kwargs.get("first_deadline"))
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(solve_module, "column_generation", spy)
    problem = random_problem(2, 12, Policy(max_spot_share=0.5, time_limit_seconds=4.0))
    ticks = itertools.count()
    token = None if outer is None else solve_module._OUTER_END.set(outer)
    try:
        plan = solve_module.solve(problem, clock=lambda: next(ticks) * 1e-6, first_lp_until=given)
    finally:
        if token is not None:
            solve_module._OUTER_END.reset(token)
    assert plan.has_solution
    assert seen == [pytest.approx(first_deadline, abs=1e-3)]
    assert solve_module._OUTER_END.get() is None  # the outermost solve leaves none behind
