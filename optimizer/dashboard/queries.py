"""Read-only, cached queries behind every page; the only place the dashboard touches the store.

Every function takes the database URL first so `st.cache_data` keys on it (two stores never share
a cached answer) and keeps the answer for `TTL_SECONDS`: the collectors write in the background and
a page should show their work within a minute, not hammer the store on each widget click.

Aggregation happens in SQL (GROUP BY over the jobs tables, or over the analytics' persisted
`cost_daily` aggregate), so a page reads a few hundred rows however many jobs are stored. Nothing
here calls AWS.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd
import streamlit as st
from sqlalchemy import Float, and_, case, cast, distinct, func, select

from optimizer.analysis.cost import IDLE, WASTE_COLUMNS
from optimizer.analysis.rightsizing import rightsizing_evidence
from optimizer.billing import window as bill
from optimizer.dashboard.health_view import job_descriptions, scheduler_jobs, with_descriptions
from optimizer.dashboard.realized import Realized, window_start
from optimizer.dashboard.realized import realized_savings as compute_realized
from optimizer.dashboard.state import engine_for
from optimizer.store.read import interruption_bands_frame, read_frame
from optimizer.store.schema import (
    COLLECTED_DATASET,
    audit_log,
    change_plans,
    collector_runs,
    compute_environments,
    fleet_plans,
    instance_types,
    instances,
    job_attempts,
    job_queues,
    jobs,
    recommendations,
    spot_prices,
)
from optimizer.store.tables.analysis import cost_daily, cost_daily_tags, utilization_hourly
from optimizer.store.tables.billing import bill_months

TTL_SECONDS = 60
COST_DIMS = ("queue", "compute_environment_arn", "job_definition_name", "instance_type", "capacity_type")
COST_SUMS = ("total_usd", "attributed_usd", *WASTE_COLUMNS, "vcpu_hours")
WASTE_LABELS = {
    "idle_usd": "idle capacity",
    "over_requested_usd": "over-requested",
    "spot_reclaim_usd": "spot reclaims",
    "failed_usd": "failed attempts",
    "oom_usd": "out-of-memory",
}


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def cost_datasets(url: str) -> list[str]:
    """Histories with attributed cost ("aws" for collected; imported traces by their name)."""
    table = cost_daily
    with engine_for(url).connect() as conn:
        rows = conn.execute(select(table.c.dataset).distinct().order_by(table.c.dataset)).scalars().all()
    return [str(v) for v in rows]


# ----------------------------------------------------------------------------------- cost -----


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def cost_day_range(url: str, dataset: str = COLLECTED_DATASET) -> tuple[datetime, datetime] | None:
    """First and last day in the cost aggregate, or None when `batchopt analyze` has not run."""
    table = cost_daily
    query = select(func.min(table.c.day), func.max(table.c.day)).where(table.c.dataset == dataset)
    with engine_for(url).connect() as conn:
        first, last = conn.execute(query).one()
    if first is None or last is None:
        return None
    return pd.Timestamp(first).to_pydatetime(), pd.Timestamp(last).to_pydatetime()


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def cost_filter_values(url: str, dataset: str = COLLECTED_DATASET) -> dict[str, list[str]]:
    """Distinct values of each cost dimension, for the explorer's filters."""
    table = cost_daily
    out: dict[str, list[str]] = {}
    with engine_for(url).connect() as conn:
        for dim in COST_DIMS:
            query = select(table.c[dim]).distinct().where(table.c.dataset == dataset).order_by(table.c[dim])
            rows = conn.execute(query).scalars().all()
            out[dim] = [str(v) for v in rows if v is not None]
    return out


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def cost_summary(
    url: str,
    since: datetime,
    until: datetime,
    by: tuple[str, ...] = (),
    *,
    daily: bool = False,
    where: tuple[tuple[str, tuple[str, ...]], ...] = (),
    dataset: str = COLLECTED_DATASET,
) -> pd.DataFrame:
    """Sums of the cost columns over days in [since, until), grouped by `by` (and the day if `daily`).

    `where` is ((dimension, allowed values), ...); an empty value tuple means no filter on it.
    Idle capacity carries "(idle)" as its queue and job definition, so totals always balance.
    """
    table = cost_daily
    keys = ([table.c.day] if daily else []) + [table.c[d] for d in by]
    sums = [func.coalesce(func.sum(table.c[c]), 0.0).label(c) for c in COST_SUMS]
    sums.append(func.coalesce(func.sum(table.c.attempts), 0).label("attempts"))
    filters = [table.c.dataset == dataset, table.c.day >= since, table.c.day < until]
    for dim, values in where:
        if values:
            filters.append(table.c[dim].in_(list(values)))
    query = select(*keys, *sums).where(and_(*filters))
    if keys:
        query = query.group_by(*keys).order_by(*keys)
    frame = read_frame(engine_for(url), query)
    if daily and not frame.empty:
        frame["day"] = pd.to_datetime(frame["day"])
    return frame


