"""The auto-tuning job, registered with the scheduler when `schedule.autotune_enabled` is set.

It runs the same guarded pass as `batchopt autotune` (and so the same planner and executor as a
person's apply): allow-list, saving floor, cool-down, maximum changes per run, automatic rollback of
its own changes that regressed. Applying still requires `apply.enabled`; with it off the pass only
reconciles and reports.
"""

from __future__ import annotations

import logging

from optimizer.scheduler.registry import interval, register_job

log = logging.getLogger(__name__)

JOB_ID = "autotune"


def autotune_job(config_file: str | None = None) -> None:
    from optimizer.apply.autotune import run_autotune
    from optimizer.apply.service import target_clients
    from optimizer.config import load_settings
    from optimizer.store.engine import create_store_engine, require_current_schema

    settings = load_settings(config_file)
    engine = create_store_engine(settings.store.database_url)
    try:
        require_current_schema(engine)
        report = run_autotune(engine, settings.apply, target_clients(settings.aws))
        log.info(
            "autotune pass",
            extra={
                "applied": len(report.applied),
                "rolled_back": len(report.rolled_back),
                "reconciled": len(report.reconciled),
                "resumed": len(report.resumed),
                "errors": len(report.errors),
            },
        )
        for item in report.errors:
            log.error("autotune %s: %s", item.recommendation_id, item.reason)
    finally:
        engine.dispose()


register_job(
    JOB_ID,
    "optimizer.apply.scheduled:autotune_job",
    trigger=lambda s: interval(s, hours=s.schedule.autotune_interval_hours),
    enabled=lambda s: s.schedule.autotune_enabled,
    description="guarded auto-tuning pass (same path as batchopt apply)",
)
