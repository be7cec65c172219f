"""`batchopt report`: build the weekly cost report for an ISO week and deliver it to the sinks."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from optimizer.cli.context import CliContext
from optimizer.errors import InputError
from optimizer.runtime.clock import utc_now_aware

if TYPE_CHECKING:
    from optimizer.report.weeks import IsoWeek


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="weekly cost report (HTML, Markdown, CSV) to a folder, S3, email or Slack",
        description="Build the weekly cost report from the store and deliver it. Every sink is tried; "
        "the exit status is 1 when any of them failed.",
    )
    p.add_argument("--week", metavar="YYYY-Www", help="ISO week, e.g. 2026-W47 (default: last complete week)")
    p.add_argument(
        "--out", metavar="DIR", type=Path, help="write the files into DIR (default: report.out_dir)"
    )
    p.add_argument(
        "--sink",
        action="append",
        choices=("dir", "s3", "email", "slack", "configured"),
        help="where to deliver; repeatable (default: dir; 'configured': every sink that has settings)",
    )
    p.add_argument("--dataset", default="aws", help="history to report on (default: aws, the collected one)")
    p.add_argument(
        "--pdf", action="store_true", help="also print a PDF with headless Chromium (needs playwright)"
    )
    p.add_argument(
        "--focus-out",
        metavar="FILE",
        type=Path,
        help="also write the week's per-job cost as FOCUS 1.2 rows to FILE (.csv or .parquet)",
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace, ctx: CliContext) -> int:
    from optimizer.report.run import configured_sinks, make_sinks, run_report
    from optimizer.report.weeks import parse_week

    settings = ctx.settings
    week = parse_week(args.week) if args.week else None
    names: list[str] = []
    for name in args.sink or ["dir"]:
        names += configured_sinks(settings) if name == "configured" else [name]
    if args.out is not None and "dir" not in names:
        names.insert(0, "dir")
    sessions = ctx.sessions if "s3" in names else None
    sinks = make_sinks(names, settings, out_dir=args.out, sessions=sessions)
    if args.focus_out is not None and args.focus_out.suffix.lower() not in (".csv", ".parquet"):
        raise InputError(f"--focus-out {args.focus_out}: the file must end in .csv or .parquet")
    from optimizer.simulate.datasets import require_dataset

    require_dataset(ctx.engine, args.dataset)
    now = utc_now_aware()
    outcome = run_report(ctx.engine, settings, sinks, now=now, week=week, dataset=args.dataset, pdf=args.pdf)
    print(f"report {outcome.rendered.headline}")
    if args.focus_out is not None:
        from optimizer.report.weeks import last_complete_week

        _write_focus(args, ctx, week or last_complete_week(now, settings.report.timezone))
    for result in outcome.results:
        stream = sys.stdout if result.ok else sys.stderr
        print(f"  {result.sink}: {'ok' if result.ok else 'FAILED'}: {result.detail}", file=stream)
    return 0 if outcome.ok else 1


def _write_focus(args: argparse.Namespace, ctx: CliContext, week: IsoWeek) -> None:
    """The week's per-job cost as FOCUS 1.2 rows (`optimizer.billing.focus_out`)."""
    from optimizer.billing.focus_out import week_focus_rows, write_focus

    rows = week_focus_rows(ctx.engine, week.start, week.end, args.dataset)
    path = write_focus(rows, args.focus_out)
    jobs = int(rows["x_BatchJobId"].notna().sum())
    total = float(rows["BilledCost"].sum())
    print(f"  focus: {len(rows):,} FOCUS 1.2 rows ({jobs:,} job-days, ${total:,.2f}) -> {path}")
