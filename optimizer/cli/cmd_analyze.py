"""`batchopt analyze`: attribute costs and measure utilization, and persist the daily aggregates.

Reads the store, runs the pure analyses (`optimizer.analysis`), and replaces the covered days of
`cost_daily`, `cost_daily_tags` and `utilization_hourly` in one transaction: idempotent, and a
failure leaves the previous aggregates untouched.
"""

from __future__ import annotations

import argparse
from datetime import datetime, timedelta

from optimizer.cli.context import CliContext
from optimizer.errors import InputError
from optimizer.runtime.clock import utc_now
from optimizer.store.names import COLLECTED_DATASET


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "analyze",
        help="attribute instance costs to jobs, find waste and utilization, store the daily aggregates",
    )
    p.add_argument("--dataset", default=COLLECTED_DATASET, help="history to analyse (default: %(default)s)")
    window = p.add_mutually_exclusive_group()
    window.add_argument("--since", metavar="YYYY-MM-DD", help="first UTC day to (re)compute")
    window.add_argument("--days", type=int, metavar="N", help="recompute the last N UTC days (incl. today)")
    p.add_argument("--until", metavar="YYYY-MM-DD", help="first UTC day NOT computed (default: no end)")
    p.set_defaults(handler=run)


def _parse_day(value: str | None, flag: str) -> datetime | None:
    if value is None:
        return None
    import pandas as pd

    try:
        return pd.Timestamp(value).to_pydatetime().replace(tzinfo=None)
    except (ValueError, TypeError):
        raise InputError(f"{flag} {value!r}: not a date (expected YYYY-MM-DD)") from None


def run(args: argparse.Namespace, ctx: CliContext) -> int:
    import pandas as pd

    from optimizer.analysis.stored import run_analysis

    now = utc_now()
    since = _parse_day(args.since, "--since")
    until = _parse_day(args.until, "--until")
    if args.days is not None:
        if args.days < 1:
            raise InputError(f"--days {args.days}: must be at least 1")
        since = (pd.Timestamp(now).floor("D") - timedelta(days=args.days - 1)).to_pydatetime()
    from optimizer.simulate.datasets import require_dataset

    require_dataset(ctx.engine, args.dataset)
    summary = run_analysis(ctx.engine, computed_at=now, dataset=args.dataset, since=since, until=until)
    print(
        f"dataset {summary.dataset}: {summary.instances} instances, {summary.attempts} attempts"
        f" ({summary.unplaced_attempts} on instances not in the store)"
    )
    print(
        f"cost ${summary.total_usd:,.2f}, idle ${summary.idle_usd:,.2f}, all waste ${summary.waste_usd:,.2f};"
        f" wrote {summary.days_written} days of costs, {summary.hours_written} hours of utilization"
    )
    if summary.mnp_jobs:
        print(
            f"multi-node parallel: {summary.mnp_jobs} jobs, nodes' cost ${summary.mnp_cost_usd:,.2f},"
            f" gang-formation idle ${summary.gang_formation_idle_usd:,.2f} (part of the idle cost)"
        )
    flagged = {k: v for k, v in summary.price_sources.items() if k not in ("on-demand", "spot-series")}
    if flagged:
        parts = ", ".join(f"{k}: {v}" for k, v in sorted(flagged.items()))
        print(f"instances priced by a fallback (see optimizer/analysis/pricing.py): {parts}")
    return 0
