"""The weekly report as a scheduled job: when it runs and what it does, without APScheduler types.

`optimizer/schedule.py` owns the APScheduler wiring; it registers `run_weekly_report_job` with a
cron trigger built from `weekly_cron(settings)` (default Monday 08:00 in `report.timezone`, from
`schedule.report_weekday` / `schedule.report_hour`). Keeping the spec plain data means the report
package does not depend on the scheduler library and the spec is testable on its own.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from optimizer.report.weeks import zone

if TYPE_CHECKING:
    from optimizer.config import Settings

JOB_ID = "weekly-report"


def weekly_cron(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for APScheduler's CronTrigger (validated time zone included)."""
    return {
        "day_of_week": settings.schedule.report_weekday,
        "hour": settings.schedule.report_hour,
        "minute": 0,
        "timezone": zone(settings.report.timezone),
    }


def run_weekly_report_job(settings: Settings, now: datetime | None = None) -> bool:
    """Build the last complete week's report and deliver it to every configured sink.

    Returns whether every sink succeeded; failures are already logged one line per sink, so the
    scheduler keeps running and the next week is tried again.
    """
    from optimizer.report.run import scheduled_weekly_report

    return scheduled_weekly_report(settings, now=now).ok
