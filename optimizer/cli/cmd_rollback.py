"""`batchopt rollback ID [--dry-run] [--json]`: undo the latest applied change of a recommendation.

It runs by default (it restores the state recorded before the apply), under the same guards as
apply: the switch, the allow-list and a fingerprint of the state the apply left behind.
"""

from __future__ import annotations

import argparse
import json

from optimizer.cli.apply_support import apply_service, cli_actor
from optimizer.cli.context import CliContext


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "rollback",
        help="roll back the latest applied change of a recommendation (unlike apply it acts at once:"
        " --dry-run only checks and shows it; audited)",
    )
    parser.add_argument("id", metavar="ID", help="recommendation id (or a unique prefix)")
    parser.add_argument("--dry-run", action="store_true", help="only check and show the rollback")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, ctx: CliContext) -> int:
    from optimizer.apply.render import report_text

    report = apply_service(ctx).rollback(args.id, execute=not args.dry_run, actor=cli_actor())
    print(json.dumps(report.to_json(), indent=2) if args.json else report_text(report))
    return 0 if report.result in ("dry-run", "succeeded") else 1
