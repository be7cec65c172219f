"""Collection as the CLI and the scheduler run it: targets from settings, sources, one call.

Kept apart from the runner so the runner stays testable with hand-made plans (Stubber clients),
while this module is the one place that turns settings into plans.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import Engine

from optimizer.aws.session import SessionFactory, TargetRegion
from optimizer.collectors import select_sources
from optimizer.collectors.base import Source
from optimizer.collectors.runner import RunResult, TargetPlan, collect
from optimizer.config import Settings
from optimizer.errors import UserError


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
    return chosen


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
    chosen = sources_for(settings, sources)
    return collect(
        engine,
        plans,
        chosen,
        since=since,
        initial_lookback=timedelta(days=settings.collection.initial_lookback_days),
        job_statuses=settings.collection.job_statuses,
        describe_jobs_chunk=settings.collection.describe_jobs_chunk,
        on_progress=on_progress,
    )


def planned_runs(
    settings: Settings,
    sessions: SessionFactory,
    targets: Sequence[str] | None,
    regions: Sequence[str] | None,
    sources: Sequence[str] | None,
) -> int:
    """How many (target, region, source) runs a collection will make (the progress bar's total)."""
    return len(plans_for(sessions, targets, regions)) * len(sources_for(settings, sources))
