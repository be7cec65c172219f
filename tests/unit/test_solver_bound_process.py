"""The selection bound in a forked child (`bound_process.py`): the same certificate as in-process,
every value certified before a kill kept, and a child that hangs, dies or fails never leaves a
wrong bound, a missing solve or a live process behind."""

from __future__ import annotations

import os
import signal
from dataclasses import replace

import numpy as np
import pytest

from optimizer.solver import bound_process
from optimizer.solver.bound_process import BackgroundBound
from optimizer.solver.column_generation import column_generation
from optimizer.solver.selection_bound import selection_bound
from optimizer.solver.solve import _prepare_pool
from optimizer.solver.validate import validate_plan
from tests.solver_helpers import run
from tests.unit.test_solver_policy_bounds import POLICIES, _brute_force, _problem, _ticks

pytestmark = pytest.mark.skipif(
    "fork" not in __import__("multiprocessing").get_all_start_methods(), reason="needs fork"
)

CAPPED_SPOT = [n for n, p in POLICIES.items() if p.max_instance_types is not None and p.couples_spot]


def _lp(seed: int, name: str):
    problem = _problem(seed, replace(POLICIES[name], time_limit_seconds=5.0, gap_target=0.0))
    prep, pool, pairs = _prepare_pool(problem)
    lp = column_generation(prep, pool, pairs, deadline=np.inf, clock=_ticks())
    return problem, prep, pool, lp


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.mark.parametrize("name", CAPPED_SPOT)
@pytest.mark.parametrize("seed", range(4))
def test_the_child_certifies_what_the_in_process_bound_does_and_stays_below_the_optimum(
    seed: int, name: str
) -> None:
    problem, prep, pool, lp = _lp(seed, name)
    optimum = _brute_force(problem)
    plan = run(problem)
    child = BackgroundBound.start(prep, pool, lp.columns, lambda: plan, deadline=np.inf, clock=_ticks())
    assert child is not None
    got = child.collect(deadline=np.inf, clock=_ticks())
    assert child.error is None
    assert _gone(child.process.pid) or not child.process.is_alive()
    # The child works on a copy of the pool: the in-process run from the same state is the same.
    same = selection_bound(prep, pool, lp.columns, plan, deadline=np.inf, clock=_ticks())
    assert (got is None) == (same is None)
    if same is not None:
        assert got == pytest.approx(same.bound)
    if np.isfinite(optimum) and got is not None:
        assert got <= optimum + 1e-6, (got, optimum)


def test_a_child_killed_at_the_deadline_hands_back_what_it_had_certified(monkeypatch) -> None:
    # The child reports two certificates, then hangs (as a restricted LP past the deadline would):
    # the parent keeps the better one and kills it when its own clock reaches the deadline.
    def certify_then_hang(prep, pool, cols, plan, *, deadline, clock, on_bound, **_):
        on_bound(1.0)
        on_bound(2.5)
        signal.pause()

    monkeypatch.setattr(bound_process, "selection_bound", certify_then_hang)
    _, prep, pool, lp = _lp(0, CAPPED_SPOT[0])
    child = BackgroundBound.start(prep, pool, lp.columns, lambda: None, deadline=np.inf, clock=_ticks())
    assert child is not None
    got = child.collect(deadline=200.0, clock=_ticks())  # 200 ticks of the parent's clock
    assert got == 2.5
    assert not child.process.is_alive()
    assert child.process.exitcode == -signal.SIGKILL


def test_the_parent_waits_for_the_childs_selection_values_and_keeps_its_certificates(monkeypatch) -> None:
    # The child certifies, sends a round's y, then another, then hangs: the parent's wait returns
    # as soon as a y is there (the latest it has), and `collect` still returns the certificate.
    def select_then_hang(prep, pool, cols, plan, *, deadline, clock, on_bound, on_selection):
        on_bound(1.5)
        on_selection(np.arange(len(prep.offerings), dtype=float))
        on_selection(np.full(len(prep.offerings), 0.25))
        signal.pause()

    monkeypatch.setattr(bound_process, "selection_bound", select_then_hang)
    _, prep, pool, lp = _lp(0, CAPPED_SPOT[0])
    child = BackgroundBound.start(prep, pool, lp.columns, lambda: None, deadline=np.inf, clock=_ticks())
    assert child is not None
    first = child.wait_for_selection(deadline=np.inf, clock=_ticks())
    assert first is not None and first.shape == (len(prep.offerings),)
    for _ in range(200):  # the second round's y, whatever the pipe's timing (at most 10 s)
        if child.selections >= 2:
            break
        child._drain(bound_process.POLL_SECONDS)
    assert child.selections == 2
    assert (child.wait_for_selection(deadline=np.inf, clock=_ticks()) == 0.25).all()  # the latest
    assert child.collect(deadline=200.0, clock=_ticks()) == 1.5


