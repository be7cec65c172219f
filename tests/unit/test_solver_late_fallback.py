"""The plan of last resort under a type cap is built inside the time limit when the problem is so
large that cheapest-fit alone takes a noticeable share of it (an 11-year hourly window: the LP took
the whole 60 s and `finish` then built the fallback 7.6 s past the limit)."""

from __future__ import annotations

import pytest

import optimizer.solver.solve as solve_module
from optimizer.solver.problem import Policy
from tests.solver_helpers import random_problem

POLICY = Policy(max_instance_types=1, min_spot_instance_types=2, max_spot_share=0.5, time_limit_seconds=10)


class _Clock:
    """Seconds that pass only when cheapest-fit runs, so the test decides what share of the limit
    it seems to take."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(("heuristic_seconds", "early"), [(1.0, True), (0.1, False)])
def test_the_fallback_comes_before_the_lp_only_when_cheapest_fit_is_slow(
    monkeypatch: pytest.MonkeyPatch, heuristic_seconds: float, early: bool
) -> None:
    clock = _Clock()
    events: list[str] = []
    real_fit, real_fallback, real_cg = (
        solve_module.cheapest_fit,
        solve_module.on_demand_fallback,
        solve_module.column_generation,
    )

    def slow_fit(problem):  # type: ignore[no-untyped-def]
        clock.now += heuristic_seconds
        return real_fit(problem)

    def fallback(problem):  # type: ignore[no-untyped-def]
        events.append("fallback")
        return real_fallback(problem)

    def cg(*args, **kwargs):  # type: ignore[no-untyped-def]
        events.append("lp")
        return real_cg(*args, **kwargs)

    monkeypatch.setattr(solve_module, "cheapest_fit", slow_fit)
    monkeypatch.setattr(solve_module, "on_demand_fallback", fallback)
    monkeypatch.setattr(solve_module, "column_generation", cg)
    problem = random_problem(3, n_buckets=8, policy=POLICY)
    search = solve_module._Search.begin(problem, clock)
    search.prepare()
    search.start_from_heuristics(None)
    assert (events == ["fallback"]) is early
    if early:
        assert search.incumbent is not None  # the safe plan is in hand before the search starts
        assert not solve_module._policy_violations(problem, search.incumbent)
    search.relax()
    assert events[-1] == "lp"
