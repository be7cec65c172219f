"""`batchopt apply ID [--execute] [--json]`: dry run by default; --execute changes AWS (guarded)."""

from __future__ import annotations

import argparse
import json

from optimizer.cli.apply_support import apply_service, cli_actor
from optimizer.cli.context import CliContext


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "apply", help="apply a recommendation's stored plan (dry run unless --execute; audited)"
    )
    parser.add_argument("id", metavar="ID", help="recommendation id (or unique prefix) or plan id")
    parser.add_argument(
        "--execute", action="store_true", help="really call AWS (needs apply.enabled and the allow-list)"
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, ctx: CliContext) -> int:
    from optimizer.apply.render import report_text

    report = apply_service(ctx).apply(args.id, execute=args.execute, actor=cli_actor())
    print(json.dumps(report.to_json(), indent=2) if args.json else report_text(report))
    return 0 if report.result in ("dry-run", "succeeded") else 1
