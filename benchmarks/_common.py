"""Shared plumbing for benchmark scripts: a printed table, a JSON file, the machine it ran on, and
the verdict: `finish` prints every target, writes the JSON and returns the exit code (1 when any
target is missed), so a benchmark that misses its target fails the command that ran it.

Run every benchmark as a module from the repository root: `.venv/bin/python -m benchmarks.<name>`
(as a script, `benchmarks/` would come first on the path and `benchmarks/optimizer.py` would hide
the `optimizer` package).
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"
REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data(*parts: str) -> Path:
    """A path in the shared reference data (real traces, price files): `$BATCHOPT_SHARED_DATA`, else
    `shared/data` beside the repository. Missing data stops the benchmark with a clear message."""
    override = os.environ.get("BATCHOPT_SHARED_DATA")
    candidates = [Path(override)] if override else []
    candidates += [REPO_ROOT.parent / "shared" / "data", Path("/work/shared/data")]
    for root in candidates:
        if (root / "README.md").is_file():
            return root.joinpath(*parts)
    raise SystemExit(
        "shared reference data not found: set BATCHOPT_SHARED_DATA or put shared/data beside the repo"
    )


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    mem_kib = 0
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            mem_kib = int(meminfo.readline().split()[1])
    except OSError:
        pass
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            cpu = next(
                (line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), cpu
            )
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu,
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [[str(h) for h in headers]] + [[_fmt(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for n, row in enumerate(cells):
        print(" | ".join(v.rjust(w) if n else v.ljust(w) for v, w in zip(row, widths, strict=True)))
        if n == 0:
            print("-+-".join("-" * w for w in widths))


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def write_results(name: str, payload: dict[str, Any]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    document = {
        "benchmark": name,
        "measured_at": datetime.now(UTC).isoformat(),
        "machine": machine(),
        **payload,
    }
    path.write_text(json.dumps(document, indent=2, default=str))
    print(f"\nwrote {path}")
    return path


@dataclass(frozen=True)
class Target:
    """One target of a benchmark: what it is about, the measured value, the limit, and the verdict."""

    name: str
    measured: Any
    limit: str
    met: bool


def scaled_seconds(seconds: float, at_size: int, size: int) -> float:
    """A time target stated for `at_size` items, scaled linearly to `size` (the same rate): a run
    at a reduced size is held to the rate of the documented target, not let off."""
    return seconds * size / at_size


def finish(name: str, payload: dict[str, Any], targets: Sequence[Target]) -> int:
    """Print the targets, write `results/<name>.json` (payload, targets, passed), return the exit code.

    0 only when every target is met; a benchmark without a target is a bug, not a pass."""
    if not targets:
        raise ValueError(f"benchmark {name} checks no target")
    print(f"\n{name}: targets")
    print_table(
        ["target", "measured", "limit", "met"],
        [[t.name, t.measured, t.limit, "yes" if t.met else "NO"] for t in targets],
    )
    missed = [t for t in targets if not t.met]
    write_results(name, {**payload, "targets": [asdict(t) for t in targets], "passed": not missed})
    if missed:
        print(f"FAIL: {len(missed)} of {len(targets)} targets missed: {'; '.join(t.name for t in missed)}")
        return 1
    print(f"PASS: all {len(targets)} targets met")
    return 0