def allocated_share(frame: pd.DataFrame) -> float | None:
    """vCPU-hours requested by jobs over all vCPU-hours paid for (from a cost summary by queue)."""
    total = float(frame["vcpu_hours"].sum()) if not frame.empty else 0.0
    if total <= 0:
        return None
    busy = float(frame.loc[frame["queue"] != IDLE, "vcpu_hours"].sum())
    return busy / total


# ------------------------------------------------------------------------------------- bill -----


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def bill_imported(url: str) -> bool:
    """Whether any bill has been imported (`batchopt import-bill`): pages show nothing new if not."""
    with engine_for(url).connect() as conn:
        return conn.execute(select(bill_months.c.billing_period).limit(1)).first() is not None


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def bill_window(
    url: str, since: datetime, until: datetime, dataset: str = COLLECTED_DATASET
) -> bill.BillWindow | None:
    """Billed, effective, modelled and residual per day of [since, until) the bill covers
    (`optimizer.billing.window.bill_window`, the reconciliation's figures), or None."""
    return bill.bill_window(engine_for(url), since, until, dataset=dataset)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def bill_month_to_date(url: str, today: date, dataset: str = COLLECTED_DATASET) -> bill.BillWindow | None:
    """`bill_window` of `today`'s calendar month through `today`, or None when no bill covers it."""
    return bill.month_to_date(engine_for(url), datetime.combine(today, datetime.min.time()), dataset=dataset)


# -------------------------------------------------------------------------- recommendations -----


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def savings_by_status(url: str) -> dict[str, float]:
    """Monthly savings summed per recommendation status (open = identified, applied, ...)."""
    query = select(
        recommendations.c.status, func.sum(recommendations.c.monthly_savings_usd).label("usd")
    ).group_by(recommendations.c.status)
    with engine_for(url).connect() as conn:
        return {str(status): float(usd or 0.0) for status, usd in conn.execute(query)}


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def recommendation_list(url: str, statuses: tuple[str, ...] = ()) -> pd.DataFrame:
    """Recommendations, largest saving first (the list page's rows)."""
    cols = [
        recommendations.c.id,
        recommendations.c.title,
        recommendations.c.strategy,
        recommendations.c.target_name,
        recommendations.c.target_kind,
        recommendations.c.region,
        recommendations.c.monthly_savings_usd,
        recommendations.c.risk_level,
        recommendations.c.confidence,
        recommendations.c.effort,
        recommendations.c.update_kind,
        recommendations.c.status,
        recommendations.c.updated_at,
    ]
    query = select(*cols).order_by(recommendations.c.monthly_savings_usd.desc(), recommendations.c.id)
    if statuses:
        query = query.where(recommendations.c.status.in_(list(statuses)))
    return read_frame(engine_for(url), query)


def recommendation_row(url: str, rec_id: str) -> dict[str, Any] | None:
    """One recommendation with its JSON fields (not cached: the detail view follows actions live)."""
    with engine_for(url).connect() as conn:
        row = conn.execute(select(recommendations).where(recommendations.c.id == rec_id)).mappings().first()
    return dict(row) if row is not None else None


def recommendation_history(url: str, rec_id: str) -> pd.DataFrame:
    """Audit records of a recommendation's applies and rollbacks, newest first (not cached)."""
    query = (
        select(
            audit_log.c.id,
            audit_log.c.plan_id,
            audit_log.c.action,
            audit_log.c.actor,
            audit_log.c.dry_run,
            audit_log.c.started_at,
            audit_log.c.finished_at,
            audit_log.c.result,
            audit_log.c.message,
        )
        .where(audit_log.c.recommendation_id == rec_id)
        .order_by(audit_log.c.started_at.desc(), audit_log.c.id.desc())
    )
    return read_frame(engine_for(url), query)


