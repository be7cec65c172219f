"""What each source has read completely, and the holes: written in the same transaction as the data.

Each source keeps one unbroken range per (target, region, source, scope) in `collection_coverage`.
A run that reads the range `[start, end]` extends it when `start` is not after the stored end;
otherwise the time between is a hole nothing read, stored in `collection_gaps` with why, and the
range restarts at `start`. What a run can read is bounded by what AWS still holds:

- `jobs` (ListJobs, scope = queue ARN): Batch lists finished jobs for `listing_retention` (at least
  7 days, AWS Batch User Guide, "Job states"), so a listing at `now` covers `[now - retention, now]`.
  After an outage longer than that, the jobs that finished in between are gone from Batch; the hole
  is a gap unless the event intake covered it.
- `events` (scope "*": every queue of the account and region): SQS keeps a message for the queue's
  `MessageRetentionPeriod` and never before the queue existed, so a drain covers
  `[max(queue created, now - retention), now]`.
- Intake not set up: one open gap that grows with each run, so "no events" is visible, not silent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, and_, insert, select, update

from optimizer.store.tables.collection import collection_coverage, collection_gaps

ALL_SCOPES = "*"
EVENTS_NOT_SET_UP = (
    "event intake not set up (collection.events_queue_url; `batchopt setup events`): jobs that age "
    "out of ListJobs between runs and instances that live less than a run interval can be missed"
)


@dataclass(frozen=True)
class Gap:
    target: str
    region: str
    source: str
    scope: str
    gap_from: datetime
    gap_to: datetime
    reason: str


def covered(
    conn: Connection, target: str, region: str, source: str, scope: str
) -> tuple[datetime, datetime] | None:
    row = conn.execute(
        select(collection_coverage.c.covered_from, collection_coverage.c.covered_to).where(
            collection_coverage.c.target == target,
            collection_coverage.c.region == region,
            collection_coverage.c.source == source,
            collection_coverage.c.scope == scope,
        )
    ).first()
    return (row[0], row[1]) if row else None


def extend(
    conn: Connection,
    *,
    target: str,
    region: str,
    source: str,
    scope: str,
    start: datetime,
    end: datetime,
    now: datetime,
    gap_reason: str,
    also_covered_by: tuple[datetime, datetime] | None = None,
) -> Gap | None:
    """Record that `[start, end]` was read; store and return the hole before it, if any.

    also_covered_by: another source's range; a hole inside it is not a gap (the data came that way).
    """
    key = and_(
        collection_coverage.c.target == target,
        collection_coverage.c.region == region,
        collection_coverage.c.source == source,
        collection_coverage.c.scope == scope,
    )
    current = covered(conn, target, region, source, scope)
    if current is None:
        conn.execute(
            insert(collection_coverage).values(
                target=target,
                region=region,
                source=source,
                scope=scope,
                covered_from=start,
                covered_to=end,
                updated_at=now,
            )
        )
        return None
    covered_to = current[1]
    if start <= covered_to:
        conn.execute(
            update(collection_coverage).where(key).values(covered_to=max(covered_to, end), updated_at=now)
        )
        return None
    conn.execute(
        update(collection_coverage).where(key).values(covered_from=start, covered_to=end, updated_at=now)
    )
    if also_covered_by is not None and also_covered_by[0] <= covered_to and also_covered_by[1] >= start:
        return None
    gap = Gap(target, region, source, scope, covered_to, start, gap_reason)
    store_gap(conn, gap, now)
    return gap


def store_gap(conn: Connection, gap: Gap, now: datetime) -> None:
    exists = conn.execute(
        select(collection_gaps.c.gap_to).where(
            collection_gaps.c.target == gap.target,
            collection_gaps.c.region == gap.region,
            collection_gaps.c.source == gap.source,
            collection_gaps.c.scope == gap.scope,
            collection_gaps.c.gap_from == gap.gap_from,
        )
    ).first()
    if exists is not None:
        return
    conn.execute(
        insert(collection_gaps).values(
            target=gap.target,
            region=gap.region,
            source=gap.source,
            scope=gap.scope,
            gap_from=gap.gap_from,
            gap_to=gap.gap_to,
            reason=gap.reason,
            detected_at=now,
        )
    )


def note_events_missing(conn: Connection, target: str, region: str, now: datetime) -> None:
    """The intake is not set up for this target and region: open (or grow) its gap up to `now`."""
    where = and_(
        collection_gaps.c.target == target,
        collection_gaps.c.region == region,
        collection_gaps.c.source == "events",
        collection_gaps.c.scope == ALL_SCOPES,
        collection_gaps.c.reason == EVENTS_NOT_SET_UP,
    )
    latest = conn.execute(
        select(collection_gaps.c.gap_from, collection_gaps.c.gap_to)
        .where(where)
        .order_by(collection_gaps.c.gap_from.desc())
        .limit(1)
    ).first()
    since_events = covered(conn, target, region, "events", ALL_SCOPES)
    if latest is not None and (since_events is None or since_events[1] <= latest[1]):
        conn.execute(
            update(collection_gaps)
            .where(where, collection_gaps.c.gap_from == latest[0])
            .values(gap_to=max(latest[1], now), detected_at=now)
        )
        return
    start = since_events[1] if since_events is not None else now
    store_gap(conn, Gap(target, region, "events", ALL_SCOPES, start, now, EVENTS_NOT_SET_UP), now)
