"""Sequencing: every selected source for every (target, region), each run recorded, failures isolated.

A source failing (access denied, throttling that does not clear, the endpoint down) fails that run
only; the next source and the next target still run. Sources run in dependency order: queues and
compute environments before jobs, jobs before the job definitions they reference and before the
usage samples that are linked to their attempts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine

from optimizer.aws.calls import Sleep
from optimizer.collectors.base import TERMINAL_JOB_STATUSES, CollectContext, Source
from optimizer.collectors.runs import finish_run, read_watermarks, start_run, summarize, write_watermarks
from optimizer.runtime.clock import Clock, utc_now
from optimizer.runtime.logging_setup import redact

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunResult:
    target: str
    region: str
    source: str
    status: str  # succeeded | failed
    items_read: int = 0
    items_written: int = 0
    error: str | None = None


@dataclass(frozen=True)
class TargetPlan:
    """One (target, region) to collect, with how to reach it.

    `account_id` resolves lazily (an STS call) so an unreachable target fails inside the runner,
    where it is recorded, instead of before it.
    """

    target: str
    region: str
    client_factory: Callable[[str, str], object]
    account_id: Callable[[], str | None]


def describe_error(exc: BaseException) -> str:
    """The failure as printed and stored in `collector_runs.error`, secrets masked (`redact`)."""
    text = str(exc).strip() or type(exc).__name__
    return redact(f"{type(exc).__name__}: {text}")


def sync_source(engine: Engine, ctx: CollectContext, source: Source, *, clock: Clock = utc_now) -> RunResult:
    """collect -> (one transaction: load + watermarks + run row) ; failure -> run row failed.

    A succeeded run may still carry a warning in its `error` column (e.g. prices loaded from the
    bundled snapshot because the Price List API failed).
    """
    before = read_watermarks(engine, ctx.target, ctx.region, source.name)
    run_id = start_run(
        engine,
        target=ctx.target,
        account_id=ctx.account_id,
        region=ctx.region,
        source=source.name,
        started_at=ctx.now,
        watermark_before=summarize(before),
    )
    try:
        collected = source.collect(ctx, engine, before)
        # Watermarks only move forward, even when --since re-reads an older window.
        advanced = {k: max(v, before.get(k, v)) for k, v in collected.watermarks.items()}
        after = {**before, **advanced}
        with engine.begin() as conn:
            written = source.load(conn, ctx, collected)
            write_watermarks(conn, ctx.target, ctx.region, source.name, advanced, ctx.now)
            finish_run(
                conn,
                run_id,
                status="succeeded",
                finished_at=clock(),
                items_read=collected.items_read,
                items_written=written,
                watermark_after=summarize(after),
                error=collected.extra.get("warning"),
            )
    except BaseException as exc:  # a failing source must never stop the others; the row says why
        message = describe_error(exc) if isinstance(exc, Exception) else f"interrupted ({type(exc).__name__})"
        log.warning("collect %s/%s %s failed: %s", ctx.target, ctx.region, source.name, message)
        with engine.begin() as conn:
            finish_run(
                conn,
                run_id,
                status="failed",
                finished_at=clock(),
                watermark_after=summarize(before),
                error=message,
            )
        if not isinstance(exc, Exception):
            raise  # Ctrl-C or shutdown: recorded, then honoured
        return RunResult(ctx.target, ctx.region, source.name, "failed", error=message)
    log.info(
        "collect %s/%s %s: read %d, wrote %d",
        ctx.target,
        ctx.region,
        source.name,
        collected.items_read,
        written,
    )
    return RunResult(ctx.target, ctx.region, source.name, "succeeded", collected.items_read, written)


def _record_unreachable(
    engine: Engine, plan: TargetPlan, sources: Sequence[Source], message: str, now: datetime, clock: Clock
) -> list[RunResult]:
    results = []
    for source in sources:
        before = summarize(read_watermarks(engine, plan.target, plan.region, source.name))
        run_id = start_run(
            engine,
            target=plan.target,
            account_id=None,
            region=plan.region,
            source=source.name,
            started_at=now,
            watermark_before=before,
        )
        with engine.begin() as conn:
            finish_run(
                conn, run_id, status="failed", finished_at=clock(), watermark_after=before, error=message
            )
        results.append(RunResult(plan.target, plan.region, source.name, "failed", error=message))
    return results


def collect(
    engine: Engine,
    plans: Sequence[TargetPlan],
    sources: Sequence[Source],
    *,
    since: datetime | None = None,
    initial_lookback: timedelta = timedelta(days=30),
    reconcile_window: timedelta = timedelta(hours=1),
    job_statuses: Sequence[str] = TERMINAL_JOB_STATUSES,
    describe_jobs_chunk: int = 100,
    listing_retention: timedelta = timedelta(days=7),
    events_queue_urls: Sequence[str] = (),
    cloudtrail_lifetimes: bool = True,
    usage_late_window: timedelta = timedelta(minutes=30),
    clock: Clock = utc_now,
    sleep: Sleep = time.sleep,
    on_progress: Callable[[RunResult], None] | None = None,
) -> list[RunResult]:
    """Run every source for every plan; returns one result per (target, region, source)."""
    results: list[RunResult] = []
    for plan in plans:
        now = clock()
        try:
            account_id = plan.account_id()
        except Exception as exc:  # the target is unreachable: every source of it fails, others go on
            failed = _record_unreachable(engine, plan, sources, describe_error(exc), now, clock)
            results.extend(failed)
            for result in failed:
                if on_progress:
                    on_progress(result)
            continue
        ctx = CollectContext(
            target=plan.target,
            region=plan.region,
            account_id=account_id,
            client_factory=plan.client_factory,  # type: ignore[arg-type]
            now=now,
            since=since,
            initial_lookback=initial_lookback,
            reconcile_window=reconcile_window,
            job_statuses=tuple(job_statuses),
            describe_jobs_chunk=describe_jobs_chunk,
            listing_retention=listing_retention,
            events_queue_urls=tuple(events_queue_urls),
            cloudtrail_lifetimes=cloudtrail_lifetimes,
            usage_late_window=usage_late_window,
            sleep=sleep,
        )
        results.extend(sync_target(engine, ctx, sources, clock=clock, on_progress=on_progress))
    return results


def sync_target(
    engine: Engine,
    ctx: CollectContext,
    sources: Sequence[Source],
    *,
    clock: Clock = utc_now,
    on_progress: Callable[[RunResult], None] | None = None,
) -> list[RunResult]:
    """Every source, in order, for one (target, region); a failed source does not stop the next."""
    results = []
    for source in sources:
        result = sync_source(engine, ctx, source, clock=clock)
        results.append(result)
        if on_progress:
            on_progress(result)
    return results
