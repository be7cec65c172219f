"""The committed LP (`committed_lp.py`): the pattern LP with the commitments' hourly budgets as
rows. Its certified bound never exceeds the exact committed optimum, after any number of rounds
and under any coupling policy, and under a spot-share cap it is far above the
bounds that price the budget instead (the commitment-blind LP less what the commitments can take
off)."""

from __future__ import annotations

import multiprocessing
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optimizer.solver import commitments, committed_lp, committed_master
from optimizer.solver.columns import PatternPool, Prepared
from optimizer.solver.commitments import bound_note, search_multipliers
from optimizer.solver.committed_class_bills import raise_by_class_bills
from optimizer.solver.committed_lp import ClassSplit, CommittedLp, committed_lp_bound
from optimizer.solver.problem import Commitment, Policy, Problem
from optimizer.solver.requirements import restrict_to_requirements
from optimizer.solver.solve import _prepare_pool, solve, solve_lp_estimate
from optimizer.solver.validate import validate_plan
from tests.clock import StepClock
from tests.unit.test_solver_commitment_classes import SHAPES, _offerings
from tests.unit.test_solver_commitments_coupled import _exact_optimum
from tests.unit.test_solver_commitments_coupled import _problems as _coupled_problems
from tests.unit.test_solver_dual_coverage import RATES, _problems, _shifted_bound


def _committed(
    problem: Problem, rounds: int = 500, *, poor_start: bool = False
) -> tuple[Prepared, CommittedLp] | None:
    """The committed LP after `rounds` rounds and its prepared arrays, from the solver's seed
    columns or, `poor_start`, from one job per instance of the dearest offering that hosts it (a
    first master far above the optimum, so the early rounds' certificates must account for every
    column not yet priced); None without demand or when no round ended."""
    problem = restrict_to_requirements(problem)
    if not problem.demand.any():
        return None
    prep, pool, pairs = _prepare_pool(problem)
    if poor_start:
        pool, pairs = PatternPool(len(problem.shapes)), set()
        for s in np.flatnonzero(prep.demand.any(axis=1)):
            dearest = max(np.flatnonzero(prep.compat[:, s]), key=lambda o: prep.hourly[o])
            pid, _ = pool.add(int(dearest), np.eye(len(problem.shapes), dtype=np.int64)[s])
            pairs.update((pid, int(u)) for u in np.flatnonzero(prep.demand[s] > 0))
    found = committed_lp_bound(prep, pool, pairs, deadline=np.inf, clock=StepClock(0.001), max_rounds=rounds)
    return None if found is None else (prep, found)


def _committed_bound(problem: Problem, rounds: int, *, poor_start: bool = False) -> float | None:
    """The committed LP's bound after `rounds` rounds (`_committed`)."""
    found = _committed(problem, rounds, poor_start=poor_start)
    return None if found is None else found[1].bound


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_problems(), st.sampled_from([1, 2, 100]), st.booleans())
def test_the_committed_lp_bound_never_exceeds_the_exact_optimum(
    problem: Problem, rounds: int, poor: bool
) -> None:
    bound = _committed_bound(problem, rounds, poor_start=poor)
    if bound is None:
        return
    optimum = _exact_optimum(problem)
    assert bound <= optimum + 1e-6 * max(1.0, optimum)


def _spot_share_problem() -> Problem:
    """Two shapes over six mostly quiet hours, spot at 30 % of list, at most 80 % of job vCPUs on
    spot, a Savings Plan worth $0.13 an hour of plan rates. Covered instances meet the on-demand
    fifth for free, which the blind LP's duals (its on-demand work priced at list under the
    share) cannot credit: the committed LP is within a cent of the exact optimum, the credit
    over 20 % below it."""
    demand = np.array([[4, 0, 1, 0, 0, 1], [3, 1, 0, 0, 1, 0]], dtype=np.int64)
    sp = Commitment("sp", "COMPUTE_SAVINGS_PLAN", usd_per_hour=0.13, rates=RATES)
    policy = Policy(time_limit_seconds=20.0, interruption_cost_factor=0.0, max_spot_share=0.8)
    return Problem(3600.0, SHAPES, demand, _offerings(0.3), policy, (sp,))


