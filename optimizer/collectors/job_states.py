"""The order of Batch job states, so a late or re-delivered event never moves a job backwards.

Batch's states only advance: SUBMITTED < PENDING < RUNNABLE < STARTING < RUNNING < SUCCEEDED or
FAILED (both final). Events arrive at least once and in any order, and the reconciliation read may
already have stored a later state, so each record is kept only when its state is at least the
stored one; among records of the same job in one batch the furthest state wins (ties: the later
event). `SCHEDULED` (service jobs) sits between RUNNABLE and STARTING; an unknown state ranks
lowest, so it never overwrites a known one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

STATE_ORDER: tuple[str, ...] = (
    "SUBMITTED",
    "PENDING",
    "RUNNABLE",
    "SCHEDULED",
    "STARTING",
    "RUNNING",
    "SUCCEEDED",
)
TERMINAL = frozenset({"SUCCEEDED", "FAILED"})
OPEN_STATES: tuple[str, ...] = ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING")
"""Non-terminal states ListJobs accepts as `jobStatus` (botocore's JobStatus enum minus the final ones)."""

_RANK = {state: rank for rank, state in enumerate(STATE_ORDER)}
_RANK["FAILED"] = _RANK["SUCCEEDED"]


def rank(status: str | None) -> int:
    """Position of a state in Batch's order; -1 for an unknown or missing one."""
    return _RANK.get(status or "", -1)


def furthest(records: Iterable[tuple[Mapping[str, Any], Any]]) -> dict[str, tuple[Mapping[str, Any], Any]]:
    """Per job id, the record with the furthest state; `(record, order)` pairs where a later order
    (comparable: an event time and arrival position) breaks ties."""
    best: dict[str, tuple[Mapping[str, Any], Any]] = {}
    for record, order in records:
        job_id = record["jobId"]
        current = best.get(job_id)
        if current is None or (rank(record["status"]), order) >= (rank(current[0]["status"]), current[1]):
            best[job_id] = (record, order)
    return best


def moves_forward(new_status: str, stored_status: str | None) -> bool:
    """Whether a record in `new_status` may replace the stored row (never a step back)."""
    if stored_status is None:
        return True
    return rank(new_status) >= rank(stored_status)
