"""The window and scope a fleet plan covers, so the spend shown beside it is like for like.

A stored plan is one queue's (`fleet_plans.scope`) demand over `buckets` x `bucket_seconds`
ending at that queue's last finished job (`optimizer.fleet.plans.problem_for_queue`). Costs are
booked per UTC day, so the comparable spend is the queue's cost over the same number of whole days
ending on the day the plan's window ends, plus the idle of the compute environments serving it
(the plan pays for whole instances, idle included; `queue_scope` says which environments).
Pure: the page reads the store through `queries`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from optimizer.store.names import COLLECTED_DATASET

DAY_SECONDS = 86400.0


def plan_label(scope: str, dataset: str) -> str:
    """A stored plan's scope as the plan pickers show it: the queue, and the dataset when it is not
    the collected history (an imported trace's `default` is not the collected `default`)."""
    return scope if dataset == COLLECTED_DATASET else f"{scope} ({dataset})"


def plan_hours(problem: Mapping[str, Any]) -> float:
    return float(problem.get("buckets", 0)) * float(problem.get("bucket_seconds", 3600.0)) / 3600.0


def plan_days(window_end: datetime, hours: float) -> tuple[datetime, datetime]:
    """[since, until) of the whole UTC days matching a `hours`-long window that ends at `window_end`:
    as many days as the window is long (at least one), the last being the day the window ends."""
    days = max(1, round(hours * 3600.0 / DAY_SECONDS))
    until = pd.Timestamp(window_end).normalize().to_pydatetime() + timedelta(days=1)
    return until - timedelta(days=days), until


def plan_window_note(problem: Mapping[str, Any]) -> str:
    """The period a plan's cost covers, for the What-if's table of plan figures: the plan's own
    hours of demand, not a month and not the replay's window below it (the demo's mpi-parallel read
    $123.46 there and $133.68 in the replay with nothing saying the two cover different spans)."""
    return (
        f"Plan figures cover the stored problem's {plan_hours(problem):,.0f} h of demand "
        "(the same window for both plans, not a month)."
    )