def latest_change_plan(url: str, rec_id: str, kind: str = "apply") -> dict[str, Any] | None:
    """The newest stored change plan of a recommendation (what the last dry-run/apply planned)."""
    query = (
        select(change_plans)
        .where(change_plans.c.recommendation_id == rec_id, change_plans.c.kind == kind)
        .order_by(change_plans.c.created_at.desc())
        .limit(1)
    )
    with engine_for(url).connect() as conn:
        row = conn.execute(query).mappings().first()
    return dict(row) if row is not None else None


# ------------------------------------------------------------------------------ runs/health -----


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def data_freshness(url: str) -> pd.DataFrame:
    """Per target, region and source: the last successful run's end and the last run's status."""
    ok = (
        select(
            collector_runs.c.target,
            collector_runs.c.region,
            collector_runs.c.source,
            func.max(collector_runs.c.finished_at).label("last_success"),
        )
        .where(collector_runs.c.status == "succeeded")
        .group_by(collector_runs.c.target, collector_runs.c.region, collector_runs.c.source)
    )
    last = select(
        collector_runs.c.target,
        collector_runs.c.region,
        collector_runs.c.source,
        func.max(collector_runs.c.started_at).label("last_run"),
        func.sum(case((collector_runs.c.status == "failed", 1), else_=0)).label("failed_runs"),
        func.count().label("runs"),
    ).group_by(collector_runs.c.target, collector_runs.c.region, collector_runs.c.source)
    engine = engine_for(url)
    frame = read_frame(engine, last)
    if frame.empty:
        return frame
    keys = ["target", "region", "source"]
    frame = frame.merge(read_frame(engine, ok), on=keys, how="left")
    return frame.sort_values(keys).reset_index(drop=True)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def recent_runs(url: str, limit: int = 200, only_failed: bool = False) -> pd.DataFrame:
    query = select(collector_runs).order_by(collector_runs.c.started_at.desc()).limit(limit)
    if only_failed:
        query = query.where(collector_runs.c.status == "failed")
    return read_frame(engine_for(url), query)


# ----------------------------------------------------------------------------- right-sizing -----


def _ratio(used: Any, requested: Any) -> Any:
    return cast(used, Float) / func.nullif(cast(requested, Float), 0.0)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def rightsizing_summary(url: str, dataset: str, since: datetime) -> pd.DataFrame:
    """Per job definition: attempts, requested vs peak memory and vCPUs, out-of-memory kills, of the
    jobs created since `since` (right-sizing follows recent behaviour; see `recent_window`)."""
    j, a = jobs, job_attempts
    query = (
        select(
            j.c.job_definition_name,
            func.count().label("attempts"),
            func.sum(case((a.c.peak_memory_mib.is_not(None), 1), else_=0)).label("with_usage"),
            func.avg(cast(j.c.memory_mib, Float)).label("requested_memory_mib"),
            func.avg(a.c.peak_memory_mib).label("mean_peak_memory_mib"),
            func.max(a.c.peak_memory_mib).label("max_peak_memory_mib"),
            func.avg(j.c.vcpus).label("requested_vcpus"),
            func.avg(a.c.peak_vcpus).label("mean_peak_vcpus"),
            func.max(a.c.peak_vcpus).label("max_peak_vcpus"),
            func.sum(case((a.c.is_oom, 1), else_=0)).label("oom_kills"),
        )
        .select_from(a.join(j, j.c.job_id == a.c.job_id))
        .where(j.c.dataset == dataset, j.c.created_at >= since)
        .group_by(j.c.job_definition_name)
        .order_by(func.count().desc())
    )
    return read_frame(engine_for(url), query)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def usage_ratio_histogram(
    url: str, dataset: str, job_definition: str, since: datetime, step: float = 0.1
) -> pd.DataFrame:
    """Attempts binned by peak/requested ratio (memory and vCPU), `step` wide, capped at 2.0.

    The binning is SQL so a definition with a million attempts still returns ~40 rows.
    """
    j, a = jobs, job_attempts
    frames = []
    for resource, used, requested in (
        ("memory", a.c.peak_memory_mib, j.c.memory_mib),
        ("vcpu", a.c.peak_vcpus, j.c.vcpus),
    ):
        ratio = _ratio(used, requested)
        capped = case((ratio > 2.0, 2.0), else_=ratio)
        bucket = cast(func.floor(capped / step), Float)
        query = (
            select(bucket.label("bucket"), func.count().label("attempts"))
            .select_from(a.join(j, j.c.job_id == a.c.job_id))
            .where(
                j.c.dataset == dataset,
                j.c.created_at >= since,
                j.c.job_definition_name == job_definition,
                used.is_not(None),
                requested.is_not(None),
                requested > 0,
            )
            .group_by(bucket)
            .order_by(bucket)
        )
        frame = read_frame(engine_for(url), query)
        frame["resource"] = resource
        frames.append(frame)
    out = pd.concat(frames, ignore_index=True)
    out["ratio_from"] = out["bucket"].astype(float) * step
    return out


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def job_datasets(url: str) -> list[str]:
    with engine_for(url).connect() as conn:
        return [
            str(v) for v in conn.execute(select(jobs.c.dataset).distinct().order_by(jobs.c.dataset)).scalars()
        ]


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def recommendations_for_target_kind(url: str, target_kind: str) -> pd.DataFrame:
    """Open recommendations of one kind (job-definition for right-sizing) with their proposals."""
    query = (
        select(
            recommendations.c.id,
            recommendations.c.target_name,
            recommendations.c.title,
            recommendations.c.current,
            recommendations.c.proposed,
            recommendations.c.risk,
            recommendations.c.risk_level,
            recommendations.c.confidence,
            recommendations.c.monthly_savings_usd,
            recommendations.c.status,
        )
        .where(recommendations.c.target_kind == target_kind)
        .order_by(recommendations.c.monthly_savings_usd.desc())
    )
    return read_frame(engine_for(url), query)


