"""Store glue for the analyses: read their inputs, write and read the persisted aggregates.

`optimizer.analysis` stays pure; this module is the only analysis code that touches the database.

Public API (the dashboard and the report call the readers; `batchopt analyze` calls `run_analysis`):
- `run_analysis(engine, dataset=..., since=..., until=..., computed_at=...) -> AnalysisSummary`
- `read_cost_daily(engine, dims=("queue",), period="day"|"week", dataset=..., since=..., until=...)`
- `read_cost_by_tag(engine, key, ...)`, `read_utilization_hourly(engine, ...)`,
  `read_utilization_totals(engine, ...)`; what the aggregate holds: `cost_datasets`,
  `cost_day_range`, `cost_dimension_values`, `cost_tag_keys`
- `applied_compute_environment_changes(engine)`: the applies realized savings measure
- `read_demand_forecasts(engine, ...)`: the p50/p90 hourly forecasts `batchopt train` wrote
- `load_analysis_inputs(engine, ...) -> AnalysisInputs` for callers that want the raw frames (right-sizing).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import pandas as pd
from sqlalchemy import Engine, and_, delete, func, insert, select

from optimizer.analysis.cost import CostAttribution, attribute_costs
from optimizer.analysis.multinode import mnp_job_costs
from optimizer.analysis.rollup import DAILY_DIMS, cost_by_tag, daily_aggregate
from optimizer.analysis.utilization import add_ratios, fragmentation, hourly_utilization
from optimizer.errors import UserError
from optimizer.store.read import read_frame, time_window
from optimizer.store.runs_read import last_successes
from optimizer.store.schema import (
    COLLECTED_DATASET,
    audit_log,
    instance_types,
    instances,
    job_attempts,
    jobs,
    ondemand_prices,
    recommendations,
    spot_prices,
)
from optimizer.store.tables.analysis import (
    analysis_runs,
    cost_daily,
    cost_daily_tags,
    demand_forecasts,
    utilization_hourly,
)
from optimizer.store.upsert import bulk_upsert

ATTEMPT_LOOKBACK = timedelta(days=14)
"""Attempts that started this long before `since` are read too, so long jobs are not cut off."""
SPOT_PRICE_LOOKBACK = timedelta(days=90)
"""A spot series lists changes only: the price in force at `since` may have been set long before."""
MAX_TAG_KEYS = 20
_SUMS = (
    "total_usd",
    "attributed_usd",
    "idle_usd",
    "over_requested_usd",
    "spot_reclaim_usd",
    "failed_usd",
    "oom_usd",
    "vcpu_hours",
)


@dataclass(frozen=True)
class AnalysisInputs:
    instances: pd.DataFrame
    attempts: pd.DataFrame
    jobs: pd.DataFrame
    instance_types: pd.DataFrame
    ondemand: pd.DataFrame
    spot_prices: pd.DataFrame


@dataclass(frozen=True)
class AnalysisSummary:
    dataset: str
    instances: int
    attempts: int
    unplaced_attempts: int
    total_usd: float
    idle_usd: float
    waste_usd: float
    days_written: int
    hours_written: int
    price_sources: dict[str, int] = field(default_factory=dict)
    # Multi-node parallel jobs (`analysis/multinode.py`): how many, their nodes' cost, and the part
    # of the idle cost their gangs' forming explains.
    mnp_jobs: int = 0
    mnp_cost_usd: float = 0.0
    gang_formation_idle_usd: float = 0.0


def load_analysis_inputs(
    engine: Engine,
    *,
    dataset: str = COLLECTED_DATASET,
    since: datetime | None = None,
    until: datetime | None = None,
) -> AnalysisInputs:
    """The frames the analyses need, for instances alive in [since, until)."""
    inst_q = select(instances).where(instances.c.dataset == dataset)
    if until is not None:
        # launched before `until` (a collector may first see an instance long after its launch)
        inst_q = inst_q.where(func.coalesce(instances.c.launch_time, instances.c.first_seen) < until)
    if since is not None:
        end = func.coalesce(instances.c.terminated_at, instances.c.last_seen)
        inst_q = inst_q.where(end >= since)
    inst = read_frame(engine, inst_q)

    att_q = select(job_attempts).join(jobs, jobs.c.job_id == job_attempts.c.job_id)
    att_q = att_q.where(jobs.c.dataset == dataset)
    if since is not None:
        att_q = att_q.where(
            (job_attempts.c.stopped_at.is_(None)) | (job_attempts.c.stopped_at >= since),
            job_attempts.c.started_at >= since - ATTEMPT_LOOKBACK,
        )
    if until is not None:
        att_q = att_q.where(job_attempts.c.started_at < until)
    att = read_frame(engine, att_q)

    job_cols = ["job_id", "queue", "job_definition_name", "job_name", "vcpus", "memory_mib", "gpus"]
    job_cols += ["tags", "created_at", "status", "is_multinode", "array_parent_id"]  # MNP nodes: multinode.py
    jobs_q = select(*[jobs.c[c] for c in job_cols]).where(jobs.c.dataset == dataset)
    if since is not None:
        jobs_q = jobs_q.where(jobs.c.created_at >= since - ATTEMPT_LOOKBACK - timedelta(days=14))
    if until is not None:
        jobs_q = jobs_q.where(jobs.c.created_at < until)
    job_frame = read_frame(engine, jobs_q)

    types = read_frame(engine, select(instance_types))
    od = read_frame(engine, select(ondemand_prices))
    sp_q = select(spot_prices)
    if since is not None:
        sp_q = sp_q.where(spot_prices.c.timestamp >= since - SPOT_PRICE_LOOKBACK)
    if until is not None:
        sp_q = sp_q.where(spot_prices.c.timestamp < until)
    if not inst.empty:
        sp_q = sp_q.where(spot_prices.c.instance_type.in_(sorted(set(inst["instance_type"].dropna()))))
    sp = read_frame(engine, sp_q)
    return AnalysisInputs(inst, att, job_frame, types, od, sp)


def attribute(inputs: AnalysisInputs, since: datetime | None, until: datetime | None) -> CostAttribution:
    return attribute_costs(
        inputs.instances,
        inputs.attempts,
        inputs.jobs,
        inputs.instance_types,
        inputs.ondemand,
        inputs.spot_prices,
        since=since,
        until=until,
    )


def _tag_rows(result: CostAttribution, dataset: str) -> pd.DataFrame:
    tags = result.attempts["tags"] if "tags" in result.attempts.columns else pd.Series([], dtype=object)
    counts: Counter[str] = Counter()
    for value in tags:
        if isinstance(value, dict):
            counts.update(str(k) for k in value)
    frames = []
    for key, _ in counts.most_common(MAX_TAG_KEYS):
        frame = cost_by_tag(result, key, period="day")
        frame = frame.rename(columns={f"tag:{key}": "tag_value"})
        frame["tag_key"] = key
        frames.append(frame)
    if not frames:
        return pd.DataFrame()
    out = pd.concat(frames, ignore_index=True)
    out["tag_value"] = out["tag_value"].astype(object)
    out["dataset"] = dataset
    return out[["dataset", "day", "tag_key", "tag_value", *_SUMS]]


def run_analysis(
    engine: Engine,
    *,
    computed_at: datetime,
    dataset: str = COLLECTED_DATASET,
    since: datetime | None = None,
    until: datetime | None = None,
) -> AnalysisSummary:
    """Compute the books and utilization for [since, until) and replace those days in the store.

    `since`/`until` are rounded out to UTC midnight so whole days are replaced; a re-run with the
    same data writes the same rows (idempotent), in one transaction (readers never see half a run).
    """
    if since is not None:
        since = pd.Timestamp(since).floor("D").to_pydatetime()
    if until is not None:
        until = pd.Timestamp(until).ceil("D").to_pydatetime()
    if since is not None and until is not None and since >= until:
        raise UserError(f"analysis window: since {since:%Y-%m-%d} is not before until {until:%Y-%m-%d}")
    inputs = load_analysis_inputs(engine, dataset=dataset, since=since, until=until)
    result = attribute(inputs, since, until)
    daily = daily_aggregate(result.lines)
    daily.insert(0, "dataset", dataset)
    tag_rows = _tag_rows(result, dataset)
    util = hourly_utilization(inputs.instances, inputs.attempts, inputs.jobs, inputs.instance_types)
    frag = fragmentation(inputs.instances, inputs.attempts, inputs.jobs, inputs.instance_types)
    if not util.empty:
        util = util.merge(
            frag[["hour", "compute_environment_arn", "fragmented_vcpu_hours", "fragmented_memory_gib_hours"]],
            on=["hour", "compute_environment_arn"],
            how="left",
        ).fillna({"fragmented_vcpu_hours": 0.0, "fragmented_memory_gib_hours": 0.0})
        util = util[[c.name for c in utilization_hourly.c if c.name != "dataset" and c.name in util.columns]]
        if since is not None:
            util = util[util["hour"] >= since]
        if until is not None:
            util = util[util["hour"] < until]
        util.insert(0, "dataset", dataset)

    price_sources = {str(k): int(v) for k, v in Counter(result.instances["price_source"]).items()}
    unplaced = int((~result.attempts["on_known_instance"]).sum()) if len(result.attempts) else 0
    mnp = mnp_job_costs(result.attempts, result.instances, inputs.attempts, inputs.instances, inputs.jobs)
    with engine.begin() as conn:
        for table, column in ((cost_daily, "day"), (cost_daily_tags, "day"), (utilization_hourly, "hour")):
            conn.execute(delete(table).where(*_window(table, column, dataset, since, until)))
        bulk_upsert(conn, cost_daily, daily)
        if not tag_rows.empty:
            bulk_upsert(conn, cost_daily_tags, tag_rows)
        if not util.empty:
            bulk_upsert(conn, utilization_hourly, util)
        conn.execute(
            insert(analysis_runs).values(
                dataset=dataset,
                computed_at=computed_at,
                since=since,
                until=until,
                instances=len(result.instances),
                attempts=len(result.attempts),
                total_usd=float(result.instances["total_usd"].sum()),
                idle_usd=float(result.instances["idle_usd"].sum()),
                price_sources=price_sources,
                unplaced_attempts=unplaced,
                mnp_jobs=len(mnp),
                mnp_cost_usd=float(mnp["cost_usd"].sum()),
                gang_formation_idle_usd=float(mnp["gang_formation_idle_usd"].sum()),
            )
        )
    waste_cols = ["idle_usd", "over_requested_usd", "spot_reclaim_usd", "failed_usd", "oom_usd"]
    return AnalysisSummary(
        dataset=dataset,
        instances=len(result.instances),
        attempts=len(result.attempts),
        unplaced_attempts=unplaced,
        total_usd=float(result.instances["total_usd"].sum()),
        idle_usd=float(result.instances["idle_usd"].sum()),
        waste_usd=float(daily[waste_cols].to_numpy().sum()) if len(daily) else 0.0,
        days_written=int(daily["day"].nunique()) if len(daily) else 0,
        hours_written=int(util["hour"].nunique()) if len(util) else 0,
        price_sources=price_sources,
        mnp_jobs=len(mnp),
        mnp_cost_usd=float(mnp["cost_usd"].sum()),
        gang_formation_idle_usd=float(mnp["gang_formation_idle_usd"].sum()),
    )


def _window(
    table: Any, column: str, dataset: str, since: datetime | None, until: datetime | None
) -> list[Any]:
    return [table.c.dataset == dataset, *time_window(table.c[column], since, until)]


CostFilter = tuple[tuple[str, tuple[str, ...]], ...]
"""((dimension, allowed values), ...) on `cost_daily`; an empty value tuple filters nothing."""


def read_cost_daily(
    engine: Engine,
    dims: Sequence[str] = ("queue",),
    *,
    period: Literal["day", "week"] | None = "day",
    dataset: str = COLLECTED_DATASET,
    since: datetime | None = None,
    until: datetime | None = None,
    where: CostFilter = (),
) -> pd.DataFrame:
    """Costs from `cost_daily`, summed in SQL by `dims` (any of queue, compute_environment_arn,
    job_definition_name, instance_type, capacity_type) and by day, week (Monday) or not at all,
    over the days in [since, until) whose dimensions pass `where`. Without dims or period the one
    row of totals reads 0 (not NULL) when no day matches. Idle capacity carries "(idle)" as its
    queue and job definition, so totals always balance."""
    unknown = [d for d in (*dims, *(dim for dim, _ in where)) if d not in DAILY_DIMS]
    if unknown:
        raise UserError(f"cost dimension(s) {', '.join(unknown)}: must be among {', '.join(DAILY_DIMS)}")
    sums = [func.coalesce(func.sum(cost_daily.c[c]), 0).label(c) for c in (*_SUMS, "attempts")]
    keys = [cost_daily.c[d] for d in dims]
    filters = [cost_daily.c[dim].in_(list(values)) for dim, values in where if values]
    query = select(*keys, *(c for c in ([cost_daily.c.day] if period else [])), *sums)
    query = query.where(and_(*_window(cost_daily, "day", dataset, since, until), *filters))
    group = [*keys, *([cost_daily.c.day] if period else [])]
    if group:
        query = query.group_by(*group)
    frame = read_frame(engine, query)
    if period == "week" and not frame.empty:
        day = pd.to_datetime(frame.pop("day"))
        frame["week"] = day - pd.to_timedelta(day.dt.day_of_week, unit="D")
        frame = frame.groupby(["week", *dims], sort=True)[[*_SUMS, "attempts"]].sum().reset_index()
    elif period == "day" and not frame.empty:
        frame["day"] = pd.to_datetime(frame["day"])
        frame = frame[["day", *dims, *_SUMS, "attempts"]].sort_values(["day", *dims])
    elif period is None and dims and not frame.empty:
        frame = frame.sort_values(list(dims))
    return frame.reset_index(drop=True)


def latest_mnp_figures(engine: Engine, dataset: str = COLLECTED_DATASET) -> tuple[int, float, float] | None:
    """(MNP jobs, their nodes' cost, gang-formation idle USD) of the latest analysis run of `dataset`
    that saw MNP jobs' figures; None before one (or for runs from before they were recorded)."""
    query = (
        select(
            analysis_runs.c.mnp_jobs, analysis_runs.c.mnp_cost_usd, analysis_runs.c.gang_formation_idle_usd
        )
        .where(analysis_runs.c.dataset == dataset, analysis_runs.c.mnp_jobs.is_not(None))
        .order_by(analysis_runs.c.computed_at.desc(), analysis_runs.c.id.desc())
        .limit(1)
    )
    with engine.connect() as conn:
        row = conn.execute(query).first()
    if row is None:
        return None
    return int(row[0]), float(row[1] or 0.0), float(row[2] or 0.0)


def read_reclaimed_attempts(
    engine: Engine, dataset: str, since: datetime | None = None, until: datetime | None = None
) -> pd.DataFrame:
    """`dataset`'s reclaimed attempts (`reclaims.RECLAIM_COLUMNS`) that stopped in [since, until),
    with or without an instance the store knows (a Fargate Spot task has none): what the weekly
    report and the Spot page count with `reclaims.lost_work`."""
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
            *time_window(job_attempts.c.stopped_at, since, until),
        )
    )
    return read_frame(engine, query)


