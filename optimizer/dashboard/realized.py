"""Realized savings on the Overview: the measured changes of compute environments, summed per month.

The measurement itself (windows, cost per busy vCPU-hour, the saving) is `optimizer.analysis.realized`,
the same one the weekly report uses; this module only adds up the dashboard's changes (the latest
applied change of each compute environment) and says how many are still waiting for data.
Pure: frames in, numbers out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from optimizer.analysis.realized import WINDOW_DAYS, ChangeSaving, measure_change, window_start

__all__ = ["WINDOW_DAYS", "Realized", "realized_savings", "window_start"]


@dataclass(frozen=True)
class Realized:
    monthly_usd: float
    changes: int  # applied changes with enough data on both sides
    pending: int  # applied changes still waiting for a full day of data after them
    explanation: str
    measured: tuple[ChangeSaving, ...] = ()  # the counted changes, in the order given


def realized_savings(changes: pd.DataFrame, ce_days: pd.DataFrame, until: datetime | None = None) -> Realized:
    """`changes`: compute_environment_arn, applied_at; `ce_days`: day, compute_environment_arn, queue,
    total_usd, vcpu_hours (cost_daily rows of those CEs); `until`: the end of the last full day of
    data (`queries.last_full_day`), where each after-window stops and whose calendar days the
    monthly pace is taken over."""
    measured: list[ChangeSaving] = []
    pending = 0
    for change in changes.itertuples(index=False):
        rows = ce_days[ce_days["compute_environment_arn"] == change.compute_environment_arn]
        saving = measure_change(rows, change.applied_at, until=until)
        if saving.monthly_usd is None:
            pending += 1
        else:
            measured.append(saving)
    counted = len(measured)
    explanation = (
        f"Cost per busy vCPU-hour of each changed compute environment, up to {WINDOW_DAYS} full days "
        f"before vs after the change, times its work after; {counted} change(s) measured"
        + (f", {pending} waiting for data" if pending else "")
        + "."
    )
    total = sum(s.monthly_usd or 0.0 for s in measured)
    return Realized(total, counted, pending, explanation, tuple(measured))
