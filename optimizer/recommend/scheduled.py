"""The daily recommendations job: regenerate every strategy's advice after the analytics job.

Runs at `schedule.train_hour`:45 in the scheduler's time zone, half an hour after the daily
analytics job (:15), so auto-tuning and the dashboard read advice built on the day's collections.
Regenerating keeps each recommendation's status (ids are stable).
"""

from __future__ import annotations

import logging

from optimizer.scheduler.registry import cron, register_job

log = logging.getLogger(__name__)

JOB_ID = "recommendations"


def recommendations_job(config_file: str | None = None) -> None:
    from optimizer.config import load_settings
    from optimizer.recommend.generate import generate_recommendations
    from optimizer.store.engine import create_store_engine, require_current_schema

    settings = load_settings(config_file)
    engine = create_store_engine(settings.store.database_url)
    try:
        require_current_schema(engine)
        recs = generate_recommendations(engine, settings)
        log.info(
            "recommendations refreshed",
            extra={
                "recommendations": len(recs),
                "monthly_savings_usd": round(sum(r.monthly_savings_usd for r in recs if r.applicable), 2),
            },
        )
    finally:
        engine.dispose()


register_job(
    JOB_ID,
    "optimizer.recommend.scheduled:recommendations_job",
    trigger=lambda s: cron(s, hour=s.schedule.train_hour, minute=45),
    description="regenerate recommendations (replayed savings) after the daily analytics",
)
