"""`batchopt demo`: the whole product on a local AWS emulator with real sample data.

Headless (`--headless`) runs every stage, prints a summary and exits 0; otherwise the dashboard
starts on 127.0.0.1 and serves until Ctrl-C. See `optimizer/demo/pipeline.py` for the stages.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from optimizer.cli.context import CliContext
from optimizer.errors import InputError, UserError

if TYPE_CHECKING:
    from rich.console import Console

    from optimizer.demo.pipeline import DemoSummary


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="run the whole product on an emulated Batch estate with real traces (no AWS account needed)",
    )
    p.add_argument("--headless", action="store_true", help="no dashboard: print a summary and exit")
    p.add_argument(
        "--days", type=int, default=30, help="days of job history to replay (default: %(default)s)"
    )
    p.add_argument(
        "--workdir", type=Path, default=Path("var"), help="where the demo store and report go (default: var)"
    )
    p.add_argument(
        "--database-url",
        help="store to use (default: BATCHOPT_DATABASE_URL if set, else a fresh var/demo-<time>.db)",
    )
    p.add_argument("--port", type=int, help="dashboard port (default: a free one)")
    p.add_argument("--summary-json", type=Path, metavar="FILE", help="also write the summary as JSON")
    p.set_defaults(handler=run)


def print_summary(console: Console, summary: DemoSummary) -> None:
    def line(text: str) -> None:
        # No markup (titles may contain brackets) and no wrapping (paths stay copyable).
        console.print(text, highlight=False, soft_wrap=True, markup=False)

    console.print("\n[bold]Batch Optimizer demo[/]")
    line(f"  history        {summary.history_start} .. {summary.history_end}")
    line(f"  collected      {summary.jobs_collected:,} jobs on {summary.instances_collected:,} instances")
    line(f"  spend          ${summary.spend_usd:,.2f} over the history (EC2 instance-hours x price)")
    if summary.bill:
        b = summary.bill
        modelled = "" if b["modelled_usd"] is None else f", modelled ${b['modelled_usd']:,.2f}"
        line(
            f"  bill           ${b['billed_usd']:,.2f} billed, ${b['effective_usd']:,.2f} effective"
            f"{modelled} on the {b['days']} days it covers ({b['first_day']} .. {b['last_day']})"
        )
    line(f"  waste found    ${summary.waste_usd:,.2f} (idle capacity ${summary.idle_usd:,.2f})")
    line(
        f"  savings found  ${summary.identified_savings_usd_per_month:,.2f}/month in open recommendations"
        " (counted once, beyond the model's error)"
    )
    if summary.costs_money_usd_per_month:
        line(f"  not savings    faster options that cost ${summary.costs_money_usd_per_month:,.2f}/month")
    if summary.replayed_current_cost_usd is not None and summary.observed_cost_usd is not None:
        line(
            f"  calibration    replay of the current configuration ${summary.replayed_current_cost_usd:,.2f}"
            f" vs measured ${summary.observed_cost_usd:,.2f} ({summary.calibration_error_pct:+.2f} %,"
            f" ±${summary.calibration_monthly_error_usd or 0.0:,.2f}/month)"
        )
    line(f"  fleet policy   {summary.policy}")
    line(f"  solver bound   ${summary.plan_savings_usd:,.2f}/month ({summary.plan_label})")
    if summary.plan_pricing:
        line(
            f"                 {summary.plan_pricing}; at list prices"
            f" ${summary.plan_savings_at_list_usd:,.2f}/month"
        )
    for plan in summary.plans:
        saving = plan["monthly_savings_usd"]
        if saving is None:
            text = "no plan"
        elif saving >= 0:
            text = f"saves ${saving:,.2f}/month"
        else:  # a plan dearer than today's estate, e.g. gangs moved to their own on-demand queue
            text = f"costs ${-saving:,.2f}/month more"
        gap, status = plan.get("gap"), plan["status"]
        if gap is not None and status != "OPTIMAL":  # how far the plan may be from the best possible
            status = f"{status} gap {gap:.1%}"
        line(f"    {plan['queue']:<14} {status:<18} {text}  {', '.join(plan['selected'][:8])}")
    if summary.top_recommendations:
        line("  top recommendations:")
        for rec in summary.top_recommendations:
            verdict = rec.get("headline")
            note = f"  ({verdict})" if verdict and verdict != "counted" else ""
            line(f"    ${rec['monthly_savings_usd']:>10,.2f}/month  [{rec['risk']}] {rec['title']}{note}")
    else:
        line("  top recommendations: none")
    html = [f for f in summary.report_files if f.endswith(".html")]
    line(f"  weekly report  {html[0] if html else '(not written)'}")
    line(f"  store          {summary.database_url}")
    if summary.env_file:
        line(f"  CLI settings   {summary.env_file} (while the demo runs, in another shell: source it)")


def run(args: argparse.Namespace, ctx: CliContext) -> int:
    if args.days < 1 or args.days > 60:
        raise InputError(f"--days {args.days}: must be between 1 and 60")
    if args.port is not None and not 1 <= args.port <= 65535:
        raise InputError(f"--port {args.port}: must be between 1 and 65535")
    # Imported here: the emulator and the whole pipeline are heavy, and `batchopt --help` must not be.
    try:
        import moto  # noqa: F401  (the emulator; an optional extra)
    except ImportError:
        raise UserError(
            "batchopt demo needs the local AWS emulator: pip install 'batch-optimizer[demo]'"
        ) from None
    from rich.console import Console

    from optimizer.demo.pipeline import DemoOptions, DemoRun, demo_environment
    from optimizer.demo.progress import StageDisplay

    options = DemoOptions(
        headless=args.headless,
        days=args.days,
        workdir=args.workdir,
        database_url=args.database_url,
        dashboard_port=args.port,
    )
    console = Console()
    demo = DemoRun(ctx.settings, options, console)
    try:
        with demo_environment(), StageDisplay(console) as display:
            summary = demo.run(display)
            print_summary(console, summary)
            if args.summary_json:
                args.summary_json.parent.mkdir(parents=True, exist_ok=True)
                args.summary_json.write_text(json.dumps(asdict(summary), indent=2))
            if args.headless:
                return 0
            return demo.serve_dashboard(display)
    finally:
        demo.close()
