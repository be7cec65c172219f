"""A vectorised SQLite path for the million-row loads (jobs, attempts), same semantics as bulk_upsert.

`optimizer.store.upsert.bulk_upsert` converts every value through a per-value Python check and the
column's SQLAlchemy bind processor; at a million DescribeJobs records that alone is over a minute of
CPU. Here each column is converted once, with numpy where possible, to exactly what those bind
processors produce (datetimes as "YYYY-MM-DD HH:MM:SS.ffffff", JSON via `json.dumps`, booleans as
0/1), and written with the same INSERT .. ON CONFLICT DO UPDATE .. WHERE changed statement, so rows
read back identically, a re-load of identical rows writes 0, and either path may load over the
other. PostgreSQL goes to `bulk_upsert` (its COPY path is already fast).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import JSON, Boolean, Connection, DateTime, Float, Integer, Table

from optimizer.collectors.frames import for_store
from optimizer.store.upsert import bulk_upsert

CHUNK_ROWS = 50_000
CACHE_KIB = 256 * 1024


def upsert(conn: Connection, table: Table, frame: pd.DataFrame, *, keep_existing: Sequence[str] = ()) -> int:
    """Insert or update-when-changed `frame` into `table`; returns rows inserted or changed."""
    if conn.dialect.name != "sqlite":
        return bulk_upsert(conn, table, for_store(frame), keep_existing=keep_existing)
    if frame.empty:
        return 0
    unknown = set(frame.columns) - set(table.c.keys())
    if unknown:
        raise ValueError(f"{table.name}: unknown columns {sorted(unknown)}")
    keys = [c.name for c in table.primary_key.columns]
    frame = frame.drop_duplicates(subset=keys, keep="last")
    columns = list(frame.columns)
    converted = [_sqlite_values(frame[name], table.c[name].type) for name in columns]
    update_cols = [c for c in columns if c not in keys and c not in keep_existing]
    quoted = ", ".join(f'"{c}"' for c in columns)
    sql = f'INSERT INTO "{table.name}" ({quoted}) VALUES ({", ".join("?" * len(columns))})'
    if update_cols:
        sets = ", ".join(f'"{c}" = excluded."{c}"' for c in update_cols)
        changed = " OR ".join(f'"{table.name}"."{c}" IS NOT excluded."{c}"' for c in update_cols)
        sql += f" ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {sets} WHERE {changed}"
    else:
        sql += f" ON CONFLICT ({', '.join(keys)}) DO NOTHING"
    rows = list(zip(*converted, strict=True))
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    written = 0
    try:
        # A large page cache for this connection keeps the indexes of a big table in memory while
        # a million rows go in (negative = KiB); it is a cache size, not a durability setting.
        cursor.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        for start in range(0, len(rows), CHUNK_ROWS):
            cursor.executemany(sql, rows[start : start + CHUNK_ROWS])
            written += max(cursor.rowcount, 0)
    finally:
        cursor.close()
    return written


def _sqlite_values(series: pd.Series, sql_type: Any) -> list[Any]:
    """One column as the values SQLAlchemy's SQLite bind processors would produce."""
    missing = series.isna().to_numpy()
    if isinstance(sql_type, DateTime):
        stamps = pd.to_datetime(series.where(~missing, None)).to_numpy(dtype="datetime64[us]")
        text = np.char.replace(np.datetime_as_string(stamps, unit="us"), "T", " ").astype(object)
        text[missing] = None
        return text.tolist()
    if isinstance(sql_type, JSON):
        return [None if m else json.dumps(v) for v, m in zip(series.tolist(), missing, strict=True)]
    if isinstance(sql_type, Boolean):
        return [None if m else int(bool(v)) for v, m in zip(series.tolist(), missing, strict=True)]
    values = series.to_numpy(dtype=object, na_value=None) if missing.any() else series.to_numpy(dtype=object)
    if isinstance(sql_type, Integer):
        return [None if v is None else int(v) for v in values.tolist()]
    if isinstance(sql_type, Float):
        return [None if v is None else float(v) for v in values.tolist()]
    return values.tolist()