def cost_datasets(engine: Engine) -> list[str]:
    """Histories with attributed cost ("aws" for collected; imported traces by their name)."""
    query = select(cost_daily.c.dataset).distinct().order_by(cost_daily.c.dataset)
    with engine.connect() as conn:
        return [str(v) for v in conn.execute(query).scalars()]


def cost_day_range(engine: Engine, dataset: str = COLLECTED_DATASET) -> tuple[datetime, datetime] | None:
    """First and last day in the cost aggregate, or None when `batchopt analyze` has not run."""
    query = select(func.min(cost_daily.c.day), func.max(cost_daily.c.day)).where(
        cost_daily.c.dataset == dataset
    )
    with engine.connect() as conn:
        first, last = conn.execute(query).one()
    if first is None or last is None:
        return None
    return pd.Timestamp(first).to_pydatetime(), pd.Timestamp(last).to_pydatetime()


def cost_dimension_values(engine: Engine, dataset: str = COLLECTED_DATASET) -> dict[str, list[str]]:
    """Distinct values of each cost dimension (`DAILY_DIMS`), sorted."""
    out: dict[str, list[str]] = {}
    with engine.connect() as conn:
        for dim in DAILY_DIMS:
            column = cost_daily.c[dim]
            query = select(column).distinct().where(cost_daily.c.dataset == dataset).order_by(column)
            out[dim] = [str(v) for v in conn.execute(query).scalars() if v is not None]
    return out


