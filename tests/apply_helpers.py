"""Test helpers for the apply area: a small Batch estate in the emulator and recommendations on it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from optimizer.aws.session import SessionFactory
from optimizer.config import AwsSettings
from optimizer.domain import Recommendation, RiskLevel, UpdateKind
from optimizer.recommend.ids import recommendation_id

REGION = "us-east-1"


@dataclass
class Estate:
    factory: SessionFactory
    batch: Any
    ondemand_arn: str
    spot_arn: str
    queue_arn: str
    jobdef_arn: str


def build_estate(endpoint: str) -> Estate:
    """Two managed CEs (on-demand BEST_FIT_PROGRESSIVE, spot), a queue on the first, a job definition."""
    factory = SessionFactory(AwsSettings(endpoint_url=endpoint, regions=[REGION]))
    [pair] = factory.target_regions()
    ec2 = factory.client("ec2", pair.target, REGION)
    iam = factory.client("iam", pair.target, REGION)
    batch = factory.client("batch", pair.target, REGION)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="batch", Description="batch", VpcId=vpc)["GroupId"]
    trust = '{"Version":"2012-10-17","Statement":[]}'
    service_role = iam.create_role(RoleName="AWSBatchServiceRole", AssumeRolePolicyDocument=trust)["Role"][
        "Arn"
    ]
    instance_role = iam.create_instance_profile(InstanceProfileName="ecsInstanceRole")["InstanceProfile"][
        "Arn"
    ]

    def create(name: str, ce_type: str, strategy: str) -> str:
        return batch.create_compute_environment(
            computeEnvironmentName=name,
            type="MANAGED",
            state="ENABLED",
            computeResources={
                "type": ce_type,
                "allocationStrategy": strategy,
                "minvCpus": 0,
                "maxvCpus": 64,
                "instanceTypes": ["m5.large", "c5.large"],
                "subnets": [subnet],
                "securityGroupIds": [group],
                "instanceRole": instance_role,
            },
            serviceRole=service_role,
        )["computeEnvironmentArn"]

    ondemand = create("od-ce", "EC2", "BEST_FIT_PROGRESSIVE")
    spot = create("spot-ce", "SPOT", "SPOT_PRICE_CAPACITY_OPTIMIZED")
    queue = batch.create_job_queue(
        jobQueueName="main",
        state="ENABLED",
        priority=10,
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": ondemand}],
    )["jobQueueArn"]
    jobdef = batch.register_job_definition(
        jobDefinitionName="etl",
        type="container",
        containerProperties={
            "image": "public.ecr.aws/docker/library/busybox:latest",
            "command": ["echo", "hi"],
            "resourceRequirements": [{"type": "VCPU", "value": "4"}, {"type": "MEMORY", "value": "16384"}],
        },
        retryStrategy={"attempts": 2},
    )["jobDefinitionArn"]
    return Estate(factory, batch, ondemand, spot, queue, jobdef)


def make_recommendation(
    strategy: str, target_arn: str, target_kind: str, proposed: dict[str, Any], **extra: Any
) -> Recommendation:
    fields: dict[str, Any] = {
        "id": recommendation_id(strategy, target_arn, proposed),
        "strategy": strategy,
        "target_arn": target_arn,
        "target_kind": target_kind,
        "title": f"{strategy} on {target_arn.rsplit('/', 1)[-1]}",
        "current": {},
        "proposed": proposed,
        "monthly_savings_usd": 120.0,
        "risk": {"interruption": "low"},
        "risk_level": RiskLevel.LOW,
        "confidence": 0.8,
        "effort": "low",
        "update_kind": UpdateKind.QUEUE_ORDER,
        "region": REGION,
        "account_id": "123456789012",
    }
    fields.update(extra)
    return Recommendation(**fields)


# --- Describe* items for pure planner and executor tests ---

ACCOUNT = "arn:aws:batch:us-east-1:123456789012"
CE_ARN = f"{ACCOUNT}:compute-environment/ce"
SLR = "arn:aws:iam::123456789012:role/aws-service-role/batch.amazonaws.com/AWSServiceRoleForBatch"
CUSTOM_ROLE = "arn:aws:iam::123456789012:role/AWSBatchServiceRole"


def ce(strategy: str = "BEST_FIT_PROGRESSIVE", role: str | None = SLR, **resources: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "computeEnvironmentName": "ce",
        "computeEnvironmentArn": CE_ARN,
        "type": "MANAGED",
        "state": "ENABLED",
        "status": "VALID",
        "tags": {"team": "data"},
        "computeResources": {
            "type": "EC2",
            "allocationStrategy": strategy,
            "minvCpus": 0,
            "desiredvCpus": 4,
            "maxvCpus": 256,
            "instanceTypes": ["m5.large"],
            "subnets": ["subnet-1"],
            "securityGroupIds": ["sg-1"],
            "instanceRole": "arn:aws:iam::123456789012:instance-profile/ecsInstanceRole",
            **resources,
        },
    }
    if role:
        item["serviceRole"] = role
    return item


def queue(*ce_arns: str, name: str = "q") -> dict[str, Any]:
    return {
        "jobQueueName": name,
        "jobQueueArn": f"{ACCOUNT}:job-queue/{name}",
        "state": "ENABLED",
        "status": "VALID",
        "priority": 1,
        "computeEnvironmentOrder": [{"order": i, "computeEnvironment": a} for i, a in enumerate(ce_arns, 1)],
    }
