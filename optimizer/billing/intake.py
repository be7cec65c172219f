"""`import_bill`: export files -> one Parquet file per billing month + the store's aggregates.

All or nothing: every file is checked and read into DuckDB before anything is written; each billing
month the files contain is then written to a temporary Parquet file, the store's aggregates for
those months are replaced in one transaction, and the Parquet files are moved into place (an
atomic rename) as that transaction's last step. A month is always replaced whole: give every file
of a month (AWS splits large months into several) in one import.

Idempotent: a month whose files (format, reader version, SHA-256 of each file) match what was
imported before, and whose Parquet file is still there, is left untouched.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from optimizer.billing import queries
from optimizer.billing.sources import CANONICAL, FORMATS, line_items_sql, open_source, other_provider_rows
from optimizer.errors import InputError

if TYPE_CHECKING:
    import duckdb
    import pandas as pd
    from sqlalchemy import Engine

READER_VERSION = "1"
"""Bumped when the mapping to canonical line items changes, so a re-import rewrites the months."""
PARQUET_NAME = "line_items.parquet"


@dataclass(frozen=True)
class MonthResult:
    billing_period: datetime
    status: str  # imported | unchanged
    line_items: int
    billed_usd: float
    effective_usd: float
    path: Path


@dataclass(frozen=True)
class ImportResult:
    format: str
    months: tuple[MonthResult, ...]
    commitments: int
    other_providers: dict[str, int] = field(default_factory=dict)


def month_label(period: datetime) -> str:
    return f"{period:%Y-%m}"


def month_path(data_dir: Path, period: datetime) -> Path:
    return data_dir / month_label(period) / PARQUET_NAME


def connect() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB session in UTC (timestamps in the bill are UTC)."""
    import duckdb

    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET preserve_insertion_order = false")
    return con


def _create_table(con: duckdb.DuckDBPyConnection) -> None:
    columns = ", ".join(f'"{name}" {type_}' for name, type_ in CANONICAL)
    con.execute(f"CREATE TABLE line_items ({columns}, usage_kind VARCHAR)")


def _fingerprint(fmt: str, digests: Sequence[str]) -> str:
    text = json.dumps({"reader": READER_VERSION, "format": fmt, "files": sorted(digests)})
    return hashlib.sha256(text.encode()).hexdigest()


def _stored_months(engine: Engine) -> dict[datetime, dict[str, object]]:
    from sqlalchemy import select

    from optimizer.store.tables.billing import bill_months

    with engine.connect() as conn:
        rows = conn.execute(select(bill_months.c.billing_period, bill_months.c.fingerprint)).fetchall()
    return {_naive(r[0]): {"fingerprint": r[1]} for r in rows}


def _naive(value: object) -> datetime:
    import pandas as pd

    return pd.Timestamp(value).to_pydatetime().replace(tzinfo=None)


def import_bill(
    engine: Engine,
    files: Sequence[str | Path],
    fmt: str,
    *,
    data_dir: str | Path,
    imported_at: datetime,
) -> ImportResult:
    """Import `files` (all of format `fmt`); returns what each billing month became."""
    if fmt not in FORMATS:
        raise InputError(f"--format {fmt}: must be one of {', '.join(FORMATS)}")
    if not files:
        raise InputError("no FILE given")
    data_dir = Path(data_dir)
    con = connect()
    try:
        return _import(con, engine, [Path(f) for f in files], fmt, data_dir, imported_at)
    finally:
        con.close()


def _import(
    con: duckdb.DuckDBPyConnection,
    engine: Engine,
    paths: list[Path],
    fmt: str,
    data_dir: Path,
    imported_at: datetime,
) -> ImportResult:
    _create_table(con)
    sources = []
    other: dict[str, int] = {}
    month_files: dict[datetime, list[str]] = {}
    for path in paths:
        source = open_source(con, path)
        if source.sha256 in {s.sha256 for s in sources}:
            continue  # the same file named twice
        sql = queries.with_usage_kind(line_items_sql(con, source, fmt))
        con.execute(f"CREATE OR REPLACE TEMP TABLE one_file AS {sql}")
        for (period,) in con.execute("SELECT DISTINCT billing_period FROM one_file").fetchall():
            month_files.setdefault(_naive(period), []).append(source.sha256)
        con.execute("INSERT INTO line_items BY NAME SELECT * FROM one_file")
        con.execute("DROP TABLE one_file")
        if fmt == "focus":
            for provider, n in other_provider_rows(con, source).items():
                other[provider] = other.get(provider, 0) + n
        sources.append(source)
    bad = con.execute("SELECT count(*), min(currency) FROM line_items WHERE currency <> 'USD'").fetchone()
    if bad and bad[0]:
        raise InputError(f"billing currency {bad[1]} on {bad[0]} line items: only USD bills are supported")
    if not month_files:
        raise InputError(f"{', '.join(map(str, paths))}: no AWS line items")

    stored = _stored_months(engine)
    changed: dict[datetime, str] = {}
    for period, digests in month_files.items():
        fingerprint = _fingerprint(fmt, digests)
        previous = stored.get(period)
        if previous and previous["fingerprint"] == fingerprint and month_path(data_dir, period).is_file():
            continue
        changed[period] = fingerprint
    totals = {_naive(row[0]): row[1:] for row in con.execute(queries.MONTHS).fetchall()}
    if not changed:
        commitments = _count_commitments(engine)
        months = tuple(
            MonthResult(
                p,
                "unchanged",
                int(totals[p][0]),
                float(totals[p][1]),
                float(totals[p][2]),
                month_path(data_dir, p),
            )
            for p in sorted(month_files)
        )
        return ImportResult(fmt, months, commitments, other)

    staged = _stage(con, data_dir, sorted(changed))
    try:
        con.execute(
            "DELETE FROM line_items WHERE billing_period NOT IN (SELECT unnest(?))", [sorted(changed)]
        )
        daily = con.execute(queries.DAILY).df()
        commitments = _commitments(con, data_dir, set(changed))
        sources_json = [{"name": s.path.name, "bytes": s.size, "sha256": s.sha256} for s in sources]
        _write_store(
            engine,
            daily,
            commitments,
            changed,
            totals,
            month_files,
            sources_json,
            fmt,
            data_dir,
            imported_at,
            staged,
        )
    except BaseException:
        for temp, _final in staged.values():
            temp.unlink(missing_ok=True)
        raise
    months = tuple(
        MonthResult(
            p,
            "imported" if p in changed else "unchanged",
            int(totals[p][0]),
            float(totals[p][1]),
            float(totals[p][2]),
            month_path(data_dir, p),
        )
        for p in sorted(month_files)
    )
    return ImportResult(fmt, months, len(commitments), other)