def test_no_selection_values_by_the_deadline_leaves_the_wait_empty(monkeypatch) -> None:
    monkeypatch.setattr(bound_process, "selection_bound", lambda *a, **k: signal.pause())
    _, prep, pool, lp = _lp(0, CAPPED_SPOT[0])
    child = BackgroundBound.start(prep, pool, lp.columns, lambda: None, deadline=np.inf, clock=_ticks())
    assert child is not None
    assert child.wait_for_selection(deadline=50.0, clock=_ticks()) is None  # 50 ticks of its clock
    assert child.collect(deadline=0.0, clock=_ticks()) is None
    assert not child.process.is_alive()


def test_a_failing_child_reports_its_error_and_no_bound(monkeypatch) -> None:
    def fail(*args, **kwargs):
        raise RuntimeError("restricted LP broke")

    monkeypatch.setattr(bound_process, "selection_bound", fail)
    _, prep, pool, lp = _lp(0, CAPPED_SPOT[0])
    child = BackgroundBound.start(prep, pool, lp.columns, lambda: None, deadline=np.inf, clock=_ticks())
    assert child is not None
    assert child.collect(deadline=np.inf, clock=_ticks()) is None
    assert child.error == "RuntimeError: restricted LP broke"


def test_a_child_that_dies_without_a_word_leaves_no_bound(monkeypatch) -> None:
    monkeypatch.setattr(bound_process, "selection_bound", lambda *a, **k: os._exit(3))
    _, prep, pool, lp = _lp(0, CAPPED_SPOT[0])
    child = BackgroundBound.start(prep, pool, lp.columns, lambda: None, deadline=np.inf, clock=_ticks())
    assert child is not None
    assert child.collect(deadline=np.inf, clock=_ticks()) is None
    assert child.process.exitcode == 3


def test_without_fork_the_solve_computes_the_bound_in_process(monkeypatch) -> None:
    # A process that cannot fork (not POSIX, or a daemonic worker) falls back to the bound after
    # the subsets, as before the child existed: the bound is still there and still valid.
    monkeypatch.setattr(BackgroundBound, "start", classmethod(lambda cls, *a, **k: None))
    name = CAPPED_SPOT[0]
    problem = _problem(1, replace(POLICIES[name], time_limit_seconds=5.0, gap_target=0.0))
    optimum = _brute_force(problem)
    plan = run(problem)
    assert validate_plan(problem, plan) == []
    if plan.has_solution:
        assert plan.stats.get("cap_bound") in (None, "in process")
        assert plan.lower_bound_usd <= optimum + 1e-6


def test_the_solve_takes_the_childs_bound() -> None:
    # Each solve that reaches the subset search forks the child and reports what it certified; the
    # plan's bound is at least that, and below the brute-force optimum.
    name = CAPPED_SPOT[0]
    children = 0
    for seed in range(4):
        problem = _problem(seed, replace(POLICIES[name], time_limit_seconds=5.0, gap_target=0.0))
        optimum = _brute_force(problem)
        plan = run(problem)
        assert validate_plan(problem, plan) == []
        if "cap_bound" in plan.stats:
            children += 1
            assert plan.stats["cap_bound"] == "child process"
            assert "cap_bound_error" not in plan.stats
            child = plan.stats["cap_bound_usd"]
            if child is not None:
                assert plan.lower_bound_usd >= child - 1e-6  # (the stats round to 6 digits)
        if plan.has_solution and np.isfinite(optimum):
            assert plan.lower_bound_usd <= optimum + 1e-6
    assert children > 0
