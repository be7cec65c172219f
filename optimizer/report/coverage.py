"""Data coverage and freshness: which days have cost data, what the collectors did, what to distrust.

`notes` are warnings that make the week's numbers partial; `info` explains without casting doubt.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pandas as pd

from optimizer.analysis.stored import COST_SOURCES
from optimizer.report.model import Coverage, SourceFreshness
from optimizer.report.spend import full_weeks, history_weeks, week_slice, weeks_with_data
from optimizer.report.weeks import IsoWeek
from optimizer.store.coverage_read import gap_sentence

FALLBACK_SHARE_WARNING = 0.01
"""Warn when more than this share of spend was priced without its exact price series."""


def _sources(runs: pd.DataFrame, last_success: pd.DataFrame) -> tuple[SourceFreshness, ...]:
    last = {str(r["source"]): r["last_success"] for r in last_success.to_dict("records")}
    names = sorted(set(runs["source"].astype(str)) | set(last))
    out = []
    for name in names:
        mine = runs[runs["source"].astype(str) == name]
        failed = mine[mine["status"] == "failed"].sort_values("started_at")
        error = None
        if not failed.empty and failed.iloc[-1]["error"]:
            error = str(failed.iloc[-1]["error"]).strip().splitlines()[0][:200]
        stamp = last.get(name)
        out.append(
            SourceFreshness(
                source=name,
                runs=len(mine),
                failed_runs=len(failed),
                last_success=None if stamp is None or pd.isna(stamp) else pd.Timestamp(stamp).to_pydatetime(),
                last_error=error,
            )
        )
    return tuple(out)


def collected_until(sources: tuple[SourceFreshness, ...]) -> datetime | None:
    """When every cost source had last succeeded (None when one never did, or none is recorded).

    Collectors are incremental, so a success after a day means that day was read: a day with no
    cost rows before this moment had no instance running (a scale-to-zero CE), not missing data.
    """
    cost = [s for s in sources if s.source in COST_SOURCES]
    stamps = [s.last_success for s in cost if s.last_success is not None]
    if not cost or len(stamps) < len(cost):
        return None
    return min(stamps)


def coverage(
    daily: pd.DataFrame,
    week: IsoWeek,
    runs: pd.DataFrame,
    last_success: pd.DataFrame,
    cost_source: str,
    fallback_priced_usd: float | None,
    generated_at: datetime | None = None,
    *,
    gaps: pd.DataFrame | None = None,
) -> Coverage:
    """What the week's data covers; warnings go to `notes`, context to `info`. Each collection gap
    overlapping the week (`collection_gaps`: an outage longer than Batch lists jobs, no event intake)
    is a note of its own: the week's totals may lack what fell in it."""
    current = week_slice(daily, week)
    have = {pd.Timestamp(d).date() for d in current["day"].unique()}
    sources = _sources(runs, last_success)
    seen_until = collected_until(sources)
    with_data = tuple(d for d in week.days() if d in have)
    quiet = tuple(
        d
        for d in week.days()
        if d not in have
        and seen_until is not None
        and datetime.combine(d + timedelta(days=1), time()) <= seen_until
    )
    without = tuple(d for d in week.days() if d not in have and d not in quiet)
    latest: date | None = pd.Timestamp(daily["day"].max()).date() if not daily.empty else None
    notes: list[str] = []
    info: list[str] = [f"Costs: {cost_source}."]
    if generated_at is not None and generated_at < week.end:
        notes.append(
            f"The week had not ended when this report was generated ({generated_at:%Y-%m-%d %H:%M} UTC)."
        )
    if with_data and without:
        days = ", ".join(d.strftime("%a %d %b") for d in without)
        notes.append(f"{len(without)} of 7 days have no cost data ({days}): totals cover the rest only.")
    if quiet:
        days = ", ".join(d.strftime("%a %d %b") for d in quiet)
        info.append(f"No instance ran on {days}: the collectors read those days and found nothing to cost.")
    if gaps is not None:
        notes.extend(gap_sentence(row) for row in gaps.to_dict("records"))
    for s in sources:
        if s.failed_runs:
            tail = f" (last error: {s.last_error})" if s.last_error else ""
            notes.append(f"Collector {s.source}: {s.failed_runs} of {s.runs} runs failed this week{tail}.")
    stale = [
        s
        for s in sources
        if s.source in COST_SOURCES and (s.last_success is None or s.last_success < week.end)
    ]
    if with_data and sources and stale:
        names = ", ".join(s.source for s in stale)
        notes.append(
            f"No successful collection after the week ended for: {names}; its last hours may be missing."
        )
    if with_data and not sources:
        info.append("No collector runs are recorded: the figures come from imported history.")
    if not with_data and runs.empty:
        info.append("No collector run is recorded during this week.")
    total = float(current["total_usd"].sum())
    if fallback_priced_usd is not None and total > 0 and fallback_priced_usd / total > FALLBACK_SHARE_WARNING:
        notes.append(
            f"${fallback_priced_usd:,.2f} ({fallback_priced_usd / total:.0%}) of spend was priced without "
            "its exact price series (fallback prices): treat it as an estimate."
        )
    present, full = weeks_with_data(daily), full_weeks(daily)
    averaged = [w.label for w in reversed(history_weeks(week)) if w.label in full]
    if with_data and len(averaged) < len(history_weeks(week)):
        partial_weeks = [w.label for w in reversed(history_weeks(week)) if w.label in present - full]
        left_out = f"; left out as partial (history begins mid-week): {', '.join(partial_weeks)}"
        info.append(
            f"The average is over the {len(averaged)} full week(s) with data of the "
            f"{len(history_weeks(week))} before"
            f"{': ' + ', '.join(averaged) if averaged else ''}"
            f"{left_out if partial_weeks else ''}."
        )
    record = Coverage(
        days_with_data=with_data,
        days_without_data=without,
        quiet_days=quiet,
        latest_data_day=latest,
        sources=sources,
        cost_source=cost_source,
        fallback_priced_usd=fallback_priced_usd if with_data else None,  # no spend: nothing was priced
        notes=tuple(notes),
        info=tuple(info),
    )
    return record
