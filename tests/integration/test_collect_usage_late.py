"""Late usage data: a Container Insights event ingested after newer ones and a 5-minute CloudWatch
average revised after the run that first read it are both stored by the next run, which reads
`usage_late_window` before the watermark; the overlap re-read writes nothing. The emulator cannot
deliver data late, so this is botocore's Stubber (requests checked against the service models)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from sqlalchemy import Engine, select

from optimizer.collectors import select_sources
from optimizer.collectors.runner import collect
from optimizer.store.read import read_frame
from optimizer.store.schema import collector_watermarks, instances, job_attempts, jobs, usage_samples
from optimizer.store.upsert import bulk_upsert
from tests.collect_helpers import REGION, Clock, fixed_plan

pytestmark = pytest.mark.any_date  # dates are fixed and "now" is injected: the same on any date

CLUSTER = "arn:aws:ecs:us-east-1:123456789012:cluster/AWSBatch-od-ce-4d5e6f"
GROUP = "/aws/ecs/containerinsights/AWSBatch-od-ce-4d5e6f/performance"
TASK = "0f9a1c2d3e4b5a697887"
INSTANCE = "i-0123456789abcdef0"
RUN1 = datetime(2026, 1, 3, 12)
RUN2 = datetime(2026, 1, 3, 13)
RUN3 = datetime(2026, 1, 3, 14)


def _ms(value: datetime) -> int:
    return int(value.replace(tzinfo=UTC).timestamp() * 1000)


def _event(at: datetime, cpu: float, memory: float, ingested: datetime) -> dict[str, Any]:
    """A FilterLogEvents `events[]` item carrying a Container Insights Task performance event."""
    body = {
        "Type": "Task",
        "TaskId": TASK,
        "CpuUtilized": cpu,
        "MemoryUtilized": memory,
        "Timestamp": _ms(at),
    }
    return {
        "logStreamName": f"AWSBatch-od-ce-4d5e6f/{TASK}",
        "timestamp": _ms(at),
        "message": json.dumps(body),
        "ingestionTime": _ms(ingested),
        "eventId": f"{_ms(at)}-{TASK}",
    }


def _cpu(points: list[tuple[datetime, float]]) -> dict[str, Any]:
    return {
        "MetricDataResults": [
            {
                "Id": "i0",
                "Label": INSTANCE,
                "Timestamps": [t.replace(tzinfo=UTC) for t, _ in points],
                "Values": [v for _, v in points],
                "StatusCode": "Complete",
            }
        ]
    }


def _stub_run(
    now: datetime,
    starts: tuple[datetime, datetime],
    events: list[dict[str, Any]],
    cpu: list[tuple[datetime, float]],
) -> tuple[Any, list[Stubber]]:
    """Clients for one usage run; `starts`: where the log read and the CloudWatch read must begin."""
    logs_start, cw_start = starts
    batch = boto3.client("batch", region_name=REGION)
    logs = boto3.client("logs", region_name=REGION)
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    stubbers = [Stubber(c) for c in (batch, logs, cloudwatch)]
    for stubber in stubbers:
        stubber.activate()
    environment = {
        "computeEnvironmentName": "od-ce",
        "computeEnvironmentArn": "arn:aws:batch:us-east-1:123456789012:compute-environment/od-ce",
        "ecsClusterArn": CLUSTER,
    }
    stubbers[0].add_response("describe_compute_environments", {"computeEnvironments": [environment]}, {})
    stubbers[1].add_response(
        "filter_log_events",
        {"events": events},
        {
            "logGroupName": GROUP,
            "startTime": _ms(logs_start),
            "endTime": _ms(now),
            "filterPattern": '{ $.Type = "Task" }',
        },
    )
    stubbers[2].add_response(
        "get_metric_data", _cpu(cpu), {"MetricDataQueries": ANY, "StartTime": cw_start, "EndTime": now}
    )
    plan = fixed_plan("prod", {"batch": batch, "logs": logs, "cloudwatch": cloudwatch})
    return plan, stubbers


def test_late_events_and_revised_averages_are_stored_once(store_engine: Engine) -> None:
    at = [RUN1 - timedelta(minutes=m) for m in (10, 8, 5)]  # 11:50, 11:52, 11:55
    with store_engine.begin() as conn:
        bulk_upsert(
            conn,
            jobs,
            [
                {
                    "job_id": "job-1",
                    "dataset": "aws",
                    "region": REGION,
                    "status": "RUNNING",
                    "created_at": RUN1 - timedelta(minutes=16),
                }
            ],
        )
        bulk_upsert(
            conn,
            job_attempts,
            [
                {
                    "job_id": "job-1",
                    "attempt": 0,
                    "task_arn": f"arn:aws:ecs:us-east-1:123456789012:task/AWSBatch-od-ce-4d5e6f/{TASK}",
                    "started_at": RUN1 - timedelta(minutes=15),
                }
            ],
        )
        bulk_upsert(
            conn,
            instances,
            [
                {
                    "instance_id": INSTANCE,
                    "dataset": "aws",
                    "region": REGION,
                    "instance_type": "m5.large",
                    "capacity_type": "ON_DEMAND",
                    "first_seen": RUN1 - timedelta(hours=1),
                    "last_seen": RUN3,
                }
            ],
        )

    # Run 1 (first: from the 30-day lookback): the 11:52 event is not ingested yet, and the 11:50
    # average holds only part of its period's datapoints.
    plan, stubbers = _stub_run(
        RUN1,
        (RUN1 - timedelta(days=30), RUN1 - timedelta(days=30)),
        [_event(at[0], 512, 900, RUN1), _event(at[2], 1024, 2000, RUN1)],
        [(at[0], 40.0)],
    )
    [r1] = collect(store_engine, [plan], select_sources(["usage"]), clock=Clock(RUN1))
    assert r1.status == "succeeded", r1
    for stubber in stubbers:
        stubber.assert_no_pending_responses()
    marks = read_frame(store_engine, select(collector_watermarks)).set_index("scope")["value"]
    assert marks[f"logs|{CLUSTER}"] == "2026-01-03T11:55:00.000"
    assert marks["cloudwatch|instances"] == "2026-01-03T11:50:00.000"

    # Run 2 reads from 30 minutes before each watermark: the late 11:52 event (the task's peak) and
    # the completed 11:50 average arrive with the new 12:30 data.
    events2 = [
        _event(at[0], 512, 900, RUN1),
        _event(at[1], 3072, 3500, RUN1 + timedelta(minutes=20)),
        _event(at[2], 1024, 2000, RUN1),
        _event(RUN1 + timedelta(minutes=30), 256, 800, RUN1 + timedelta(minutes=31)),
    ]
    cpu2 = [(at[0], 55.0), (RUN1 + timedelta(minutes=30), 60.0)]
    plan, stubbers = _stub_run(
        RUN2, (datetime(2026, 1, 3, 11, 25), datetime(2026, 1, 3, 11, 20)), events2, cpu2
    )
    [r2] = collect(store_engine, [plan], select_sources(["usage"]), clock=Clock(RUN2))
    assert r2.status == "succeeded", r2
    for stubber in stubbers:
        stubber.assert_no_pending_responses()
    samples = read_frame(store_engine, select(usage_samples))
    task = samples[samples["resource_kind"] == "task"].set_index(["metric", "timestamp"])["value"]
    assert len(task) == 8  # 4 events x (cpu, memory), none twice
    assert task[("cpu_vcpus", at[1])] == 3.0  # the late event
    cpu = samples[samples["resource_kind"] == "instance"].set_index("timestamp")["value"]
    assert cpu.to_dict() == {at[0]: 55.0, RUN1 + timedelta(minutes=30): 60.0}  # revised, not kept at 40
    attempt = read_frame(store_engine, select(job_attempts)).iloc[0]
    assert (attempt["peak_vcpus"], attempt["peak_memory_mib"]) == (3.0, 3500.0)  # from the late event
    # written: the late event (2 samples), the 12:30 event (2), the revised and the new average (2),
    # and the attempt's peaks (1)
    assert r2.items_written == 7

    # Run 3 re-reads the last 30 minutes and nothing changed: nothing is written.
    plan, stubbers = _stub_run(
        RUN3, (datetime(2026, 1, 3, 12), datetime(2026, 1, 3, 12)), events2[3:], cpu2[1:]
    )
    [r3] = collect(store_engine, [plan], select_sources(["usage"]), clock=Clock(RUN3))
    assert (r3.status, r3.items_written) == ("succeeded", 0), r3
    for stubber in stubbers:
        stubber.assert_no_pending_responses()
