"""`batchopt setup events [--execute] [--target T] [--region R]`: create the event intake.

Dry run by default: prints, per (target, region), the exact requests that would make the
EventBridge rule, the SQS queue with its dead-letter queue and its policy exist as the collector
needs them (nothing when they already do). `--execute` sends them and prints the queue URL to set
as `collection.events_queue_url`. Both are recorded in the audit log (`batchopt audit`).
"""

from __future__ import annotations

import argparse

from optimizer.cli.context import CliContext


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "setup", help="create AWS resources batchopt reads from (dry run unless --execute)"
    )
    what = parser.add_subparsers(dest="setup_what", metavar="WHAT", required=True)
    events = what.add_parser(
        "events",
        help="EventBridge rule + SQS queue (with dead-letter queue) for the event intake",
    )
    events.add_argument("--execute", action="store_true", help="really create or correct the resources")
    events.add_argument("--target", action="append", help="only this target (repeatable)")
    events.add_argument("--region", action="append", help="only this region (repeatable)")
    events.set_defaults(handler=run_events)


def run_events(args: argparse.Namespace, ctx: CliContext) -> int:
    from optimizer.apply.event_intake import IntakeNames, audit_finish, audit_start, execute, plan_intake
    from optimizer.cli.apply_support import cli_actor
    from optimizer.collectors.service import plans_for
    from optimizer.runtime.clock import utc_now

    sessions = ctx.sessions
    failed = 0
    for plan in plans_for(sessions, args.target, args.region):
        pair = next(
            p for p in sessions.target_regions() if p.target.name == plan.target and p.region == plan.region
        )

        def clients(service: str, pair=pair) -> object:  # type: ignore[no-untyped-def]
            return sessions.client(service, pair.target, pair.region)

        account = str(plan.account_id())
        intake = plan_intake(
            clients("sqs"),
            clients("events"),
            target=plan.target,
            region=plan.region,
            account_id=account,
            names=IntakeNames(),
        )
        header = f"{plan.target}/{plan.region} (account {account})"
        audit_id = audit_start(ctx.engine, intake, actor=cli_actor(), dry_run=not args.execute, now=utc_now())
        if not intake.calls:
            print(f"{header}: event intake in place, nothing to change; queue {intake.queue_url}")
            if args.execute:
                audit_finish(
                    ctx.engine,
                    audit_id,
                    result="succeeded",
                    after=intake.current,
                    message="nothing to change",
                    now=utc_now(),
                )
            continue
        verb = "calling" if args.execute else "would call (dry run; --execute to apply)"
        print(f"{header}: {verb}:")
        for call in intake.calls:
            print(f"  {call.render()}")
        if not args.execute:
            continue
        try:
            url = execute(intake, clients)
        except Exception as exc:
            failed += 1
            audit_finish(
                ctx.engine,
                audit_id,
                result="failed",
                after=None,
                message=f"{type(exc).__name__}: {exc}",
                now=utc_now(),
            )
            print(f"{header}: failed: {type(exc).__name__}: {exc}")
            continue
        audit_finish(
            ctx.engine,
            audit_id,
            result="succeeded",
            after={"queue_url": url},
            message=f"queue {url}",
            now=utc_now(),
        )
        print(
            f"{header}: done; set collection.events_queue_url "
            f"(BATCHOPT_COLLECTION__EVENTS_QUEUE_URL) to {url}"
        )
    return 1 if failed else 0
