"""`import_bill`: export files -> one Parquet file per billing month + the store's aggregates.

All or nothing: every file is checked first (one scan each: columns, numbers, timestamps, currency,
the billing months it holds). Each billing month is then normalised straight from the export files
into a temporary Parquet file beside its final place (one pass, queried where the files sit); the
month totals, daily aggregates and commitments are read back from those Parquet files; the store's
rows for those months are replaced in one transaction, and the Parquet files are moved into place
(an atomic rename each) as that transaction's last step. A month is always replaced whole: give
every file of a month (AWS splits large months into several) in one import.

Idempotent: a month whose files (format, reader version, SHA-256 of each file) match what was
imported before, and whose Parquet file is still there, is left untouched; when every month of the
files is, nothing is read beyond the checksums.
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
from typing import TYPE_CHECKING, Any

from optimizer.billing import queries
from optimizer.billing.overlap import refuse_overlapping_deliveries
from optimizer.billing.sources import FORMATS, Reading, file_sha256, open_source, read_source
from optimizer.errors import InputError
from optimizer.number_text import count_text

if TYPE_CHECKING:
    import duckdb
    import pandas as pd
    from sqlalchemy import Engine

READER_VERSION = "3"
"""Bumped when the mapping to canonical line items or a breakdown query changes, so a re-import
rewrites the months (2: `bill_instances.commitment_used_usd`; 3: a CUR 2.0 CSV's JSON maps read, and
NaN read as a missing number)."""
PARQUET_NAME = "line_items.parquet"
BREAKDOWNS = {
    "bill_instances": queries.INSTANCE_DAILY,
    "bill_commitment_hours": queries.COMMITMENT_HOURS,
    "bill_coverage_hours": queries.COVERAGE_HOURS,
    "bill_commitment_rates": queries.COMMITMENT_RATES,
}
"""Store table -> the query over a month's line items that fills it, beside `bill_daily`."""


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


def fingerprint(fmt: str, digests: Sequence[str]) -> str:
    """What a billing month was imported from: format, reader version and its files' SHA-256."""
    text = json.dumps({"reader": READER_VERSION, "format": fmt, "files": sorted(set(digests))})
    return hashlib.sha256(text.encode()).hexdigest()


def _naive(value: object) -> datetime:
    import pandas as pd

    return pd.Timestamp(value).to_pydatetime().replace(tzinfo=None)


def _stored_months(engine: Engine) -> dict[datetime, dict[str, Any]]:
    from sqlalchemy import select

    from optimizer.store.tables.billing import bill_months

    with engine.connect() as conn:
        rows = conn.execute(select(bill_months)).mappings().all()
    return {_naive(r["billing_period"]): dict(r) for r in rows}


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
    # Absolute, so that the store's month paths (and the months kept beside a new one) do not
    # depend on the directory the next command runs from (the default is relative: `var/bill`).
    data_dir = Path(data_dir).resolve()
    paths = list(dict.fromkeys(Path(f) for f in files))
    for path in paths:
        if not path.is_file():
            raise InputError(f"{path}: no such file")
        if path.suffix.lower() == ".json":  # (a glob over an export folder picks its manifests up)
            raise InputError(
                f"{path}: an export manifest (JSON), not line items: give the data files it lists"
            )
        if path.stat().st_size == 0:
            raise InputError(f"{path}: empty file (0 bytes): an export file always has a header")
    digests = {path: file_sha256(path) for path in paths}
    stored = _stored_months(engine)
    unchanged = _all_unchanged(stored, fmt, set(digests.values()), data_dir)
    if unchanged is not None:
        months = tuple(_result(stored[p], "unchanged", data_dir) for p in unchanged)
        return ImportResult(fmt, months, _count_commitments(engine))
    con = connect()
    try:
        return _import(con, engine, paths, digests, fmt, data_dir, imported_at, stored)
    finally:
        con.close()


