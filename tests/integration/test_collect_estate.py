"""Instances, catalog, prices, bands and usage against the emulator, through the real session path."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from sqlalchemy import Engine, select

from optimizer.collectors import select_sources
from optimizer.collectors.runner import collect
from optimizer.store.read import read_frame
from optimizer.store.schema import (
    collector_runs,
    instance_type_offerings,
    instance_types,
    instances,
    job_attempts,
    jobs,
    ondemand_prices,
    spot_interruption_bands,
    spot_prices,
    usage_samples,
)
from optimizer.store.upsert import bulk_upsert
from tests.collect_helpers import build_batch_estate, client, count, emulator_plan

pytestmark = pytest.mark.emulator


def _register(
    endpoint: str, cluster: str, subnet_az: str, market: str | None, instance_type: str
) -> tuple[str, str]:
    ec2 = client(endpoint, "ec2")
    params = {"InstanceMarketOptions": {"MarketType": market}} if market else {}
    instance = ec2.run_instances(
        ImageId="ami-12c6146b",
        InstanceType=instance_type,
        MinCount=1,
        MaxCount=1,
        Placement={"AvailabilityZone": subnet_az},
        **params,
    )["Instances"][0]["InstanceId"]
    document = json.dumps(
        {"instanceId": instance, "instanceType": instance_type, "availabilityZone": subnet_az}
    )
    ecs = client(endpoint, "ecs")
    arn = ecs.register_container_instance(cluster=cluster, instanceIdentityDocument=document)[
        "containerInstance"
    ]["containerInstanceArn"]
    return instance, arn


def _cluster_of(endpoint: str, ce_arn: str) -> str:
    batch = client(endpoint, "batch")
    return batch.describe_compute_environments(computeEnvironments=[ce_arn])["computeEnvironments"][0][
        "ecsClusterArn"
    ]


def test_instances_catalog_prices_and_bands(aws_endpoint: str, sqlite_engine: Engine) -> None:
    estate = build_batch_estate(aws_endpoint)
    cluster = _cluster_of(aws_endpoint, estate["ces"]["ec2-spot"])
    spot_id, spot_ci = _register(aws_endpoint, cluster, "us-east-1a", "spot", "m5.large")
    od_id, _ = _register(aws_endpoint, cluster, "us-east-1b", None, "c5.xlarge")
    plan = emulator_plan(aws_endpoint)
    sources = select_sources(
        ["compute_environments", "instances", "catalog", "ondemand_prices", "spot_prices", "spot_bands"]
    )

    results = {r.source: r for r in collect(sqlite_engine, [plan], sources)}
    assert all(r.status == "succeeded" for r in results.values()), results

    seen = read_frame(sqlite_engine, select(instances)).set_index("instance_id")
    assert seen.loc[spot_id, "capacity_type"] == "SPOT"
    assert seen.loc[spot_id, "instance_type"] == "m5.large"
    assert seen.loc[spot_id, "container_instance_arn"] == spot_ci
    assert seen.loc[spot_id, "compute_environment_arn"] == estate["ces"]["ec2-spot"]
    assert seen.loc[od_id, "capacity_type"] == "ON_DEMAND"
    assert seen["terminated_at"].isna().all()

    catalog = read_frame(sqlite_engine, select(instance_types)).set_index("instance_type")
    assert catalog.loc["m5.large", "vcpus"] == 2 and catalog.loc["m5.large", "memory_mib"] == 8192
    assert catalog.loc["m5.large", "allocatable_memory_mib"] == 7953
    assert catalog.loc["m6g.large", "arch"] == "arm64"
    assert count(sqlite_engine, instance_type_offerings) > len(catalog)

    prices = read_frame(sqlite_engine, select(ondemand_prices))
    assert set(prices["source"]) == {"snapshot"}  # the emulator has no Price List API
    assert prices.set_index("instance_type").loc["m5.large", "price_per_hour"] == pytest.approx(0.096)
    run = read_frame(
        sqlite_engine, select(collector_runs).where(collector_runs.c.source == "ondemand_prices")
    )
    assert "bundled snapshot" in run["error"].iloc[0] and run["status"].iloc[0] == "succeeded"

    spot = read_frame(sqlite_engine, select(spot_prices))
    assert {"m5.large", "c5.xlarge"} <= set(spot["instance_type"])  # seen types and the CE's families
    bands = read_frame(sqlite_engine, select(spot_interruption_bands))
    assert (bands["region"] == "us-east-1").all() and len(bands) > 500

    again = {r.source: r.items_written for r in collect(sqlite_engine, [plan], sources)}
    assert again == dict.fromkeys(again, 0)

    client(aws_endpoint, "ecs").deregister_container_instance(
        cluster=cluster, containerInstance=spot_ci, force=True
    )
    third = {r.source: r for r in collect(sqlite_engine, [plan], select_sources(["instances"]))}
    assert third["instances"].items_written == 1
    seen = read_frame(sqlite_engine, select(instances)).set_index("instance_id")
    assert seen.loc[spot_id, "terminated_at"] == seen.loc[spot_id, "last_seen"]
    assert pd.isna(seen.loc[od_id, "terminated_at"])


def test_usage_samples_link_to_attempts_and_fold_peaks(aws_endpoint: str, store_engine: Engine) -> None:
    estate = build_batch_estate(aws_endpoint)
    cluster = _cluster_of(aws_endpoint, estate["ces"]["ec2-od"])
    instance_id, ci_arn = _register(aws_endpoint, cluster, "us-east-1a", None, "m5.large")
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    started = now - timedelta(minutes=20)
    task_arn = f"arn:aws:ecs:us-east-1:123456789012:task/{cluster.rsplit('/', 1)[-1]}/0f9a1c2d3e4b5a697887"
    with store_engine.begin() as conn:
        bulk_upsert(
            conn,
            jobs,
            [
                {
                    "job_id": "job-1",
                    "dataset": "aws",
                    "region": "us-east-1",
                    "status": "SUCCEEDED",
                    "created_at": started - timedelta(minutes=1),
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
                    "task_arn": task_arn,
                    "container_instance_arn": ci_arn,
                    "started_at": started,
                }
            ],
        )
    logs = client(aws_endpoint, "logs")
    group = f"/aws/ecs/containerinsights/{cluster.rsplit('/', 1)[-1]}/performance"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="FargateTelemetry-1")
    minutes = [started + timedelta(minutes=m) for m in (1, 2, 3)]
    events = [
        {
            "Type": "Task",
            "TaskId": "0f9a1c2d3e4b5a697887",
            "CpuUtilized": cpu,
            "MemoryUtilized": mem,
            "Timestamp": int(t.replace(tzinfo=UTC).timestamp() * 1000),
        }
        for t, cpu, mem in zip(minutes, (512.0, 2048.0, 1024.0), (900.0, 3100.0, 2000.0), strict=True)
    ] + [
        {
            "Type": "Container",
            "TaskId": "0f9a1c2d3e4b5a697887",
            "CpuUtilized": 9999.0,
            "Timestamp": int(minutes[0].replace(tzinfo=UTC).timestamp() * 1000),
        }
    ]
    logs.put_log_events(
        logGroupName=group,
        logStreamName="FargateTelemetry-1",
        logEvents=sorted(
            ({"timestamp": e["Timestamp"], "message": json.dumps(e)} for e in events),
            key=lambda e: e["timestamp"],
        ),
    )
    cloudwatch = client(aws_endpoint, "cloudwatch")
    cloudwatch.put_metric_data(
        Namespace="AWS/EC2",
        MetricData=[
            {
                "MetricName": "CPUUtilization",
                "Dimensions": [{"Name": "InstanceId", "Value": instance_id}],
                "Timestamp": minutes[1],
                "Value": 63.5,
                "Unit": "Percent",
            }
        ],
    )
    plan = emulator_plan(aws_endpoint)

    first = {r.source: r for r in collect(store_engine, [plan], select_sources(["instances", "usage"]))}
    assert first["usage"].status == "succeeded", first

    samples = read_frame(store_engine, select(usage_samples))
    task = samples[samples["resource_kind"] == "task"]
    assert len(task) == 6 and set(task["job_id"]) == {"job-1"} and set(task["attempt"]) == {0}
    attempt = read_frame(store_engine, select(job_attempts)).iloc[0]
    assert attempt["peak_vcpus"] == 2.0 and attempt["peak_memory_mib"] == 3100.0
    assert attempt["instance_id"] == instance_id  # linked through the container instance
    cpu = samples[samples["resource_kind"] == "instance"]
    assert list(cpu["resource_id"]) == [instance_id] and list(cpu["value"]) == [63.5]

    second = {r.source: r for r in collect(store_engine, [plan], select_sources(["usage"]))}
    assert second["usage"].items_written == 0
