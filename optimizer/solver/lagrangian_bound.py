"""The proven bound under coupling policies: what `solve` asks once its plans are in.

The column-generation LP bound drops `max_instance_types` (its big-M rows are useless in an LP).
`policy_bound` raises it where a valid argument exists within the time given:

- under a type cap, the LP with selection variables and strong per-(offering, shape, class)
  linking, certified over every pattern by a Lagrangian argument (`selection_bound.py`; valid
  for any multipliers, so a time limit mid-way still leaves an honest bound);

and otherwise returns the LP bound unchanged. It never returns less than `lp.lower_bound`.
"""

from __future__ import annotations

from collections.abc import Callable

from optimizer.solver.column_generation import LpOutcome
from optimizer.solver.columns import PatternPool, Prepared
from optimizer.solver.plan import Plan
from optimizer.solver.selection_bound import selection_bound

#: Less time than this (seconds) is not worth a selection round (one LP plus its pricing).
MIN_SECONDS = 0.3


def policy_bound(
    prep: Prepared,
    pool: PatternPool,
    lp: LpOutcome,
    plan: Plan | None,
    *,
    deadline: float,
    clock: Callable[[], float],
) -> float:
    """The best proven lower bound on the policy's optimum found by `deadline`: at least the LP's.

    `plan`, a plan that meets the policy (the incumbent), seeds the selection LP's columns so that
    its first rounds are feasible without artificial covers. `pool` grows with the patterns found."""
    bound = lp.lower_bound
    if prep.problem.policy.max_instance_types is None or not lp.feasible or deadline - clock() < MIN_SECONDS:
        return bound
    selected = selection_bound(prep, pool, lp.columns, lp.values, plan, deadline=deadline, clock=clock)
    if selected is not None:
        bound = max(bound, selected.bound)
    return bound
