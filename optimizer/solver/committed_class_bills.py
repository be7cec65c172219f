"""The converged committed LP raised by exact class bills at its coupling rows' duals: a Lagrangian
bound with whole instances in the classes that carry the most money.

Why. The committed LP (`committed_lp.py`) holds every hour to the commitments' budgets and keeps
the spot rows, but counts instances fractionally, and short buckets are where that is weakest: a
bucket with one 16-vCPU job pays for a quarter of an instance that holds four. On the demo's
cpu-short queue (README policy, a $0.20-an-hour Compute Savings Plan, 2,393 fifteen-minute
buckets in 649 classes) the converged LP is $581.63 under plans of $680-780. The per-class
bounds that do bill whole instances (`partition_bound.py`, `class_budget_bound.py`) leave spot
diversification out and stop at $525-544 there: the spread over spot pools is worth more than
the whole instances they see.

Why it is valid. Relax the rows that couple classes (spot share, diversification; the type cap
is already relaxed) with the LP's optimal duals as multipliers. What is left separates by bucket
class: class u's problem is its cheapest cover at list prices plus `ClassSplit.spot_share_price`
per spot job vCPU-hour and `ClassSplit.spot_charge` per spot instance-hour, the budgets kept as
rows. For any non-negative multipliers, fees + constant + the sum over classes of any lower bound
on each class's problem is at most every plan's objective (Lagrangian relaxation; the
diversification's auxiliary total adds nothing at the LP's duals, where its reduced cost is not
negative). The converged LP's class values are such lower bounds (its restricted master is
optimal class by class at those duals), and so is HiGHS's dual bound on each class's exact
bill (`class_budget_bound.class_bill_bound` with the spot charge), whatever stopped it. So each
class keeps the larger, and a class the deadline leaves keeps its LP value: a time limit only
weakens the bound, and it is never below the LP.

Measured offline (2026-12-06, the demo's stored problems, CPU seconds of bills after the
converged LP, 2-core Xeon): cpu-short $581.63 -> $615.15 after 0.25 s (20 classes), $620.52 after
1 s; memory-heavy $368.58 -> $384.56 after 1 s, $391.49 with every class (8.7 s); cpu-batch
$580.51 -> $627.61 after 1 s, $639.89 with every class (2.3 s). In the 10 s solve cpu-short's
bound went from $581.63 to $620.7-622.6 and memory-heavy's from $368.58 to $389.7-391.0.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from optimizer.solver.class_budget_bound import class_bill_bound
from optimizer.solver.columns import Prepared
from optimizer.solver.committed_lp import ClassSplit

#: Most seconds one class's bill may take: a class the MIP does not close keeps HiGHS's dual
#: bound, and the classes after it wait.
CLASS_SECONDS = 0.5


def raise_by_class_bills(
    prep: Prepared,
    split: ClassSplit,
    fees: float,
    *,
    deadline: float,
    clock: Callable[[], float],
    on_bound: Callable[[float, int], None] | None = None,
) -> tuple[float, int]:
    """(the bound, classes it billed higher than their LP value): the converged committed LP's
    optimum with each class, in order of LP value until `deadline`, at the larger of its LP value
    and its exact bill at the LP's coupling duals (module docstring). `on_bound` gets every rise,
    with the classes raised so far."""
    values = split.class_values.copy()
    bound = fees + split.constant + float(values.sum())
    raised = 0
    wh = prep.weight * prep.hours
    for u in np.argsort(-values, kind="stable"):
        left = deadline - clock()
        if left <= 0.0:
            break
        bill = class_bill_bound(
            prep,
            int(u),
            split.spot_share_price,
            time_limit=min(CLASS_SECONDS, left),
            spot_charge=split.spot_charge,
        )
        if bill is None or bill.bound * wh[u] <= values[u] + 1e-9:
            continue
        bound += bill.bound * wh[u] - values[u]
        values[u] = bill.bound * wh[u]
        raised += 1
        if on_bound is not None:
            on_bound(bound, raised)
    return bound, raised