def cost_tag_keys(engine: Engine, dataset: str = COLLECTED_DATASET) -> list[str]:
    """Job tag keys the analysis aggregated cost by (its `MAX_TAG_KEYS` most common keys)."""
    t = cost_daily_tags.c
    query = select(t.tag_key).distinct().where(t.dataset == dataset).order_by(t.tag_key)
    with engine.connect() as conn:
        return [str(v) for v in conn.execute(query).scalars()]


def read_cost_by_tag(
    engine: Engine,
    key: str,
    *,
    dataset: str = COLLECTED_DATASET,
    since: datetime | None = None,
    until: datetime | None = None,
) -> pd.DataFrame:
    """Cost per value of tag `key` over the window (idle and untagged rows included), largest first."""
    sums = [func.coalesce(func.sum(cost_daily_tags.c[c]), 0.0).label(c) for c in _SUMS]
    query = (
        select(cost_daily_tags.c.tag_value, *sums)
        .where(*_window(cost_daily_tags, "day", dataset, since, until), cost_daily_tags.c.tag_key == key)
        .group_by(cost_daily_tags.c.tag_value)
        .order_by(func.sum(cost_daily_tags.c.total_usd).desc())
    )
    return read_frame(engine, query)


def applied_compute_environment_changes(engine: Engine) -> pd.DataFrame:
    """compute_environment_arn, applied_at: the latest real, successful apply of each compute
    environment whose recommendation is still applied (what realized savings measure)."""
    a, r = audit_log.c, recommendations.c
    query = (
        select(r.target_arn.label("compute_environment_arn"), func.max(a.finished_at).label("applied_at"))
        .select_from(audit_log.join(recommendations, r.id == a.recommendation_id))
        .where(
            a.action == "apply",
            a.dry_run.is_(False),
            a.result == "succeeded",
            r.status == "applied",
            r.target_kind == "compute-environment",
        )
        .group_by(r.target_arn)
    )
    return read_frame(engine, query)


