"""`batchopt apply ID [--execute] [--json]`: dry run by default; --execute changes AWS (guarded).

`batchopt apply --resume AUDIT_ID` continues an apply that stopped while Batch was still updating a
compute environment (result `waiting`); it changes AWS like --execute and is guarded the same way.
"""

from __future__ import annotations

import argparse
import json

from optimizer.cli.apply_support import apply_service, cli_actor
from optimizer.cli.context import CliContext


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "apply", help="apply a recommendation's stored plan (dry run unless --execute; audited)"
    )
    parser.add_argument("id", metavar="ID", nargs="?", help="recommendation id (or unique prefix) or plan id")
    parser.add_argument(
        "--resume",
        metavar="AUDIT_ID",
        type=int,
        help="continue a waiting apply (its audit id) once Batch has finished updating",
    )
    parser.add_argument(
        "--execute", action="store_true", help="really call AWS (needs apply.enabled and the allow-list)"
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, ctx: CliContext) -> int:
    from optimizer.apply.render import report_text
    from optimizer.errors import InputError

    if (args.id is None) == (args.resume is None):
        raise InputError("apply: give either a recommendation/plan ID or --resume AUDIT_ID")
    if args.resume is not None:
        report = apply_service(ctx).resume(args.resume, actor=cli_actor())
    else:
        report = apply_service(ctx).apply(args.id, execute=args.execute, actor=cli_actor())
    print(json.dumps(report.to_json(), indent=2) if args.json else report_text(report))
    return 0 if report.result in ("dry-run", "succeeded") else 1
