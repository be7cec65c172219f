"""ISO week parsing and which week is the last complete one, in UTC and in other time zones."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from optimizer.errors import ConfigError, InputError
from optimizer.report.weeks import IsoWeek, last_complete_week, parse_week

pytestmark = pytest.mark.any_date  # dates are fixed and "now" is injected: the same on any date


def test_parse_and_bounds() -> None:
    week = parse_week("2026-W47")
    assert (week.label, week.monday) == ("2026-W47", date(2026, 11, 16))
    assert week.start == datetime(2026, 11, 16) and week.end == datetime(2026, 11, 23)
    assert parse_week("2026W47") == week
    assert parse_week("2027-W01").shifted(-1) == parse_week("2026-W53")  # 2026 has 53 ISO weeks
    assert parse_week("2026-W01").monday == date(2025, 12, 29)  # week 1 starts in the year before


@pytest.mark.parametrize(
    ("text", "why"), [("2026-47", "expected an ISO week"), ("2025-W53", "no ISO week 53")]
)
def test_bad_weeks_name_the_value(text: str, why: str) -> None:
    with pytest.raises(InputError, match=why):
        parse_week(text)


def test_last_complete_week_waits_for_the_week_to_end_everywhere() -> None:
    monday_8_utc = datetime(2026, 11, 23, 8, tzinfo=UTC)
    assert last_complete_week(monday_8_utc) == IsoWeek(2026, 47)
    # Monday 08:00 in Sydney is still Sunday in UTC: W47 is not complete in UTC yet
    sydney_monday = datetime(2026, 11, 22, 21, tzinfo=UTC)
    assert last_complete_week(sydney_monday, "Australia/Sydney") == IsoWeek(2026, 46)
    # Monday 08:00 in Los Angeles is Monday 16:00 UTC: W47 is done in both
    assert last_complete_week(datetime(2026, 11, 23, 16, tzinfo=UTC), "America/Los_Angeles") == IsoWeek(
        2026, 47
    )
    with pytest.raises(ConfigError, match=r"report\.timezone"):
        last_complete_week(monday_8_utc, "Mars/Olympus")
    with pytest.raises(ValueError, match="timezone-aware"):
        last_complete_week(datetime(2026, 11, 23, 8))


def test_a_report_for_a_running_week_says_so() -> None:
    import pandas as pd

    from optimizer.report.build import build_weekly_report
    from optimizer.report.inputs import DAILY_COLUMNS, ReportInputs

    inputs = ReportInputs(daily=pd.DataFrame(columns=list(DAILY_COLUMNS)))
    week = IsoWeek(2026, 48)
    early = build_weekly_report(inputs, week, generated_at=datetime(2026, 11, 25, 12))
    assert any("had not ended" in n for n in early.coverage.notes)
    late = build_weekly_report(inputs, week, generated_at=datetime(2026, 12, 1, 8))
    assert not any("had not ended" in n for n in late.coverage.notes)
