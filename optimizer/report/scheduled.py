"""The weekly report job, registered with the scheduler (`optimizer.scheduler.registry` imports this module).

It runs on `schedule.report_weekday` at `schedule.report_hour`:00 (Monday 08:00 by default) in
`report.timezone`, the zone the report's readers live in, and reports the last week complete
there and in UTC, to the directory and every sink that has settings.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from apscheduler.triggers.cron import CronTrigger

from optimizer.report.weeks import zone
from optimizer.scheduler.registry import register_job

if TYPE_CHECKING:
    from optimizer.config import Settings

log = logging.getLogger(__name__)

JOB_ID = "weekly-report"


def weekly_cron(settings: Settings) -> dict[str, Any]:
    """CronTrigger fields for the job (the time zone checked, so a typo fails at start-up)."""
    return {
        "day_of_week": settings.schedule.report_weekday,
        "hour": settings.schedule.report_hour,
        "minute": 0,
        "timezone": zone(settings.report.timezone),
    }


def weekly_trigger(settings: Settings) -> CronTrigger:
    return CronTrigger(**weekly_cron(settings))


def weekly_report_job(config_file: str | None = None) -> None:
    """Build last week's report and deliver it; each sink's outcome is logged (see `run.py`)."""
    from optimizer.config import load_settings
    from optimizer.report.run import scheduled_weekly_report

    run = scheduled_weekly_report(load_settings(config_file))
    if not run.ok:
        log.error("weekly report %s: some sinks failed (see above)", run.rendered.report.week.label)


register_job(
    JOB_ID,
    "optimizer.report.scheduled:weekly_report_job",
    trigger=weekly_trigger,
    description="weekly cost report",
)
