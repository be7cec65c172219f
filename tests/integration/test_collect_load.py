"""Transformed DescribeJobs frames load through the store's one bulk upsert on SQLite and PostgreSQL.

pandas 3 gives string columns a `str` dtype whose missing value is NaN and integer columns a nullable
`Int64` holding pd.NA; both must arrive as SQL NULL, and a re-load of identical rows writes nothing.
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Engine, select

from optimizer.collectors.jobs_transform import transform_jobs
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


def test_collected_frames_load_and_reload_idempotently(store_engine: Engine) -> None:
    job_frame, attempt_frame = transform_jobs(_records(), "123456789012", "us-east-1")
    with store_engine.begin() as conn:
        assert bulk_upsert(conn, jobs, job_frame) == 4
        assert bulk_upsert(conn, job_attempts, attempt_frame) == 3
    with store_engine.begin() as conn:
        assert bulk_upsert(conn, jobs, job_frame) == 0
        assert bulk_upsert(conn, job_attempts, attempt_frame) == 0
        assert bulk_upsert(conn, jobs, job_frame.assign(status="SUCCEEDED")) == 1  # only "b" changes
    stored = read_frame(store_engine, select(jobs)).set_index("job_id")
    assert stored.loc["b", "status"] == "SUCCEEDED" and stored.loc["b", "tags"] == {"project": "wgs"}
    assert stored.loc["d", "started_at"] is None or pd.isna(stored.loc["d", "started_at"])


def test_pandas_missing_markers_become_null(store_engine: Engine) -> None:
    frame = pd.DataFrame(
        {
            "job_id": pd.array(["x", "y"], dtype="str"),
            "status": pd.array(["SUCCEEDED", "FAILED"], dtype="str"),
            "created_at": pd.to_datetime(["2026-11-01", "2026-11-02"]),
            "queue": pd.array(["q", None], dtype="str"),
            "gpus": pd.array([1, None], dtype="Int64"),
            "vcpus": [2.0, float("nan")],
            "is_multinode": pd.array([True, None], dtype="boolean"),
        }
    )
    with store_engine.begin() as conn:
        assert bulk_upsert(conn, jobs, frame) == 2
    with store_engine.connect() as conn:
        row = conn.execute(select(jobs).where(jobs.c.job_id == "y")).one()
    assert (row.queue, row.gpus, row.vcpus, row.is_multinode) == (None, None, None, None)
    with store_engine.begin() as conn:
        assert bulk_upsert(conn, jobs, frame) == 0
