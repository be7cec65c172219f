"""Clocks for tests, so the suite passes on any date.

Two kinds of test touch time, and each has its rule:

- Pure code (report weeks, windows, guardrails, lookbacks, ...) gets fixed dates and an injected
  clock (`now=`, `clock=`). Such tests are marked `any_date` (see tests/conftest.py): each runs once
  on the real clock and once per date in `ANY_DATES` with the process clock travelled there by
  time-machine, and must assert the same results, which proves that nothing read the wall clock.
- Tests whose data must be accepted by something that compares to the real clock (the emulator's
  CloudWatch Logs window, ListJobs retention, "recent" queries, a job that reads the clock itself)
  anchor their data on `anchored_now()`, a clock derived from the real time, and assert values that
  do not depend on which date that is.

`BATCHOPT_TEST_CLOCK=2031-06-15T09:30:00Z bash scripts/run-tests.sh` runs the whole suite with every
test process's clock travelled there (subprocesses and PostgreSQL keep the real clock).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

CLOCK_ENV = "BATCHOPT_TEST_CLOCK"

ANY_DATES = (
    "2031-06-15T09:30:00+00:00",  # years ahead: every pinned date in the suite is long past
    "2029-02-28T23:59:30+00:00",  # the last seconds of a February before a non-leap March 1st
)
"""Where `any_date` tests run again, besides the real clock."""


def anchored_now(freq: str = "h") -> datetime:
    """The current time (naive UTC, the store's convention) floored to `freq`: for data that a
    real-clock comparison must accept, while staying on a round instant that tests can reason on."""
    return pd.Timestamp.now(tz="UTC").tz_localize(None).floor(freq).to_pydatetime()


def anchored_now_utc(freq: str = "h") -> datetime:
    """`anchored_now` as an aware UTC datetime (what the emulator and boto3 take)."""
    return anchored_now(freq).replace(tzinfo=UTC)


class StepClock:
    """A monotonic clock that advances by `step` seconds each time it is read (no wall clock): for
    code that takes `clock=` and checks deadlines, so a test decides how much time each step costs."""

    def __init__(self, step: float) -> None:
        self.now = 0.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now