# ------------------------------------------------------------------------------------- spot -----


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def spot_series_keys(url: str) -> pd.DataFrame:
    """(region, instance_type) pairs with spot price history, with their sample counts."""
    query = (
        select(spot_prices.c.region, spot_prices.c.instance_type, func.count().label("samples"))
        .group_by(spot_prices.c.region, spot_prices.c.instance_type)
        .order_by(spot_prices.c.region, spot_prices.c.instance_type)
    )
    return read_frame(engine_for(url), query)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def spot_price_history(url: str, region: str, instance_type: str) -> pd.DataFrame:
    query = (
        select(spot_prices.c.availability_zone, spot_prices.c.timestamp, spot_prices.c.price)
        .where(spot_prices.c.region == region, spot_prices.c.instance_type == instance_type)
        .order_by(spot_prices.c.availability_zone, spot_prices.c.timestamp)
    )
    frame = read_frame(engine_for(url), query)
    if not frame.empty:
        frame["timestamp"] = pd.to_datetime(frame["timestamp"])
    return frame


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def interruption_bands(url: str, region: str) -> pd.DataFrame:
    columns = ["instance_type", "band", "band_label", "savings_pct", "snapshot_date"]
    frame = interruption_bands_frame(engine_for(url), region)
    return frame.reindex(columns=columns).sort_values(["band", "instance_type"], ignore_index=True)


def _hours_between(start: Any, end: Any, dialect: str) -> Any:
    if dialect == "sqlite":
        return (func.julianday(end) - func.julianday(start)) * 24.0
    return func.extract("epoch", end - start) / 3600.0


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def spot_reclaims(url: str) -> pd.DataFrame:
    """Observed reclaims per instance type and AZ: reclaimed attempts and the run-hours they lost."""
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
        .where(a.c.is_spot_reclaim.is_(True))
        .group_by(i.c.region, i.c.instance_type, i.c.availability_zone)
        .order_by(func.count().desc())
    )
    return read_frame(engine, query)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def spot_instance_hours(url: str) -> pd.DataFrame:
    """Spot instance-hours per type (the denominator of an observed reclaim rate)."""
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
        .where(i.c.capacity_type == "SPOT")
        .group_by(i.c.region, i.c.instance_type)
    )
    return read_frame(engine, query)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def queue_compute_environments(
    url: str, queues: tuple[str, ...], since: datetime, until: datetime, dataset: str = COLLECTED_DATASET
) -> tuple[str, ...]:
    """CE ARNs serving `queues` (names or ARNs): configured in their order, or run on in the days."""
    from optimizer.dashboard.queue_scope import configured_ces

    q, ce, t = job_queues.c, compute_environments.c, cost_daily.c
    engine = engine_for(url)
    with engine.connect() as conn:
        rows = conn.execute(
            select(q.compute_environment_order).where((q.name.in_(queues)) | (q.arn.in_(queues)))
        ).mappings()
        names = {str(r.name): str(r.arn) for r in conn.execute(select(ce.name, ce.arn))}
        configured = configured_ces(rows, names)
        ran = conn.execute(
            select(t.compute_environment_arn)
            .distinct()
            .where(t.dataset == dataset, t.day >= since, t.day < until, t.queue.in_(queues))
        ).scalars()
        used = {str(v) for v in ran if v is not None}
    return tuple(sorted(configured | used))


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def queue_last_stop(
    url: str, queue: str, created_before: datetime, dataset: str = COLLECTED_DATASET
) -> datetime | None:
    """When the last job of `queue` created by `created_before` stopped: where a plan's window ends."""
    j = jobs.c
    query = select(func.max(j.stopped_at)).where(
        j.dataset == dataset, j.queue == queue, j.created_at <= created_before
    )
    with engine_for(url).connect() as conn:
        value = conn.execute(query).scalar()
    return None if value is None else pd.Timestamp(value).to_pydatetime()


