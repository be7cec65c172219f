"""The daily analytics job: recompute the last days' cost books, then retrain every model.

Registered with the scheduler registry of `optimizer.scheduler.registry` (discovered by its
`discover_jobs()`); runs at `schedule.train_hour` in the scheduler's time zone.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import pandas as pd

from optimizer.runtime.clock import utc_now
from optimizer.scheduler.registry import cron, register_job

log = logging.getLogger(__name__)
REANALYZE_DAYS = 3
"""Collected data for the last days can still change (late jobs, instance lifetimes): recompute them."""


def daily_analytics_job(config_file: str | None = None) -> None:
    from optimizer.analysis.stored import run_analysis
    from optimizer.config import load_settings
    from optimizer.ml.registry import ModelRegistry
    from optimizer.ml.training import train_all
    from optimizer.store.engine import create_store_engine, require_current_schema

    settings = load_settings(config_file)
    engine = create_store_engine(settings.store.database_url)
    try:
        require_current_schema(engine)
        now = utc_now()
        since = (pd.Timestamp(now).floor("D") - timedelta(days=REANALYZE_DAYS - 1)).to_pydatetime()
        summary = run_analysis(engine, computed_at=now, since=since)
        log.info("analysis: %s instances, $%.2f", summary.instances, summary.total_usd)
        report = train_all(
            engine, ModelRegistry(), now=now, history_days=max(settings.optimization.history_days, 28)
        )
        log.info("training: trained %s, skipped %s", sorted(report.trained), report.skipped)
    finally:
        engine.dispose()


register_job(
    "daily-analytics",
    "optimizer.ml.scheduled:daily_analytics_job",
    trigger=lambda s: cron(s, hour=s.schedule.train_hour, minute=15),
    description="recompute recent cost books and retrain the forecast, usage and interruption models",
)
