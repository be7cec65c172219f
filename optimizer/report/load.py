"""Read what the weekly report needs from the store into `ReportInputs` (the only I/O going in).

Daily costs come from the analytics layer's persisted daily aggregate (`cost_daily`) when it holds
rows for the report week; otherwise they are computed now with the analytics layer's own public
functions (`attribute_costs` -> `daily_aggregate`) over the instances, attempts and prices in the
store. Either way the numbers are the analytics engineer's attribution, never a second derivation.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
from sqlalchemy import Engine, Table, and_, func, or_, select

from optimizer.analysis.cost import attribute_costs
from optimizer.analysis.rollup import daily_aggregate
from optimizer.report.inputs import DAILY_COLUMNS, ReportInputs
from optimizer.report.spend import HISTORY_WEEKS
from optimizer.report.weeks import IsoWeek
from optimizer.store.read import read_frame
from optimizer.store.schema import (
    COLLECTED_DATASET,
    audit_log,
    collector_runs,
    instance_types,
    instances,
    job_attempts,
    jobs,
    metadata,
    ondemand_prices,
    recommendations,
    spot_prices,
)

PERSISTED_TABLE = "cost_daily"
EXACT_PRICE_SOURCES = ("on-demand", "spot-series")
SPOT_LOOKBACK = timedelta(days=31)
"""How far before the window spot price records are read, so the price at its start is known."""


def report_window(week: IsoWeek) -> tuple[datetime, datetime]:
    """[start, end) of the data the report reads: the week and the history weeks before it."""
    return week.shifted(-HISTORY_WEEKS).start, week.end


def _persisted_daily(engine: Engine, dataset: str, since: datetime, until: datetime) -> pd.DataFrame | None:
    """Rows of the persisted aggregate in the window, or None when it is absent or lacks the week."""
    table: Table | None = metadata.tables.get(PERSISTED_TABLE)
    if table is None or any(c not in table.c for c in DAILY_COLUMNS):
        return None
    where = [table.c.day >= since, table.c.day < until]
    if "dataset" in table.c:
        where.append(table.c.dataset == dataset)
    frame = read_frame(engine, select(*[table.c[c] for c in DAILY_COLUMNS]).where(*where))
    if frame.empty:
        return None
    return frame


def _computed_daily(
    engine: Engine, dataset: str, since: datetime, until: datetime, week: IsoWeek
) -> tuple[pd.DataFrame, float]:
    """The aggregate computed now, and the week's spend priced from fallback prices."""
    inst = read_frame(
        engine,
        select(instances).where(
            instances.c.dataset == dataset,
            func.coalesce(instances.c.launch_time, instances.c.first_seen) < until,
            func.coalesce(instances.c.terminated_at, instances.c.last_seen) >= since,
        ),
    )
    if inst.empty:
        return pd.DataFrame(columns=list(DAILY_COLUMNS)), 0.0
    running = and_(
        job_attempts.c.started_at < until,
        or_(job_attempts.c.stopped_at.is_(None), job_attempts.c.stopped_at >= since),
    )
    ids = select(job_attempts.c.job_id).join(jobs, jobs.c.job_id == job_attempts.c.job_id)
    ids = ids.where(jobs.c.dataset == dataset, running)
    attempts = read_frame(
        engine,
        select(job_attempts)
        .join(jobs, jobs.c.job_id == job_attempts.c.job_id)
        .where(jobs.c.dataset == dataset, running),
    )
    job_frame = read_frame(engine, select(jobs).where(jobs.c.job_id.in_(ids.scalar_subquery())))
    types = sorted(set(inst["instance_type"].astype(str)))
    catalog = read_frame(engine, select(instance_types).where(instance_types.c.instance_type.in_(types)))
    ondemand = read_frame(engine, select(ondemand_prices).where(ondemand_prices.c.instance_type.in_(types)))
    spot = read_frame(
        engine,
        select(spot_prices).where(
            spot_prices.c.instance_type.in_(types),
            spot_prices.c.timestamp >= since - SPOT_LOOKBACK,
            spot_prices.c.timestamp < until,
        ),
    )
    result = attribute_costs(inst, attempts, job_frame, catalog, ondemand, spot, since=since, until=until)
    lines = result.lines
    source = result.instances["price_source"].to_numpy(dtype=object)[lines["instance_row"].to_numpy()]
    days = pd.to_datetime(lines["day"])
    in_week = ((days >= week.start) & (days < week.end)).to_numpy()
    fallback = ~pd.Series(source).isin(EXACT_PRICE_SOURCES).to_numpy()
    fallback_usd = float(lines["total_usd"].to_numpy()[in_week & fallback].sum())
    return daily_aggregate(lines)[list(DAILY_COLUMNS)], fallback_usd


