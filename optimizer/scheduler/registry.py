"""APScheduler wiring: a small registry of periodic jobs, and the scheduler that runs them.

Each area registers its own jobs from a module named `scheduled` in its package (for example
`optimizer/collectors/scheduled.py`, `optimizer/report/scheduled.py`), which `discover_jobs()`
imports, so adding a job never means editing this file:

    from optimizer.scheduler.registry import cron, register_job

    register_job(
        "weekly-report",
        "optimizer.report.scheduled:weekly_report_job",
        trigger=lambda s: cron(
            s, day_of_week=s.schedule.report_weekday, hour=s.schedule.report_hour, timezone=s.report.timezone
        ),
        description="weekly cost report",
    )

A job function is referenced by its "module:function" text (the SQLAlchemy job store keeps the
reference, not a pickled object) and is called with one keyword, `config_file`, so it loads the
same settings the scheduler was started with. Jobs live in the store's own database (table
`apscheduler_jobs`), coalesce missed runs into one, never overlap themselves, and run late by at
most `schedule.misfire_grace_seconds`.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine, MetaData, Table, delete, inspect

import optimizer
from optimizer.config import Settings

log = logging.getLogger(__name__)

JOBS_TABLE = "apscheduler_jobs"
JOB_MODULE = "scheduled"

TriggerFactory = Callable[[Settings], BaseTrigger]


@dataclass(frozen=True)
class ScheduledJob:
    id: str
    func: str  # "package.module:function", called as function(config_file=...)
    trigger: TriggerFactory
    enabled: Callable[[Settings], bool] = field(default=lambda _settings: True)
    description: str = ""


_REGISTRY: dict[str, ScheduledJob] = {}


def register_job(
    job_id: str,
    func: str,
    *,
    trigger: TriggerFactory,
    enabled: Callable[[Settings], bool] | None = None,
    description: str = "",
) -> ScheduledJob:
    """Add (or replace, by id) a periodic job; call at import time of an area's `scheduled` module."""
    module, sep, name = func.partition(":")
    if not sep or not module or not name:
        raise ValueError(f"job {job_id}: func {func!r} must be 'package.module:function'")
    job = ScheduledJob(job_id, func, trigger, enabled or (lambda _settings: True), description)
    _REGISTRY[job_id] = job
    return job


def registered_jobs() -> list[ScheduledJob]:
    return sorted(_REGISTRY.values(), key=lambda job: job.id)


def discover_jobs() -> list[ScheduledJob]:
    """Import every `optimizer.<area>.scheduled` module so its jobs register; returns them all."""
    for info in pkgutil.iter_modules(optimizer.__path__):
        if not info.ispkg:
            continue
        name = f"{optimizer.__name__}.{info.name}.{JOB_MODULE}"
        if importlib.util.find_spec(name) is not None:
            importlib.import_module(name)
    return registered_jobs()


def interval(settings: Settings, **every: int) -> IntervalTrigger:
    """Every so many minutes/hours (e.g. minutes=60), in `schedule.timezone`."""
    return IntervalTrigger(timezone=settings.schedule.timezone, **every)


def cron(settings: Settings, *, timezone: str | None = None, **fields: Any) -> CronTrigger:
    """A cron trigger (e.g. day_of_week="mon", hour=8) in `timezone`, default `schedule.timezone`."""
    return CronTrigger(timezone=timezone or settings.schedule.timezone, **fields)


def job_defaults(settings: Settings) -> dict[str, Any]:
    return {
        "coalesce": True,
        "max_instances": 1,
        "misfire_grace_time": settings.schedule.misfire_grace_seconds,
    }


def build_scheduler(
    settings: Settings,
    *,
    config_file: str | None = None,
    blocking: bool = False,
    engine: Engine | None = None,
) -> BaseScheduler:
    """A scheduler with every enabled registered job, on a job store in the store's database.

    `engine` defaults to one for the store's URL. Jobs that settings disable are deleted from the
    job store, so turning one off takes effect at the next start.
    """
    from optimizer.store.engine import create_store_engine

    engine = engine or create_store_engine(settings.store.database_url)
    jobs = discover_jobs()
    _forget(engine, [job.id for job in jobs if not job.enabled(settings)])
    store = SQLAlchemyJobStore(engine=engine, tablename=JOBS_TABLE)
    kind = BlockingScheduler if blocking else BackgroundScheduler
    scheduler = kind(
        jobstores={"default": store}, job_defaults=job_defaults(settings), timezone=settings.schedule.timezone
    )
    for job in jobs:
        if job.enabled(settings):
            scheduler.add_job(
                job.func,
                trigger=job.trigger(settings),
                id=job.id,
                name=job.description or job.id,
                kwargs={"config_file": config_file},
                replace_existing=True,
            )
    return scheduler


def _forget(engine: Engine, job_ids: list[str]) -> None:
    if not job_ids or not inspect(engine).has_table(JOBS_TABLE):
        return
    table = Table(JOBS_TABLE, MetaData(), autoload_with=engine)
    with engine.begin() as conn:
        conn.execute(delete(table).where(table.c.id.in_(job_ids)))