def test_under_a_spot_share_cap_the_committed_lp_beats_the_credit_off_the_blind_lp() -> None:
    problem = _spot_share_problem()
    committed = _committed_bound(problem, 100)
    shifted = _shifted_bound(problem, 100)
    assert committed is not None and shifted is not None
    optimum = _exact_optimum(problem)
    assert shifted + 0.15 < committed <= optimum + 1e-6
    assert committed >= optimum - 0.01


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork")
def test_the_committed_solve_takes_the_committed_lp_bound_from_its_child(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Three hours, spot at 30 % of list, at most 3 types, 2 spot pools and 80 % on spot: the
    solve's other bounds stop at $0.405 (each class's exact cover, the spread over spot types
    left out), the committed LP proves $0.448."""
    demand = np.array([[0, 2, 0], [1, 3, 1]], dtype=np.int64)
    sp = Commitment("sp", "COMPUTE_SAVINGS_PLAN", usd_per_hour=0.13, rates=RATES)
    policy = Policy(
        time_limit_seconds=20.0,
        interruption_cost_factor=0.0,
        max_spot_share=0.8,
        min_spot_instance_types=2,
        max_instance_types=3,
    )
    problem = Problem(3600.0, SHAPES, demand, _offerings(0.3), policy, (sp,))
    # The suite's workers keep both cores busy: the child competes at the parent's priority and
    # is waited for as long as it needs (the real solve waits at most a second for it).
    monkeypatch.setattr(committed_lp, "CHILD_NICENESS", 0)
    monkeypatch.setattr(commitments, "COMMITTED_LP_WAIT_SECONDS", 120.0)
    plan = solve(problem, clock=StepClock(0.001))
    found = _raised(problem)
    assert found is not None
    lp, committed, classes = found
    optimum = _exact_optimum(problem)
    # The child's LP converges and its class bills raise it (`committed_class_bills.py`).
    assert committed > lp + 1e-4 and classes > 0
    assert plan.stats["committed_lp_bound_usd"] == pytest.approx(committed, abs=1e-6)
    assert plan.stats["committed_lp_whole_classes"] == classes
    assert committed - 1e-6 <= plan.lower_bound_usd <= optimum + 1e-6 <= plan.objective_usd + 2e-6
    assert plan.lower_bound_usd > 0.44
    assert (
        "holds each hour to the commitment's budget but counts instances fractionally outside the costliest"
        in plan.reason
    )
    assert validate_plan(problem, plan) == []


def test_the_committed_lp_child_starts_inside_the_blind_stage_from_its_first_lp(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The child starts from the blind solve's first certified LP while the blind solve goes on
    (so the blind stage's longer share costs the bound nothing), not after the blind stage."""
    calls: list[tuple[bool, bool]] = []  # (the blind stage had returned, a seed was given)
    blind_done = [False]
    real_blind, real_start = commitments._blind_candidate, committed_lp.start_committed_lp

    def blind(*args: object, **kwargs: object) -> object:
        out = real_blind(*args, **kwargs)  # type: ignore[arg-type]
        blind_done[0] = True
        return out

    def start(problem: Problem, seed: object, **kwargs: object) -> object:
        calls.append((blind_done[0], seed is not None))
        return real_start(problem, seed, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(commitments, "_blind_candidate", blind)
    monkeypatch.setattr(committed_lp, "start_committed_lp", start)
    problem = _spot_share_problem().with_policy(
        Policy(time_limit_seconds=5.0, interruption_cost_factor=0.0, max_spot_share=0.8, max_instance_types=3)
    )
    plan = solve(problem, clock=StepClock(0.001))
    assert calls == [(False, True)]
    assert validate_plan(problem, plan) == []


def test_the_bound_note_names_what_the_committed_lp_leaves_out() -> None:
    note = bound_note(Policy(max_instance_types=8, max_spot_share=0.8), budget_rows=True)
    assert note == (
        "the lower bound is loose: it holds each hour to the commitment's budget but counts "
        "instances fractionally and leaves out the instance-type cap, so the plan is likely nearer "
        "the cheapest one than the gap says"
    )
    assert "type cap" not in bound_note(Policy(max_spot_share=0.8), budget_rows=True)


def test_the_lp_estimate_with_commitments_is_the_committed_lp_when_it_converges() -> None:
    problem = _spot_share_problem()
    estimate = solve_lp_estimate(problem, clock=StepClock(0.001))
    committed = _committed_bound(problem, 100)
    search = search_multipliers(restrict_to_requirements(problem), deadline=20.0, clock=StepClock(0.001))
    assert committed is not None and estimate.converged and estimate.feasible
    assert estimate.lower_bound_usd == pytest.approx(committed, abs=1e-6)
    assert estimate.lp_objective_usd == pytest.approx(committed, abs=1e-6)
    assert search.bound + 0.05 < estimate.lower_bound_usd <= _exact_optimum(problem) + 1e-6
    # The mix covers the jobs' vCPU-hours (2 and 4 vCPUs here) on 2- to 8-vCPU instances.
    hours = sum(estimate.instance_hours.values())
    assert 0 < hours <= float(problem.demand.sum())


def _raised(problem: Problem) -> tuple[float, float, int] | None:
    """(the converged committed LP, that bound raised by every class's exact bill at its coupling
    duals, classes raised); None where the LP does not apply or did not converge."""
    committed = _committed(problem)
    if committed is None or committed[1].split is None:
        return None
    prep, found = committed
    assert found.split is not None
    raised, classes = raise_by_class_bills(
        prep, found.split, problem.commitment_fees_usd, deadline=np.inf, clock=StepClock(0.001)
    )
    return found.bound, raised, classes


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(_problems(), _coupled_problems()))
def test_the_class_bills_at_the_lp_duals_never_exceed_the_exact_optimum(problem: Problem) -> None:
    found = _raised(problem)
    if found is None:
        return
    lp, raised, _ = found
    optimum = _exact_optimum(problem)
    assert lp - 1e-9 <= raised <= optimum + 1e-6 * max(1.0, optimum)


