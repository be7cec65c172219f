"""Job-request edits for replays: what a new job-definition revision would change in a history.

Right-sizing proposes new vCPU and memory requests for a job definition; its saving is the history
replayed with that definition's jobs carrying the new requests. One function does the edit for the
recommendation strategy and for `batchopt simulate --resize`, so the two always agree.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from optimizer.errors import InputError

RESIZABLE = ("vcpus", "memory_mib")


def resize_definitions(
    jobs: pd.DataFrame, edits: Mapping[str, Mapping[str, float]]
) -> tuple[pd.DataFrame, int]:
    """A copy of `jobs` whose jobs of each named definition take the new requests; and how many changed.

    `jobs` needs a `job_definition_name` column (the store's datasets have it).
    """
    if "job_definition_name" not in jobs.columns:
        raise InputError("resize: the history has no job definition names (only stored datasets do)")
    edited = jobs.copy()
    changed = 0
    for name, values in edits.items():
        unknown = set(values) - set(RESIZABLE)
        if unknown:
            raise InputError(f"resize {name}: unknown field(s) {sorted(unknown)}; use {', '.join(RESIZABLE)}")
        mask = edited["job_definition_name"] == name
        for field, value in values.items():
            edited.loc[mask, field] = float(value)
        changed += int(mask.sum())
    return edited, changed


def parse_resize(text: str) -> tuple[str, dict[str, float]]:
    """`NAME:memory_mib=4096,vcpus=2` -> ("NAME", {"memory_mib": 4096.0, "vcpus": 2.0})."""
    name, sep, rest = text.rpartition(":")
    if not sep or not name or not rest:
        raise InputError(f"--resize {text!r}: expected NAME:memory_mib=MIB[,vcpus=N]")
    values: dict[str, float] = {}
    for part in rest.split(","):
        key, eq, raw = part.partition("=")
        if not eq or key.strip() not in RESIZABLE:
            raise InputError(f"--resize {text!r}: {part!r} is not memory_mib=MIB or vcpus=N")
        try:
            values[key.strip()] = float(raw)
        except ValueError:
            raise InputError(f"--resize {text!r}: {raw!r} is not a number") from None
        if values[key.strip()] <= 0:
            raise InputError(f"--resize {text!r}: {key.strip()} must be > 0")
    return name, values


def format_resize(name: str, values: Mapping[str, float]) -> str:
    """The `--resize` argument that reproduces an edit (inverse of parse_resize)."""
    return f"{name}:" + ",".join(f"{k}={values[k]:g}" for k in RESIZABLE if k in values)
