"""The one place that reads the wall clock.

Code that needs "now" takes it (a `now: datetime`, or a `clock: Clock` to call when it needs several
readings); the edges (the CLI, the scheduled jobs, the demo) pass `utc_now` or its reading. Nothing
deeper reads the clock, so every date-dependent result can be reproduced with a fixed date, and the
test suite passes on any date (tests/unit/test_any_date.py checks that this stays so).

Times are naive UTC in the store (its convention); `utc_now_aware` is for code that works in time
zones (the weekly report's week, the scheduler).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The current time, naive UTC."""
    return datetime.now(UTC).replace(tzinfo=None)


def utc_now_aware() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)