def _whole_instance_problem() -> Problem:
    """One or two 2-vCPU jobs an hour, at most 80 % of job vCPUs on spot over two pools and a
    $0.05-an-hour Savings Plan: the LP holds a quiet hour's job in a fraction of the instance two
    of them would fill, and spreads spot over the pools by fractions; every plan buys whole ones."""
    demand = np.array([[0, 0, 0, 0], [1, 2, 1, 1]], dtype=np.int64)
    sp = Commitment("sp", "COMPUTE_SAVINGS_PLAN", usd_per_hour=0.05, rates=RATES)
    policy = Policy(
        time_limit_seconds=20.0, interruption_cost_factor=0.0, max_spot_share=0.8, min_spot_instance_types=2
    )
    return Problem(3600.0, SHAPES, demand, _offerings(0.3), policy, (sp,))


def test_the_class_bills_raise_the_committed_lp_towards_the_optimum() -> None:
    problem = _whole_instance_problem()
    found = _raised(problem)
    assert found is not None
    lp, raised, classes = found
    optimum = _exact_optimum(problem)
    assert classes > 0
    assert lp + 0.01 < raised <= optimum + 1e-6


def test_the_class_bills_price_the_spread_over_spot_pools() -> None:
    """Three hours over three spot pools, spot at 60 % of list, a $0.05-an-hour Savings Plan: at
    the LP's duals the pools the spread needs cost less and the full ones more. Billed at list
    prices the classes would claim $0.039 more than the exact optimum; at the LP's spot charges
    they reach it and no further."""
    demand = np.array([[2, 2, 0], [1, 3, 3]], dtype=np.int64)
    sp = Commitment("sp", "COMPUTE_SAVINGS_PLAN", usd_per_hour=0.05, rates=RATES)
    policy = Policy(time_limit_seconds=20.0, interruption_cost_factor=0.0, min_spot_instance_types=3)
    problem = Problem(3600.0, SHAPES, demand, _offerings(0.6), policy, (sp,))
    committed = _committed(problem)
    assert committed is not None
    prep, found = committed
    assert found.split is not None
    assert (found.split.spot_charge < 0).any() and (found.split.spot_charge > 0).any()
    optimum = _exact_optimum(problem)
    fees = problem.commitment_fees_usd

    def raised(split: ClassSplit) -> float:
        return raise_by_class_bills(prep, split, fees, deadline=np.inf, clock=StepClock(0.001))[0]

    assert found.bound + 0.01 < raised(found.split) <= optimum + 1e-6
    at_list = replace(found.split, spot_charge=np.zeros_like(found.split.spot_charge))
    assert raised(at_list) > optimum + 0.03


