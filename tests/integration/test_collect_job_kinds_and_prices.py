"""Every job kind Batch reports, accelerators, spot product descriptions and the Pricing currency.

DescribeJobs / DescribeInstanceTypes / DescribeSpotPriceHistory / GetProducts answers go through
botocore's Stubber, which validates them against the service models, so the fixtures here are the
shapes AWS sends; the frames are then written to the store to prove every column exists.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import boto3
import pandas as pd
import pytest
from botocore.stub import ANY, Stubber
from sqlalchemy import Engine, select

from optimizer.collectors import select_sources
from optimizer.collectors.catalog import transform_instance_types
from optimizer.collectors.jobs_transform import transform_jobs
from optimizer.collectors.ondemand_prices import price_filters, pricing_region, transform_price_list
from optimizer.collectors.runner import collect
from optimizer.collectors.spot_prices import transform_spot_prices
from optimizer.store.read import read_frame
from optimizer.store.schema import instance_types, instances, job_attempts, jobs, spot_prices
from optimizer.store.upsert import bulk_upsert
from tests.collect_helpers import REGION, Clock, fixed_plan

pytestmark = pytest.mark.any_date

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
QUEUE = "arn:aws:batch:us-east-1:123456789012:job-queue/q"
TASK = "arn:aws:ecs:us-east-1:123456789012:task/batch-cluster/0f1e2d3c"
CI = "arn:aws:ecs:us-east-1:123456789012:container-instance/batch-cluster/9a8b7c"


def _base(job_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "jobArn": f"arn:aws:batch:us-east-1:123456789012:job/{job_id}",
        "jobName": job_id,
        "jobId": job_id,
        "jobQueue": QUEUE,
        "status": "FAILED",
        "createdAt": T0,
        "startedAt": T0 + 60_000,
        "stoppedAt": T0 + 3_600_000,
        "jobDefinition": f"arn:aws:batch:us-east-1:123456789012:job-definition/{job_id}-def:1",
        **extra,
    }


MULTI_CONTAINER = _base(
    "mc-1",
    platformCapabilities=["EC2"],
    ecsProperties={
        "taskProperties": [
            {
                "containerInstanceArn": CI,
                "taskArn": TASK,
                "containers": [
                    {
                        "name": "app",
                        "image": "app:1",
                        "essential": True,
                        "exitCode": 137,
                        "reason": "OutOfMemoryError: Container killed due to memory usage",
                        "resourceRequirements": [
                            {"type": "VCPU", "value": "2"},
                            {"type": "MEMORY", "value": "4096"},
                        ],
                    },
                    {
                        "name": "sidecar",
                        "image": "envoy:1",
                        "essential": False,
                        "exitCode": 0,
                        "resourceRequirements": [
                            {"type": "VCPU", "value": "0.5"},
                            {"type": "MEMORY", "value": "512"},
                        ],
                    },
                ],
            }
        ]
    },
    attempts=[
        {
            "startedAt": T0 + 60_000,
            "stoppedAt": T0 + 3_600_000,
            "statusReason": "Essential container in task exited",
            "taskProperties": [
                {
                    "containerInstanceArn": CI,
                    "taskArn": TASK,
                    "containers": [
                        {
                            "name": "app",
                            "exitCode": 137,
                            "reason": "OutOfMemoryError: Container killed due to memory usage",
                            "logStreamName": "mc/app/0f1e2d3c",
                        },
                        {"name": "sidecar", "exitCode": 0, "logStreamName": "mc/sidecar/0f1e2d3c"},
                    ],
                }
            ],
        }
    ],
)

EKS = _base(
    "eks-1",
    platformCapabilities=["EC2"],  # what Batch reports for an EKS job
    eksProperties={
        "podProperties": {
            "podName": "aws-batch.eks-1",
            "nodeName": "ip-10-0-1-17.ec2.internal",
            "containers": [
                {
                    "name": "train",
                    "image": "trainer:1",
                    "resources": {
                        "requests": {"cpu": "1500m", "memory": "6Gi"},
                        "limits": {"nvidia.com/gpu": "1", "memory": "6Gi"},
                    },
                    "exitCode": 137,
                    "reason": "OOMKilled",
                },
                {
                    "name": "logger",
                    "image": "fluent-bit:2",
                    "resources": {"limits": {"cpu": "0.5", "memory": "512Mi"}},
                    "exitCode": 0,
                },
            ],
        }
    },
    eksAttempts=[
        {
            "containers": [
                {"name": "train", "containerID": "c1", "exitCode": 137, "reason": "OOMKilled"},
                {"name": "logger", "containerID": "c2", "exitCode": 0},
            ],
            "eksClusterArn": "arn:aws:eks:us-east-1:123456789012:cluster/batch",
            "podName": "aws-batch.eks-1",
            "podNamespace": "batch",
            "nodeName": "ip-10-0-1-17.ec2.internal",
            "startedAt": T0 + 60_000,
            "stoppedAt": T0 + 3_600_000,
            "statusReason": "Pod failed",
        }
    ],
)

NEURON = _base(
    "inf-1",
    status="SUCCEEDED",
    eksProperties={
        "podProperties": {
            "containers": [
                {
                    "name": "infer",
                    "image": "neuron:1",
                    "resources": {
                        "requests": {"cpu": "4", "memory": "16Gi"},
                        "limits": {"aws.amazon.com/neuron": "2", "example.com/widget": "3"},
                    },
                    "exitCode": 0,
                }
            ]
        }
    },
    eksAttempts=[{"containers": [{"name": "infer", "exitCode": 0}], "nodeName": "ip-10-0-2-9.ec2.internal"}],
)

ARRAY_CHILD = _base(
    "parent-1:3",
    status="SUCCEEDED",
    arrayProperties={"index": 3},
    container={"resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "2048"}]},
)
NODE_CHILD = _base(
    "mnp-1#2",
    status="SUCCEEDED",
    nodeDetails={"nodeIndex": 2, "isMainNode": False},
    container={
        "exitCode": 0,
        "resourceRequirements": [
            {"type": "VCPU", "value": "8"},
            {"type": "MEMORY", "value": "32768"},
            {"type": "SOMETHING_NEW", "value": "1"},
        ],
    },
    platformCapabilities=["MANAGED_INSTANCES"],
)


def described(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records as a real DescribeJobs answer (validated against botocore's Batch model)."""
    client = boto3.client("batch", region_name=REGION)
    with Stubber(client) as stubber:
        stubber.add_response("describe_jobs", {"jobs": records}, {"jobs": [r["jobId"] for r in records]})
        return client.describe_jobs(jobs=[r["jobId"] for r in records])["jobs"]