def read_utilization_hourly(
    engine: Engine,
    *,
    dataset: str = COLLECTED_DATASET,
    since: datetime | None = None,
    until: datetime | None = None,
    compute_environments: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Rows of `utilization_hourly` with the allocation and used/requested ratios added."""
    query = select(utilization_hourly).where(*_window(utilization_hourly, "hour", dataset, since, until))
    if compute_environments:
        query = query.where(utilization_hourly.c.compute_environment_arn.in_(list(compute_environments)))
    frame = read_frame(engine, query.order_by(utilization_hourly.c.hour))
    return add_ratios(frame) if not frame.empty else frame


UTILIZATION_SUMS = (
    "capacity_vcpu_hours",
    "allocated_vcpu_hours",
    "allocated_known_vcpu_hours",
    "used_vcpu_hours",
    "capacity_memory_gib_hours",
    "allocated_memory_gib_hours",
    "allocated_known_memory_gib_hours",
    "used_memory_gib_hours",
)


def read_utilization_totals(
    engine: Engine,
    *,
    dataset: str = COLLECTED_DATASET,
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[str, float] | None:
    """`UTILIZATION_SUMS` summed in SQL over the window, with `analysis.utilization.add_ratios`'
    ratios (NaN where a denominator is 0); None when no capacity was recorded."""
    table = utilization_hourly
    query = select(*[func.coalesce(func.sum(table.c[n]), 0.0).label(n) for n in UTILIZATION_SUMS]).where(
        *_window(table, "hour", dataset, since, until)
    )
    totals = read_frame(engine, query).astype(float)
    if float(totals["capacity_vcpu_hours"].iloc[0]) <= 0:
        return None
    return {k: float(v) for k, v in add_ratios(totals).iloc[0].items()}


def read_demand_forecasts(
    engine: Engine,
    *,
    dataset: str = COLLECTED_DATASET,
    queues: Sequence[str] | None = None,
    metric: str | None = "vcpus",
) -> pd.DataFrame:
    """Forecast rows (queue, metric, hour, p50, p90, trained_at) of the latest training, by hour.

    Values are resource-hours per hour (average vCPUs, GiB or GPUs held by running jobs); queue
    "(all)" is the sum over queues.
    """
    query = select(demand_forecasts).where(demand_forecasts.c.dataset == dataset)
    if queues:
        query = query.where(demand_forecasts.c.queue.in_(list(queues)))
    if metric is not None:
        query = query.where(demand_forecasts.c.metric == metric)
    order = (demand_forecasts.c.queue, demand_forecasts.c.metric, demand_forecasts.c.hour)
    return read_frame(engine, query.order_by(*order))


# Whether the persisted cost aggregate (`cost_daily`, written by `batchopt analyze`) can stand for a
# window, or the attribution has to be computed again: one rule for every figure that reads it.
#
# The weekly report, `reconcile` and the bill-vs-model sections each had their own rule (the report
# checked freshness, reconcile only that a run covered the window, its breakdowns always recomputed),
# so with data collected after the last analysis the report's "Total spend" ($7,204.83) and its own
# "Modelled" ($7,194.75) disagreed, as did reconcile's total and the sum of its per-queue rows. The
# rule: one analysis run of the dataset covers [since, until), and, for the collected history, it ran
# after the last successful collection of the sources costs are made of (an imported trace does not
# change after its import).
COST_SOURCES = ("jobs", "instances", "spot_prices")
"""Collector sources (names as `optimizer/collectors` records them) whose lag makes costs partial.

The catalog, bands or usage may legitimately run less often, so only these are checked for a
successful run after the week ended (`optimizer.report.coverage`), and only these make a persisted
aggregate stale.
"""


def persisted_is_current(engine: Engine, dataset: str, since: datetime, until: datetime) -> bool:
    """Whether one analysis run of `dataset` covers [since, until) and is newer than the last
    successful collection of its cost sources (collected history only)."""
    r = analysis_runs.c
    query = select(func.max(r.computed_at)).where(
        r.dataset == dataset,
        (r.since.is_(None)) | (r.since <= since),
        (r.until.is_(None)) | (r.until >= until),
    )
    collected = cost_data_end(engine) if dataset == COLLECTED_DATASET else None
    if collected is not None:
        query = query.where(r.computed_at >= collected)
    with engine.connect() as conn:
        return conn.execute(query).scalar() is not None


def cost_data_end(engine: Engine) -> datetime | None:
    """When the collected history's cost data stops: the last successful run of any of its
    `COST_SOURCES` (None before the first)."""
    succeeded = last_successes(engine, ("source",), sources=COST_SOURCES)["last_success"].dropna()
    return None if succeeded.empty else pd.Timestamp(succeeded.max()).to_pydatetime()
