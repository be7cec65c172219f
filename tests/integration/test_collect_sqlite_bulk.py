"""The vectorised SQLite loader writes exactly what bulk_upsert writes, so either may load over the other."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from sqlalchemy import select

from optimizer.collectors.frames import for_store
from optimizer.collectors.jobs_transform import transform_jobs
from optimizer.collectors.sqlite_bulk import upsert
from optimizer.store.engine import create_store_engine, upgrade
from optimizer.store.read import read_frame
from optimizer.store.schema import job_attempts, jobs
from optimizer.store.upsert import bulk_upsert
from tests.collect_helpers import job_record

T0 = 1_767_225_600_000


def _records() -> list[dict]:
    reclaimed = {
        "container": {},
        "startedAt": T0,
        "statusReason": "Host EC2 (instance i-0123456789abcdef0) terminated.",
    }
    return [
        job_record("a", T0, legacy=True),
        job_record("b", T0 + 1, status="FAILED", attempts=[reclaimed]),
        job_record("c:1", T0 + 2, arrayProperties={"index": 1}, tags=None, parameters={}),
        job_record("d", T0 + 3, attempts=[], startedAt=None, stoppedAt=None),
    ]


def test_same_rows_as_bulk_upsert_and_interchangeable(tmp_path: Path) -> None:
    job_frame, attempt_frame = transform_jobs(_records(), "123456789012", "us-east-1")
    fast = create_store_engine(f"sqlite:///{tmp_path / 'fast.db'}")
    slow = create_store_engine(f"sqlite:///{tmp_path / 'slow.db'}")
    for engine in (fast, slow):
        upgrade(engine)
    with fast.begin() as conn:
        assert upsert(conn, jobs, job_frame) == 4
        assert upsert(conn, job_attempts, attempt_frame) == 3
    with slow.begin() as conn:
        bulk_upsert(conn, jobs, for_store(job_frame))
        bulk_upsert(conn, job_attempts, for_store(attempt_frame))
    for table in (jobs, job_attempts):
        pd.testing.assert_frame_equal(read_frame(fast, select(table)), read_frame(slow, select(table)))
    with fast.begin() as conn:  # the other path over identical rows: nothing changes
        assert bulk_upsert(conn, jobs, for_store(job_frame)) == 0
    with slow.begin() as conn:
        assert upsert(conn, jobs, job_frame) == 0
        changed = job_frame.assign(status="SUCCEEDED")
        assert upsert(conn, jobs, changed) == 1  # only "b" was not SUCCEEDED
    row = read_frame(slow, select(jobs).where(jobs.c.job_id == "b")).iloc[0]
    assert row["status"] == "SUCCEEDED" and row["tags"] == {"project": "wgs"}
