"""Spend figures from the daily cost aggregate: totals, breakdowns, utilization, spot and waste.

Pure: a DataFrame in, report records out. Week membership is by UTC day, like the cost books.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

from optimizer.analysis.cost import IDLE
from optimizer.analysis.reclaims import lost_work
from optimizer.analysis.rollup import allocated_share, idle_share, spot_share, waste_by
from optimizer.report.model import (
    DIMENSIONS,
    WASTE_CLASSES,
    BreakdownRow,
    Comparison,
    DailySpend,
    SpotSummary,
    Utilization,
    WasteRow,
)
from optimizer.report.weeks import IsoWeek

HISTORY_WEEKS = 4
"""Weeks before the report week used for the average and for "new" detection."""


def with_week_labels(daily: pd.DataFrame) -> pd.DataFrame:
    """The aggregate with `day` as a naive midnight Timestamp and its ISO week `week` label."""
    day = pd.to_datetime(daily["day"]).dt.normalize()
    iso = day.dt.isocalendar()
    labels = [f"{int(y)}-W{int(w):02d}" for y, w in zip(iso["year"], iso["week"], strict=True)]
    return daily.assign(day=day, week=pd.Series(labels, index=daily.index, dtype=object))


def week_slice(daily: pd.DataFrame, week: IsoWeek) -> pd.DataFrame:
    return daily[daily["week"] == week.label]


def history_weeks(week: IsoWeek) -> list[IsoWeek]:
    """The HISTORY_WEEKS weeks before `week`, most recent first."""
    return [week.shifted(-i) for i in range(1, HISTORY_WEEKS + 1)]


def weeks_with_data(daily: pd.DataFrame) -> set[str]:
    return set(daily["week"].unique())


def full_weeks(daily: pd.DataFrame) -> set[str]:
    """Weeks with data that the data spans from Monday to Sunday: the ones an average may use.

    History begins somewhere: the week holding the first day of data is partial unless that day is
    its Monday (its total covers only the days since), and so is a week whose Sunday is after the
    last day of data. Averaging such a week in reads a short week as a drop in spend (the demo
    printed "+87 % vs 4-week average" over three weeks, one of them two days long). Days missing
    *inside* the span are collection gaps, which the coverage section reports on their own.
    """
    if daily.empty:
        return set()
    days = pd.to_datetime(daily["day"])
    first, last = days.min().date(), days.max().date()
    out = set()
    for label in weeks_with_data(daily):
        year, number = str(label).split("-W")
        monday = date.fromisocalendar(int(year), int(number), 1)
        if first <= monday and monday + timedelta(days=6) <= last:
            out.add(str(label))
    return out


def averaged_weeks(daily: pd.DataFrame, week: IsoWeek) -> tuple[str, ...]:
    """The history weeks the 4-week average is over (`full_weeks`), oldest first."""
    full = full_weeks(daily)
    return tuple(w.label for w in reversed(history_weeks(week)) if w.label in full)


def compare(
    values: dict[str, float], week: IsoWeek, present: set[str], full: set[str] | None = None
) -> Comparison:
    """Week figure vs previous week and the mean of the full history weeks (`full_weeks`).

    A week with no rows at all is unknown (None), while a week with data but none for this key is
    a true zero: that distinction is what keeps "no data" from reading as "no spend". `full`
    defaults to `present` for callers that have no notion of partial weeks.
    """
    full = present if full is None else full
    previous_week = week.shifted(-1).label
    previous = values.get(previous_week, 0.0) if previous_week in present else None
    known = [values.get(w.label, 0.0) for w in history_weeks(week) if w.label in full]
    average = float(np.mean(known)) if known else None
    return Comparison(current=values.get(week.label, 0.0), previous=previous, average_4w=average)


def total_comparison(daily: pd.DataFrame, week: IsoWeek) -> Comparison:
    per_week = daily.groupby("week")["total_usd"].sum().to_dict()
    values = {str(k): float(v) for k, v in per_week.items()}
    return compare(values, week, weeks_with_data(daily), full_weeks(daily))


def weekly_history(daily: pd.DataFrame, week: IsoWeek) -> tuple[tuple[str, float | None], ...]:
    per_week = daily.groupby("week")["total_usd"].sum().to_dict()
    weeks = [*reversed(history_weeks(week)), week]
    return tuple((w.label, float(per_week[w.label]) if w.label in per_week else None) for w in weeks)


def breakdown(daily: pd.DataFrame, dim: str, week: IsoWeek) -> tuple[BreakdownRow, ...]:
    """One row per value of `dim` that had spend in the week or in the previous one."""
    present, full = weeks_with_data(daily), full_weeks(daily)
    sums = daily.groupby([dim, "week"], observed=True)["total_usd"].sum()
    by_key: dict[str, dict[str, float]] = {}
    for (key, label), value in sums.items():
        by_key.setdefault(str(key), {})[str(label)] = float(value)
    total = float(week_slice(daily, week)["total_usd"].sum())
    previous = week.shifted(-1).label
    rows = [
        BreakdownRow(
            key=key,
            spend=compare(values, week, present, full),
            share=values.get(week.label, 0.0) / total if total > 0 else 0.0,
        )
        for key, values in by_key.items()
        if values.get(week.label, 0.0) != 0 or values.get(previous, 0.0) != 0
    ]
    rows.sort(key=lambda r: (-r.spend.current, -(r.spend.previous or 0.0), r.key))
    return tuple(rows)


def breakdowns(daily: pd.DataFrame, week: IsoWeek) -> dict[str, tuple[BreakdownRow, ...]]:
    return {dim: breakdown(daily, dim, week) for dim in DIMENSIONS}


def utilization(current: pd.DataFrame) -> Utilization:
    idle = current["queue"].astype(object) == IDLE
    return Utilization(
        requested_vcpu_hours=float(current.loc[~idle, "vcpu_hours"].sum()),
        idle_vcpu_hours=float(current.loc[idle, "vcpu_hours"].sum()),
        idle_usd=float(current["idle_usd"].sum()),
        idle_share=idle_share(current) or 0.0,
        utilization=allocated_share(current),
    )


def spot_summary(current: pd.DataFrame, reclaims: pd.DataFrame) -> SpotSummary:
    capacity = current["capacity_type"].astype(object).astype(str).str.upper()
    spot_usd = float(current.loc[capacity == "SPOT", "total_usd"].sum())
    od_usd = float(current.loc[capacity == "ON_DEMAND", "total_usd"].sum())
    lost = lost_work(reclaims)
    return SpotSummary(
        spot_usd=spot_usd,
        on_demand_usd=od_usd,
        spot_share=spot_share(current, "spend"),
        spot_vcpu_hour_share=spot_share(current, "instance_vcpu_hours"),
        spot_job_vcpu_hour_share=spot_share(current, "job_vcpu_hours"),
        reclaimed_attempts=lost.attempts,
        reclaimed_vcpu_hours=lost.vcpu_hours,
        reclaim_usd=float(current["spot_reclaim_usd"].sum()),
    )


def waste_totals(current: pd.DataFrame) -> dict[str, float]:
    return {col: float(current[col].sum()) for col in WASTE_CLASSES}


def top_waste(current: pd.DataFrame, top_n: int) -> tuple[WasteRow, ...]:
    """Most wasteful job definitions (work waste) and compute environments (all waste, incl. idle).

    Job-definition rows leave out the "(idle)" row: idle capacity belongs to the environment that
    kept it running, which is where the CE rows put it.
    """
    rows: list[WasteRow] = []
    for dim in ("job_definition_name", "compute_environment_arn"):
        table = waste_by(current, [dim])
        table = table[(table[dim].astype(object) != IDLE) & (table["waste_usd"] > 0)].head(top_n)
        for rec in table.to_dict("records"):
            amounts = {col: float(rec[col]) for col in WASTE_CLASSES}
            rows.append(
                WasteRow(
                    dimension=dim,
                    key=str(rec[dim]),
                    waste_usd=float(rec["waste_usd"]),
                    total_usd=float(rec["total_usd"]),
                    main_class=max(amounts, key=lambda c: amounts[c]),
                )
            )
    return tuple(rows)


def daily_spend(current: pd.DataFrame) -> tuple[DailySpend, ...]:
    capacity = current["capacity_type"].astype(object).astype(str).str.upper()
    frame = current.assign(
        spot=np.where(capacity == "SPOT", current["total_usd"], 0.0),
        od=np.where(capacity == "ON_DEMAND", current["total_usd"], 0.0),
    )
    frame = frame.assign(other=frame["total_usd"] - frame["spot"] - frame["od"])
    sums = frame.groupby("day")[["spot", "od", "other"]].sum().sort_index()
    out: list[DailySpend] = []
    for day, rec in sums.iterrows():
        out.append(
            DailySpend(
                day=_as_date(day),
                spot_usd=float(rec["spot"]),
                on_demand_usd=float(rec["od"]),
                other_usd=float(rec["other"]),
            )
        )
    return tuple(out)


def _as_date(value: object) -> date:
    return pd.Timestamp(value).date()  # type: ignore[arg-type]
