"""Realized savings are defined once (`optimizer.analysis.realized`): the dashboard's Overview and the
weekly report measure the same change to the same figure.

One compute environment, changed on Wednesday 18 Nov 2026 (ISO week 47): 2.0 USD per busy vCPU-hour
on the seven days before, 1.5 after; the report's week ends on Sunday, so both see the same four
days after the change (Thu-Sun) when no later day exists. Idle rows add cost but no work.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
import pytest

from optimizer.analysis.cost import IDLE
from optimizer.analysis.realized import DAYS_PER_MONTH, measure_change
from optimizer.dashboard.realized import Realized, realized_savings
from optimizer.report.changes import applied_change
from optimizer.report.weeks import parse_week

CE = "arn:aws:batch:us-east-1:123456789012:compute-environment/ce"
CHANGED = datetime(2026, 11, 18, 9, 30)
WEEK = parse_week("2026-W47")


def _day(offset: int, usd: float, vcpu_hours: float, queue: str = "q") -> dict[str, object]:
    return {
        "day": datetime(2026, 11, 18) + timedelta(days=offset),
        "compute_environment_arn": CE,
        "queue": queue,
        "job_definition_name": "sort",
        "total_usd": usd,
        "vcpu_hours": vcpu_hours,
    }


def _daily(extra: list[dict[str, object]] | None = None) -> pd.DataFrame:
    before = [_day(-d, 20.0, 10.0) for d in range(1, 8)]  # 2.0 USD per busy vCPU-hour
    change_day = [_day(0, 999.0, 1.0)]  # in neither window
    after = [_day(d, 12.0, 8.0) for d in range(1, 5)]  # Thu..Sun: 1.5
    idle = [_day(2, 4.0, 3.0, queue=IDLE)]  # cost without work: after = 52 USD / 32 vCPU-h
    return pd.DataFrame([*before, *change_day, *after, *idle, *(extra or [])])


def _report_figure(daily: pd.DataFrame) -> float | None:
    row = {
        "id": 1,
        "action": "apply",
        "actor": "alice",
        "started_at": CHANGED,
        "finished_at": CHANGED,
        "result": "succeeded",
        "message": None,
        "target_kind": "compute-environment",
        "target_arn": CE,
        "target_name": "ce",
        "title": "t",
    }
    return applied_change(daily, row, WEEK).realized_savings_usd


def _dashboard(daily: pd.DataFrame) -> Realized:
    changes = pd.DataFrame([{"compute_environment_arn": CE, "applied_at": CHANGED}])
    return realized_savings(changes, daily)


def test_dashboard_and_report_show_the_same_realized_saving() -> None:
    daily = _daily()
    expected = (2.0 - 52.0 / 32.0) * 32.0  # (rate before - rate after) x busy vCPU-hours after
    report = _report_figure(daily)
    dashboard = _dashboard(daily)
    assert report == pytest.approx(expected)
    assert dashboard.changes == 1 and dashboard.measured[0].saving_usd == report
    assert dashboard.monthly_usd == pytest.approx(expected / 4 * DAYS_PER_MONTH)


def test_the_report_stops_at_its_week_end_and_the_dashboard_at_the_window() -> None:
    # a Monday of the next week at a much lower rate: the dashboard's seven-day window sees it, the
    # W47 report does not; the figure each shows is still measure_change's, with its own end
    daily = _daily([_day(5, 1.0, 8.0)])
    report = _report_figure(daily)
    dashboard = _dashboard(daily)
    assert report == measure_change(daily, CHANGED, until=WEEK.end).saving_usd
    assert dashboard.measured[0] == measure_change(daily, CHANGED)
    assert report == pytest.approx((2.0 - 52.0 / 32.0) * 32.0)
    assert dashboard.measured[0].saving_usd == pytest.approx((2.0 - 53.0 / 40.0) * 40.0)


def test_a_change_without_work_after_it_is_pending_on_both() -> None:
    daily = pd.DataFrame([_day(-1, 20.0, 10.0)])
    assert _report_figure(daily) is None
    dashboard = _dashboard(daily)
    assert (dashboard.changes, dashboard.pending, dashboard.monthly_usd) == (0, 1, 0.0)


def test_a_quiet_day_after_the_change_counts_in_the_monthly_pace() -> None:
    # Fri 20 Nov had no work on the target (no rows): the saving of Thu, Sat and Sun is the same,
    # but its monthly pace is over the window's four calendar days, not the three holding rows
    # (7/5 too fast for a target idle two days of seven).
    daily = _daily()
    quiet = daily[pd.to_datetime(daily["day"]) != datetime(2026, 11, 20)]
    saving = measure_change(quiet, CHANGED, until=datetime(2026, 11, 23))
    assert saving.after_days == 4
    assert saving.monthly_usd == pytest.approx(saving.saving_usd / 4 * DAYS_PER_MONTH)  # type: ignore[operator]
    changes = pd.DataFrame([{"compute_environment_arn": CE, "applied_at": CHANGED}])
    dashboard = realized_savings(changes, quiet, until=datetime(2026, 11, 23))
    assert dashboard.monthly_usd == pytest.approx(saving.monthly_usd)