def _all_unchanged(
    stored: dict[datetime, dict[str, Any]], fmt: str, digests: set[str], data_dir: Path
) -> list[datetime] | None:
    """The months these files were imported into, if they are exactly what is stored; else None.
    A file that also holds a month now stored from other files (a later import replaced it) is not
    unchanged: importing it again means that month too."""
    months = [period for period, row in stored.items() if digests & {s["sha256"] for s in row["sources"]}]
    held = {month_label(p) for p in months}
    for row in stored.values():
        for src in row["sources"]:
            if src["sha256"] in digests and not set(src.get("months") or ()) <= held:
                return None
    covered: set[str] = set()
    for period in months:
        row = stored[period]
        month_digests = {s["sha256"] for s in row["sources"]}
        if not month_digests <= digests or row["fingerprint"] != fingerprint(fmt, sorted(month_digests)):
            return None
        if not month_path(data_dir, period).is_file():
            return None
        covered |= month_digests
    return sorted(months) if months and covered == digests else None


def _result(row: dict[str, Any], status: str, data_dir: Path) -> MonthResult:
    period = _naive(row["billing_period"])
    return MonthResult(
        period,
        status,
        int(row["line_items"]),
        float(row["billed_usd"]),
        float(row["effective_usd"]),
        month_path(data_dir, period),
    )


def _import(
    con: duckdb.DuckDBPyConnection,
    engine: Engine,
    paths: list[Path],
    digests: dict[Path, str],
    fmt: str,
    data_dir: Path,
    imported_at: datetime,
    stored: dict[datetime, dict[str, Any]],
) -> ImportResult:
    readings: list[Reading] = []
    seen: set[str] = set()
    for path in paths:
        if digests[path] in seen:
            continue  # the same file under two names
        seen.add(digests[path])
        readings.append(read_source(con, open_source(con, path, sha256=digests[path]), fmt))
    other: dict[str, int] = {}
    for reading in readings:
        for provider, n in reading.other_providers.items():
            other[provider] = other.get(provider, 0) + n
    month_readings: dict[datetime, list[Reading]] = {}
    for reading in readings:
        for period in reading.months:
            month_readings.setdefault(_naive(period), []).append(reading)
    changed: dict[datetime, str] = {}
    for period, month_sources in month_readings.items():
        fp = fingerprint(fmt, [r.source.sha256 for r in month_sources])
        previous = stored.get(period)
        if previous and previous["fingerprint"] == fp and month_path(data_dir, period).is_file():
            continue
        if previous:
            before = {src["sha256"]: src["name"] for src in previous["sources"]}
            given = {r.source.sha256 for r in month_sources}
            if given < set(before):
                # The same files as before, some missing: replacing the month would drop the others'
                # line items. (A restated month comes as new files, whose checksums differ.)
                missing = sorted(name for sha, name in before.items() if sha not in given)
                raise InputError(
                    f"{month_label(period)}: {len(given)} of the {len(before)} files it was imported from;"
                    f" a month is replaced whole, so give its other files too ({', '.join(missing)})"
                )
            if not given & set(before):
                _refuse_stray_rows(period, month_sources, previous)
        changed[period] = fp
    for period in changed:
        refuse_overlapping_deliveries(
            con, month_label(period), period, [(str(r.source.path), r.sql) for r in month_readings[period]]
        )
    if not changed:
        months = tuple(_result(stored[p], "unchanged", data_dir) for p in sorted(month_readings))
        return ImportResult(fmt, months, _count_commitments(engine), other)

    staged = _stage(con, data_dir, {p: month_readings[p] for p in changed})
    try:
        line_items = _relation([temp for temp, _ in staged.values()])
        totals = {
            _naive(row[0]): row[1:]
            for row in con.execute(queries.MONTHS.replace("FROM line_items", f"FROM {line_items}")).fetchall()
        }
        daily = con.execute(queries.DAILY.replace("FROM line_items", f"FROM {line_items}")).df()
        breakdowns = {
            name: con.execute(sql.replace("FROM line_items", f"FROM {line_items}")).df()
            for name, sql in BREAKDOWNS.items()
        }
        kept = _kept_months(stored, changed)
        everything = _relation([temp for temp, _ in staged.values()] + kept)
        commitments = con.execute(queries.COMMITMENTS.replace("FROM line_items", f"FROM {everything}")).df()
        month_rows = [
            {
                "billing_period": p,
                "format": fmt,
                "fingerprint": changed[p],
                "sources": [
                    {
                        "name": r.source.path.name,
                        "bytes": r.source.size,
                        "sha256": r.source.sha256,
                        # (every month the file holds: `_all_unchanged` needs them without reading it)
                        "months": [month_label(_naive(m)) for m in r.months],
                    }
                    for r in month_readings[p]
                ],
                "path": str(month_path(data_dir, p)),
                "line_items": int(totals[p][0]),
                "billed_usd": float(totals[p][1]),
                "effective_usd": float(totals[p][2]),
                "imported_at": imported_at,
            }
            for p in sorted(changed)
        ]
        _write_store(engine, daily, commitments, month_rows, staged, breakdowns)
    except BaseException:
        for temp, _final in staged.values():
            temp.unlink(missing_ok=True)
        raise
    fresh = {row["billing_period"]: row for row in month_rows}
    months = tuple(
        _result(fresh[p], "imported", data_dir) if p in fresh else _result(stored[p], "unchanged", data_dir)
        for p in sorted(month_readings)
    )
    return ImportResult(fmt, months, len(commitments), other)


