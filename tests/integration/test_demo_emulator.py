"""The demo emulator's gap-fillers, exercised only through plain boto3 calls on its endpoint."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from optimizer.aws.paginate import paginate
from optimizer.aws.session import SessionFactory
from optimizer.catalog.files import load_price_snapshot, load_spot_advisor
from optimizer.collectors.base import CollectContext
from optimizer.collectors.batch_job_definitions import get_active_definitions
from optimizer.config import AwsSettings
from optimizer.demo.emulator import Emulator, SeedCounts
from optimizer.demo.estate import Estate, build_estate
from tests.demo_helpers import NOW, small_history

pytestmark = [pytest.mark.emulator, pytest.mark.xdist_group("demo")]
REGION = "us-east-1"


@pytest.fixture(scope="module")
def seeded() -> Iterator[tuple[Emulator, Estate, SeedCounts]]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_ACCESS_KEY_ID", "testing")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        with Emulator(NOW, history_days=3) as emulator:
            sessions = SessionFactory(AwsSettings(endpoint_url=emulator.endpoint_url, regions=[REGION]))
            estate = build_estate(sessions, sessions.target_regions()[0])
            counts = emulator.seed_history(REGION, small_history(estate))
            yield emulator, estate, counts


def client(emulator: Emulator, service: str) -> Any:
    return boto3.client(service, region_name=REGION, endpoint_url=emulator.endpoint_url)


def test_seed_counts(seeded: tuple[Emulator, Estate, SeedCounts]) -> None:
    _, _, counts = seeded
    assert (counts.jobs, counts.attempts, counts.instances) == (250, 251, 3)
    assert counts.log_events == 4 * 251


def test_list_jobs_pages_newest_first_by_status(seeded: tuple[Emulator, Estate, SeedCounts]) -> None:
    emulator, estate, _ = seeded
    batch = client(emulator, "batch")
    first = batch.list_jobs(jobQueue="cpu-batch", jobStatus="SUCCEEDED", maxResults=100)
    assert len(first["jobSummaryList"]) == 100 and "nextToken" in first
    every = list(
        paginate(
            batch, "list_jobs", "jobSummaryList", jobQueue=estate.queues["cpu-batch"], jobStatus="SUCCEEDED"
        )
    )
    assert len(every) == 245  # 5 of 250 failed (k % 50 == 7)
    created = [s["createdAt"] for s in every]
    assert created == sorted(created, reverse=True)
    assert len({s["jobId"] for s in every}) == 245
    failed = batch.list_jobs(jobQueue="cpu-batch", jobStatus="FAILED")["jobSummaryList"]
    assert sorted(s["jobId"] for s in failed) == [f"job-{k:04d}" for k in (7, 57, 107, 157, 207)]
    assert all(s["container"]["exitCode"] == 1 for s in failed)
    assert batch.list_jobs(jobQueue="cpu-batch")["jobSummaryList"] == []  # default status RUNNING


def test_list_jobs_filters_ignore_status(seeded: tuple[Emulator, Estate, SeedCounts]) -> None:
    emulator, _, _ = seeded
    batch = client(emulator, "batch")
    every = list(paginate(batch, "list_jobs", "jobSummaryList", jobQueue="cpu-batch", jobStatus="SUCCEEDED"))
    by_id = {s["jobId"]: s for s in every}
    pivot = by_id["job-0100"]["createdAt"]
    after = list(
        paginate(
            batch,
            "list_jobs",
            "jobSummaryList",
            jobQueue="cpu-batch",
            filters=[{"name": "AFTER_CREATED_AT", "values": [str(pivot)]}],
        )
    )
    assert len(after) == 149 and all(s["createdAt"] > pivot for s in after)
    assert {s["status"] for s in after} == {"SUCCEEDED", "FAILED"}
    before = batch.list_jobs(
        jobQueue="cpu-batch", filters=[{"name": "BEFORE_CREATED_AT", "values": [str(pivot)]}]
    )
    assert len(before["jobSummaryList"]) == 100
    named = list(
        paginate(
            batch,
            "list_jobs",
            "jobSummaryList",
            jobQueue="cpu-batch",
            filters=[{"name": "JOB_NAME", "values": ["nightly*"]}],
        )
    )
    assert len(named) == 125 and all(s["jobName"].startswith("nightly") for s in named)
    with pytest.raises(ClientError, match="does not exist"):
        batch.list_jobs(jobQueue="no-such-queue")
    with pytest.raises(ClientError):
        batch.list_jobs(jobQueue="cpu-batch", maxResults=5000)


def test_describe_jobs_carries_history_timing_and_attempts(
    seeded: tuple[Emulator, Estate, SeedCounts],
) -> None:
    emulator, _, _ = seeded
    batch = client(emulator, "batch")
    [job] = batch.describe_jobs(jobs=["job-0249", "unknown-id"])["jobs"]
    assert [a["container"].get("exitCode") for a in job["attempts"]] == [None, 0]
    reclaim, retry = job["attempts"]
    assert reclaim["statusReason"].startswith("Host EC2 (instance i-") and reclaim["statusReason"].endswith(
        ") terminated."
    )
    assert retry["startedAt"] - reclaim["startedAt"] == 5 * 60 * 1000
    assert job["stoppedAt"] == retry["stoppedAt"] and job["startedAt"] < job["stoppedAt"]
    assert job["container"]["taskArn"].startswith("arn:aws:ecs:us-east-1:")
    assert {"type": "MEMORY", "value": "8192"} in job["container"]["resourceRequirements"]
    with pytest.raises(ClientError):
        batch.describe_jobs(jobs=[f"job-{k:04d}" for k in range(101)])


def test_container_instances_and_ec2_lifecycle(seeded: tuple[Emulator, Estate, SeedCounts]) -> None:
    emulator, _, _ = seeded
    batch, ecs, ec2 = client(emulator, "batch"), client(emulator, "ecs"), client(emulator, "ec2")
    environment = batch.describe_compute_environments(computeEnvironments=["cpu-batch-ondemand"])[
        "computeEnvironments"
    ][0]
    cluster = environment["ecsClusterArn"]
    arns = list(paginate(ecs, "list_container_instances", "containerInstanceArns", cluster=cluster))
    assert len(arns) == 3
    page = ecs.list_container_instances(cluster=cluster, maxResults=2)
    assert len(page["containerInstanceArns"]) == 2 and page["nextToken"]
    active = ecs.list_container_instances(cluster=cluster, status="ACTIVE")["containerInstanceArns"]
    assert len(active) == 1
    described = ecs.describe_container_instances(cluster=cluster, containerInstances=[*arns, "missing"])
    assert described["failures"] == [
        {"arn": described["failures"][0]["arn"], "reason": "MISSING"}
    ] and described["failures"][0]["arn"].endswith("/missing")
    by_type = {
        next(a["value"] for a in ci["attributes"] if a["name"] == "ecs.instance-type"): ci
        for ci in described["containerInstances"]
    }
    ids = {t: ci["ec2InstanceId"] for t, ci in by_type.items()}
    reservations = ec2.describe_instances(InstanceIds=list(ids.values()))["Reservations"]
    found = {i["InstanceType"]: i for r in reservations for i in r["Instances"]}
    assert found["m4.xlarge"]["State"]["Name"] == "running"
    assert found["m4.large"]["State"]["Name"] == "terminated"
    assert "GMT)" in found["m4.large"]["StateTransitionReason"]
    assert found["c4.large"].get("InstanceLifecycle") == "spot"
    start = NOW - timedelta(days=3)
    assert abs((found["m4.large"]["LaunchTime"] - start).total_seconds()) < 1
    assert {"Key": "AWSBatchServiceTag", "Value": "cpu-batch-ondemand"} in found["m4.large"]["Tags"]
    # moto's own minvCpus placeholders are gone: only the history's instances exist.
    every = [i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]]
    assert len(every) == 3


def test_spot_price_history_is_real_data(seeded: tuple[Emulator, Estate, SeedCounts]) -> None:
    emulator, _, _ = seeded
    ec2 = client(emulator, "ec2")
    recorded = list(
        paginate(
            ec2,
            "describe_spot_price_history",
            "SpotPriceHistory",
            InstanceTypes=["m5.large"],
            StartTime=NOW - timedelta(days=40),
            EndTime=NOW,
        )
    )
    assert len(recorded) == 250  # the real response's 250 records, moved so the last is at NOW
    assert max(r["Timestamp"] for r in recorded) == NOW
    assert {r["AvailabilityZone"] for r in recorded} >= {"us-east-1a", "us-east-1b"}
    page = ec2.describe_spot_price_history(
        InstanceTypes=["m5.large"], MaxResults=100, StartTime=NOW - timedelta(days=40)
    )
    assert len(page["SpotPriceHistory"]) == 100 and page["NextToken"]
    on_demand = load_price_snapshot().set_index("instance_type")["ondemand_price"]
    advisor = load_spot_advisor("us-east-1").set_index("instance_type")["savings_pct"]
    derived = ec2.describe_spot_price_history(InstanceTypes=["c5.large"], AvailabilityZone="us-east-1a")[
        "SpotPriceHistory"
    ]
    assert len(derived) == 1
    expected = on_demand["c5.large"] * (1 - advisor["c5.large"] / 100)
    assert float(derived[0]["SpotPrice"]) == pytest.approx(expected, abs=1e-6)
    windows = ec2.describe_spot_price_history(InstanceTypes=["c5.large"], ProductDescriptions=["Windows"])
    assert windows["SpotPriceHistory"] == []


def test_pricing_get_products_from_snapshot(seeded: tuple[Emulator, Estate, SeedCounts]) -> None:
    emulator, _, _ = seeded
    pricing = client(emulator, "pricing")
    reply = pricing.get_products(
        ServiceCode="AmazonEC2",
        Filters=[
            {"Type": "TERM_MATCH", "Field": "instanceType", "Value": "m5.large"},
            {"Type": "TERM_MATCH", "Field": "location", "Value": "US East (N. Virginia)"},
        ],
    )
    [product] = [json.loads(p) for p in reply["PriceList"]]
    [term] = product["terms"]["OnDemand"].values()
    [dimension] = term["priceDimensions"].values()
    assert float(dimension["pricePerUnit"]["USD"]) == pytest.approx(0.096)
    assert product["product"]["attributes"]["vcpu"] == "2"
    page = pricing.get_products(ServiceCode="AmazonEC2", MaxResults=100)
    assert len(page["PriceList"]) == 100 and page["NextToken"]
    assert (
        pricing.get_products(
            ServiceCode="AmazonEC2",
            Filters=[{"Type": "TERM_MATCH", "Field": "instanceType", "Value": "nope"}],
        )["PriceList"]
        == []
    )
    with pytest.raises(ClientError):
        pricing.get_products(ServiceCode="AmazonS3")


def test_update_compute_environment_changes_the_estate(seeded: tuple[Emulator, Estate, SeedCounts]) -> None:
    emulator, estate, _ = seeded
    batch = client(emulator, "batch")
    batch.update_compute_environment(
        computeEnvironment="memory-heavy-ondemand", computeResources={"minvCpus": 0, "maxvCpus": 128}
    )
    resources = batch.describe_compute_environments(computeEnvironments=["memory-heavy-ondemand"])[
        "computeEnvironments"
    ][0]["computeResources"]
    assert (resources["minvCpus"], resources["maxvCpus"]) == (0, 128)
    with pytest.raises(ClientError, match="BEST_FIT_PROGRESSIVE"):
        batch.update_compute_environment(
            computeEnvironment="memory-heavy-ondemand", computeResources={"instanceTypes": ["r6i"]}
        )
    with pytest.raises(ClientError, match="maxvCpus"):
        batch.update_compute_environment(
            computeEnvironment="memory-heavy-ondemand", computeResources={"minvCpus": 500}
        )
    source = batch.describe_compute_environments(computeEnvironments=["cpu-batch-ondemand"])[
        "computeEnvironments"
    ][0]
    progressive = {
        **source["computeResources"],
        "allocationStrategy": "BEST_FIT_PROGRESSIVE",
        "minvCpus": 0,
        "desiredvCpus": 0,
    }
    batch.create_compute_environment(
        computeEnvironmentName="cpu-progressive",
        type="MANAGED",
        serviceRole=source["serviceRole"],
        computeResources=progressive,
    )
    batch.update_compute_environment(
        computeEnvironment="cpu-progressive",
        computeResources={"instanceTypes": ["m6i", "c6i"], "maxvCpus": 256},
    )
    updated = batch.describe_compute_environments(computeEnvironments=["cpu-progressive"])[
        "computeEnvironments"
    ][0]
    assert updated["computeResources"]["instanceTypes"] == ["m6i", "c6i"]
    assert updated["computeResources"]["maxvCpus"] == 256
    assert estate.compute_environments["cpu-batch-ondemand"] == source["computeEnvironmentArn"]


def test_container_insights_events(seeded: tuple[Emulator, Estate, SeedCounts]) -> None:
    emulator, _, _ = seeded
    batch, logs = client(emulator, "batch"), client(emulator, "logs")
    cluster = batch.describe_compute_environments(computeEnvironments=["cpu-batch-ondemand"])[
        "computeEnvironments"
    ][0]["ecsClusterArn"]
    group = f"/aws/ecs/containerinsights/{cluster.rsplit('/', 1)[-1]}/performance"
    events = list(paginate(logs, "filter_log_events", "events", logGroupName=group))
    assert len(events) == 4 * 251
    messages = [json.loads(e["message"]) for e in events]
    peaks = [m for m in messages if m["BatchJobId"] == "job-0000"]
    assert max(m["MemoryUtilized"] for m in peaks) == 3000
    assert max(m["CpuUtilized"] for m in peaks) == pytest.approx(1.5 * 1024)
    assert {m["MemoryReserved"] for m in peaks} == {8192}


def test_usage_older_than_the_logs_window_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo's month of history ends "now" but starts weeks back: its oldest usage events must
    be there too, although CloudWatch Logs' PutLogEvents refuses events older than 14 days."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    ended = NOW - timedelta(days=20)
    with Emulator(NOW, history_days=30) as emulator:
        sessions = SessionFactory(AwsSettings(endpoint_url=emulator.endpoint_url, regions=[REGION]))
        estate = build_estate(sessions, sessions.target_regions()[0])
        counts = emulator.seed_history(REGION, small_history(estate, n_jobs=20, now=ended))
        cluster = client(emulator, "batch").describe_compute_environments(
            computeEnvironments=["cpu-batch-ondemand"]
        )["computeEnvironments"][0]["ecsClusterArn"]
        group = f"/aws/ecs/containerinsights/{cluster.rsplit('/', 1)[-1]}/performance"
        events = list(paginate(client(emulator, "logs"), "filter_log_events", "events", logGroupName=group))
    assert counts.log_events == len(events) == 4 * 21
    newest = max(e["timestamp"] for e in events)
    assert newest < (NOW - timedelta(days=14)).timestamp() * 1000
    assert all(e["ingestionTime"] == e["timestamp"] for e in events)  # written as the history ran


def test_job_definitions_page_as_the_model_says_and_the_collector_reads_every_page(
    seeded: tuple[Emulator, Estate, SeedCounts],
) -> None:
    """130 more ACTIVE definitions: one DescribeJobDefinitions answers at most 100 (maxResults
    1..100) with an opaque nextToken, and the collector's paginated read gets every definition once."""
    emulator, _, _ = seeded
    batch = client(emulator, "batch")
    for k in range(130):
        batch.register_job_definition(
            jobDefinitionName=f"paged-{k:03d}",
            type="container",
            containerProperties={
                "image": "busybox",
                "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "512"}],
            },
        )
    first = batch.describe_job_definitions(status="ACTIVE")
    assert len(first["jobDefinitions"]) == 100 and first.get("nextToken")
    small = batch.describe_job_definitions(status="ACTIVE", maxResults=7)
    following = batch.describe_job_definitions(status="ACTIVE", maxResults=7, nextToken=small["nextToken"])
    assert len(small["jobDefinitions"]) == len(following["jobDefinitions"]) == 7
    assert not {d["jobDefinitionArn"] for d in small["jobDefinitions"]} & {
        d["jobDefinitionArn"] for d in following["jobDefinitions"]
    }
    for bad in ({"maxResults": 0}, {"maxResults": 101}, {"nextToken": "not-a-token"}):
        with pytest.raises(ClientError, match="ClientException"):
            batch.describe_job_definitions(status="ACTIVE", **bad)
    ctx = CollectContext(
        target="demo",
        region=REGION,
        account_id=None,
        client_factory=lambda service, region: boto3.client(
            service, region_name=region, endpoint_url=emulator.endpoint_url
        ),
        now=NOW.replace(tzinfo=None),
    )
    read = get_active_definitions(ctx)
    arns = [d["jobDefinitionArn"] for d in read]
    assert len(arns) == len(set(arns)) > 130
    assert {f"paged-{k:03d}" for k in range(130)} <= {d["jobDefinitionName"] for d in read}
