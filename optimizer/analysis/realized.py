"""Realized savings: what an applied change measurably saved, from the daily cost aggregate.

The one definition the dashboard's Overview and the weekly report both use. Estimated savings come
from replaying history; realized ones are measured after the fact. A change is judged by the cost
per busy vCPU-hour of its target (cost / vCPU-hours requested by jobs; idle rows add cost, not work)
on the `WINDOW_DAYS` whole days before the change day against the whole days after it (at most
`WINDOW_DAYS`, and never past `until`), priced over the work done after:
(rate before - rate after) x busy vCPU-hours after. Comparing raw spend would credit a quiet week as
a saving; a rate per unit of work does not. The change day itself is in neither window.
Pure: frames in, numbers out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd

from optimizer.analysis.cost import IDLE
from optimizer.per_month import DAYS_PER_MONTH

WINDOW_DAYS = 7


@dataclass(frozen=True)
class ChangeSaving:
    """One change measured; `saving_usd` is None (and `note` says why) when a side has no work."""

    before_usd_per_vcpu_hour: float | None
    after_usd_per_vcpu_hour: float | None
    after_vcpu_hours: float
    after_days: int
    saving_usd: float | None
    note: str = ""

    @property
    def monthly_usd(self) -> float | None:
        """The saving at the after-window's daily pace, over `DAYS_PER_MONTH` days."""
        if self.saving_usd is None or self.after_days == 0:
            return None
        return self.saving_usd / self.after_days * DAYS_PER_MONTH


def cost_per_busy_vcpu_hour(rows: pd.DataFrame) -> tuple[float | None, float]:
    """(USD per busy vCPU-hour, busy vCPU-hours) of `rows` (total_usd, vcpu_hours, queue)."""
    work = rows["queue"].astype(object) != IDLE
    busy = float(rows.loc[work, "vcpu_hours"].sum())
    if busy <= 0:
        return None, 0.0
    return float(rows["total_usd"].sum()) / busy, busy


def measure_change(rows: pd.DataFrame, applied_at: datetime, until: datetime | None = None) -> ChangeSaving:
    """The saving of one change from its target's daily rows (day, queue, total_usd, vcpu_hours)."""
    change_day = pd.Timestamp(applied_at).normalize()
    first_after = change_day + timedelta(days=1)
    after_end = first_after + timedelta(days=WINDOW_DAYS)
    if until is not None:
        after_end = min(after_end, pd.Timestamp(until))
    days = pd.to_datetime(rows["day"])
    before = rows[(days >= change_day - timedelta(days=WINDOW_DAYS)) & (days < change_day)]
    after = rows[(days >= first_after) & (days < after_end)]
    before_rate, _ = cost_per_busy_vcpu_hour(before)
    after_rate, after_busy = cost_per_busy_vcpu_hour(after)
    if until is not None:
        # The after-window's calendar days, quiet ones included: counted by the days holding rows,
        # a target idle for two of its seven days read its saving at a 7/5 faster monthly pace.
        n_after = max(0, int((after_end - first_after) / timedelta(days=1)))
    else:
        n_after = int(pd.to_datetime(after["day"]).nunique())
    if after_rate is None:
        return ChangeSaving(
            before_rate, None, 0.0, n_after, None, "no complete day of work after the change yet"
        )
    if before_rate is None:
        return ChangeSaving(
            None,
            after_rate,
            after_busy,
            n_after,
            None,
            f"no work on the target in the {WINDOW_DAYS} days before the change",
        )
    return ChangeSaving(before_rate, after_rate, after_busy, n_after, (before_rate - after_rate) * after_busy)


def window_start(applied: list[datetime]) -> datetime | None:
    """The first day any measurement needs (the earliest change minus the window)."""
    if not applied:
        return None
    return pd.Timestamp(min(applied)).normalize().to_pydatetime() - timedelta(days=WINDOW_DAYS)
