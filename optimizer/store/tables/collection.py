"""Completeness of collection: what time range each source covers, the holes, and the event
messages that could not be read.

`collection_coverage` holds, per (target, region, source, scope), the unbroken range the source is
known to have read completely; `collection_gaps` every hole found (an outage longer than what Batch
still lists, an event queue that was never set up, messages that expired unread). A gap is stored
the moment it is detected, so the dashboard and the weekly report show it instead of silently
reporting less spend. `event_rejects` keeps each event message the intake could not turn into rows,
with the reason, so nothing is dropped unseen.
"""

from sqlalchemy import Column, Index, Table

from optimizer.store.base import LongStr, Str, Text, Time, metadata

collection_coverage = Table(
    "collection_coverage",
    metadata,
    Column("target", Str, primary_key=True),
    Column("region", Str, primary_key=True),
    Column("source", Str, primary_key=True),  # events | jobs
    Column("scope", Str, primary_key=True),  # a job queue ARN, or "*" for the whole account/region
    Column("covered_from", Time, nullable=False),
    Column("covered_to", Time, nullable=False),
    Column("updated_at", Time, nullable=False),
)

collection_gaps = Table(
    "collection_gaps",
    metadata,
    Column("target", Str, primary_key=True),
    Column("region", Str, primary_key=True),
    Column("source", Str, primary_key=True),
    Column("scope", Str, primary_key=True),
    Column("gap_from", Time, primary_key=True),
    Column("gap_to", Time, nullable=False),
    Column("reason", Text, nullable=False),
    Column("detected_at", Time, nullable=False),
)
Index("ix_collection_gaps_detected", collection_gaps.c.detected_at)

event_rejects = Table(
    "event_rejects",
    metadata,
    Column("message_id", Str, primary_key=True),
    Column("queue_url", LongStr, nullable=False),
    Column("received_at", Time, nullable=False),
    Column("body", Text),
    Column("reason", Text, nullable=False),
)

TABLES = (collection_coverage, collection_gaps, event_rejects)
