"""Subgradient steps on the capped bound's link multipliers: every value is a valid bound.

`ascend` walks the link and card multipliers away from the capped LP's, so the bound it reports is
valid only because L(rho, nu) is a Lagrangian bound for ANY rho, nu >= 0 (`multiplier_ascent.py`).
Checked here where the optimum is known: random multipliers, and every bound the walk reports,
against the brute-force optimum of small problems under a type cap with spot rows; and, on
busier problems, against the solver's validated plans.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from optimizer.solver.multiplier_ascent import ascend, lagrangian_value
from optimizer.solver.problem import Policy
from optimizer.solver.requirements import restrict_to_requirements
from optimizer.solver.selection_bound import selection_bound
from optimizer.solver.validate import validate_plan
from tests.solver_helpers import random_problem, run
from tests.unit.test_solver_policy_bounds import CAPPED, POLICIES, _brute_force, _lp, _problem, _ticks


def _start(problem):  # type: ignore[no-untyped-def]
    """The converged capped LP's multipliers in `ascend`'s terms (None: nothing to start from)."""
    prep, pool, lp = _lp(problem)
    out = selection_bound(prep, pool, lp.columns, None, deadline=np.inf, clock=_ticks())
    if out is None:
        return None
    m = out.master
    if not m.z_ok or (m.offering_cost < 0).any():
        return None
    wh = prep.weight * prep.hours
    k = prep.problem.policy.max_instance_types
    spot = np.where(prep.spot[:, None], np.maximum(-m.spot_adjust[None, :], 0.0), 0.0)
    constant = m.dual_value - float((m.item_value * prep.demand).sum(axis=0) @ wh) + m.nu * k
    return prep, m, spot, constant, out.bound


@pytest.mark.parametrize("name", CAPPED)
@pytest.mark.parametrize("seed", range(6))
def test_any_multipliers_and_every_step_stay_below_the_brute_force_optimum(name: str, seed: int) -> None:
    problem = _problem(seed, replace(POLICIES[name], time_limit_seconds=5.0, gap_target=0.0))
    optimum = _brute_force(problem)
    start = _start(problem)
    if not np.isfinite(optimum) or start is None:
        return
    prep, m, spot, constant, _ = start
    rng = np.random.default_rng(seed)
    for scale in (0.0, 0.1, 1.0, 10.0):
        rho = rng.exponential(scale, size=m.rho.shape) * (rng.random(m.rho.shape) < 0.5)
        out = lagrangian_value(prep, m.offering_cost, spot, rho, float(rng.exponential(scale)), constant)
        assert out is not None
        assert out[0] <= optimum + 1e-6, (scale, out[0], optimum)
    seen: list[float] = []
    best = ascend(
        prep, m.offering_cost, spot, np.maximum(m.rho, 0.0), m.nu, constant,
        deadline=np.inf, clock=_ticks(), on_bound=seen.append,
    )  # fmt: skip
    assert best is not None and seen and best == seen[-1] == max(seen)
    assert all(b <= optimum + 1e-6 for b in seen), (seen, optimum)


@pytest.mark.parametrize(
    "policy",
    [
        Policy(max_instance_types=2, max_spot_share=0.7),
        Policy(max_instance_types=3, min_spot_instance_types=2),
    ],
)
@pytest.mark.parametrize("seed", range(4))
def test_the_walk_never_falls_below_its_start_nor_rises_above_the_solvers_plans(
    policy: Policy, seed: int
) -> None:
    problem = restrict_to_requirements(
        random_problem(seed, 3, replace(policy, time_limit_seconds=2.0, gap_target=0.0))
    )
    start = _start(problem)
    assert start is not None
    prep, m, spot, constant, _ = start
    rho = np.maximum(m.rho, 0.0)
    first = lagrangian_value(prep, m.offering_cost, spot, rho, m.nu, constant)
    assert first is not None
    best = ascend(prep, m.offering_cost, spot, rho, m.nu, constant, deadline=np.inf, clock=_ticks())
    plan = run(problem)
    assert plan.has_solution and validate_plan(problem, plan, check_bound=False) == []
    assert best is not None
    assert first[0] - 1e-9 <= best <= plan.objective_usd + 1e-6, (first[0], best, plan.objective_usd)


def test_the_walk_climbs_where_the_lp_multipliers_leave_room() -> None:
    # One type allowed, spot share 0.5, three buckets of random_problem(2): at the capped LP's own
    # multipliers the class-exact L is below the capped LP bound (the LP leaves offerings outside
    # it without link multipliers); the walk passes both.
    policy = Policy(max_instance_types=1, max_spot_share=0.5, time_limit_seconds=2.0, gap_target=0.0)
    problem = restrict_to_requirements(random_problem(2, 3, policy))
    start = _start(problem)
    assert start is not None
    prep, m, spot, constant, lp_bound = start
    rho = np.maximum(m.rho, 0.0)
    first = lagrangian_value(prep, m.offering_cost, spot, rho, m.nu, constant)
    assert first is not None
    best = ascend(prep, m.offering_cost, spot, rho, m.nu, constant, deadline=np.inf, clock=_ticks())
    assert best is not None
    assert best > max(first[0], lp_bound) + 1e-3, (first[0], lp_bound, best)
    assert best <= run(problem).objective_usd + 1e-6
