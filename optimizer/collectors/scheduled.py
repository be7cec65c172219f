"""The collection job, registered with the scheduler (`optimizer.scheduler.registry` imports this module)."""

from __future__ import annotations

import logging

from optimizer.scheduler.registry import interval, register_job

log = logging.getLogger(__name__)


def collect_job(config_file: str | None = None) -> None:
    """One collection over every configured target; failures are recorded per run and logged."""
    from optimizer.aws.session import SessionFactory
    from optimizer.collectors.service import run_collection
    from optimizer.config import load_settings
    from optimizer.store.engine import create_store_engine, require_current_schema

    settings = load_settings(config_file)
    engine = create_store_engine(settings.store.database_url)
    try:
        require_current_schema(engine)
        results = run_collection(settings, engine, SessionFactory(settings.aws))
    finally:
        engine.dispose()
    failed = [r for r in results if r.status != "succeeded"]
    log.info(
        "scheduled collection: %d run(s), wrote %d, failed %d",
        len(results),
        sum(r.items_written for r in results),
        len(failed),
    )
    for result in failed:
        log.warning(
            "collection failed %s/%s %s: %s", result.target, result.region, result.source, result.error
        )


register_job(
    "collect",
    "optimizer.collectors.scheduled:collect_job",
    trigger=lambda settings: interval(settings, minutes=settings.collection.interval_minutes),
    description="collect Batch history, instances, prices and usage",
)