def _refuse_stray_rows(period: datetime, month_sources: list[Reading], previous: dict[str, Any]) -> None:
    """Refuse to replace a stored month with a few rows that files of other months carry: a month
    is replaced whole, so one stray line item of October in November's export would otherwise
    leave October with that line item alone. A restatement of the month (its own new files, or a
    file of several months holding it in full) is let through: it is some file's main month, or
    brings at least half the line items stored."""
    rows = sum(r.month_rows[period] for r in month_sources)
    if rows * 2 >= int(previous["line_items"]):
        return
    mains = {r.source.path: max(r.month_rows, key=r.month_rows.__getitem__) for r in month_sources}
    if any(_naive(main) == period for main in mains.values()):
        return
    path, main = next(iter(mains.items()))
    label = month_label(period)
    raise InputError(
        f"{path}: {count_text(rows, 'line item')} of billing month {label}, which is stored with"
        f" {count_text(int(previous['line_items']), 'line item')} from other files, in a file of"
        f" {month_label(_naive(main))}: a month is replaced whole, so this would leave {label} with"
        f" {'that one' if rows == 1 else 'those'}; give {label}'s own files with it, or drop the stray rows"
    )


def _kept_months(stored: dict[datetime, dict[str, Any]], changed: dict[datetime, str]) -> list[Path]:
    """The line-item files of the stored months this import leaves as they are: the commitments are
    rebuilt over them and the new months together. Read from the store's own paths, not from the
    files found under `data_dir`, so that a store imported under another data folder (or, before
    paths were stored absolute, from another working directory) does not lose its other months'
    commitments. A month aggregated in Athena has no local file and contributes none, as before;
    a local month whose file is gone is refused, since rebuilding without it would drop its
    commitments silently."""
    kept: list[Path] = []
    for period, row in sorted(stored.items()):
        location = str(row.get("path") or "")
        if period in changed or not location or location.startswith("athena:"):
            continue
        path = Path(location)
        if not path.is_file():
            raise InputError(
                f"{month_label(period)}: its line items file {path} is missing; import that month's "
                "export files again (with this one) to rebuild it"
            )
        kept.append(path)
    return kept


def _relation(paths: Sequence[Path]) -> str:
    """Parquet files as the `line_items` relation of a query (read where they sit)."""
    files = ", ".join(f"'{_escape(p)}'" for p in paths)
    return f"read_parquet([{files}], union_by_name = true) AS line_items"


def _stage(
    con: duckdb.DuckDBPyConnection, data_dir: Path, months: dict[datetime, list[Reading]]
) -> dict[datetime, tuple[Path, Path]]:
    """Each month's canonical line items written, from its export files, to a temporary file beside
    its final place."""
    staged: dict[datetime, tuple[Path, Path]] = {}
    try:
        for period in sorted(months):
            final = month_path(data_dir, period)
            final.parent.mkdir(parents=True, exist_ok=True)
            temp = final.with_name(f".{final.name}.{uuid.uuid4().hex}.tmp")
            staged[period] = (temp, final)
            union = "\nUNION ALL BY NAME\n".join(
                f"SELECT * FROM ({queries.with_usage_kind(r.sql)}) WHERE billing_period = $period"
                for r in months[period]
            )
            con.execute(
                f"COPY ({union}) TO '{_escape(temp)}' (FORMAT parquet, COMPRESSION zstd)",
                {"period": period},
            )
    except BaseException:
        for temp, _ in staged.values():
            temp.unlink(missing_ok=True)
        raise
    return staged