def test_every_job_kind_is_read_and_stored(sqlite_engine: Engine) -> None:
    records = described([MULTI_CONTAINER, EKS, NEURON, ARRAY_CHILD, NODE_CHILD])
    frame, attempts = transform_jobs(records, "123456789012", REGION)
    with sqlite_engine.begin() as conn:
        bulk_upsert(conn, jobs, frame)
        bulk_upsert(conn, job_attempts, attempts)
    stored = read_frame(sqlite_engine, select(jobs)).set_index("job_id")
    tries = read_frame(sqlite_engine, select(job_attempts)).set_index("job_id")

    mc = stored.loc["mc-1"]
    assert (mc.vcpus, mc.memory_mib, mc.exit_code, mc.platform) == (2.5, 4608, 137, "EC2")
    mc_try = tries.loc["mc-1"]
    assert (mc_try.task_arn, mc_try.container_instance_arn, mc_try.exit_code) == (TASK, CI, 137)
    assert bool(mc_try.is_oom) and not bool(mc_try.is_spot_reclaim)
    assert "app: OutOfMemoryError" in mc_try.reason and mc_try.log_stream_name == "mc/app/0f1e2d3c"

    eks = stored.loc["eks-1"]
    assert eks.platform == "EKS"  # not EC2, whatever platformCapabilities says
    assert (eks.vcpus, eks.memory_mib, eks.gpus, eks.exit_code) == (2.0, 6656, 1, 137)
    assert stored.loc["eks-1", "attempt_count"] == 1
    eks_try = tries.loc["eks-1"]
    assert eks_try.node_name == "ip-10-0-1-17.ec2.internal" and bool(eks_try.is_oom)
    assert eks_try.reason == "Pod failed | train: OOMKilled"

    neuron = stored.loc["inf-1"]
    assert neuron.accelerators == {"aws.amazon.com/neuron": 2}
    assert pd.isna(neuron.gpus)  # none asked (NULL), not 0
    assert neuron.unparsed == {"eksResources": {"raw": {"example.com/widget": "3"}, "reason": ANY}}

    child = stored.loc["parent-1:3"]
    assert (child.array_parent_id, child.array_index, bool(child.is_multinode)) == ("parent-1", 3, False)
    node = stored.loc["mnp-1#2"]
    assert (node.array_parent_id, node.array_index, bool(node.is_multinode)) == ("mnp-1", 2, True)
    assert node.platform == "MANAGED_INSTANCES"  # kept as Batch wrote it...
    assert set(node.unparsed) == {"platformCapabilities", "resourceRequirements"}  # ...and flagged
    assert node.unparsed["resourceRequirements"]["raw"] == [{"type": "SOMETHING_NEW", "value": "1"}]
    assert (node.vcpus, node.memory_mib) == (8.0, 32768)


