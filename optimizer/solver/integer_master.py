"""The integer master: choose how many bins of each generated pattern run, with OR-Tools MathOpt + HiGHS.

Price-and-branch: the integer model uses the patterns column generation found. Columns whose LP
reduced cost exceeds (incumbent - lower bound) cannot appear in any better solution (reduced-cost
fixing), so they are left out, which keeps the model small without losing an improving solution
among the generated columns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from optimizer.solver.columns import Columns, Prepared
from optimizer.solver.master import build_master
from optimizer.solver.mip import solve_mip

#: Seconds past the solve's deadline before a running master is killed.
HARD_LIMIT_GRACE = 0.5


@dataclass(frozen=True)
class IntegerOutcome:
    status: str  # "SOLVED" (a solution), "INFEASIBLE" (none among these columns), "NO_SOLUTION" (time)
    values: np.ndarray  # per column (empty unless SOLVED)
    objective: float
    detail: str


def solve_integer_master(
    prep: Prepared, cols: Columns, *, deadline: float, clock: Callable[[], float], relative_gap: float
) -> IntegerOutcome:
    """Solve within `deadline` (on `clock`): HiGHS gets 80 % of what is left after the model is
    built, in a child process that is killed at the deadline (plus a grace) if HiGHS overruns."""
    system = build_master(prep, cols, with_selection=True)
    result = solve_mip(
        system.cost,
        system.matrix,
        np.full(system.matrix.shape[0], -np.inf),
        system.rhs,
        integer=system.integer,
        upper=system.upper,
        time_limit=max(0.05, 0.8 * (deadline - clock())),
        relative_gap=relative_gap,
        # HiGHS can overrun its limit inside a cut round; the child is killed shortly after it.
        hard_limit=max(0.5, deadline - clock()) + HARD_LIMIT_GRACE,
    )
    if result.status == "INFEASIBLE":
        return IntegerOutcome("INFEASIBLE", np.zeros(0), np.inf, result.detail)
    if not result.has_solution:
        return IntegerOutcome("NO_SOLUTION", np.zeros(0), np.inf, result.detail)
    return IntegerOutcome("SOLVED", np.round(result.values[: len(cols)]), result.objective, result.detail)