def _escape(path: Path) -> str:
    return str(path).replace("'", "''")


def _count_commitments(engine: Engine) -> int:
    from sqlalchemy import func, select

    from optimizer.store.tables.billing import bill_commitments

    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(bill_commitments)).scalar() or 0)


def _write_store(
    engine: Engine,
    daily: pd.DataFrame,
    commitments: pd.DataFrame,
    month_rows: list[dict[str, Any]],
    staged: dict[datetime, tuple[Path, Path]],
    breakdowns: dict[str, pd.DataFrame] | None = None,
) -> None:
    """Replace the months' aggregates and the commitments in one transaction and move the months'
    Parquet files into place as its last step: a failed move rolls the store back and puts every
    file already moved back as it was, so a multi-month import changes all of its months or none."""
    import pandas as pd

    for column in ("billing_period", "day"):
        daily[column] = pd.to_datetime(daily[column])
    for column in ("starts_at", "ends_at", "first_seen", "last_seen"):
        commitments[column] = pd.to_datetime(commitments[column])
    breakdowns = breakdowns or {}
    for frame in breakdowns.values():
        for column in ("billing_period", "day", "hour"):
            if column in frame.columns:
                frame[column] = pd.to_datetime(frame[column])
    swapped: list[tuple[Path, Path | None]] = []
    try:
        with engine.begin() as conn:
            _replace_rows(conn, daily, commitments, month_rows, breakdowns)
            _swap_in(staged, swapped)
    except BaseException as exc:
        _swap_back(swapped)
        if isinstance(exc, OSError):
            where = exc.filename or "billing.data_dir"
            raise InputError(f"{where}: cannot write the month's line items ({exc.strerror or exc})") from exc
        raise
    for _final, previous in swapped:
        if previous is not None:
            previous.unlink(missing_ok=True)


def _replace_rows(
    conn: Any,
    daily: pd.DataFrame,
    commitments: pd.DataFrame,
    month_rows: list[dict[str, Any]],
    breakdowns: dict[str, pd.DataFrame],
) -> None:
    """The months' aggregates and the commitments replaced inside the caller's transaction."""
    import pandas as pd
    from sqlalchemy import delete

    from optimizer.store.tables import billing
    from optimizer.store.tables.billing import bill_commitments, bill_daily, bill_job_costs, bill_months
    from optimizer.store.upsert import bulk_upsert

    periods = [row["billing_period"] for row in month_rows]
    conn.execute(delete(bill_daily).where(bill_daily.c.billing_period.in_(periods)))
    bulk_upsert(conn, bill_daily, daily)
    # Per-job costs were computed from the months' previous bill: `batchopt reconcile` redoes them.
    conn.execute(delete(bill_job_costs).where(bill_job_costs.c.billing_period.in_(periods)))
    for name, frame in breakdowns.items():
        table = getattr(billing, name)
        conn.execute(delete(table).where(table.c.billing_period.in_(periods)))
        if not frame.empty:
            bulk_upsert(conn, table, frame)
    bulk_upsert(conn, bill_months, pd.DataFrame(month_rows))
    conn.execute(delete(bill_commitments))
    if not commitments.empty:
        bulk_upsert(conn, bill_commitments, commitments)


def _swap_in(staged: dict[datetime, tuple[Path, Path]], swapped: list[tuple[Path, Path | None]]) -> None:
    """Move every month's new file into place, each previous file first moved aside, recording
    each step in `swapped` so that `_swap_back` can undo them all: a multi-month import replaces
    all of its months' files or none of them."""
    for temp, final in staged.values():
        previous = None
        if final.is_file():
            previous = final.with_name(f".{final.name}.{uuid.uuid4().hex}.previous")
            os.replace(final, previous)
        swapped.append((final, previous))
        os.replace(temp, final)


def _swap_back(swapped: list[tuple[Path, Path | None]]) -> None:
    """Undo `_swap_in`: the new files removed, the previous ones put back (newest step first)."""
    for final, backup in reversed(swapped):
        if final.is_file():
            final.unlink()
        if backup is not None:
            os.replace(backup, final)
