"""Work lost to spot reclaims (`optimizer/analysis/reclaims.py`): the one count the weekly report
and the Spot page share."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import pytest

from optimizer.analysis.reclaims import RECLAIM_COLUMNS, LostWork, lost_work

T0 = datetime(2026, 11, 2)


def _frame(rows: list[tuple[str, int, float | None, datetime | None, datetime | None]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(RECLAIM_COLUMNS))


def test_run_hours_and_vcpu_hours_per_attempt() -> None:
    frame = _frame(
        [
            ("a", 0, 4.0, T0, T0 + pd.Timedelta(minutes=30)),  # 0.5 h x 4 vCPUs
            ("a", 1, 4.0, T0 + pd.Timedelta(hours=1), T0 + pd.Timedelta(hours=3)),  # 2 h x 4
            ("b", 0, 0.5, T0, T0 + pd.Timedelta(hours=1)),  # a half-vCPU Fargate task
        ]
    )
    assert lost_work(frame) == LostWork(attempts=3, run_hours=3.5, vcpu_hours=pytest.approx(10.5))


def test_an_attempt_without_times_or_vcpus_counts_without_hours() -> None:
    frame = _frame(
        [
            ("a", 0, 2.0, T0, None),  # never stopped in the record: no hours
            ("b", 0, None, T0, T0 + pd.Timedelta(hours=1)),  # vCPUs unknown: run-hours only
            ("c", 0, 2.0, T0 + pd.Timedelta(hours=1), T0),  # clock skew: stopped before started
        ]
    )
    assert lost_work(frame) == LostWork(attempts=3, run_hours=1.0, vcpu_hours=0.0)


def test_no_reclaims() -> None:
    assert lost_work(_frame([])) == LostWork(0, 0.0, 0.0)
