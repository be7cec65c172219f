"""Reading collection completeness back: covered ranges and gaps (written by the collectors,
`optimizer/collectors/coverage.py`), for the dashboard's Runs and health page and the weekly report.

One reader and one wording for both, so the page and the report say the same thing about a hole.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from sqlalchemy import Engine, func, select

from optimizer.store.read import read_frame
from optimizer.store.tables.collection import collection_coverage, collection_gaps, event_rejects

GAP_COLUMNS = ("target", "region", "source", "scope", "gap_from", "gap_to", "reason", "detected_at")


def coverage_frame(engine: Engine) -> pd.DataFrame:
    """Per target, region, source and scope: the unbroken range read completely."""
    c = collection_coverage.c
    query = select(
        c.target, c.region, c.source, c.scope, c.covered_from, c.covered_to, c.updated_at
    ).order_by(c.target, c.region, c.source, c.scope)
    return read_frame(engine, query)


def gaps_frame(engine: Engine, since: datetime | None = None, until: datetime | None = None) -> pd.DataFrame:
    """Every gap overlapping [since, until) (all of them without bounds), latest first.

    A stored gap whose end is its start covers no time (the missing-event-intake gap as the first
    run opens it, before the next run grows it): nothing was missed yet, so it is no gap to show
    or count."""
    c = collection_gaps.c
    query = (
        select(*(c[name] for name in GAP_COLUMNS))
        .where(c.gap_to > c.gap_from)
        .order_by(c.gap_from.desc(), c.target, c.scope)
    )
    if since is not None:
        query = query.where(c.gap_to >= since)
    if until is not None:
        query = query.where(c.gap_from < until)
    return read_frame(engine, query)


def rejected_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(event_rejects)).scalar_one())


def _scope_label(scope: str) -> str:
    if scope == "*":
        return "all queues"
    return "queue " + scope.rsplit("/", 1)[-1]


def gap_sentence(row: dict) -> str:
    """One line naming where, when and why nothing was read."""
    start = pd.Timestamp(row["gap_from"]).strftime("%Y-%m-%d %H:%M")
    end = pd.Timestamp(row["gap_to"]).strftime("%Y-%m-%d %H:%M")
    return (
        f"Collection gap ({row['source']}, {row['target']}/{row['region']}, {_scope_label(row['scope'])}) "
        f"{start} to {end} UTC: {row['reason']}."
    )
