"""Spot reads: price history, interruption bands, observed reclaims and spot instance-hours.

Dashboard-only aggregates over the collected tables (the reclaim rate's numerator and denominator
in SQL); the price history and the bands are the store's `spot_prices_frame` and
`interruption_bands_frame`.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import distinct, func, select

from optimizer.analysis.reclaims import LostWork, lost_work
from optimizer.analysis.stored import read_reclaimed_attempts
from optimizer.dashboard.queries.cache import cached
from optimizer.dashboard.state import engine_for
from optimizer.store.read import interruption_bands_frame, read_frame, spot_prices_frame
from optimizer.store.schema import instances, job_attempts, spot_prices


@cached
def spot_series_keys(url: str) -> pd.DataFrame:
    """(region, instance_type) pairs with spot price history, with their sample counts."""
    query = (
        select(spot_prices.c.region, spot_prices.c.instance_type, func.count().label("samples"))
        .group_by(spot_prices.c.region, spot_prices.c.instance_type)
        .order_by(spot_prices.c.region, spot_prices.c.instance_type)
    )
    return read_frame(engine_for(url), query)


@cached
def spot_price_history(url: str, region: str, instance_type: str) -> pd.DataFrame:
    """One type's spot price changes per availability zone (`store.read.spot_prices_frame`)."""
    frame = spot_prices_frame(engine_for(url), region, instance_type=instance_type)
    frame = frame[["availability_zone", "timestamp", "price"]]
    frame = frame.sort_values(["availability_zone", "timestamp"], kind="stable", ignore_index=True)
    if not frame.empty:
        frame["timestamp"] = pd.to_datetime(frame["timestamp"])
    return frame


@cached
def interruption_bands(url: str, region: str) -> pd.DataFrame:
    columns = ["instance_type", "band", "band_label", "savings_pct", "snapshot_date"]
    frame = interruption_bands_frame(engine_for(url), region)
    return frame.reindex(columns=columns).sort_values(["band", "instance_type"], ignore_index=True)


def _hours_between(start: Any, end: Any, dialect: str) -> Any:
    if dialect == "sqlite":
        return (func.julianday(end) - func.julianday(start)) * 24.0
    return func.extract("epoch", end - start) / 3600.0


@cached
def spot_reclaims(url: str, dataset: str) -> pd.DataFrame:
    """Observed reclaims of `dataset` per instance type and AZ: reclaimed attempts and the run-hours
    they lost, for the reclaim rate per type (attempts on an instance the store knows only; a
    Fargate Spot reclaim has none). `reclaimed_work` counts every reclaimed attempt."""
    engine = engine_for(url)
    a, i = job_attempts, instances
    lost = _hours_between(a.c.started_at, a.c.stopped_at, engine.dialect.name)
    query = (
        select(
            i.c.region,
            i.c.instance_type,
            i.c.availability_zone,
            func.count().label("reclaimed_attempts"),
            func.count(distinct(i.c.instance_id)).label("instances"),
            func.coalesce(func.sum(lost), 0.0).label("hours_lost"),
        )
        .select_from(a.join(i, i.c.instance_id == a.c.instance_id))
        .where(a.c.is_spot_reclaim.is_(True), i.c.dataset == dataset)
        .group_by(i.c.region, i.c.instance_type, i.c.availability_zone)
        .order_by(func.count().desc())
    )
    return read_frame(engine, query)


@cached
def reclaimed_work(url: str, dataset: str) -> LostWork:
    """Every reclaimed attempt of `dataset`'s jobs, whether or not the store knows its instance (a
    Fargate Spot task has none, an instance the collector missed neither), and the run-hours and
    vCPU-hours they lost, counted as the weekly report counts a week's (`analysis.reclaims`): the
    page's totals, which the per-type table's inner join undercounted."""
    return lost_work(read_reclaimed_attempts(engine_for(url), dataset))


@cached
def spot_instance_hours(url: str, dataset: str) -> pd.DataFrame:
    """`dataset`'s spot instance-hours per type (the denominator of an observed reclaim rate)."""
    engine = engine_for(url)
    i = instances
    end = func.coalesce(i.c.terminated_at, i.c.last_seen)
    start = func.coalesce(i.c.launch_time, i.c.first_seen)
    query = (
        select(
            i.c.region,
            i.c.instance_type,
            func.count().label("instances"),
            func.coalesce(func.sum(_hours_between(start, end, engine.dialect.name)), 0.0).label("hours"),
        )
        .where(i.c.capacity_type == "SPOT", i.c.dataset == dataset)
        .group_by(i.c.region, i.c.instance_type)
    )
    return read_frame(engine, query)