# -------------------------------------------------------------------------------- fleet mix -----


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def compute_environment_list(url: str) -> pd.DataFrame:
    c = compute_environments
    query = select(
        c.c.arn,
        c.c.name,
        c.c.account_id,
        c.c.region,
        c.c.state,
        c.c.status,
        c.c.platform,
        c.c.allocation_strategy,
        c.c.instance_types,
        c.c.min_vcpus,
        c.c.max_vcpus,
    ).where(c.c.deleted_at.is_(None))
    return read_frame(engine_for(url), query.order_by(c.c.region, c.c.name))


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def fleet_plan_list(url: str) -> pd.DataFrame:
    f = fleet_plans
    query = select(
        f.c.id,
        f.c.scope,
        f.c.created_at,
        f.c.status,
        f.c.cost_usd,
        f.c.objective_usd,
        f.c.lower_bound_usd,
        f.c.gap,
        f.c.solve_seconds,
    ).order_by(f.c.created_at.desc(), f.c.id.desc())
    return read_frame(engine_for(url), query)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def fleet_plan_documents(url: str, plan_id: int) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The stored (problem, plan) JSON documents of one fleet plan."""
    query = select(fleet_plans.c.problem, fleet_plans.c.plan).where(fleet_plans.c.id == plan_id)
    with engine_for(url).connect() as conn:
        row = conn.execute(query).first()
    return (dict(row[0]), dict(row[1])) if row is not None else None


def window_before(last_day: datetime, days: int) -> tuple[datetime, datetime]:
    """[start, end) of the `days` days ending with `last_day` (inclusive)."""
    end = pd.Timestamp(last_day).normalize().to_pydatetime() + timedelta(days=1)
    return end - timedelta(days=days), end


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def realized_savings(url: str, dataset: str = COLLECTED_DATASET) -> Realized:
    """Measured savings of applied compute-environment changes (see `realized.py` for the method)."""
    table = cost_daily
    query = (
        select(
            recommendations.c.target_arn.label("compute_environment_arn"),
            func.max(audit_log.c.finished_at).label("applied_at"),
        )
        .select_from(audit_log.join(recommendations, recommendations.c.id == audit_log.c.recommendation_id))
        .where(
            audit_log.c.action == "apply",
            audit_log.c.dry_run.is_(False),
            audit_log.c.result == "succeeded",
            recommendations.c.status == "applied",
            recommendations.c.target_kind == "compute-environment",
        )
        .group_by(recommendations.c.target_arn)
    )
    engine = engine_for(url)
    changes = read_frame(engine, query)
    start = window_start(list(pd.to_datetime(changes["applied_at"]))) if not changes.empty else None
    if start is None:
        return Realized(0.0, 0, len(changes), "No applied compute-environment change to measure yet.")
    days = read_frame(
        engine,
        select(
            table.c.day,
            table.c.compute_environment_arn,
            table.c.queue,
            func.sum(table.c.total_usd).label("total_usd"),
            func.sum(table.c.vcpu_hours).label("vcpu_hours"),
        )
        .where(
            table.c.dataset == dataset,
            table.c.day >= start,
            table.c.compute_environment_arn.in_(changes["compute_environment_arn"].tolist()),
        )
        .group_by(table.c.day, table.c.compute_environment_arn, table.c.queue),
    )
    return compute_realized(changes, days)


# ---------------------------------------------------------------------- tags and utilization -----


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def tag_keys(url: str, dataset: str = COLLECTED_DATASET) -> list[str]:
    """Job tag keys the analysis aggregated cost by (its most common keys)."""
    table = cost_daily_tags
    query = select(table.c.tag_key).distinct().where(table.c.dataset == dataset).order_by(table.c.tag_key)
    with engine_for(url).connect() as conn:
        return [str(v) for v in conn.execute(query).scalars()]


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def cost_by_tag(
    url: str, key: str, since: datetime, until: datetime, dataset: str = COLLECTED_DATASET
) -> pd.DataFrame:
    """Cost per value of one tag key over [since, until) (idle capacity keeps its own row)."""
    table = cost_daily_tags
    sums = [func.coalesce(func.sum(table.c[c]), 0.0).label(c) for c in COST_SUMS]
    query = (
        select(table.c.tag_value, *sums)
        .where(table.c.dataset == dataset, table.c.tag_key == key, table.c.day >= since, table.c.day < until)
        .group_by(table.c.tag_value)
        .order_by(func.sum(table.c.total_usd).desc())
    )
    return read_frame(engine_for(url), query)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def utilization_totals(
    url: str, since: datetime, until: datetime, dataset: str = COLLECTED_DATASET
) -> dict[str, float] | None:
    """Allocated / capacity and used / allocated (where usage is known), vCPU and memory, summed."""
    table = utilization_hourly
    names = (
        "capacity_vcpu_hours",
        "allocated_vcpu_hours",
        "allocated_known_vcpu_hours",
        "used_vcpu_hours",
        "capacity_memory_gib_hours",
        "allocated_memory_gib_hours",
        "allocated_known_memory_gib_hours",
        "used_memory_gib_hours",
    )
    query = select(*[func.coalesce(func.sum(table.c[n]), 0.0).label(n) for n in names]).where(
        table.c.dataset == dataset, table.c.hour >= since, table.c.hour < until
    )
    with engine_for(url).connect() as conn:
        row = conn.execute(query).mappings().one()
    sums = {k: float(v) for k, v in row.items()}
    if sums["capacity_vcpu_hours"] <= 0:
        return None
    return sums


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def scheduled_jobs(url: str) -> pd.DataFrame | None:
    """The running scheduler's persisted jobs with their next run times (None: no scheduler yet)."""
    jobs = scheduler_jobs(engine_for(url))
    return None if jobs is None else with_descriptions(jobs, job_descriptions())


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def definition_evidence(url: str, dataset: str, job_definition: str, since: datetime) -> pd.DataFrame:
    """The analytics' right-sizing evidence for one job definition (and its name patterns).

    Reads only that definition's jobs and attempts (SQL-filtered), so one definition of a
    million-job store costs what its own history costs, and the numbers are exactly
    `rightsizing_evidence`'s.
    """
    engine = engine_for(url)
    job_rows = read_frame(
        engine,
        select(
            jobs.c.job_id, jobs.c.job_definition_name, jobs.c.job_name, jobs.c.vcpus, jobs.c.memory_mib
        ).where(
            jobs.c.dataset == dataset,
            jobs.c.created_at >= since,
            jobs.c.job_definition_name == job_definition,
        ),
    )
    attempt_rows = read_frame(
        engine,
        select(
            job_attempts.c.job_id,
            job_attempts.c.peak_memory_mib,
            job_attempts.c.peak_vcpus,
            job_attempts.c.is_oom,
        )
        .select_from(job_attempts.join(jobs, jobs.c.job_id == job_attempts.c.job_id))
        .where(
            jobs.c.dataset == dataset,
            jobs.c.created_at >= since,
            jobs.c.job_definition_name == job_definition,
        ),
    )
    types = read_frame(
        engine,
        select(
            instance_types.c.instance_type, instance_types.c.vcpus, instance_types.c.allocatable_memory_mib
        ),
    )
    if job_rows.empty or attempt_rows.empty:
        return pd.DataFrame()
    return rightsizing_evidence(job_rows, attempt_rows, types.drop_duplicates("instance_type"))


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def recent_window(url: str, dataset: str, days: int) -> tuple[datetime, datetime] | None:
    """[start, last job created] covering the `days` days up to the newest job of the history.

    Anchored on the data, not the clock, so an imported trace from 1996 has a "recent" too; the
    (dataset, created_at) index makes both ends cheap.
    """
    with engine_for(url).connect() as conn:
        last = conn.execute(select(func.max(jobs.c.created_at)).where(jobs.c.dataset == dataset)).scalar()
    if last is None:
        return None
    last = pd.Timestamp(last).to_pydatetime()
    return last - timedelta(days=days), last
