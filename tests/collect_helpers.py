"""Test helpers for the collectors: a Batch estate built through boto3 on the emulator, plans."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import boto3
from sqlalchemy import Engine, func, select

from optimizer.aws.session import SessionFactory
from optimizer.collectors.runner import TargetPlan
from optimizer.config import AwsSettings

REGION = "us-east-1"


def emulator_plan(endpoint: str, region: str = REGION, target: str = "default") -> TargetPlan:
    """A plan that reaches the emulator the way production reaches AWS: through SessionFactory."""
    factory = SessionFactory(AwsSettings(endpoint_url=endpoint, regions=[region], max_attempts=2))
    [pair] = factory.target_regions()
    return TargetPlan(
        target=target,
        region=region,
        client_factory=lambda service, reg: factory.client(service, pair.target, reg),
        account_id=lambda: factory.account_id(pair.target, region),
    )


def fixed_plan(target: str, clients: dict[str, Any], account_id: str = "123456789012") -> TargetPlan:
    """A plan whose clients are given (botocore Stubber-backed) instead of made."""

    def factory(service: str, region: str) -> Any:
        if service not in clients:
            raise AssertionError(f"test gave no {service} client")
        return clients[service]

    return TargetPlan(target=target, region=REGION, client_factory=factory, account_id=lambda: account_id)


def client(endpoint: str, service: str) -> Any:
    return boto3.client(service, region_name=REGION, endpoint_url=endpoint)


def count(engine: Engine, table: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


class Clock:
    """A controllable clock for the runner (naive UTC)."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime.now(UTC).replace(tzinfo=None)

    def __call__(self) -> datetime:
        return self.now


