"""Bulk upserts keyed by natural ids, so re-running any loader never duplicates a row.

Rows go straight to the DB-API driver (sqlite3 `executemany`, psycopg `COPY` into a temporary
table) because SQLAlchemy's per-row parameter handling is the bottleneck at a million rows; values
are converted with the columns' own SQLAlchemy bind processors on SQLite, so what we write reads
back exactly as SQLAlchemy writes it. An update happens only when a value really changed, so the
returned count is the number of rows inserted or changed: a second identical load writes 0.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import JSON, Boolean, Connection, DateTime, Table

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
    check_cols = update_cols
    dialect = conn.dialect.name
    if dialect == "sqlite":
        return _sqlite_upsert(conn, table, frame, columns, keys, update_cols, check_cols)
    if dialect == "postgresql":
        return _postgres_upsert(conn, table, frame, columns, keys, update_cols, check_cols)
    raise NotImplementedError(f"bulk_upsert: dialect {dialect} is not supported")


def _column_values(frame: pd.DataFrame, name: str) -> list[Any]:
    """A column as Python values with every missing marker (NaN, NaT, pd.NA) turned into None."""
    series = frame[name]
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        if getattr(series.dt, "tz", None) is not None:
            series = series.dt.tz_convert("UTC").dt.tz_localize(None)
        values = series.astype(object).tolist()
        return [None if v is pd.NaT or v is None else v.to_pydatetime() for v in values]
    values = series.tolist()
    if series.dtype == object or pd.api.types.is_float_dtype(series.dtype):
        return [_none_if_missing(v) for v in values]
    return values


def _none_if_missing(value: Any) -> Any:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    return value


def _sqlite_upsert(
    conn: Connection,
    table: Table,
    frame: pd.DataFrame,
    columns: list[str],
    keys: list[str],
    update_cols: list[str],
    check_cols: list[str],
) -> int:
    dialect = conn.dialect
    converted = []
    for name in columns:
        col_type = table.c[name].type
        if isinstance(col_type, DateTime):
            converted.append(_sqlite_datetimes(frame[name]))
            continue
        values = _column_values(frame, name)
        if isinstance(col_type, JSON):
            values = [None if v is None else _encode_json(v) for v in values]
        else:
            processor = col_type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                values = [None if v is None else processor(v) for v in values]
        converted.append(values)
    quoted = [f'"{c}"' for c in columns]
    sql = f'INSERT INTO "{table.name}" ({", ".join(quoted)}) VALUES ({", ".join("?" * len(columns))})'
    if update_cols:
        sets = ", ".join(f'"{c}" = excluded."{c}"' for c in update_cols)
        sql += f" ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {sets}"
        if check_cols:
            changed = " OR ".join(f'"{table.name}"."{c}" IS NOT excluded."{c}"' for c in check_cols)
            sql += f" WHERE {changed}"
    else:
        sql += f" ON CONFLICT ({', '.join(keys)}) DO NOTHING"
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    written = 0
    try:
        all_rows = list(zip(*converted, strict=True))
        for start in range(0, len(all_rows), SQLITE_CHUNK):
            cursor.executemany(sql, all_rows[start : start + SQLITE_CHUNK])
            written += max(cursor.rowcount, 0)
    finally:
        cursor.close()
    return written


def _sqlite_datetimes(series: pd.Series) -> list[str | None]:
    """Vectorised form of SQLAlchemy's SQLite DATETIME storage format ("YYYY-MM-DD HH:MM:SS.ffffff").

    PostgreSQL's COPY accepts the same text for `timestamp` columns.

    Writing exactly SQLAlchemy's format matters: SQLite compares datetimes as text, so a value stored
    without microseconds would sort before a query parameter for the same instant.
    """
    if not pd.api.types.is_datetime64_any_dtype(series.dtype):
        series = pd.to_datetime(series.astype(object).where(series.notna(), None))
    if getattr(series.dt, "tz", None) is not None:
        series = series.dt.tz_convert("UTC").dt.tz_localize(None)
    values = series.to_numpy(dtype="datetime64[us]")
    text = np.char.replace(np.datetime_as_string(values, unit="us"), "T", " ").astype(object)
    text[np.isnat(values)] = None
    return text.tolist()


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


# One encoder for every JSON value we write (json.dumps with `default=` builds a new one per call).
# Its output equals SQLAlchemy's json.dumps, so values read back identically.
_encode_json = json.JSONEncoder(default=_json_default).encode


def _postgres_upsert(
    conn: Connection,
    table: Table,
    frame: pd.DataFrame,
    columns: list[str],
    keys: list[str],
    update_cols: list[str],
    check_cols: list[str],
) -> int:
    json_cols = {c for c in columns if isinstance(table.c[c].type, JSON)}
    bool_cols = {c for c in columns if isinstance(table.c[c].type, Boolean)}
    data = []
    for name in columns:
        if isinstance(table.c[name].type, DateTime):
            data.append(_sqlite_datetimes(frame[name]))  # ISO text: PostgreSQL parses it in COPY
            continue
        values = _column_values(frame, name)
        if name in json_cols:
            values = [None if v is None else _encode_json(v) for v in values]
        elif name in bool_cols:
            values = [None if v is None else bool(v) for v in values]
        data.append(values)
    temp = f"_upsert_{table.name}"
    quoted = ", ".join(f'"{c}"' for c in columns)
    raw = conn.connection.driver_connection  # psycopg.Connection
    with raw.cursor() as cur:  # type: ignore[union-attr]
        cur.execute(f'CREATE TEMP TABLE IF NOT EXISTS "{temp}" (LIKE "{table.name}" INCLUDING DEFAULTS)')
        cur.execute(f'TRUNCATE "{temp}"')
        with cur.copy(f'COPY "{temp}" ({quoted}) FROM STDIN') as copy:
            for row in zip(*data, strict=True):
                copy.write_row(row)
        casts = ", ".join(f'"{c}"' for c in columns)
        sql = f'INSERT INTO "{table.name}" ({quoted}) SELECT {casts} FROM "{temp}"'
        if update_cols:
            sets = ", ".join(f'"{c}" = excluded."{c}"' for c in update_cols)
            sql += f" ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {sets}"
            if check_cols:
                changed = " OR ".join(
                    f'"{table.name}"."{c}"::text IS DISTINCT FROM excluded."{c}"::text'
                    if c in json_cols
                    else f'"{table.name}"."{c}" IS DISTINCT FROM excluded."{c}"'
                    for c in check_cols
                )
                sql += f" WHERE {changed}"
        else:
            sql += f" ON CONFLICT ({', '.join(keys)}) DO NOTHING"
        cur.execute(sql)
        written = max(cur.rowcount, 0)
        cur.execute(f'TRUNCATE "{temp}"')
    return written
