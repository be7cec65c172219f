"""How long `batchopt demo --headless` takes, stage by stage (target: ready in under 3 minutes).

Runs the real command in this process on a fresh SQLite store in a temporary folder, reads the
summary it writes, prints one row per stage and writes `benchmarks/results/demo_ready.json`.

    python -m benchmarks.demo_ready [--days 30]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from benchmarks._common import print_table, write_results
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
        if code != 0:
            raise SystemExit(f"batchopt demo exited {code}")
        summary = json.loads(summary_file.read_text())
    return {"days": days, "wall_seconds": round(wall, 1), "summary": summary}


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args()
    result = run(args.days)
    summary = result["summary"]
    rows = [[s["stage"], s["status"], float(s["seconds"]), s["detail"][:70]] for s in summary["stages"]]
    rows.append(["total (wall)", "", float(result["wall_seconds"]), f"target < {TARGET_SECONDS:.0f} s"])
    print_table(["stage", "status", "seconds", "detail"], rows)
    write_results(
        "demo_ready",
        {
            "days": args.days,
            "wall_seconds": result["wall_seconds"],
            "target_seconds": TARGET_SECONDS,
            "within_target": result["wall_seconds"] < TARGET_SECONDS,
            "stages": summary["stages"],
            "jobs_collected": summary["jobs_collected"],
            "instances_collected": summary["instances_collected"],
        },
    )


if __name__ == "__main__":
    cli()
