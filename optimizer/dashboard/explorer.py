"""Helpers for the cost explorer's filters that are not SQL: account and region live in the CE ARN.

The daily cost aggregate is keyed by compute environment ARN (`arn:aws:batch:<region>:<account>:
compute-environment/<name>`), so filtering by account or region is filtering by the CEs they own.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

import pandas as pd


def parse_ce_arn(arn: str) -> tuple[str, str]:
    """(region, account) of a Batch ARN; ("", "") for anything that is not one (e.g. "(none)")."""
    parts = arn.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn":
        return "", ""
    return parts[3], parts[4]


def ce_arns_matching(
    arns: Sequence[str], picked: Sequence[str], accounts: Sequence[str], regions: Sequence[str]
) -> list[str] | None:
    """The CE ARNs to filter on, or None for no CE filter at all (nothing picked anywhere)."""
    if not picked and not accounts and not regions:
        return None
    pool = list(picked) if picked else list(arns)
    out = []
    for arn in pool:
        region, account = parse_ce_arn(arn)
        if accounts and account not in accounts:
            continue
        if regions and region not in regions:
            continue
        out.append(arn)
    return out


def period_start(days: pd.Series, period: str) -> pd.Series:
    """Each day itself, or the Monday starting its ISO week (the analytics' week roll-up rule)."""
    day = pd.to_datetime(days)
    if period == "day":
        return day
    if period == "week":
        return day - pd.to_timedelta(day.dt.day_of_week, unit="D")
    raise ValueError(f"period {period!r}: must be 'day' or 'week'")


def partial_weeks(first: date, last: date) -> str | None:
    """What the weekly chart says about its end bars when the selected days `first`..`last` do not
    start on a Monday or end on a Sunday: those bars hold only some of their week's days, and read
    as a drop in spend otherwise (the demo's last bar, 5 of 7 days, stood 38 % below the week
    before). None when every week is whole."""
    spans = []
    first_monday = first - timedelta(days=first.weekday())
    first_end = min(last, first_monday + timedelta(days=6))
    if first.weekday() != 0 or first_end.weekday() != 6:
        spans.append((first_monday, first, first_end))
    last_monday = last - timedelta(days=last.weekday())
    if last_monday != first_monday and last.weekday() != 6:
        spans.append((last_monday, last_monday, last))
    if not spans:
        return None
    bars = ", ".join(f"week of {m:%Y-%m-%d} ({a:%Y-%m-%d} to {b:%Y-%m-%d})" for m, a, b in spans)
    return f"Weeks run Monday to Sunday (UTC); these bars hold only part of their week: {bars}."
