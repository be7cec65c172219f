"""How long `batchopt demo --headless` takes, stage by stage (target: ready in under 3 minutes).

Runs the real command in this process on a fresh SQLite store in a temporary folder, reads the
summary it writes, prints one row per stage and writes `benchmarks/results/demo_ready.json`.

Run from the repository root (the target is for the default 30 days; fewer days get the same 3 min):

    .venv/bin/python -m benchmarks.demo_ready [--days 30]

Exits 1 when the demo fails a stage or is not ready within the target.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._common import Target, finish, print_table
from optimizer.cli.main import main

TARGET_SECONDS = 180.0


def run(days: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="batchopt-demo-bench-") as tmp:
        summary_file = Path(tmp) / "summary.json"
        started = time.monotonic()
        code = main(
            [
                "demo",
                "--headless",
                "--days",
                str(days),
                "--workdir",
                tmp,
                "--database-url",
                f"sqlite:///{Path(tmp) / 'demo.db'}",
                "--summary-json",
                str(summary_file),
            ]
        )
        wall = time.monotonic() - started
        summary = json.loads(summary_file.read_text()) if summary_file.is_file() else {"stages": []}
    return {"days": days, "exit_code": code, "wall_seconds": round(wall, 1), "summary": summary}


def cli() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args()
    result = run(args.days)
    summary = result["summary"]
    rows = [[s["stage"], s["status"], float(s["seconds"]), s["detail"][:70]] for s in summary["stages"]]
    rows.append(["total (wall)", "", float(result["wall_seconds"]), f"target < {TARGET_SECONDS:.0f} s"])
    print_table(["stage", "status", "seconds", "detail"], rows)
    wall = float(result["wall_seconds"])
    failed = [s["stage"] for s in summary["stages"] if s["status"] == "failed"]
    targets = [
        Target("batchopt demo --headless exit code", result["exit_code"], "0", result["exit_code"] == 0),
        Target("failed stages", ", ".join(failed) or "none", "none", not failed),
        Target(
            f"demo ready ({args.days} days)",
            f"{wall:.1f} s",
            f"< {TARGET_SECONDS:.0f} s",
            wall < TARGET_SECONDS,
        ),
    ]
    payload = {
        "days": args.days,
        "wall_seconds": wall,
        "target_seconds": TARGET_SECONDS,
        "stages": summary["stages"],
        "jobs_collected": summary.get("jobs_collected"),
        "instances_collected": summary.get("instances_collected"),
    }
    return finish("demo_ready", payload, targets)


if __name__ == "__main__":
    sys.exit(cli())
