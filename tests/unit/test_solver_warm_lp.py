"""The warm-started LP (`optimizer/solver/warm_lp.py`) gives linprog's answers on a growing LP, and
column generation's rounds start from it."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import linprog

import optimizer.solver.column_generation as column_generation_module
import optimizer.solver.warm_lp as warm_lp
from optimizer.solver.column_generation import LpOutcome, column_generation
from optimizer.solver.problem import Policy, Problem
from optimizer.solver.requirements import restrict_to_requirements
from optimizer.solver.solve import _prepare_pool
from optimizer.solver.warm_lp import WarmLp
from tests.solver_helpers import random_problem


def _covering(
    rng: np.random.Generator, n_rows: int, n_cols: int
) -> tuple[np.ndarray, sp.csc_matrix, np.ndarray]:
    """A random covering LP in `<=` form: -A x <= -d with A >= 0, every row coverable."""
    a = (rng.random((n_rows, n_cols)) < 0.3) * rng.integers(1, 4, (n_rows, n_cols))
    a[np.arange(n_rows), rng.integers(0, n_cols, n_rows)] = 1  # each row has a column
    cost = rng.uniform(1.0, 5.0, n_cols)
    demand = rng.integers(1, 6, n_rows).astype(float)
    return cost, sp.csc_matrix(-a.astype(float)), -demand


def _reference(cost: np.ndarray, matrix: sp.csc_matrix, rhs: np.ndarray, upper: np.ndarray):
    return linprog(
        cost, A_ub=matrix, b_ub=rhs, bounds=np.stack([np.zeros_like(upper), upper], axis=1), method="highs"
    )


def _grow(rng: np.random.Generator, lp: WarmLp) -> list[tuple[float, float, bool]]:
    """Columns added (in shuffled order) and a row added each step; (ours, linprog's, warm)."""
    cost, matrix, rhs = _covering(rng, 12, 40)
    out = []
    keys = np.arange(40)
    for step in range(5):
        n_cols = 15 + 5 * step
        n_rows = 8 + step
        order = rng.permutation(n_cols)  # the column order may change between solves
        sub_cost = cost[keys[:n_cols]][order]
        sub = matrix[:n_rows][:, keys[:n_cols]][:, order]
        upper = np.where(np.arange(n_cols) % 3 == 0, 2.0, np.inf)[order]
        ref = _reference(sub_cost, sub, rhs[:n_rows], upper)
        res = lp.solve(
            sub_cost,
            sub,
            rhs[:n_rows],
            np.zeros(n_cols),
            upper,
            col_keys=keys[:n_cols][order],
            row_keys=np.arange(n_rows),
            time_limit=10.0,
        )
        assert ref.status == 0 and res.status == 0
        assert res.x is not None and res.marginals is not None
        # feasible, and the duals are linprog's sign convention: a valid dual bound
        assert np.all(sub @ res.x <= rhs[:n_rows] + 1e-7)
        assert np.all(res.marginals <= 1e-9)
        reduced = sub_cost - sub.T @ res.marginals
        dual = float(res.marginals @ rhs[:n_rows]) + float(
            np.minimum(reduced, 0.0)[np.isfinite(upper)] @ upper[np.isfinite(upper)]
        )
        assert dual == pytest.approx(res.fun, rel=1e-7, abs=1e-7)
        out.append((res.fun, float(ref.fun), res.warm))
    return out


def test_warm_solves_match_linprog() -> None:
    rng = np.random.default_rng(3)
    lp = WarmLp()
    assert lp.available
    results = _grow(rng, lp)
    for ours, ref, _ in results:
        assert ours == pytest.approx(ref, rel=1e-9, abs=1e-9)
    assert not results[0][2]  # nothing to start from
    assert all(w for _, _, w in results[1:])  # each later solve starts from the previous basis


def test_fallback_without_the_bindings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(warm_lp, "_highs", None)
    rng = np.random.default_rng(3)
    lp = WarmLp()
    assert not lp.available
    results = _grow(rng, lp)
    for ours, ref, warm in results:
        assert ours == pytest.approx(ref, rel=1e-9, abs=1e-9)
        assert not warm


def test_infeasible_and_time_limit_are_not_optimal() -> None:
    lp = WarmLp()
    # x <= -1 with x >= 0: infeasible
    res = lp.solve(
        np.ones(1),
        sp.csc_matrix(np.ones((1, 1))),
        np.array([-1.0]),
        np.zeros(1),
        np.full(1, np.inf),
        col_keys=np.arange(1),
        row_keys=np.arange(1),
        time_limit=5.0,
    )
    assert res.status != 0 and res.x is None


def test_carried_statuses_by_key() -> None:
    old = np.array([2, 5, 9])
    status = np.array([1, 0, 2], dtype=np.int8)
    assert warm_lp._carried(old, status, np.array([9, 3, 2, 11]), 0).tolist() == [2, 0, 1, 0]
    assert warm_lp._carried(old[:0], status[:0], np.array([1, 2]), 1).tolist() == [1, 1]


def _column_generation_run(
    problem: Problem, bindings: bool, warm_from: int = 0
) -> tuple[LpOutcome, list[bool]]:
    """Column generation to convergence, warm (each round's LP from the last basis, when the first
    master has at least `warm_from` columns) or cold (without the bindings: linprog every round);
    with which solves started warm."""
    starts: list[bool] = []
    solve = WarmLp.solve

    def spy(self: WarmLp, *args: Any, **kwargs: Any) -> warm_lp.LpResult:
        result = solve(self, *args, **kwargs)
        starts.append(result.warm)
        return result

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(WarmLp, "solve", spy)
        mp.setattr(column_generation_module, "WARM_START_COLUMNS", warm_from)
        if not bindings:
            mp.setattr(warm_lp, "_highs", None)
        prep, pool, pairs = _prepare_pool(problem)
        ticks = itertools.count()
        lp = column_generation(prep, pool, pairs, deadline=np.inf, clock=lambda: float(next(ticks)))
    return lp, starts


@pytest.mark.parametrize(
    "policy",
    [
        Policy(),
        Policy(max_spot_share=0.6),
        Policy(max_instance_types=3, min_spot_instance_types=2, max_spot_share=0.6),
    ],
    ids=["open", "spot share", "README-like"],
)
@pytest.mark.parametrize("seed", range(3))
def test_column_generation_rounds_start_warm_and_end_at_the_cold_optimum(seed: int, policy: Policy) -> None:
    problem = restrict_to_requirements(random_problem(seed, 24, policy))
    warm, warm_starts = _column_generation_run(problem, bindings=True)
    cold, cold_starts = _column_generation_run(problem, bindings=False)
    assert warm.converged and cold.converged
    assert warm.objective == pytest.approx(cold.objective, rel=1e-7)
    assert warm.lower_bound == pytest.approx(cold.lower_bound, rel=1e-6)
    assert len(warm_starts) == warm.iterations
    assert warm_starts == [False] + [True] * (warm.iterations - 1)
    assert not any(cold_starts)
    # A first master below `WARM_START_COLUMNS` keeps cold rounds: the same optimum.
    small, small_starts = _column_generation_run(problem, bindings=True, warm_from=10**9)
    assert small.converged and small.objective == pytest.approx(cold.objective, rel=1e-7)
    assert len(small_starts) == small.iterations and not any(small_starts)


def test_a_first_lp_past_its_deadline_leaves_no_columns() -> None:
    # A clock past `first_deadline` from its first reading: the first round's LP gets no time.
    problem = restrict_to_requirements(random_problem(1, 24, Policy(max_spot_share=0.6)))
    prep, pool, pairs = _prepare_pool(problem)
    ticks = itertools.count(start=100, step=100)
    clock = lambda: float(next(ticks))  # noqa: E731
    lp = column_generation(prep, pool, pairs, deadline=np.inf, clock=clock, first_deadline=50.0)
    assert not lp.feasible and not lp.converged and len(lp.columns) == 0
    assert lp.lower_bound == 0.0 and np.isnan(lp.objective)
    # Without `first_deadline` the same clock still gets the first round's LP and its columns.
    prep, pool, pairs = _prepare_pool(problem)
    lp = column_generation(prep, pool, pairs, deadline=0.0, clock=clock)
    assert lp.feasible and len(lp.columns) > 0
