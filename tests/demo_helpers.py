"""Test helpers for the demo: a small hand-made history in the store's frame contract, and what a
shared headless demo run left behind (`tests/e2e/conftest.py`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd

from optimizer.demo.emulator import HistoryFrames
from optimizer.demo.estate import Estate
from tests.clock import anchored_now_utc

NOW = anchored_now_utc("h")
"""The emulated estate's "now": the real time floored to the hour, so what the emulator checks
against the real clock (CloudWatch Logs' window, launch times, ListJobs) sees a recent history on
any date. Assertions never depend on which date it is."""


@dataclass(frozen=True)
class HeadlessDemo:
    """What one headless demo run left behind, for tests to check against each other."""

    database_url: str
    workdir: Path
    summary_file: Path
    exit_code: int
    out: str
    """Everything the demo printed (stage lines and the summary)."""


def small_history(estate: Estate, n_jobs: int = 250, *, now: datetime = NOW) -> HistoryFrames:
    """`n_jobs` one-minute jobs on `cpu-batch`, one every 10 minutes from 3 days before `now`, on
    three instances (one still running, one a reclaimed spot instance); the last job has two
    attempts, the first ended by a spot reclaim."""
    start = (now - timedelta(days=3)).replace(tzinfo=None)
    ce = estate.compute_environments["cpu-batch-ondemand"]
    queue = estate.queues["cpu-batch"]
    definition = estate.job_definitions["cpu-batch-job"]
    created = [start + timedelta(minutes=10 * k) for k in range(n_jobs)]
    jobs = pd.DataFrame(
        {
            "job_id": [f"job-{k:04d}" for k in range(n_jobs)],
            "job_name": [f"{'nightly' if k % 2 else 'adhoc'}-{k}" for k in range(n_jobs)],
            "queue": "cpu-batch",
            "job_queue_arn": queue,
            "job_definition": definition,
            "job_definition_name": "cpu-batch-job",
            "status": ["FAILED" if k % 50 == 7 else "SUCCEEDED" for k in range(n_jobs)],
            "status_reason": None,
            "created_at": created,
            "started_at": [c + timedelta(seconds=30) for c in created],
            "stopped_at": [c + timedelta(seconds=90) for c in created],
            "vcpus": 2.0,
            "memory_mib": 8192,
            "gpus": 0,
            "attempt_count": 1,
            "retry_attempts": 2,
        }
    )
    instance_of = ["sim-a" if k < n_jobs // 2 else "sim-b" for k in range(n_jobs)]
    attempts = pd.DataFrame(
        {
            "job_id": jobs["job_id"],
            "attempt": 0,
            "instance_id": instance_of,
            "compute_environment_arn": ce,
            "started_at": jobs["started_at"],
            "stopped_at": jobs["stopped_at"],
            "exit_code": [1 if s == "FAILED" else 0 for s in jobs["status"]],
            "reason": None,
            "is_spot_reclaim": False,
            "peak_memory_mib": 3000.0,
            "peak_vcpus": 1.5,
        }
    )
    last = jobs.index[-1]
    reclaimed = attempts.loc[[last]].assign(
        instance_id="sim-spot", is_spot_reclaim=True, exit_code=None, reason="Host terminated"
    )
    retried = attempts.loc[[last]].assign(attempt=1)
    retried["started_at"] = retried["started_at"] + timedelta(minutes=5)
    retried["stopped_at"] = retried["stopped_at"] + timedelta(minutes=5)
    attempts = pd.concat([attempts.drop(index=last), reclaimed, retried], ignore_index=True)
    jobs.loc[last, "attempt_count"] = 2
    jobs.loc[last, "stopped_at"] = retried["stopped_at"].iat[0]
    instances = pd.DataFrame(
        {
            "instance_id": ["sim-a", "sim-b", "sim-spot"],
            "compute_environment_arn": ce,
            "instance_type": ["m4.large", "m4.xlarge", "c4.large"],
            "capacity_type": ["ON_DEMAND", "ON_DEMAND", "SPOT"],
            "availability_zone": None,
            "launch_time": [start, start + timedelta(hours=30), created[-1]],
            "terminated_at": [start + timedelta(hours=29), pd.NaT, created[-1] + timedelta(minutes=2)],
        }
    )
    return HistoryFrames(jobs=jobs, attempts=attempts, instances=instances)
