"""The run recorder and watermarks: every (target, region, source) run leaves a `collector_runs` row.

The row is inserted as `running` in its own short transaction (so a crash is visible as a run that
never finished), and completed as `succeeded` in the data's own transaction, or as `failed` in a new
one after the data transaction rolled back. Watermarks are written only in the data's transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import pandas as pd
from sqlalchemy import Connection, Engine, insert, select, update

from optimizer.store.schema import collector_runs, collector_watermarks
from optimizer.store.upsert import bulk_upsert

ERROR_MAX_CHARS = 4000


def read_watermarks(engine: Engine, target: str, region: str, source: str) -> dict[str, str]:
    query = select(collector_watermarks.c.scope, collector_watermarks.c.value).where(
        collector_watermarks.c.target == target,
        collector_watermarks.c.region == region,
        collector_watermarks.c.source == source,
    )
    with engine.connect() as conn:
        return {scope: value for scope, value in conn.execute(query)}


def write_watermarks(
    conn: Connection, target: str, region: str, source: str, values: Mapping[str, str], now: datetime
) -> None:
    if not values:
        return
    frame = pd.DataFrame(
        {
            "target": target,
            "region": region,
            "source": source,
            "scope": list(values),
            "value": list(values.values()),
            "updated_at": now,
        }
    )
    bulk_upsert(conn, collector_watermarks, frame)


def summarize(values: Mapping[str, str]) -> str | None:
    """One value for the run row: the latest of the scopes' watermarks (all are ISO timestamps)."""
    return max(values.values()) if values else None


def start_run(
    engine: Engine,
    *,
    target: str,
    account_id: str | None,
    region: str,
    source: str,
    started_at: datetime,
    watermark_before: str | None,
) -> int:
    with engine.begin() as conn:
        result = conn.execute(
            insert(collector_runs)
            .values(
                target=target,
                account_id=account_id,
                region=region,
                source=source,
                started_at=started_at,
                status="running",
                watermark_before=watermark_before,
            )
            .returning(collector_runs.c.id)
        )
        return int(result.scalar_one())


def finish_run(
    conn: Connection,
    run_id: int,
    *,
    status: str,
    finished_at: datetime,
    items_read: int = 0,
    items_written: int = 0,
    watermark_after: str | None = None,
    error: str | None = None,
) -> None:
    conn.execute(
        update(collector_runs)
        .where(collector_runs.c.id == run_id)
        .values(
            status=status,
            finished_at=finished_at,
            items_read=items_read,
            items_written=items_written,
            watermark_after=watermark_after,
            error=error[:ERROR_MAX_CHARS] if error else None,
        )
    )
