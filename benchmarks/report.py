"""Benchmark: build and render the weekly report from a month of daily cost rows (target < 5 s).

The daily aggregate comes from the attribution benchmark's generated estate (instance types and
on-demand prices from the bundled us-east-1 snapshot, hourly spot series, attempts packed on
instances), attributed with
`attribute_costs` and rolled up with `daily_aggregate` exactly as `batchopt analyze` persists it;
those steps are not timed here (benchmarks/attribution.py times them). Timed: the report's own
work, `build_weekly_report` (all comparisons, anomalies, waste, coverage) and `render_all` (four
matplotlib charts, HTML, Markdown, eight CSVs).

Run from the repository root: .venv/bin/python -m benchmarks.report [--attempts N] [--instances N]
Prints a table, writes benchmarks/results/report.json, exits 1 when the target is missed (the
target is for the default estate; a smaller estate is held to the same 5 s).
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime

from benchmarks._common import Target, finish, print_table
from benchmarks.attribution import build_estate
from optimizer.analysis.cost import attribute_costs
from optimizer.analysis.rollup import daily_aggregate
from optimizer.report.build import build_weekly_report
from optimizer.report.inputs import ReportInputs
from optimizer.report.render import render_all
from optimizer.report.weeks import IsoWeek

WEEK = IsoWeek(2026, 43)  # 19-25 Oct 2026: inside the estate's month, with three weeks before it
TARGET_SECONDS = 5.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attempts", type=int, default=200_000)
    parser.add_argument("--instances", type=int, default=5_000)
    args = parser.parse_args()
    estate = build_estate(args.instances, args.attempts)
    books = attribute_costs(
        estate["instances"],
        estate["attempts"],
        estate["jobs"],
        estate["types"],
        estate["ondemand"],
        estate["spot"],
    )
    daily = daily_aggregate(books.lines)
    inputs = ReportInputs(daily=daily)

    t0 = time.perf_counter()
    report = build_weekly_report(inputs, WEEK, generated_at=datetime(2026, 10, 26, 8))
    t1 = time.perf_counter()
    rendered = render_all(report)
    t2 = time.perf_counter()

    html_kib = len(rendered.files[rendered.html_name]) / 1024
    rows = [
        ("job attempts in the estate", args.attempts),
        ("cost_daily rows (5-week window)", len(daily)),
        ("report week total USD", report.total.current if report.total else 0.0),
        ("anomalies found", len(report.anomalies)),
        ("build_weekly_report seconds", t1 - t0),
        ("render_all seconds (4 charts, HTML, MD, 8 CSV)", t2 - t1),
        ("total seconds", t2 - t0),
        ("HTML KiB (charts embedded)", html_kib),
    ]
    print("Weekly report benchmark (machine shared with other work; wall-clock times)")
    print_table(("measure", "value"), rows)
    payload = {
        "attempts": args.attempts,
        "instances": args.instances,
        "cost_daily_rows": len(daily),
        "build_seconds": t1 - t0,
        "render_seconds": t2 - t1,
        "total_seconds": t2 - t0,
        "target_seconds": TARGET_SECONDS,
        "html_kib": html_kib,
    }
    total = t2 - t0
    targets = [
        Target(
            "build + render the weekly report",
            f"{total:.2f} s",
            f"< {TARGET_SECONDS:g} s",
            total < TARGET_SECONDS,
        ),
        Target("the report week has costs", report.total is not None, "yes", report.total is not None),
    ]
    return finish("report", payload, targets)


if __name__ == "__main__":
    sys.exit(main())