def _master(problem: Problem) -> tuple[Problem, committed_master.MasterPlan] | None:
    """The committed LP converged, then its columns solved whole (`committed_master.py`) with
    the integer program's minimum time left on a clock that stands still."""
    problem = restrict_to_requirements(problem)
    if not problem.demand.any():
        return None
    prep, pool, pairs = _prepare_pool(problem)
    assert committed_lp_bound(prep, pool, pairs, deadline=np.inf, clock=StepClock(0.001)) is not None
    found = committed_master.committed_master_plan(
        prep, pool, pairs, deadline=committed_master.MIN_SECONDS + 1.0, clock=lambda: 0.0
    )
    return None if found is None else (problem, found)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_coupled_problems())
def test_the_committed_lp_columns_solved_whole_make_a_valid_plan_billed_at_most_the_program(
    problem: Problem,
) -> None:
    """Every solution of the integer program is a plan meeting demand, the spot rows and the type
    cap, and AWS's order bills it at most at the program's objective; it is never below the exact
    optimum. Kept in place of a dearer plan (an all-on-demand one), with its stats."""
    from optimizer.solver.commitments import _keep_master_plan, bill_plan
    from optimizer.solver.solve import on_demand_fallback

    found = _master(problem)
    if found is None:
        return
    problem, master = found
    optimum = _exact_optimum(problem)
    stats: dict = {}
    dear = bill_plan(problem, replace(on_demand_fallback(problem), lower_bound_usd=0.0))
    dear = replace(dear, objective_usd=dear.objective_usd + 1.0)  # (dearer whatever the program found)
    kept = _keep_master_plan(problem, dear, master, stats)
    assert stats["committed_master_kept"] is True
    assert validate_plan(problem, kept, check_bound=False) == []
    assert optimum - 1e-6 <= kept.objective_usd <= master.objective + 1e-6
    assert stats["committed_master_usd"] == pytest.approx(kept.objective_usd, abs=1e-6)
    # A plan already cheaper than the program's stays.
    cheaper = replace(kept, objective_usd=kept.objective_usd - 0.01)
    assert _keep_master_plan(problem, cheaper, master, {}) is cheaper


def test_the_integer_program_runs_only_where_the_limit_leaves_it_its_seconds() -> None:
    """At a 10 s limit the child has about 6 s after its LP: the class bills keep them. At the
    default 30 s the program gets half of what is left (at least `MIN_SECONDS`)."""
    least = committed_master.MIN_SECONDS
    assert committed_master.master_seconds(6.0) == 0.0
    assert committed_master.master_seconds(least) == 0.0
    assert committed_master.master_seconds(2 * least) == pytest.approx(least)
    assert committed_master.master_seconds(26.0) == pytest.approx(13.0)
