"""`batchopt collect`: read every configured target and region into the store, incrementally.

Exit status: 0 when every run succeeded, 1 when at least one failed (each failure is also a
`collector_runs` row), 2 for bad arguments or settings.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from optimizer.cli.context import CliContext
from optimizer.errors import InputError
from optimizer.store.names import SOURCE_NAMES

if TYPE_CHECKING:
    from optimizer.collectors.runner import RunResult


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "collect",
        help="collect Batch jobs, instances, catalog, prices and usage into the store",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--target", action="append", metavar="NAME", help="only this target (repeatable)")
    parser.add_argument("--region", action="append", metavar="REGION", help="only this region (repeatable)")
    parser.add_argument(
        "--since",
        metavar="DATE",
        help="read from this date (YYYY-MM-DD or ISO time, UTC) instead of the watermarks; "
        "rows already stored are not rewritten",
    )
    parser.add_argument(
        "--source",
        action="append",
        choices=SOURCE_NAMES,
        metavar="SOURCE",
        help=f"only this source (repeatable): {', '.join(SOURCE_NAMES)}",
    )
    parser.set_defaults(handler=run)


def parse_since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InputError(f"--since {value!r}: not a date (expected YYYY-MM-DD or an ISO time)") from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


def run(args: argparse.Namespace, ctx: CliContext) -> int:
    from optimizer.collectors.service import planned_runs, run_collection

    since = parse_since(args.since)
    settings = ctx.settings
    engine = ctx.engine
    total = planned_runs(settings, ctx.sessions, args.target, args.region, args.source)
    collect_with = functools.partial(
        run_collection,
        settings,
        engine,
        ctx.sessions,
        targets=args.target,
        regions=args.region,
        sources=args.source,
        since=since,
    )
    results = (
        _with_progress(total, collect_with) if sys.stderr.isatty() else collect_with(on_progress=_print_line)
    )
    failed = [r for r in results if r.status != "succeeded"]
    read = sum(r.items_read for r in results)
    written = sum(r.items_written for r in results)
    print(f"collected {len(results)} run(s): read {read}, wrote {written}, failed {len(failed)}")
    for result in failed:
        print(f"  failed {result.target}/{result.region} {result.source}: {result.error}", file=sys.stderr)
    return 1 if failed else 0


def _print_line(result: RunResult) -> None:
    detail = (
        f"read {result.items_read}, wrote {result.items_written}"
        if result.status == "succeeded"
        else "FAILED"
    )
    print(f"{result.target}/{result.region} {result.source}: {detail}", flush=True)


def _with_progress(total: int, work: Callable[..., list[RunResult]]) -> list[RunResult]:
    """Run `work(on_progress=...)` under a rich progress bar (stderr is a terminal)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=False) as progress:
        task = progress.add_task("collecting", total=total)

        def report(result: RunResult) -> None:
            mark = "ok" if result.status == "succeeded" else "FAILED"
            progress.update(
                task, advance=1, description=f"{result.target}/{result.region} {result.source} {mark}"
            )

        return work(on_progress=report)
