"""Bulk upserts keyed by natural ids, so re-running any loader never duplicates a row.

Rows go straight to the DB-API driver (sqlite3 `executemany`, psycopg `COPY` into a temporary
table) because SQLAlchemy's per-row parameter handling is the bottleneck at a million rows. Each
column is converted once, vectorised where numpy can, to exactly what SQLAlchemy itself would
write (datetimes as "YYYY-MM-DD HH:MM:SS.ffffff", JSON as json.dumps text, booleans as 0/1 on
SQLite), so rows read back identically whichever path wrote them. Every missing marker pandas uses
(NaN, NaT, None, pd.NA, the `str` dtype's NaN) becomes SQL NULL.

An update happens only when a value really changed, so the returned count is the number of rows
inserted or changed: a second identical load writes 0.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import JSON, Boolean, Connection, DateTime, Float, Integer, Table

SQLITE_CHUNK = 50_000


def bulk_upsert(
    conn: Connection,
    table: Table,
    rows: pd.DataFrame | Iterable[Mapping[str, Any]],
    *,
    keep_existing: Sequence[str] = (),
) -> int:
    """Insert `rows` into `table`, updating rows whose primary key exists; returns rows written.

    keep_existing: columns never overwritten once set (e.g. `first_seen`).
    Runs inside the caller's transaction: the caller decides what is atomic.
    """
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    if frame.empty:
        return 0
    unknown = set(frame.columns) - set(table.c.keys())
    if unknown:
        raise ValueError(f"{table.name}: unknown columns {sorted(unknown)}")
    keys = [c.name for c in table.primary_key.columns]
    missing = [k for k in keys if k not in frame.columns]
    if missing:
        raise ValueError(f"{table.name}: rows lack primary key columns {missing}")
    frame = frame.drop_duplicates(subset=keys, keep="last")
    columns = list(frame.columns)
    update_cols = [c for c in columns if c not in keys and c not in keep_existing]
    dialect = conn.dialect.name
    if dialect not in ("sqlite", "postgresql"):
        raise NotImplementedError(f"bulk_upsert: dialect {dialect} is not supported")
    values = [_db_values(frame[name], table.c[name].type, dialect) for name in columns]
    if dialect == "sqlite":
        return _sqlite_upsert(conn, table, values, columns, keys, update_cols)
    return _postgres_upsert(conn, table, values, columns, keys, update_cols)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


# One encoder for every JSON value we write (json.dumps with `default=` builds a new one per call).
# Its output equals SQLAlchemy's json.dumps, so values read back identically.
_encode_json = json.JSONEncoder(default=_json_default).encode


def _iso_datetimes(series: pd.Series, missing: np.ndarray) -> list[str | None]:
    """SQLAlchemy's SQLite DATETIME storage format, which PostgreSQL's COPY also parses.

    Writing exactly SQLAlchemy's format matters on SQLite: it compares datetimes as text, so a value
    stored without microseconds would sort before a query parameter for the same instant.
    """
    if not pd.api.types.is_datetime64_any_dtype(series.dtype):
        series = pd.to_datetime(series.where(~missing, None))
    if getattr(series.dt, "tz", None) is not None:
        series = series.dt.tz_convert("UTC").dt.tz_localize(None)
    stamps = series.to_numpy(dtype="datetime64[us]")
    text = np.char.replace(np.datetime_as_string(stamps, unit="us"), "T", " ").astype(object)
    text[missing | np.isnat(stamps)] = None
    return text.tolist()


def _db_values(series: pd.Series, sql_type: Any, dialect: str) -> list[Any]:
    """One column as the Python values the driver receives, None for every missing marker."""
    missing = np.asarray(series.isna(), dtype=bool)
    if isinstance(sql_type, DateTime):
        return _iso_datetimes(series, missing)
    raw = series.tolist()
    if isinstance(sql_type, JSON):
        return [None if m else _encode_json(v) for v, m in zip(raw, missing, strict=True)]
    if isinstance(sql_type, Boolean):
        cast = bool if dialect == "postgresql" else (lambda v: int(bool(v)))
        return [None if m else cast(v) for v, m in zip(raw, missing, strict=True)]
    if isinstance(sql_type, Integer):
        return [None if m else int(v) for v, m in zip(raw, missing, strict=True)]
    if isinstance(sql_type, Float):
        return [None if m else float(v) for v, m in zip(raw, missing, strict=True)]
    if not missing.any():
        return raw
    return [None if m else v for v, m in zip(raw, missing, strict=True)]


def _conflict_clause(keys: list[str], update_cols: list[str], differs: Callable[[str], str]) -> str:
    """ON CONFLICT ... DO UPDATE only where a value changed (`differs(column)`: the dialect's test)."""
    if not update_cols:
        return f" ON CONFLICT ({', '.join(keys)}) DO NOTHING"
    sets = ", ".join(f'"{c}" = excluded."{c}"' for c in update_cols)
    changed = " OR ".join(differs(c) for c in update_cols)
    return f" ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {sets} WHERE {changed}"


def _sqlite_upsert(
    conn: Connection,
    table: Table,
    values: list[list[Any]],
    columns: list[str],
    keys: list[str],
    update_cols: list[str],
) -> int:
    quoted = ", ".join(f'"{c}"' for c in columns)
    sql = f'INSERT INTO "{table.name}" ({quoted}) VALUES ({", ".join("?" * len(columns))})'
    sql += _conflict_clause(keys, update_cols, lambda c: f'"{table.name}"."{c}" IS NOT excluded."{c}"')
    rows = list(zip(*values, strict=True))
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    written = 0
    try:
        for start in range(0, len(rows), SQLITE_CHUNK):
            cursor.executemany(sql, rows[start : start + SQLITE_CHUNK])
            written += max(cursor.rowcount, 0)
    finally:
        cursor.close()
    return written


def _postgres_upsert(
    conn: Connection,
    table: Table,
    values: list[list[Any]],
    columns: list[str],
    keys: list[str],
    update_cols: list[str],
) -> int:
    json_cols = {c for c in columns if isinstance(table.c[c].type, JSON)}
    temp = f"_upsert_{table.name}"
    quoted = ", ".join(f'"{c}"' for c in columns)

    def differs(c: str) -> str:
        # json has no equality operator, so JSON columns are compared as text.
        cast = "::text" if c in json_cols else ""
        return f'"{table.name}"."{c}"{cast} IS DISTINCT FROM excluded."{c}"{cast}'

    raw = conn.connection.driver_connection  # psycopg.Connection
    with raw.cursor() as cur:  # type: ignore[union-attr]
        cur.execute(f'CREATE TEMP TABLE IF NOT EXISTS "{temp}" (LIKE "{table.name}" INCLUDING DEFAULTS)')
        cur.execute(f'TRUNCATE "{temp}"')
        with cur.copy(f'COPY "{temp}" ({quoted}) FROM STDIN') as copy:
            for row in zip(*values, strict=True):
                copy.write_row(row)
        sql = f'INSERT INTO "{table.name}" ({quoted}) SELECT {quoted} FROM "{temp}"'
        sql += _conflict_clause(keys, update_cols, differs)
        cur.execute(sql)
        written = max(cur.rowcount, 0)
        cur.execute(f'TRUNCATE "{temp}"')
    return written
