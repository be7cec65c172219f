"""`batchopt plan ID [--json]`: the exact API calls that would apply a recommendation (changes nothing)."""

from __future__ import annotations

import argparse
import json

from optimizer.cli.apply_support import apply_service
from optimizer.cli.context import CliContext


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("plan", help="plan a recommendation against the live resource and store the plan")
    parser.add_argument("id", metavar="ID", help="recommendation id (or a unique prefix)")
    parser.add_argument("--json", action="store_true", help="print the plan as JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, ctx: CliContext) -> int:
    from optimizer.apply.records import plan_to_json
    from optimizer.apply.render import plan_text

    _, plan = apply_service(ctx).plan(args.id)
    print(json.dumps(plan_to_json(plan), indent=2, default=str) if args.json else plan_text(plan))
    return 0