def build_batch_estate(endpoint: str) -> dict[str, Any]:
    """Managed EC2 + SPOT, Fargate + Fargate Spot and unmanaged CEs, one queue, a job definition
    with two revisions (legacy vcpus/memory, then resourceRequirements)."""
    ec2 = client(endpoint, "ec2")
    iam = client(endpoint, "iam")
    batch = client(endpoint, "batch")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24", AvailabilityZone="us-east-1a")["Subnet"][
        "SubnetId"
    ]
    sg = ec2.create_security_group(GroupName="batch", Description="batch", VpcId=vpc)["GroupId"]
    role = iam.create_role(RoleName="batch-service", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    profile = iam.create_instance_profile(InstanceProfileName="ecs-instance")["InstanceProfile"]["Arn"]
    ces = {}
    for name, kind, extra in (
        (
            "ec2-od",
            "EC2",
            {"instanceTypes": ["m5.large", "c5"], "allocationStrategy": "BEST_FIT_PROGRESSIVE"},
        ),
        (
            "ec2-spot",
            "SPOT",
            {
                "instanceTypes": ["optimal"],
                "allocationStrategy": "SPOT_CAPACITY_OPTIMIZED",
                "bidPercentage": 60,
            },
        ),
        ("fargate", "FARGATE", {}),
        ("fargate-spot", "FARGATE_SPOT", {}),
    ):
        resources: dict[str, Any] = {
            "type": kind,
            "maxvCpus": 64,
            "subnets": [subnet],
            "securityGroupIds": [sg],
        }
        if kind in ("EC2", "SPOT"):
            resources |= {"minvCpus": 0, "desiredvCpus": 0, "instanceRole": profile} | extra
        ces[name] = batch.create_compute_environment(
            computeEnvironmentName=name,
            type="MANAGED",
            state="ENABLED",
            computeResources=resources,
            serviceRole=role,
            tags={"team": "genomics"},
        )["computeEnvironmentArn"]
    ces["unmanaged"] = batch.create_compute_environment(
        computeEnvironmentName="unmanaged", type="UNMANAGED", state="ENABLED", serviceRole=role
    )["computeEnvironmentArn"]
    queue = batch.create_job_queue(
        jobQueueName="main",
        state="ENABLED",
        priority=10,
        computeEnvironmentOrder=[
            {"order": 1, "computeEnvironment": ces["ec2-spot"]},
            {"order": 2, "computeEnvironment": ces["ec2-od"]},
        ],
    )["jobQueueArn"]
    rev1 = batch.register_job_definition(
        jobDefinitionName="align",
        type="container",
        containerProperties={"image": "busybox", "vcpus": 2, "memory": 4096, "command": ["true"]},
    )["jobDefinitionArn"]
    rev2 = batch.register_job_definition(
        jobDefinitionName="align",
        type="container",
        retryStrategy={"attempts": 3},
        containerProperties={
            "image": "busybox",
            "command": ["true"],
            "resourceRequirements": [{"type": "VCPU", "value": "4"}, {"type": "MEMORY", "value": "8192"}],
        },
    )["jobDefinitionArn"]
    return {"ces": ces, "queue": queue, "rev1": rev1, "rev2": rev2, "batch": batch}


def submit_and_wait(
    batch: Any, queue: str, definition: str, names: list[str], timeout: float = 30
) -> list[str]:
    ids = [batch.submit_job(jobName=n, jobQueue=queue, jobDefinition=definition)["jobId"] for n in names]
    wait_for(
        lambda: all(j["status"] in ("SUCCEEDED", "FAILED") for j in batch.describe_jobs(jobs=ids)["jobs"]),
        timeout,
    )
    return ids


def wait_for(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.2)


ACCOUNT = "123456789012"
QUEUE_ARN = f"arn:aws:batch:{REGION}:{ACCOUNT}:job-queue/genomics"
CLUSTER = "AWSBatch-spot-ce-1a2b3c"


def job_record(
    job_id: str,
    created_ms: int,
    *,
    status: str = "SUCCEEDED",
    attempts: list[dict[str, Any]] | None = None,
    legacy: bool = False,
    **extra: Any,
) -> dict[str, Any]:
    """A DescribeJobs job in the shape AWS returns it (fields as in the Batch API reference)."""
    requirements = [{"value": "2", "type": "VCPU"}, {"value": "4096", "type": "MEMORY"}]
    container: dict[str, Any] = {
        "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/align:1.4",
        "command": ["align", "--sample", "Ref::sample"],
        "volumes": [],
        "environment": [],
        "mountPoints": [],
        "ulimits": [],
        "secrets": [],
        "networkInterfaces": [],
        "exitCode": 0,
        "containerInstanceArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:container-instance/{CLUSTER}/8f1c0e6a",
        "taskArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/{CLUSTER}/{job_id[:8]}task",
        "logStreamName": f"align/default/{job_id[:8]}",
    }
    if legacy:
        container |= {"vcpus": 1, "memory": 2048}
    else:
        container["resourceRequirements"] = requirements
    if attempts is None:
        attempts = [
            {
                "container": {
                    k: container[k]
                    for k in (
                        "containerInstanceArn",
                        "taskArn",
                        "exitCode",
                        "logStreamName",
                        "networkInterfaces",
                    )
                },
                "startedAt": created_ms + 30_000,
                "stoppedAt": created_ms + 630_000,
                "statusReason": "Essential container in task exited",
            }
        ]
    record: dict[str, Any] = {
        "jobArn": f"arn:aws:batch:{REGION}:{ACCOUNT}:job/{job_id}",
        "jobName": f"align-{job_id[:6]}",
        "jobId": job_id,
        "jobQueue": QUEUE_ARN,
        "status": status,
        "statusReason": "Essential container in task exited",
        "attempts": attempts,
        "createdAt": created_ms,
        "retryStrategy": {"attempts": 2, "evaluateOnExit": []},
        "startedAt": created_ms + 30_000,
        "stoppedAt": created_ms + 630_000,
        "dependsOn": [],
        "jobDefinition": f"arn:aws:batch:{REGION}:{ACCOUNT}:job-definition/align:3",
        "parameters": {"sample": "NA12878"},
        "container": container,
        "tags": {"project": "wgs"},
        "propagateTags": False,
        "platformCapabilities": ["EC2"],
        "shareIdentifier": "research",
        "schedulingPriority": 10,
    }
    record.update(extra)
    return record


def summary(record: dict[str, Any]) -> dict[str, Any]:
    """The ListJobs summary of a DescribeJobs record."""
    keys = (
        "jobArn",
        "jobId",
        "jobName",
        "createdAt",
        "status",
        "statusReason",
        "startedAt",
        "stoppedAt",
        "jobDefinition",
        "arrayProperties",
        "nodeProperties",
    )
    out = {k: record[k] for k in keys if k in record}
    if "arrayProperties" in out:
        out["arrayProperties"] = {k: v for k, v in out["arrayProperties"].items() if k in ("size", "index")}
    if "nodeProperties" in out:
        out["nodeProperties"] = {
            k: v for k, v in out["nodeProperties"].items() if k in ("isMainNode", "numNodes")
        }
    return out
