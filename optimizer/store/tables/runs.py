"""Collector runs (what each run read, wrote and failed on) and the watermarks incremental reads use.

A watermark moves only in the same transaction that commits the data it covers.
"""

from sqlalchemy import Column, Index, Table

from optimizer.store.base import Integer, Str, Text, Time, metadata

collector_runs = Table(
    "collector_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("target", Str, nullable=False),
    Column("account_id", Str),
    Column("region", Str),
    Column("source", Str, nullable=False),
    Column("started_at", Time, nullable=False),
    Column("finished_at", Time),
    Column("status", Str, nullable=False),  # running | succeeded | failed
    Column("items_read", Integer, nullable=False, server_default="0"),
    Column("items_written", Integer, nullable=False, server_default="0"),
    Column("watermark_before", Str),
    Column("watermark_after", Str),
    Column("error", Text),
)
Index(
    "ix_collector_runs_target_source",
    collector_runs.c.target,
    collector_runs.c.source,
    collector_runs.c.started_at,
)

collector_watermarks = Table(
    "collector_watermarks",
    metadata,
    Column("target", Str, primary_key=True),
    Column("region", Str, primary_key=True),
    Column("source", Str, primary_key=True),
    Column("scope", Str, primary_key=True),  # e.g. a queue ARN and status, or type/AZ
    Column("value", Str, nullable=False),
    Column("updated_at", Time, nullable=False),
)

TABLES = (collector_runs, collector_watermarks)
