"""Realized savings: what an applied change measurably saved, from the daily cost aggregate.

Estimated savings come from replaying history; realized ones are measured after the fact. A change
to a compute environment is judged by its cost per busy vCPU-hour (cost / vCPU-hours requested by
jobs) in the `WINDOW_DAYS` full days before the change against the full days after it (at most
`WINDOW_DAYS`), times the work it did after: comparing raw spend would credit a quiet week as a
saving. Changes with no full day of data after them are not counted yet. Pure: frames in, numbers out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd

from optimizer.analysis.cost import IDLE

WINDOW_DAYS = 7
DAYS_PER_MONTH = 30.0


@dataclass(frozen=True)
class Realized:
    monthly_usd: float
    changes: int  # applied changes with enough data on both sides
    pending: int  # applied changes still waiting for a full day of data after them
    explanation: str


def _rate(days: pd.DataFrame) -> tuple[float, float]:
    """(USD per busy vCPU-hour, busy vCPU-hours per day) over the given rows of one CE."""
    n_days = days["day"].nunique()
    busy = float(days.loc[days["queue"] != IDLE, "vcpu_hours"].sum())
    cost = float(days["total_usd"].sum())
    if n_days == 0 or busy <= 0:
        return float("nan"), 0.0
    return cost / busy, busy / n_days


def realized_savings(changes: pd.DataFrame, ce_days: pd.DataFrame) -> Realized:
    """`changes`: compute_environment_arn, applied_at; `ce_days`: day, compute_environment_arn, queue,
    total_usd, vcpu_hours (cost_daily rows of those CEs)."""
    total = 0.0
    counted = pending = 0
    for change in changes.itertuples(index=False):
        applied = pd.Timestamp(change.applied_at)
        first_full_after = applied.normalize() + timedelta(days=1)
        rows = ce_days[ce_days["compute_environment_arn"] == change.compute_environment_arn]
        days = pd.to_datetime(rows["day"])
        after = rows[(days >= first_full_after) & (days < first_full_after + timedelta(days=WINDOW_DAYS))]
        before_start = applied.normalize() - timedelta(days=WINDOW_DAYS)
        before = rows[(days >= before_start) & (days < applied.normalize())]
        if after.empty:
            pending += 1
            continue
        rate_before, _ = _rate(before)
        rate_after, busy_per_day = _rate(after)
        if pd.isna(rate_before) or pd.isna(rate_after):
            pending += 1
            continue
        total += (rate_before - rate_after) * busy_per_day * DAYS_PER_MONTH
        counted += 1
    explanation = (
        f"Cost per busy vCPU-hour of each changed compute environment, up to {WINDOW_DAYS} full days "
        f"before vs after the change, times its work after; {counted} change(s) measured"
        + (f", {pending} waiting for data" if pending else "")
        + "."
    )
    return Realized(total, counted, pending, explanation)


def window_start(applied: list[datetime]) -> datetime | None:
    """The first day any measurement needs (the earliest change minus the window)."""
    if not applied:
        return None
    return pd.Timestamp(min(applied)).normalize().to_pydatetime() - timedelta(days=WINDOW_DAYS)