def _reclaims(engine: Engine, dataset: str, week: IsoWeek) -> pd.DataFrame:
    query = (
        select(
            job_attempts.c.job_id,
            job_attempts.c.attempt,
            jobs.c.vcpus,
            job_attempts.c.started_at,
            job_attempts.c.stopped_at,
        )
        .join(jobs, jobs.c.job_id == job_attempts.c.job_id)
        .where(
            jobs.c.dataset == dataset,
            job_attempts.c.is_spot_reclaim.is_(True),
            job_attempts.c.stopped_at >= week.start,
            job_attempts.c.stopped_at < week.end,
        )
    )
    return read_frame(engine, query)


def _open_recommendations(engine: Engine, top_n: int) -> pd.DataFrame:
    r = recommendations.c
    query = (
        select(
            r.id,
            r.title,
            r.target_name,
            r.target_arn,
            r.monthly_savings_usd,
            r.risk_level,
            r.confidence,
            r.update_kind,
        )
        .where(r.status == "open")
        .order_by(r.monthly_savings_usd.desc(), r.id)
        .limit(top_n)
    )
    return read_frame(engine, query)


def _audit(engine: Engine, week: IsoWeek) -> pd.DataFrame:
    a, r = audit_log.c, recommendations.c
    query = (
        select(
            a.id,
            a.action,
            a.actor,
            a.started_at,
            a.finished_at,
            a.result,
            a.message,
            a.recommendation_id,
            r.target_kind,
            r.target_arn,
            r.target_name,
            r.title,
        )
        .select_from(audit_log.outerjoin(recommendations, r.id == a.recommendation_id))
        .where(a.dry_run.is_(False), a.started_at >= week.start, a.started_at < week.end)
        .order_by(a.started_at, a.id)
    )
    return read_frame(engine, query)


def _runs(engine: Engine, week: IsoWeek) -> tuple[pd.DataFrame, pd.DataFrame]:
    c = collector_runs.c
    runs = read_frame(
        engine,
        select(c.source, c.target, c.region, c.started_at, c.finished_at, c.status, c.error).where(
            c.started_at >= week.start, c.started_at < week.end
        ),
    )
    last = read_frame(
        engine,
        select(c.source, func.max(c.finished_at).label("last_success"))
        .where(c.status == "succeeded")
        .group_by(c.source),
    )
    return runs, last


def load_inputs(
    engine: Engine, week: IsoWeek, *, dataset: str = COLLECTED_DATASET, top_n: int = 10
) -> ReportInputs:
    since, until = report_window(week)
    persisted = _persisted_daily(engine, dataset, since, until)
    week_rows = None
    if persisted is not None:
        days = pd.to_datetime(persisted["day"])
        week_rows = persisted[(days >= week.start) & (days < week.end)]
    if persisted is not None and week_rows is not None and not week_rows.empty:
        daily, fallback, source = persisted, None, f"the persisted daily aggregate ({PERSISTED_TABLE})"
    else:
        daily, fallback = _computed_daily(engine, dataset, since, until, week)
        source = "attributed now from the store's instances, job attempts and prices"
    runs, last = _runs(engine, week)
    return ReportInputs(
        daily=daily,
        reclaims=_reclaims(engine, dataset, week),
        recommendations=_open_recommendations(engine, top_n),
        audit=_audit(engine, week),
        runs=runs,
        last_success=last,
        cost_source=f"{source}, dataset {dataset!r}",
        fallback_priced_usd=fallback,
    )
