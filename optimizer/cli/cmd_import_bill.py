"""`batchopt import-bill`: read CUR 2.0 / legacy CUR / FOCUS files into the bill, month by month.

Each billing month in the files is replaced whole: its line items go to one Parquet file under
`billing.data_dir`, its daily aggregates and the commitments to the store, all or nothing. Importing
the same files again changes nothing.
"""

from __future__ import annotations

import argparse

from optimizer.cli.context import CliContext

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
    p.add_argument("files", nargs="+", metavar="FILE", help="export file (.parquet, .csv, .csv.gz)")
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
    from optimizer.clock import utc_now

    result = import_bill(
        ctx.engine,
        args.files,
        args.bill_format,
        data_dir=ctx.settings.billing.data_dir,
        imported_at=utc_now(),
    )
    for month in result.months:
        print(
            f"{month_label(month.billing_period)}: {month.status}, {month.line_items:,} line items,"
            f" billed ${month.billed_usd:,.2f}, effective ${month.effective_usd:,.2f} -> {month.path}"
        )
    print(f"commitments (Savings Plans, Reserved Instances) known: {result.commitments}")
    if result.other_providers:
        parts = ", ".join(f"{name} {n}" for name, n in result.other_providers.items())
        print(f"left out (not AWS): {parts} rows")
    return 0
