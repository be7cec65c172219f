"""A short-bucket queue problem that ends without a plan is solved again at the configured length
(`fleet.plans.solve_with_bucket_fallback`), and only then: a plan whose cost errs high beats none."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from optimizer.fleet.plans import solve_with_bucket_fallback
from optimizer.solver.plan import Plan
from optimizer.solver.problem import Policy, Problem
from tests.solver_helpers import offerings, run, shapes


def _problem(bucket_seconds: float) -> Problem:
    demand = np.random.default_rng(3).integers(0, 4, size=(5, 6))
    return Problem(bucket_seconds, shapes(), demand, offerings(), Policy(time_limit_seconds=10))


def _timing_out_at(seconds: float):
    """The real solver, except that problems with `seconds` buckets end TIMEOUT with no plan."""
    calls: list[float] = []

    def solve_fn(problem: Problem) -> Plan:
        calls.append(problem.bucket_seconds)
        plan = run(problem)
        if problem.bucket_seconds == seconds:
            return replace(plan, status="TIMEOUT", buckets=[], selected=[])
        return plan

    return solve_fn, calls


def test_a_short_bucket_solve_without_a_plan_falls_back_to_the_longest_bucket() -> None:
    solve_fn, calls = _timing_out_at(600.0)
    rebuilt: list[float] = []

    def rebuild(length: float) -> Problem:
        rebuilt.append(length)
        return _problem(length)

    problem, plan, note = solve_with_bucket_fallback(_problem(600.0), 3600.0, rebuild, solve_fn)
    assert rebuilt == [3600.0] and calls == [600.0, 3600.0]
    assert problem.bucket_seconds == 3600.0 and plan.has_solution
    assert note is not None and "10 min" in note and "TIMEOUT" in note and "1 h" in note
    assert plan.stats["bucket_fallback"] == note


def test_a_plan_at_short_buckets_is_kept_and_hour_buckets_are_not_retried() -> None:
    solve_fn, calls = _timing_out_at(3600.0)
    problem, plan, note = solve_with_bucket_fallback(_problem(600.0), 3600.0, _problem, solve_fn)
    assert (problem.bucket_seconds, note, calls) == (600.0, None, [600.0]) and plan.has_solution

    solve_fn, calls = _timing_out_at(3600.0)
    problem, plan, note = solve_with_bucket_fallback(_problem(3600.0), 3600.0, _problem, solve_fn)
    assert (problem.bucket_seconds, plan.status, note, calls) == (3600.0, "TIMEOUT", None, [3600.0])


def test_a_short_bucket_plan_that_is_only_the_last_resort_is_retried_at_the_longest_bucket() -> None:
    # The search's all-on-demand last resort (`solve.on_demand_fallback`) is a plan, but not one
    # the search found: the hour-bucket problem's own plan is kept instead, with the note.
    calls: list[float] = []

    def solve_fn(problem: Problem) -> Plan:
        calls.append(problem.bucket_seconds)
        plan = run(problem)
        if problem.bucket_seconds == 600.0:
            return replace(plan, stats={**plan.stats, "on_demand_fallback": True})
        return plan

    problem, plan, note = solve_with_bucket_fallback(_problem(600.0), 3600.0, _problem, solve_fn)
    assert calls == [600.0, 3600.0] and problem.bucket_seconds == 3600.0 and plan.has_solution
    assert note is not None and "all-on-demand last resort" in note
    assert not plan.stats.get("on_demand_fallback")
