"""`batchopt audit [ID] [--json] [--dry-runs]`: who applied or rolled back what, when, and the result."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

from optimizer.cli.context import CliContext


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("audit", help="the audit log of applies, rollbacks and auto-tuning, newest first")
    parser.add_argument("id", metavar="ID", nargs="?", help="only this recommendation (id or unique prefix)")
    parser.add_argument("--dry-runs", action="store_true", help="include dry runs")
    parser.add_argument("--json", action="store_true", help="print the records (with before/after) as JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, ctx: CliContext) -> int:
    from optimizer.apply.records import audits
    from optimizer.recommend.repository import resolve_id

    rec_id = resolve_id(ctx.engine, args.id) if args.id else None
    found = audits(ctx.engine, recommendation_id=rec_id, dry_run=None if args.dry_runs else False)
    if args.json:
        print(json.dumps([asdict(record) for record in found], indent=2, default=str))
        return 0
    if not found:
        print("no audit records")
        return 0
    for record in found:
        mode = " (dry run)" if record.dry_run else ""
        print(
            f"#{record.id} {record.started_at:%Y-%m-%d %H:%M:%S} {record.action}{mode} by {record.actor}:"
            f" {record.result} - {record.recommendation_id} {record.plan_id}"
        )
        if record.message:
            print(f"    {record.message}")
    return 0
