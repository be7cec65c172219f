"""The bill read where a large organisation already keeps it: a CUR 2.0 table in Amazon Athena.

The queries are the DuckDB ones (`optimizer.billing.queries` over the canonical mapping of
`optimizer.billing.sources`), turned into Athena (Trino) SQL by `queries.for_athena`: no second
hand-written copy. Only their results (month totals, daily aggregates, commitments) come back and
land in the store, exactly as `import_bill` writes them; no line item leaves Athena.

The table's columns and types come from Athena's catalogue (GetTableMetadata), standing in for the
file check of the DuckDB path. A month is read through its partition (`billing_period = 'YYYY-MM'`,
as AWS's Data Exports table definition partitions CUR 2.0) when the table has that partition key.
The AWS calls themselves are made by `optimizer.aws.athena` (the only layer that talks to AWS).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from optimizer.billing import queries
from optimizer.billing.intake import (
    BREAKDOWNS,
    ImportResult,
    MonthResult,
    _write_store,
    fingerprint,
    month_label,
)
from optimizer.billing.sources import SourceFile, table_line_items_sql
from optimizer.errors import InputError

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy import Engine

PARTITION = "billing_period"
_SIMPLE_TYPES = {
    "string": "VARCHAR",
    "varchar": "VARCHAR",
    "char": "VARCHAR",
    "double": "DOUBLE",
    "float": "DOUBLE",
    "real": "DOUBLE",
    "decimal": "DOUBLE",
    "bigint": "BIGINT",
    "int": "INTEGER",
    "integer": "INTEGER",
    "timestamp": "TIMESTAMP",
    "date": "DATE",
    "boolean": "BOOLEAN",
}


def duckdb_type(glue_type: str) -> str:
    """A Glue/Athena column type as the DuckDB type the mapping reasons about."""
    base = glue_type.strip().lower()
    if base.startswith("map<"):
        return "MAP(VARCHAR, VARCHAR)"
    return _SIMPLE_TYPES.get(re.split(r"[(<]", base)[0], "VARCHAR")


def _ident(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_]+", name):
        raise InputError(f"Athena name {name!r}: only letters, digits and _ are accepted")
    return f'"{name}"'


def month_queries(
    columns: dict[str, str], database: str, table: str, month: str, partitions: tuple[str, ...] = ()
) -> dict[str, str]:
    """Athena SQL of the month totals, daily aggregates, commitments and breakdowns (per instance,
    commitment hours, coverage hours) of `month` (YYYY-MM)."""
    duckdb_sql = month_queries_duckdb(columns, database, table, month, partitions)
    return {name: queries.for_athena(sql) for name, sql in duckdb_sql.items()}


def month_queries_duckdb(
    columns: dict[str, str], database: str, table: str, month: str, partitions: tuple[str, ...] = ()
) -> dict[str, str]:
    """The same queries in DuckDB's dialect, as written (what `month_queries` transpiles)."""
    if not re.fullmatch(r"\d{4}-\d{2}", month):
        raise InputError(f"--month {month!r}: expected YYYY-MM")
    relation = f"{_ident(database)}.{_ident(table)}"
    month_filter = f"{PARTITION} = '{month}'" if PARTITION in partitions else None
    scan = f"(SELECT * FROM {relation}{f' WHERE {month_filter}' if month_filter else ''}) AS source"
    source = SourceFile(
        Path(f"{database}.{table}"),
        "table",
        {name: duckdb_type(kind) for name, kind in columns.items()},
        "",
        0,
        relation=scan,
    )
    canonical = queries.with_usage_kind(table_line_items_sql(source, "cur2"))
    start = f"TIMESTAMP '{month}-01 00:00:00'"
    in_month = f"(SELECT * FROM ({canonical}) AS c WHERE billing_period = {start}) AS line_items"
    whole_table = queries.with_usage_kind(
        table_line_items_sql(
            SourceFile(source.path, "table", source.columns, "", 0, relation=f"{relation} AS source"), "cur2"
        )
    )
    return {
        "months": queries.MONTHS.replace("FROM line_items", f"FROM {in_month}"),
        "daily": queries.DAILY.replace("FROM line_items", f"FROM {in_month}"),
        "commitments": queries.COMMITMENTS.replace("FROM line_items", f"FROM ({whole_table}) AS line_items"),
        **{name: sql.replace("FROM line_items", f"FROM {in_month}") for name, sql in BREAKDOWNS.items()},
    }


def import_from_athena(
    engine: Engine,
    run: Callable[[str], pd.DataFrame],
    *,
    columns: dict[str, str],
    partitions: tuple[str, ...],
    database: str,
    table: str,
    month: str,
    imported_at: datetime,
) -> ImportResult:
    """Aggregate `month` of the CUR 2.0 table in Athena (`run` executes one query) into the store.

    Idempotent: when the aggregates equal what is stored for the month, nothing is written."""
    from sqlalchemy import select

    from optimizer.store.tables.billing import bill_months

    sql = month_queries(columns, database, table, month, partitions)
    totals = run(sql["months"])
    if totals.empty or int(totals["line_items"].sum()) == 0:
        raise InputError(f"Athena table {database}.{table}: no line items for {month}")
    daily = run(sql["daily"])
    period = datetime.strptime(month, "%Y-%m")
    content = daily.sort_values(list(daily.columns[:6])).to_csv(index=False, float_format="%.9g")
    digest = hashlib.sha256(content.encode()).hexdigest()
    fp = fingerprint("cur2", [f"athena:{database}.{table}:{digest}"])
    with engine.connect() as conn:
        previous = conn.execute(
            select(bill_months.c.fingerprint).where(bill_months.c.billing_period == period)
        ).scalar()
    line_items = int(totals["line_items"].sum())
    billed, effective = float(totals["billed_usd"].sum()), float(totals["effective_usd"].sum())
    location = Path(f"athena://{database}/{table}/{PARTITION}={month}")
    if previous == fp:
        result = MonthResult(period, "unchanged", line_items, billed, effective, location)
        return ImportResult("cur2", (result,), _count(engine))
    commitments = run(sql["commitments"])
    row: dict[str, Any] = {
        "billing_period": period,
        "format": "cur2",
        "fingerprint": fp,
        "sources": [{"name": f"{database}.{table} ({month_label(period)})", "bytes": 0, "sha256": digest}],
        "path": str(location),
        "line_items": line_items,
        "billed_usd": billed,
        "effective_usd": effective,
        "imported_at": imported_at,
    }
    daily["line_items"] = daily["line_items"].astype("int64")
    commitments["line_items"] = commitments["line_items"].astype("int64")
    breakdowns = {name: run(sql[name]) for name in BREAKDOWNS}
    _write_store(engine, daily, commitments, [row], {}, breakdowns)
    result = MonthResult(period, "imported", line_items, billed, effective, location)
    return ImportResult("cur2", (result,), len(commitments))


def _count(engine: Engine) -> int:
    from sqlalchemy import func, select

    from optimizer.store.tables.billing import bill_commitments

    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(bill_commitments)).scalar() or 0)