def _stage(
    con: duckdb.DuckDBPyConnection, data_dir: Path, periods: list[datetime]
) -> dict[datetime, tuple[Path, Path]]:
    """Each month's line items written to a temporary file beside its final place."""
    staged: dict[datetime, tuple[Path, Path]] = {}
    try:
        for period in periods:
            final = month_path(data_dir, period)
            final.parent.mkdir(parents=True, exist_ok=True)
            temp = final.with_name(f".{final.name}.{uuid.uuid4().hex}.tmp")
            staged[period] = (temp, final)
            con.execute(
                f"COPY (SELECT * FROM line_items WHERE billing_period = ? ORDER BY usage_start) "
                f"TO '{_escape(temp)}' (FORMAT parquet, COMPRESSION zstd)",
                [period],
            )
    except BaseException:
        for temp, _ in staged.values():
            temp.unlink(missing_ok=True)
        raise
    return staged


def _escape(path: Path) -> str:
    return str(path).replace("'", "''")


def _commitments(con: duckdb.DuckDBPyConnection, data_dir: Path, replaced: set[datetime]) -> pd.DataFrame:
    """Commitments over every month: the months being imported plus the other stored months."""
    others = []
    if data_dir.is_dir():
        for path in sorted(data_dir.glob(f"*/{PARQUET_NAME}")):
            label = path.parent.name
            if label not in {month_label(p) for p in replaced}:
                others.append(path)
    relation = "SELECT * FROM line_items"
    for path in others:
        relation += f"\nUNION ALL BY NAME SELECT * FROM read_parquet('{_escape(path)}')"
    sql = queries.COMMITMENTS.replace("FROM line_items", f"FROM ({relation}) AS line_items")
    return con.execute(sql).df()


def _count_commitments(engine: Engine) -> int:
    from sqlalchemy import func, select

    from optimizer.store.tables.billing import bill_commitments

    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(bill_commitments)).scalar() or 0)


def _write_store(
    engine: Engine,
    daily: pd.DataFrame,
    commitments: pd.DataFrame,
    changed: dict[datetime, str],
    totals: dict[datetime, tuple[object, ...]],
    month_files: dict[datetime, list[str]],
    sources_json: list[dict[str, object]],
    fmt: str,
    data_dir: Path,
    imported_at: datetime,
    staged: dict[datetime, tuple[Path, Path]],
) -> None:
    import pandas as pd
    from sqlalchemy import delete

    from optimizer.store.tables.billing import bill_commitments, bill_daily, bill_months
    from optimizer.store.upsert import bulk_upsert

    for column in ("billing_period", "day"):
        daily[column] = pd.to_datetime(daily[column])
    for column in ("starts_at", "ends_at", "first_seen", "last_seen"):
        commitments[column] = pd.to_datetime(commitments[column])
    periods = sorted(changed)
    month_rows = pd.DataFrame(
        [
            {
                "billing_period": p,
                "format": fmt,
                "fingerprint": changed[p],
                "sources": [s for s in sources_json if s["sha256"] in month_files[p]],
                "path": str(month_path(data_dir, p)),
                "line_items": int(totals[p][0]),
                "billed_usd": float(totals[p][1]),
                "effective_usd": float(totals[p][2]),
                "imported_at": imported_at,
            }
            for p in periods
        ]
    )
    with engine.begin() as conn:
        conn.execute(delete(bill_daily).where(bill_daily.c.billing_period.in_(periods)))
        bulk_upsert(conn, bill_daily, daily)
        bulk_upsert(conn, bill_months, month_rows)
        conn.execute(delete(bill_commitments))
        if not commitments.empty:
            bulk_upsert(conn, bill_commitments, commitments)
        # Last step of the transaction: if a rename fails, the store rolls back.
        for temp, final in staged.values():
            os.replace(temp, final)