def test_a_record_that_cannot_be_read_is_kept_raw_and_the_run_goes_on() -> None:
    broken = _base("odd-1", arrayProperties={"index": "third"})  # not a number
    frame, attempts = transform_jobs([described([MULTI_CONTAINER])[0], broken], None, REGION)
    assert list(frame["job_id"]) == ["mc-1", "odd-1"]
    odd = frame.set_index("job_id").loc["odd-1"]
    assert odd.status == "FAILED" and odd.created_at == datetime(2026, 1, 1)
    assert odd.unparsed["record"]["raw"]["arrayProperties"] == {"index": "third"}
    assert odd.unparsed["record"]["reason"].startswith("unreadable: ValueError")
    assert list(attempts["job_id"]) == ["mc-1"]


def test_inferentia_and_trainium_are_accelerators_not_zero_gpus(sqlite_engine: Engine) -> None:
    ec2 = boto3.client("ec2", region_name=REGION)
    neuron_device = {"Count": 1, "Name": "Inferentia2", "CoreInfo": {"Count": 2, "Version": 2}}
    answer = {
        "InstanceTypes": [
            {
                "InstanceType": "inf2.xlarge",
                "VCpuInfo": {"DefaultVCpus": 4},
                "MemoryInfo": {"SizeInMiB": 16384},
                "ProcessorInfo": {"SupportedArchitectures": ["x86_64"]},
                "NeuronInfo": {"NeuronDevices": [neuron_device], "TotalNeuronDeviceMemoryInMiB": 32768},
                # (real answers describe Inferentia twice: the same device in the older field too)
                "InferenceAcceleratorInfo": {
                    "Accelerators": [{"Count": 1, "Name": "Inferentia2", "Manufacturer": "AWS"}]
                },
            },
            {
                "InstanceType": "trn1.32xlarge",
                "VCpuInfo": {"DefaultVCpus": 128},
                "MemoryInfo": {"SizeInMiB": 524288},
                "ProcessorInfo": {"SupportedArchitectures": ["x86_64"]},
                "NeuronInfo": {"NeuronDevices": [{**neuron_device, "Count": 16, "Name": "Trainium"}]},
            },
            {
                "InstanceType": "g5.xlarge",
                "VCpuInfo": {"DefaultVCpus": 4},
                "MemoryInfo": {"SizeInMiB": 16384},
                "ProcessorInfo": {"SupportedArchitectures": ["x86_64"]},
                "GpuInfo": {"Gpus": [{"Name": "A10G", "Manufacturer": "NVIDIA", "Count": 1}]},
            },
        ]
    }
    with Stubber(ec2) as stubber:
        stubber.add_response("describe_instance_types", answer, {})
        items = ec2.describe_instance_types()["InstanceTypes"]
    frame = transform_instance_types(items, REGION)
    with sqlite_engine.begin() as conn:
        bulk_upsert(conn, instance_types, frame)
    stored = read_frame(sqlite_engine, select(instance_types)).set_index("instance_type")
    assert (stored.loc["inf2.xlarge", "accelerator"], stored.loc["inf2.xlarge", "accelerator_count"]) == (
        "inferentia",
        1,
    )
    assert (stored.loc["trn1.32xlarge", "accelerator"], stored.loc["trn1.32xlarge", "accelerator_count"]) == (
        "trainium",
        16,
    )
    assert stored.loc["g5.xlarge", "gpus"] == 1 and pd.isna(stored.loc["g5.xlarge", "accelerator"])


