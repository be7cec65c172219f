"""Batch collectors against the emulator: an estate made through boto3 is captured, incrementally."""

from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy import Engine, select

from optimizer.collectors import select_sources
from optimizer.collectors.runner import collect
from optimizer.store.read import read_frame
from optimizer.store.schema import (
    collector_runs,
    collector_watermarks,
    compute_environments,
    job_attempts,
    job_definitions,
    job_queues,
    jobs,
)
from tests.collect_helpers import build_batch_estate, count, emulator_plan, submit_and_wait

pytestmark = pytest.mark.emulator

BATCH_SOURCES = ["compute_environments", "job_queues", "jobs", "job_definitions"]


def test_estate_is_captured_and_collection_is_incremental(aws_endpoint: str, store_engine: Engine) -> None:
    estate = build_batch_estate(aws_endpoint)
    batch = estate["batch"]
    first_ids = submit_and_wait(batch, estate["queue"], estate["rev1"], ["a", "b", "c"])
    plan = emulator_plan(aws_endpoint)
    sources = select_sources(BATCH_SOURCES)

    results = collect(store_engine, [plan], sources)
    assert [r.status for r in results] == ["succeeded"] * 4, results

    ces = read_frame(store_engine, select(compute_environments)).set_index("name")
    assert set(ces.index) == {"ec2-od", "ec2-spot", "fargate", "fargate-spot", "unmanaged"}
    assert ces.loc["ec2-spot", "platform"] == "SPOT"
    assert ces.loc["ec2-spot", "allocation_strategy"] == "SPOT_CAPACITY_OPTIMIZED"
    assert ces.loc["ec2-od", "instance_types"] == ["m5.large", "c5"]
    assert ces.loc["fargate-spot", "platform"] == "FARGATE_SPOT"
    assert ces.loc["unmanaged", "type"] == "UNMANAGED"
    assert pd.isna(ces.loc["unmanaged", "platform"])
    assert ces.loc["ec2-od", "tags"] == {"team": "genomics"}
    queue = read_frame(store_engine, select(job_queues)).iloc[0]
    assert [o["order"] for o in queue["compute_environment_order"]] == [1, 2]

    stored = read_frame(store_engine, select(jobs)).set_index("job_id")
    assert set(stored.index) == set(first_ids)
    assert (stored["queue"] == "main").all()
    assert (stored["job_definition_name"] == "align").all()
    assert set(stored["status"]) <= {"SUCCEEDED", "FAILED"}
    assert count(store_engine, job_attempts) >= 3
    defs = read_frame(store_engine, select(job_definitions)).set_index("revision")
    assert defs.loc[1, "vcpus"] == 2 and defs.loc[1, "memory_mib"] == 4096
    assert defs.loc[2, "vcpus"] == 4 and defs.loc[2, "memory_mib"] == 8192
    assert defs.loc[2, "retry_strategy"] == {"attempts": 3}

    again = collect(store_engine, [plan], sources)
    assert [(r.status, r.items_written) for r in again] == [("succeeded", 0)] * 4

    new_ids = submit_and_wait(batch, estate["queue"], estate["rev2"], ["d", "e"])
    third = {r.source: r for r in collect(store_engine, [plan], sources)}
    assert third["jobs"].status == "succeeded"
    with store_engine.connect() as conn:
        all_ids = {row[0] for row in conn.execute(select(jobs.c.job_id))}
    assert all_ids == set(first_ids) | set(new_ids)
    new_attempts = count(store_engine, job_attempts) - len(first_ids)
    assert third["jobs"].items_written == len(new_ids) + new_attempts
    assert third["compute_environments"].items_written == 0

    runs = read_frame(store_engine, select(collector_runs).where(collector_runs.c.source == "jobs"))
    assert list(runs["status"]) == ["succeeded"] * 3
    assert runs["watermark_after"].iloc[-1] >= runs["watermark_after"].iloc[0]
    marks = read_frame(store_engine, select(collector_watermarks)).set_index("scope")["value"]
    newest = read_frame(store_engine, select(jobs.c.created_at))["created_at"].max()
    assert marks[f"{estate['queue']}|created"] >= newest.isoformat(timespec="milliseconds")  # the run's time
