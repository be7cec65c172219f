"""`batchopt import-bill`: read CUR 2.0 / legacy CUR / FOCUS files into the bill, month by month.

Each billing month in the files is replaced whole: its line items go to one Parquet file under
`billing.data_dir`, its daily aggregates and the commitments to the store, all or nothing. Importing
the same files again changes nothing.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from optimizer.cli.context import CliContext
from optimizer.number_text import count_text

if TYPE_CHECKING:
    from optimizer.billing.intake import ImportResult

FORMATS = ("cur2", "cur-legacy", "focus")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "import-bill",
        help="import AWS bill exports (CUR 2.0, legacy CUR, FOCUS; Parquet or CSV) for reconciliation",
        description=(
            "Check every FILE, then replace each billing month they contain: line items to Parquet "
            "under billing.data_dir (queried there with DuckDB), daily billed/effective aggregates and "
            "Savings Plans / Reserved Instances to the store. A bad file is reported with the column "
            "at fault and nothing is written. Give all files of a month in one import."
        ),
    )
    p.add_argument("files", nargs="*", metavar="FILE", help="export file (.parquet, .csv, .csv.gz)")
    p.add_argument(
        "--athena-table",
        metavar="TABLE",
        help="instead of files: aggregate the CUR 2.0 table TABLE of billing.athena_database in Amazon "
        "Athena (billing.engine = athena); only the aggregates come back",
    )
    p.add_argument("--month", metavar="YYYY-MM", help="with --athena-table: the billing month to read")
    p.add_argument(
        "--format",
        dest="bill_format",
        required=True,
        choices=FORMATS,
        help="cur2 (Data Exports CUR 2.0), cur-legacy (CSV headers or Athena Parquet), focus (1.0/1.2)",
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace, ctx: CliContext) -> int:
    from optimizer.billing.intake import import_bill, month_label
    from optimizer.errors import InputError
    from optimizer.runtime.clock import utc_now

    if args.athena_table:
        if args.files:
            raise InputError("give FILE or --athena-table, not both")
        result = _from_athena(args, ctx)
    else:
        if not args.files:
            raise InputError("no FILE given (or --athena-table TABLE --month YYYY-MM)")
        if args.month:
            raise InputError("--month goes with --athena-table; files say their own months")
        result = import_bill(
            ctx.engine,
            args.files,
            args.bill_format,
            data_dir=ctx.settings.billing.data_dir,
            imported_at=utc_now(),
        )
    for month in result.months:
        print(
            f"{month_label(month.billing_period)}: {month.status},"
            f" {count_text(month.line_items, 'line item')},"
            f" billed ${month.billed_usd:,.2f}, effective ${month.effective_usd:,.2f} -> {month.path}"
        )
    print(f"commitments (Savings Plans, Reserved Instances) known: {result.commitments}")
    if result.other_providers:
        parts = ", ".join(f"{name} {n}" for name, n in result.other_providers.items())
        print(f"left out (not AWS): {parts} rows")
    return 0


def _from_athena(args: argparse.Namespace, ctx: CliContext) -> ImportResult:
    from optimizer.aws.athena import AthenaClient
    from optimizer.billing.athena import import_from_athena
    from optimizer.errors import ConfigError, InputError
    from optimizer.runtime.clock import utc_now

    billing = ctx.settings.billing
    if billing.engine != "athena":
        raise ConfigError("billing.engine (BATCHOPT_BILLING__ENGINE): set it to athena to use --athena-table")
    if not billing.athena_database:
        raise ConfigError("billing.athena_database (BATCHOPT_BILLING__ATHENA_DATABASE): required with athena")
    if args.bill_format != "cur2":
        raise InputError(f"--athena-table reads CUR 2.0 tables: --format cur2, not {args.bill_format}")
    if not args.month:
        raise InputError("--athena-table needs --month YYYY-MM")
    from optimizer.billing.reconcile import parse_month

    parse_month(args.month)  # (a bad month is refused before Athena is called)
    targets = ctx.sessions.target_regions()
    if not targets:
        raise ConfigError("no AWS region: set BATCHOPT_REGIONS (Athena runs in the first target and region)")
    target_region = targets[0]
    athena = AthenaClient(
        ctx.sessions.session(target_region.target, target_region.region),
        region=target_region.region,
        database=billing.athena_database,
        workgroup=billing.athena_workgroup,
        output_s3_uri=billing.athena_output_s3_uri,
        endpoint_url=ctx.sessions.settings.endpoint_for("athena"),
    )
    try:
        table = athena.table(args.athena_table)
        return import_from_athena(
            ctx.engine,
            athena.runner(),
            columns=table.columns,
            partitions=table.partitions,
            database=billing.athena_database,
            table=args.athena_table,
            month=args.month,
            imported_at=utc_now(),
        )
    finally:
        athena.close()
