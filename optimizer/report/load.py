"""Read what the weekly report needs from the store into `ReportInputs` (the only I/O going in).

Daily costs are the analytics engineer's attribution, never a second derivation:

- the persisted daily aggregate (`cost_daily`, read with `analysis.stored.read_cost_daily`) when an
  analysis run covered the whole window (the week and the four before it) after the last
  successful collection of jobs, instances and spot prices (an older or narrower aggregate would
  silently miss late data or history weeks);
- otherwise computed now with the same code `batchopt analyze` runs
  (`analysis.stored.load_analysis_inputs` -> `attribute` -> `rollup.daily_aggregate`), which also tells how
  much of the week's spend was priced from fallback prices.

The bill beside the model ("Bill vs model") is `optimizer.billing.window.bill_window`, the
reconciliation's figures for the week's days an imported bill covers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Engine, Select, select

from optimizer.analysis import stored
from optimizer.analysis.rollup import DAILY_DIMS, daily_aggregate
from optimizer.billing.window import bill_window
from optimizer.recommend.repository import recommendations_frame
from optimizer.report.inputs import DAILY_COLUMNS, LAST_SUCCESS_COLUMNS, RUN_COLUMNS, ReportInputs, empty
from optimizer.report.savings_headline import with_headline
from optimizer.report.spend import HISTORY_WEEKS
from optimizer.report.weeks import IsoWeek
from optimizer.store.coverage_read import GAP_COLUMNS, gaps_frame
from optimizer.store.read import read_frame
from optimizer.store.runs_read import last_successes, runs_started_between
from optimizer.store.schema import (
    COLLECTED_DATASET,
    audit_log,
    recommendations,
)

EXACT_PRICE_SOURCES = ("on-demand", "spot-series")


def report_window(week: IsoWeek) -> tuple[datetime, datetime]:
    """[start, end) of the data the report reads: the week and the history weeks before it."""
    return week.shifted(-HISTORY_WEEKS).start, week.end


def _latest(engine: Engine, query: Select[Any]) -> datetime | None:
    with engine.connect() as conn:
        value = conn.execute(query).scalar()
    return None if value is None else pd.Timestamp(value).to_pydatetime()


def persisted_is_current(engine: Engine, dataset: str, week: IsoWeek) -> bool:
    """Whether the persisted aggregate holds the report's window (`stored.persisted_is_current`, the rule
    `reconcile` and the bill-vs-model sections use too)."""
    since, until = report_window(week)
    return stored.persisted_is_current(engine, dataset, since, until)


def _persisted_daily(engine: Engine, dataset: str, week: IsoWeek) -> pd.DataFrame | None:
    """The persisted aggregate over the window, or None when it lacks the report week."""
    since, until = report_window(week)
    frame = stored.read_cost_daily(
        engine, DAILY_DIMS, period="day", dataset=dataset, since=since, until=until
    )
    if frame.empty:
        return None
    days = pd.to_datetime(frame["day"])
    if not ((days >= week.start) & (days < week.end)).any():
        return None
    return frame[list(DAILY_COLUMNS)]


def _computed_daily(engine: Engine, dataset: str, week: IsoWeek) -> tuple[pd.DataFrame, float]:
    """The aggregate computed now, and the report week's spend priced from fallback prices."""
    since, until = report_window(week)
    inputs = stored.load_analysis_inputs(engine, dataset=dataset, since=since, until=until)
    if inputs.instances.empty:
        return pd.DataFrame(columns=list(DAILY_COLUMNS)), 0.0
    result = stored.attribute(inputs, since, until)
    lines = result.lines
    source = result.instances["price_source"].to_numpy(dtype=object)[lines["instance_row"].to_numpy()]
    days = pd.to_datetime(lines["day"])
    in_week = ((days >= week.start) & (days < week.end)).to_numpy()
    fallback = ~pd.Series(source).isin(EXACT_PRICE_SOURCES).to_numpy()
    fallback_usd = float(lines["total_usd"].to_numpy()[in_week & fallback].sum())
    return daily_aggregate(lines)[list(DAILY_COLUMNS)], fallback_usd


OPEN_RECOMMENDATION_COLUMNS = (
    "id",
    "title",
    "target_name",
    "target_arn",
    "monthly_savings_usd",
    "risk_level",
    "confidence",
    "update_kind",
)


def _open_recommendations(engine: Engine, top_n: int) -> pd.DataFrame:
    return recommendations_frame(engine, OPEN_RECOMMENDATION_COLUMNS, statuses=("open",), limit=top_n)


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
    return runs_started_between(engine, week.start, week.end), last_successes(engine, ("source",))


def load_report_inputs(
    engine: Engine, week: IsoWeek, *, dataset: str = COLLECTED_DATASET, top_n: int = 10
) -> ReportInputs:
    current = persisted_is_current(engine, dataset, week)
    persisted = _persisted_daily(engine, dataset, week) if current else None
    fallback: float | None
    if persisted is not None:
        daily, fallback = persisted, None
        source = "the persisted daily aggregate (cost_daily, from `batchopt analyze`)"
    else:
        daily, fallback = _computed_daily(engine, dataset, week)
        source = "attributed now from the store's instances, job attempts and prices"
    # collector runs describe the collected history only; an imported trace has none of its own
    runs, last = (
        _runs(engine, week)
        if dataset == COLLECTED_DATASET
        else (empty(RUN_COLUMNS), empty(LAST_SUCCESS_COLUMNS))
    )
    gaps = gaps_frame(engine, week.start, week.end) if dataset == COLLECTED_DATASET else empty(GAP_COLUMNS)
    recs, headline_usd, headline_note = with_headline(engine, _open_recommendations(engine, top_n))
    return ReportInputs(
        daily=daily,
        reclaims=stored.read_reclaimed_attempts(engine, dataset, week.start, week.end),
        recommendations=recs,
        savings_headline_usd=headline_usd,
        savings_note=headline_note,
        audit=_audit(engine, week),
        runs=runs,
        last_success=last,
        cost_source=f"{source}, dataset {dataset!r}",
        fallback_priced_usd=fallback,
        bill=bill_window(engine, week.start, week.end, dataset=dataset),
        gaps=gaps,
    )
