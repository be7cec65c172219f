"""Collection as the CLI and the scheduler run it: targets from settings, sources, one call.

Kept apart from the runner so the runner stays testable with hand-made plans (Stubber clients),
while this module is the one place that turns settings into plans.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import Engine

from optimizer.aws.session import SessionFactory, TargetRegion
from optimizer.collectors import select_sources
from optimizer.collectors.base import Source
from optimizer.collectors.bill_export import NAME as BILL_SOURCE
from optimizer.collectors.bill_export import bill_source
from optimizer.collectors.runner import RunResult, TargetPlan, collect
from optimizer.config import Settings
from optimizer.errors import ConfigError, UserError


def plans_for(
    sessions: SessionFactory, targets: Sequence[str] | None = None, regions: Sequence[str] | None = None
) -> list[TargetPlan]:
    """One plan per configured (target, region), optionally narrowed to some targets or regions."""
    pairs = sessions.target_regions()
    if targets:
        known = {p.target.name for p in pairs}
        unknown = sorted(set(targets) - known)
        if unknown:
            raise UserError(
                f"--target: unknown target(s) {', '.join(unknown)}; configured: {', '.join(sorted(known))}"
            )
        pairs = [p for p in pairs if p.target.name in targets]
    if regions:
        pairs = [p for p in pairs if p.region in regions]
        if not pairs:
            raise UserError(f"--region: no configured target covers {', '.join(regions)}")
    return [_plan(sessions, pair) for pair in pairs]


def _plan(sessions: SessionFactory, pair: TargetRegion) -> TargetPlan:
    return TargetPlan(
        target=pair.target.name,
        region=pair.region,
        client_factory=lambda service, region: sessions.client(service, pair.target, region),
        account_id=lambda: sessions.account_id(pair.target, pair.region),
    )


def sources_for(settings: Settings, names: Sequence[str] | None = None) -> list[Source]:
    """The selected sources; usage is left out when `collection.usage_metrics` is off."""
    try:
        chosen = select_sources(list(names) if names else None)
    except ValueError as exc:
        raise UserError(f"--source: {exc}") from None
    if not names and not settings.collection.usage_metrics:
        chosen = [s for s in chosen if s.name != "usage"]
    return _bind_bill(settings, chosen, named=bool(names))


def _bind_bill(settings: Settings, chosen: list[Source], *, named: bool) -> list[Source]:
    """The bill source bound to `billing.cur_s3_uri`; left out when that is unset, an error naming
    the setting when it was asked for by name."""
    uri = settings.billing.cur_s3_uri
    if uri:
        bound = bill_source(uri, settings.billing.data_dir)
        return [bound if s.name == BILL_SOURCE else s for s in chosen]
    if named and any(s.name == BILL_SOURCE for s in chosen):
        raise ConfigError("--source bill: billing.cur_s3_uri (BATCHOPT_BILLING__CUR_S3_URI) is not set")
    return [s for s in chosen if s.name != BILL_SOURCE]


def _per_region(chosen: Sequence[Source]) -> tuple[list[Source], list[Source]]:
    """(sources run for every target and region, the bill run once with the first plan)."""
    return [s for s in chosen if s.name != BILL_SOURCE], [s for s in chosen if s.name == BILL_SOURCE]


def run_collection(
    settings: Settings,
    engine: Engine,
    sessions: SessionFactory,
    *,
    targets: Sequence[str] | None = None,
    regions: Sequence[str] | None = None,
    sources: Sequence[str] | None = None,
    since: datetime | None = None,
    on_progress: Callable[[RunResult], None] | None = None,
) -> list[RunResult]:
    plans = plans_for(sessions, targets, regions)
    regional, bill = _per_region(sources_for(settings, sources))
    run = functools.partial(
        collect,
        engine,
        since=since,
        initial_lookback=timedelta(days=settings.collection.initial_lookback_days),
        reconcile_window=timedelta(hours=settings.collection.reconcile_window_hours),
        job_statuses=settings.collection.job_statuses,
        describe_jobs_chunk=settings.collection.describe_jobs_chunk,
        listing_retention=timedelta(days=settings.collection.listing_retention_days),
        events_queue_urls=settings.collection.events_queue_url,
        cloudtrail_lifetimes=settings.collection.cloudtrail_lifetimes,
        usage_late_window=timedelta(minutes=settings.collection.usage_late_window_minutes),
        on_progress=on_progress,
    )
    results = run(plans, regional) if regional else []
    if bill and plans:  # the payer's bill, not a region's: once, with the first plan's credentials
        results += run(plans[:1], bill)
    return results


def planned_runs(
    settings: Settings,
    sessions: SessionFactory,
    targets: Sequence[str] | None,
    regions: Sequence[str] | None,
    sources: Sequence[str] | None,
) -> int:
    """How many (target, region, source) runs a collection will make (the progress bar's total)."""
    plans = plans_for(sessions, targets, regions)
    regional, bill = _per_region(sources_for(settings, sources))
    return len(plans) * len(regional) + (len(bill) if plans else 0)
