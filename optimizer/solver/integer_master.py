"""The integer master: choose how many bins of each generated pattern run, with OR-Tools MathOpt + HiGHS.

Price-and-branch: the integer model uses the patterns column generation found. Columns whose LP
reduced cost exceeds (incumbent - lower bound) cannot appear in any better solution (reduced-cost
fixing), so they are left out, which keeps the model small without losing an improving solution
among the generated columns.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from ortools.math_opt.python import mathopt

from optimizer.solver.columns import Columns, Prepared
from optimizer.solver.master import build_master


@dataclass(frozen=True)
class IntegerOutcome:
    status: str  # "SOLVED" (a solution), "INFEASIBLE" (none among these columns), "NO_SOLUTION" (time)
    values: np.ndarray  # per column (empty unless SOLVED)
    objective: float
    detail: str


def solve_integer_master(
    prep: Prepared, cols: Columns, *, deadline: float, clock: Callable[[], float], relative_gap: float
) -> IntegerOutcome:
    """Solve within `deadline` (on `clock`): HiGHS gets what is left after the model is built, less
    a margin because it checks its clock only between nodes and overshoots on hard models."""
    system = build_master(prep, cols, with_selection=True)
    model = mathopt.Model(name="fleet_mix")
    variables = [
        model.add_variable(lb=0.0, ub=float(ub), is_integer=bool(is_int))
        for ub, is_int in zip(system.upper.tolist(), system.integer.tolist(), strict=True)
    ]
    matrix = system.matrix
    indptr, indices, data = matrix.indptr, matrix.indices.tolist(), matrix.data.tolist()
    rhs = system.rhs.tolist()
    for r in range(matrix.shape[0]):
        lo, hi = indptr[r], indptr[r + 1]
        if lo == hi:
            continue
        expr = mathopt.LinearSum(variables[j] * v for j, v in zip(indices[lo:hi], data[lo:hi], strict=True))
        model.add_linear_constraint(expr <= rhs[r])
    model.minimize(
        mathopt.LinearSum(variables[j] * c for j, c in enumerate(system.cost.tolist()) if c != 0.0)
    )
    params = mathopt.SolveParameters(
        time_limit=dt.timedelta(seconds=max(0.05, 0.8 * (deadline - clock()))),
        relative_gap_tolerance=relative_gap,
    )
    result = mathopt.solve(model, mathopt.SolverType.HIGHS, params=params)
    reason = result.termination.reason
    if reason == mathopt.TerminationReason.INFEASIBLE:
        return IntegerOutcome("INFEASIBLE", np.zeros(0), np.inf, result.termination.detail)
    if not result.has_primal_feasible_solution():
        return IntegerOutcome(
            "NO_SOLUTION", np.zeros(0), np.inf, f"{reason.name}: {result.termination.detail}"
        )
    values = np.array([result.variable_values(v) for v in variables[: len(cols)]], dtype=float)
    return IntegerOutcome("SOLVED", np.round(values), float(result.objective_value()), reason.name)