def _spot(product: str, price: str, hours: int = 0, az: str = "us-east-1a") -> dict[str, Any]:
    return {
        "AvailabilityZone": az,
        "InstanceType": "m5.large",
        "ProductDescription": product,
        "SpotPrice": price,
        "Timestamp": datetime(2026, 1, 2) + timedelta(hours=hours),
    }


def test_spot_history_asks_both_linux_descriptions_keeps_the_vpc_price_and_at_most_90_days(
    sqlite_engine: Engine,
) -> None:
    now = datetime(2026, 1, 3)
    with sqlite_engine.begin() as conn:
        bulk_upsert(
            conn,
            instances,
            [
                {
                    "instance_id": "i-0abc",
                    "instance_type": "m5.large",
                    "region": REGION,
                    "capacity_type": "SPOT",
                    "first_seen": now,
                    "last_seen": now,
                }
            ],
        )
    ec2 = boto3.client("ec2", region_name=REGION)
    history = [
        _spot("Linux/UNIX", "0.0400"),
        _spot("Linux/UNIX (Amazon VPC)", "0.0410"),  # same type, AZ and time: the VPC price wins
        _spot("Linux/UNIX", "0.0420", hours=1),
        _spot("Windows", "0.1000", hours=1),  # never stored
    ]
    with Stubber(ec2) as stubber:
        stubber.add_response(
            "describe_spot_price_history",
            {"SpotPriceHistory": history},
            {
                "InstanceTypes": ["m5.large"],
                "ProductDescriptions": ["Linux/UNIX", "Linux/UNIX (Amazon VPC)"],
                "StartTime": now - timedelta(days=90),  # not the 400 days asked for
                "EndTime": now,
            },
        )
        [result] = collect(
            sqlite_engine,
            [fixed_plan("prod", {"ec2": ec2})],
            select_sources(["spot_prices"]),
            initial_lookback=timedelta(days=400),
            clock=Clock(now),
        )
        stubber.assert_no_pending_responses()
    assert result.status == "succeeded", result
    stored = read_frame(sqlite_engine, select(spot_prices)).sort_values("timestamp")
    assert list(stored["price"]) == [0.041, 0.042]
    frame, _ = transform_spot_prices(history, REGION, {})
    assert len(frame) == 2


def _product(currency: str, price: str) -> str:
    return json.dumps(
        {
            "product": {"attributes": {"instanceType": "m5.large", "marketoption": "OnDemand"}},
            "terms": {
                "OnDemand": {
                    "SKU.JRTCKXETXF": {
                        "effectiveDate": "2026-01-01T00:00:00Z",
                        "priceDimensions": {
                            "SKU.JRTCKXETXF.6YS6EN2CT7": {"unit": "Hrs", "pricePerUnit": {currency: price}}
                        },
                    }
                }
            },
        }
    )


def test_pricing_asks_on_demand_only_and_reads_the_regions_currency() -> None:
    filters = {f["Field"]: f["Value"] for f in price_filters("cn-north-1")}
    assert filters["marketoption"] == "OnDemand" and filters["regionCode"] == "cn-north-1"
    assert pricing_region("cn-north-1") == "cn-northwest-1" and pricing_region("eu-west-1") == "us-east-1"
    pricing = boto3.client("pricing", region_name="us-east-1")
    with Stubber(pricing) as stubber:  # the request and answer are valid GetProducts shapes
        stubber.add_response(
            "get_products",
            {"PriceList": [_product("CNY", "0.6120000000")], "FormatVersion": "aws_v1"},
            {"ServiceCode": "AmazonEC2", "Filters": price_filters("cn-north-1"), "FormatVersion": "aws_v1"},
        )
        answer = pricing.get_products(
            ServiceCode="AmazonEC2", Filters=price_filters("cn-north-1"), FormatVersion="aws_v1"
        )
    frame = transform_price_list(answer["PriceList"], "cn-north-1")
    assert frame[["price_per_hour", "currency"]].to_dict("records") == [
        {"price_per_hour": 0.612, "currency": "CNY"}
    ]
    usd = transform_price_list([_product("USD", "0.0960000000")], "us-east-1")
    assert list(usd["currency"]) == ["USD"]
