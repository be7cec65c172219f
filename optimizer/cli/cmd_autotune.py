"""`batchopt autotune [--dry-run] [--json]`: one guarded auto-tuning pass (what the scheduler runs
periodically); with --dry-run, what that pass would do, changing nothing in AWS."""

from __future__ import annotations

import argparse
import json

from optimizer.cli.context import CliContext


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "autotune",
        help="one auto-tuning pass: reconcile, roll back regressed changes, apply the best allowed ones",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="decide as the pass would and print the calls, changing nothing in AWS (pending and waiting"
        " applies are not reconciled or resumed)",
    )
    parser.add_argument("--json", action="store_true", help="print the pass as JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, ctx: CliContext) -> int:
    from optimizer.apply.autotune import run_autotune
    from optimizer.apply.render import report_text
    from optimizer.apply.service import TargetClients

    report = run_autotune(ctx.engine, ctx.settings.apply, TargetClients(ctx.sessions), dry_run=args.dry_run)
    if args.json:
        print(json.dumps(report.to_json(), indent=2, default=str))
        return 0 if not report.errors else 1
    step = "run `batchopt autotune` without --dry-run to do it" if args.dry_run else None
    for done in [*report.reconciled, *report.resumed, *report.rolled_back, *report.applied]:
        print(report_text(done, next_step=step))
    for rec_id in report.kept:
        print(f"{'would keep' if args.dry_run else 'kept'} {rec_id}: no regression after the change")
    for label, items in (
        ("watching", report.watching),
        ("skipped", report.skipped),
        ("error", report.errors),
    ):
        for item in items:
            print(f"{label} {item.recommendation_id}: {item.reason}")
    if not (report.applied or report.resumed or report.rolled_back or report.reconciled or report.kept):
        print("autotune: nothing to change")
    if args.dry_run:
        print("dry run: nothing changed in AWS; pending and waiting applies were not reconciled or resumed")
    return 0 if not report.errors else 1
