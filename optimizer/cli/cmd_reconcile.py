"""`batchopt reconcile`: a billing month's billed, effective and modelled cost, and the residual."""

from __future__ import annotations

import argparse
from datetime import datetime, timedelta

from optimizer.cli.context import CliContext
from optimizer.number_text import usd_text
from optimizer.store.names import COLLECTED_DATASET


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "reconcile",
        help="hold the imported bill against the modelled cost of a month (billed, effective, residual)",
        description=(
            "Billed (unblended) and effective (amortised) cost of the month from the imported bill, by "
            "service and for EC2 instances, next to the modelled cost of the Batch estate and the "
            "residual (billed minus modelled) and its causes; the same per day, account, region, queue, "
            "compute environment, job definition and instance; commitment utilization and coverage. "
            "Also brings the month's per-job billed cost in the store up to date with the collected "
            "attempts. Import the bill first with `batchopt import-bill`."
        ),
    )
    p.add_argument("--month", required=True, metavar="YYYY-MM", help="billing month")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--dataset", default=COLLECTED_DATASET, help="modelled history (default: %(default)s)")
    p.set_defaults(handler=run)


def _usd(value: float | None) -> str:
    return "n/a" if value is None else usd_text(value)


def run(args: argparse.Namespace, ctx: CliContext) -> int:
    import json

    from optimizer.billing.reconcile import reconcile
    from optimizer.simulate.datasets import require_dataset

    require_dataset(ctx.engine, args.dataset)
    result = reconcile(ctx.engine, args.month, dataset=args.dataset)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    bill = result["bill"]
    print(f"Bill for {result['month']} ({bill['format']}, {bill['line_items']:,} line items)")
    rows: list[tuple[str, str, str]] = [
        ("billed (unblended)", _usd(result["billed_usd"]), ""),
        ("effective (amortised)", _usd(result["effective_usd"]), ""),
        ("  of which unused commitment", _usd(result["unused_commitment_usd"]), "Savings Plans and RIs"),
    ]
    ec2 = result["ec2_instances"]
    rows.append(
        (
            "EC2 instances",
            _usd(ec2["billed_usd"]),
            f"effective {_usd(ec2['effective_usd'])}, {ec2['instance_hours']:,.1f} instance-hours"
            + (
                f"; {_usd(ec2['savings_plan_covered_usd'])} of on-demand cost covered by Savings Plans"
                if ec2["savings_plan_covered_usd"]
                else ""
            ),
        )
    )
    for option, part in ec2["by_purchase_option"].items():
        rows.append(
            (
                f"  {option}",
                _usd(part["billed_usd"]),
                f"effective {_usd(part['effective_usd'])}, {part['instance_hours']:,.1f} h",
            )
        )
    modelled_note = f"from {result['modelled_source']}" if result["modelled_source"] else "no Batch history"
    if result["modelled_source"]:
        # (the days the bill covers: a bill a day behind collection is not a day's residual)
        last = datetime.fromisoformat(result["modelled_until"]) - timedelta(days=1)
        modelled_note += f", through {last:%Y-%m-%d} (the bill's last day)"
    rows.append(("modelled (Batch estate)", _usd(result["modelled_usd"]), modelled_note))
    rows.append(("residual (billed - modelled)", _usd(result["residual_usd"]), ""))
    _table(("", "USD", ""), rows)
    print()
    print("By service")
    _table(
        ("service", "billed", "effective"),
        [(name, _usd(v["billed_usd"]), _usd(v["effective_usd"])) for name, v in result["by_service"].items()],
    )
    print()
    print("By usage kind (where the residual comes from)")
    _table(
        ("kind", "billed", "effective"),
        [
            (name, _usd(v["billed_usd"]), _usd(v["effective_usd"]))
            for name, v in result["by_usage_kind"].items()
        ],
    )
    if result["residual_causes"]:
        print()
        print("The residual's causes (they add up to it)")
        _table(("cause", "USD", ""), [(r["cause"], _usd(r["usd"]), "") for r in result["residual_causes"]])
    missed = result["missed_instances"]
    if missed["count"]:
        print()
        print(
            f"Instances the collectors missed: {missed['count']:,} billed instance ids absent from the store,"
            f" {_usd(missed['billed_usd'])} billed, {missed['instance_hours']:,.1f} instance-hours"
        )
    jobs = result["jobs"]
    if jobs["attempts"] or jobs["unmatched_tasks"]["count"]:
        print()
        print(f"Per-job bill: {jobs['attempts']:,} attempts")
        rows = [
            (
                source,
                _usd(part["billed_usd"]),
                f"effective {_usd(part['effective_usd'])}, {part['attempts']:,} attempts",
            )
            for source, part in jobs["by_source"].items()
        ]
        unmatched = jobs["unmatched_tasks"]
        rows.append(
            ("tasks not in the store", _usd(unmatched["billed_usd"]), f"{unmatched['count']:,} tasks")
        )
        _table(("from", "billed", ""), rows)
    for name in ("by_queue", "by_compute_environment", "by_job_definition"):
        rows_ = result["breakdowns"][name]
        if rows_:
            key = name.removeprefix("by_")
            print()
            _table(
                (key.replace("_", " "), "billed", "effective / modelled / residual"),
                [
                    (
                        str(r[key]),
                        _usd(r["billed_usd"]),
                        f"{_usd(r['effective_usd'])} / {_usd(r['modelled_usd'])} / {_usd(r['residual_usd'])}",
                    )
                    for r in rows_
                ],
            )
    for note in result["breakdown_notes"]:
        print(f"note: {note}")
    use = result["commitment_use"]
    if result["commitments"]:
        print()
        utilization = "n/a" if use["utilization"] is None else f"{use['utilization']:.1%}"
        coverage = "n/a" if use["coverage"] is None else f"{use['coverage']:.1%}"
        print(
            f"Commitments seen this month: {len(result['commitments'])}"
            f" (utilization {utilization}, EC2 coverage {coverage})"
        )
        for c in use["commitments"]:
            used = "n/a" if c["utilization"] is None else f"{c['utilization']:.1%}"
            print(f"  {c['kind']:<18} {c['arn']}  used {used}")
    return 0


def _table(header: tuple[str, str, str], rows: list[tuple[str, str, str]]) -> None:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(3)]
    for i, row in enumerate([header, *rows]):
        print(f"{row[0]:<{widths[0]}}  {row[1]:>{widths[1]}}  {row[2]:<{widths[2]}}".rstrip())
        if i == 0 and any(header):
            print("  ".join("-" * w for w in widths))
