"""Read helpers returning pandas DataFrames; heavy filtering and aggregation stay in SQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Engine, Select, select
from sqlalchemy.sql.elements import ColumnElement

from optimizer.store.schema import (
    COLLECTED_DATASET,
    instance_types,
    instances,
    job_attempts,
    jobs,
    ondemand_prices,
    spot_interruption_bands,
    spot_prices,
)


def read_frame(engine: Engine, query: Select[Any]) -> pd.DataFrame:
    """Run a select and return its rows as a DataFrame with the selected column names."""
    with engine.connect() as conn:
        result = conn.execute(query)
        return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def time_window(
    column: ColumnElement[Any], since: datetime | None, until: datetime | None
) -> list[ColumnElement[bool]]:
    """Conditions for `since <= column < until`; an end given as None is open."""
    filters = []
    if since is not None:
        filters.append(column >= since)
    if until is not None:
        filters.append(column < until)
    return filters


def jobs_frame(
    engine: Engine,
    *,
    dataset: str = COLLECTED_DATASET,
    since: datetime | None = None,
    until: datetime | None = None,
    queues: Sequence[str] | None = None,
    columns: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Jobs of one dataset created in [since, until), optionally of some queues."""
    cols = [jobs.c[name] for name in columns] if columns else [jobs]
    query = select(*cols).where(jobs.c.dataset == dataset, *time_window(jobs.c.created_at, since, until))
    if queues:
        query = query.where(jobs.c.queue.in_(list(queues)))
    return read_frame(engine, query)


def attempts_frame(
    engine: Engine,
    *,
    dataset: str = COLLECTED_DATASET,
    since: datetime | None = None,
    until: datetime | None = None,
) -> pd.DataFrame:
    """Attempts of jobs in one dataset whose attempt started in [since, until)."""
    query = (
        select(job_attempts)
        .join(jobs, jobs.c.job_id == job_attempts.c.job_id)
        .where(jobs.c.dataset == dataset, *time_window(job_attempts.c.started_at, since, until))
    )
    return read_frame(engine, query)


def instances_frame(
    engine: Engine,
    *,
    dataset: str = COLLECTED_DATASET,
    since: datetime | None = None,
    until: datetime | None = None,
) -> pd.DataFrame:
    """Instances of a dataset alive at some point in [since, until)."""
    query = select(instances).where(instances.c.dataset == dataset)
    if until is not None:
        query = query.where(instances.c.first_seen < until)
    if since is not None:
        end = instances.c.terminated_at
        query = query.where((end.is_(None)) | (end >= since))
    return read_frame(engine, query)


def catalog_frame(engine: Engine, region: str) -> pd.DataFrame:
    """Instance types of a region with their latest on-demand price (NaN where none is known).

    A price the Price List API gave outranks one from the bundled snapshot, whatever their dates:
    the collector stores the snapshot when the API fails, dated by the snapshot, and AWS dates an
    on-demand term from the start of its month, so an earlier snapshot row could otherwise hide
    every later API price for weeks. Prices in another currency than USD (the China regions' CNY)
    are refused: every figure here is in dollars."""
    from optimizer.errors import InputError

    rows = read_frame(
        engine,
        select(
            ondemand_prices.c.instance_type,
            ondemand_prices.c.price_per_hour,
            ondemand_prices.c.effective_date,
            ondemand_prices.c.source,
            ondemand_prices.c.currency,
        ).where(ondemand_prices.c.region == region),
    )
    rows["collected"] = rows["source"].fillna("") != SNAPSHOT_SOURCE
    prices = rows.sort_values(["instance_type", "collected", "effective_date"]).drop_duplicates(
        "instance_type", keep="last"
    )
    foreign = prices["currency"].notna() & (prices["currency"] != "USD")
    if foreign.any():
        raise InputError(
            f"on-demand prices of {region} are in {prices.loc[foreign, 'currency'].iloc[0]}: batchopt"
            " computes in USD only"
        )
    types = read_frame(engine, select(instance_types).where(instance_types.c.region == region))
    return types.merge(prices[["instance_type", "price_per_hour"]], on="instance_type", how="left")


#: `ondemand_prices.source` of the rows the collector stores from the bundled snapshot when the
#: Price List API fails (`collectors.ondemand_prices.snapshot_prices`).
SNAPSHOT_SOURCE = "snapshot"


def spot_prices_frame(
    engine: Engine,
    region: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    instance_type: str | None = None,
) -> pd.DataFrame:
    """A region's spot price changes in [since, until) (of one instance type if given), oldest first."""
    query = select(spot_prices).where(
        spot_prices.c.region == region, *time_window(spot_prices.c.timestamp, since, until)
    )
    if instance_type is not None:
        query = query.where(spot_prices.c.instance_type == instance_type)
    return read_frame(engine, query.order_by(spot_prices.c.timestamp))


def interruption_bands_frame(engine: Engine, region: str) -> pd.DataFrame:
    return read_frame(
        engine, select(spot_interruption_bands).where(spot_interruption_bands.c.region == region)
    )
