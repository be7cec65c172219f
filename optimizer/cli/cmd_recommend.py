"""`batchopt recommend [--refresh [--dataset D] [--seed N]] [--json] [--status S]
[--dismiss ID [--reason TEXT]] [--reopen ID]`."""

from __future__ import annotations

import argparse
import json

from optimizer.cli.context import CliContext
from optimizer.errors import InputError
from optimizer.recommend.statuses import STATUSES


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("recommend", help="list stored recommendations (largest saving first)")
    parser.add_argument(
        "--json",
        action="store_true",
        help="print JSON: the savings headline and the recommendations, each with its id and verdict",
    )
    parser.add_argument(
        "--status", action="append", choices=STATUSES, help="only these statuses (repeatable; default: open)"
    )
    parser.add_argument("--all", action="store_true", help="every status")
    # One action per run: `--dismiss X --reopen X` dismissed X and dropped the reopen without a word.
    action = parser.add_mutually_exclusive_group()
    action.add_argument(
        "--dismiss",
        metavar="ID",
        help="dismiss a recommendation (it stays dismissed; needs apply.enabled and --reason; audited)",
    )
    parser.add_argument("--reason", help="why it is dismissed (required with --dismiss)")
    action.add_argument(
        "--reopen", metavar="ID", help="reopen a dismissed recommendation (needs apply.enabled; audited)"
    )
    action.add_argument(
        "--refresh",
        action="store_true",
        help="run every strategy on the store first (replays the history; statuses are kept)",
    )
    parser.add_argument(
        "--dataset", default="aws", help="history the strategies replay (default %(default)s)"
    )
    parser.add_argument("--seed", type=int, default=0, help="replay seed (default %(default)s)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, ctx: CliContext) -> int:
    from optimizer.recommend.repository import list_recommendations

    if args.reason is not None and not args.dismiss:
        raise InputError("--reason goes with --dismiss (why the recommendation is dismissed)")
    if args.dismiss or args.reopen:
        listing = [
            flag
            for flag, given in (("--json", args.json), ("--status", args.status), ("--all", args.all))
            if given
        ]
        if listing:
            raise InputError(f"{listing[0]} lists recommendations: it does not go with --dismiss or --reopen")
        return change_status(args, ctx)
    if args.all and args.status:
        raise InputError("--all lists every status: give it or --status, not both")
    if args.refresh:
        from optimizer.recommend.generate import generate_recommendations
        from optimizer.simulate.datasets import require_dataset

        require_dataset(ctx.engine, args.dataset)
        fresh = generate_recommendations(ctx.engine, ctx.settings, dataset=args.dataset, seed=args.seed)
        if not args.json:
            print(f"refreshed: {len(fresh)} recommendation(s) from dataset {args.dataset}")
    from optimizer.recommend.headline import APPLIED, COUNTED, NOT_OPEN, stored_headline

    statuses = None if args.all else (args.status or ["open"])
    stored = list_recommendations(ctx.engine, statuses)
    headline = stored_headline(ctx.engine)
    if args.json:
        listed = []
        for item in stored:
            verdict = headline.item(item.id)
            listed.append({**item.to_json(), "headline": None if verdict is None else verdict.to_json()})
        summary = {k: v for k, v in headline.to_json().items() if k != "items"}
        print(json.dumps({**summary, "recommendations": listed}, indent=2, default=str))
        return 0
    if not stored:
        where = ctx.engine.url.render_as_string(hide_password=True)
        print(
            "no recommendations"
            + ("" if args.all else f" with status {', '.join(statuses or [])}")
            + f" in store {where} (`batchopt recommend --refresh` makes them from its history)"
        )
        return 0
    print(f"identified savings: ${headline.total_usd_per_month:,.2f}/month (open, counted once, after the")
    print("  model's calibration error; not items that cost money or overlap an applied change)")
    print(f"{'id':<17} {'$/month':>10} {'risk':<6} {'kind':<15} {'status':<11} title")
    for item in stored:
        rec = item.recommendation
        flag = "" if rec.applicable else " (advice only)"
        verdict = headline.item(rec.id)
        if verdict is not None and verdict.verdict not in (COUNTED, NOT_OPEN, APPLIED):
            flag += f" [{verdict.label()}]"
        saving = headline.monthly_savings_of(rec.id, rec.monthly_savings_usd)  # the dashboard's figure
        print(
            f"{rec.id:<17} {saving:>10,.2f} {rec.risk_level!s:<6} {rec.update_kind!s:<15}"
            f" {item.status:<11} {rec.title}{flag}"
        )
    return 0


def change_status(args: argparse.Namespace, ctx: CliContext) -> int:
    """--dismiss / --reopen through `ApplyService`, the dashboard's path: behind apply's gate
    (`apply.enabled`), with a reason for a dismissal, and audited with the actor (`cli_actor`)."""
    from optimizer.cli.apply_support import apply_service, cli_actor

    service = apply_service(ctx)
    if args.dismiss:
        print(f"dismissed {service.dismiss(args.dismiss, args.reason or '', actor=cli_actor())}")
    else:
        print(f"reopened {service.reopen(args.reopen, actor=cli_actor())}")
    return 0
