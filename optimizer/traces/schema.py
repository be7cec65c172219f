"""The canonical jobs table every trace parser produces, and the checks that keep it honest."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd

from optimizer.traces.mapping import TraceMapping

# Required columns and their dtypes: what the solver's demand builder and the simulator read.
CANONICAL_COLUMNS: dict[str, str] = {
    "job_id": "object",
    "submit_s": "float64",
    "runtime_s": "float64",
    "vcpus": "float64",
    "memory_mib": "float64",
    "gpus": "int64",
    "queue": "object",
    "job_name": "object",
    "arch": "object",
}

# Optional columns a parser fills when its source has them (absent columns mean "unknown").
OPTIONAL_COLUMNS: dict[str, str] = {
    "user": "object",
    "status": "object",  # SUCCEEDED | FAILED as the trace recorded it
    "depends_on": "object",  # list[str] of job ids
    "retry_attempts": "Int64",
    "retry_strategy": "object",  # the Batch retryStrategy dict, when the trace has one
    "used_memory_mib": "float64",
    "used_vcpus": "float64",
    "priority": "Int64",
    "share_identifier": "object",  # Batch's shareIdentifier (fair-share queues), when the trace has it
    "gpu_milli": "float64",
    "platform": "object",  # EC2 | FARGATE
    "wait_s": "float64",  # how long the job waited in the traced system (start - submit)
    # Multi-node parallel jobs: each row is one node job `<parent>#<node>`; node 0 is the main node.
    "mnp_parent": "object",  # the MNP job's id (None for an ordinary job)
    "node_index": "Int64",
    "num_nodes": "Int64",
    "node_instance_types": "object",  # list[str]: the node range's instanceTypes, when it names them
}


@dataclass(frozen=True)
class Trace:
    """A parsed trace: the jobs, when second 0 is, how units were mapped, and what was left out.

    `skipped` counts rows that are valid in their format but cannot be replayed (for example an
    SWF job cancelled before it ran has runtime -1); they are reported, not silently dropped.
    """

    format: str
    source: str
    jobs: pd.DataFrame
    mapping: TraceMapping
    start_time: datetime | None = None
    skipped: dict[str, int] = field(default_factory=dict)

    def mapping_json(self) -> dict[str, Any]:
        """What the store keeps in `datasets.mapping`: the rules plus what was skipped and why."""
        return {"format": self.format, **self.mapping.to_json(), "skipped": dict(self.skipped)}


def build_frame(rows: dict[str, list[Any]]) -> pd.DataFrame:
    """Column lists -> a frame with the canonical dtypes, sorted by submit time (stable).

    Optional columns are included only when a parser supplied them.
    """
    data: dict[str, Any] = {}
    n = len(rows["job_id"])
    for name, dtype in CANONICAL_COLUMNS.items():
        values = rows.get(name, [None] * n)
        data[name] = pd.Series(values, dtype=dtype) if dtype != "object" else pd.Series(values, dtype=object)
    for name, dtype in OPTIONAL_COLUMNS.items():
        if name in rows:
            values = rows[name]
            data[name] = pd.Series(values, dtype=object if dtype == "object" else dtype)
    frame = pd.DataFrame(data)
    if n:
        frame = frame.sort_values("submit_s", kind="stable").reset_index(drop=True)
    return frame
