"""Work lost to spot reclaims, counted one way for the weekly report and the Spot page.

A reclaimed attempt (`job_attempts.is_spot_reclaim`: an EC2 Spot interruption or a Fargate Spot
task stopped for capacity) loses the time it had run; its job is retried from the start. Lost
run-hours are the attempt's stopped minus started time (never negative), and lost vCPU-hours those
hours times the job's requested vCPUs (the work the retry has to redo). The report reads one ISO
week's attempts, the Spot page every attempt of the history it shows; both count them here, so the
two figures differ only by the window they cover.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

#: The columns `lost_work` reads: one row per reclaimed attempt.
RECLAIM_COLUMNS = ("job_id", "attempt", "vcpus", "started_at", "stopped_at")


@dataclass(frozen=True)
class LostWork:
    attempts: int
    run_hours: float
    vcpu_hours: float


def lost_work(reclaims: pd.DataFrame) -> LostWork:
    """Attempts, run-hours and vCPU-hours lost by the reclaimed attempts in `reclaims`
    (`RECLAIM_COLUMNS`); an attempt without both times, or without vCPUs, counts with no hours."""
    if reclaims.empty:
        return LostWork(0, 0.0, 0.0)
    hours = (
        (pd.to_datetime(reclaims["stopped_at"]) - pd.to_datetime(reclaims["started_at"])).dt.total_seconds()
        / 3600.0
    ).clip(lower=0.0)
    vcpus = pd.to_numeric(reclaims["vcpus"], errors="coerce")
    return LostWork(
        attempts=len(reclaims),
        run_hours=float(hours.fillna(0.0).sum()),
        vcpu_hours=float((hours * vcpus).fillna(0.0).sum()),
    )
