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

DAY_SECONDS = 86400.0


def plan_hours(problem: Mapping[str, Any]) -> float:
    return float(problem.get("buckets", 0)) * float(problem.get("bucket_seconds", 3600.0)) / 3600.0


def plan_days(window_end: datetime, hours: float) -> tuple[datetime, datetime]:
    """[since, until) of the whole UTC days matching a `hours`-long window that ends at `window_end`:
    as many days as the window is long (at least one), the last being the day the window ends."""
    days = max(1, round(hours * 3600.0 / DAY_SECONDS))
    until = pd.Timestamp(window_end).normalize().to_pydatetime() + timedelta(days=1)
    return until - timedelta(days=days), until
