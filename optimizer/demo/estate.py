"""The demo's AWS Batch estate: what a typical, never-tuned Batch setup looks like, built via boto3.

Seven workloads, each a job queue on its own managed EC2 compute environment, configured the way
the Batch console's defaults, older tutorials and hurried teams leave them:

| queue | compute environment | instance types | why it is typical and costly |
|---|---|---|---|
| `cpu-batch` | `cpu-batch-ondemand` | `optimal` (m6i, c6i, r6i, c7i) | BEST_FIT over 4 families |
| `memory-heavy` | `memory-heavy-ondemand` | `optimal` | same alias for memory-bound work |
| `gpu-training` | `gpu-training-ondemand` | g5 4xlarge..48xlarge | large sizes only, one GPU family |
| `cpu-short` | `cpu-short-ondemand` | `optimal` | several teams' short jobs, no retry strategy |
| `spot-pipeline` | `spot-pipeline-spot` | m6i.16xlarge (SPOT) | spot only, 16 tasks per instance |
| `mpi-parallel` | `mpi-parallel-ondemand` | `optimal` | MNP gangs of 6-vCPU nodes, between sizes |
| `spot-etl` | `spot-etl-spot` | r6i.8xlarge (SPOT) | spot only, one instance type |

The first three: on-demand, allocation strategy BEST_FIT, non-zero `minvCpus` (capacity kept warm
overnight), and job definitions that ask for generous memory (4 GiB per vCPU for CPU work where
the history's jobs need about 2, see `history.py`). `cpu-short` is what the issue-18 strategies
exist for: its definition has no retry strategy (so spot adoption rightly refuses it until a
retry strategy is added: `retry-and-spot`), several teams share it first-in first-out (one floods
it: `fair-share`), some of its jobs hang (`attempt-timeouts`) and a few GPU jobs were sent to it
by mistake, which no CE of the queue can host (`stuck-job-limits`). `spot-pipeline` runs long
tasks on the largest size of one family, so one reclaim ends many tasks at once (`blast-radius`);
`spot-etl` runs short pods on spot alone, one instance type, no on-demand fallback, so a spot
shortage leaves them waiting (`spot-fallback`). Everything goes through `SessionFactory` clients, the
same way product code reaches AWS, so the estate works on any endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from optimizer.aws.session import SessionFactory, TargetRegion
from optimizer.demo.multinode_queue import (
    MNP_COMPUTE_ENVIRONMENT,
    MNP_DEFINITION,
    MNP_QUEUE,
    NODE_MEMORY_MIB,
    NODE_VCPUS,
    NUM_NODES,
    node_properties,
)

SERVICE_ROLE = "AWSBatchServiceRole"
INSTANCE_ROLE = "ecsInstanceRole"
VPC_CIDR = "10.40.0.0/16"
IMAGE = "public.ecr.aws/amazonlinux/amazonlinux:2023"


@dataclass(frozen=True)
class QueueSpec:
    """One workload: its queue, compute environment and job definition."""

    queue: str
    priority: int
    compute_environment: str
    instance_types: tuple[str, ...]
    min_vcpus: int
    max_vcpus: int
    job_definition: str
    vcpus: int
    memory_mib: int
    gpus: int = 0
    retry_attempts: int = 1
    """The definition's `retryStrategy.attempts`; 0 registers the definition without a retry strategy."""
    capacity: str = "EC2"
    """The CE's `computeResources.type`: EC2 (on-demand) or SPOT."""
    allocation_strategy: str = "BEST_FIT"
    node_count: int = 0
    """> 0: the definition is multi-node parallel, this many nodes of `vcpus` / `memory_mib` each
    (`multinode_queue.py`); 0: a single-container definition."""


ESTATE: tuple[QueueSpec, ...] = (
    QueueSpec("cpu-batch", 10, "cpu-batch-ondemand", ("optimal",), 16, 1024, "cpu-batch-job", 1, 4096),
    QueueSpec(
        "memory-heavy", 10, "memory-heavy-ondemand", ("optimal",), 8, 512, "memory-heavy-job", 2, 32768
    ),
    QueueSpec(
        "gpu-training",
        20,
        "gpu-training-ondemand",
        ("g5.4xlarge", "g5.8xlarge", "g5.12xlarge", "g5.48xlarge"),
        8,
        512,
        "gpu-training-job",
        8,
        61440,
        gpus=1,
        retry_attempts=2,
    ),
    QueueSpec(
        "cpu-short",
        10,
        "cpu-short-ondemand",
        ("optimal",),
        0,
        96,
        "cpu-short-job",
        1,
        4096,
        retry_attempts=0,
    ),
    QueueSpec(
        "spot-pipeline",
        10,
        "spot-pipeline-spot",
        ("m6i.16xlarge",),
        0,
        512,
        "pipeline-task",
        4,
        8192,
        retry_attempts=2,
        capacity="SPOT",
        allocation_strategy="SPOT_PRICE_CAPACITY_OPTIMIZED",
    ),
    QueueSpec(
        "spot-etl",
        10,
        "spot-etl-spot",
        ("r6i.8xlarge",),
        0,
        512,
        "etl-task",
        16,
        51200,
        retry_attempts=2,
        capacity="SPOT",
        allocation_strategy="SPOT_PRICE_CAPACITY_OPTIMIZED",
    ),
    QueueSpec(
        MNP_QUEUE,
        10,
        MNP_COMPUTE_ENVIRONMENT,
        ("optimal",),
        0,
        1024,
        MNP_DEFINITION,
        NODE_VCPUS,
        NODE_MEMORY_MIB,
        node_count=NUM_NODES,
    ),
)


@dataclass
class Estate:
    """ARNs of what was created, by the spec's names."""

    region: str
    account_id: str
    subnets: list[str] = field(default_factory=list)
    compute_environments: dict[str, str] = field(default_factory=dict)
    queues: dict[str, str] = field(default_factory=dict)
    job_definitions: dict[str, str] = field(default_factory=dict)
    specs: tuple[QueueSpec, ...] = ESTATE

    def spec(self, queue: str) -> QueueSpec:
        return next(s for s in self.specs if s.queue == queue)


def _network(ec2: Any) -> tuple[list[str], str]:
    """A VPC with one subnet per availability zone (Batch spreads instances over them)."""
    vpc_id = ec2.create_vpc(CidrBlock=VPC_CIDR)["Vpc"]["VpcId"]
    zones = sorted(z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"])[:4]
    subnets = [
        ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"10.40.{64 * k}.0/18", AvailabilityZone=zone)["Subnet"][
            "SubnetId"
        ]
        for k, zone in enumerate(zones)
    ]
    group = ec2.create_security_group(GroupName="batch-demo", Description="Batch demo", VpcId=vpc_id)
    return subnets, group["GroupId"]


def _roles(iam: Any) -> tuple[str, str]:
    service = iam.create_role(
        RoleName=SERVICE_ROLE,
        AssumeRolePolicyDocument=(
            '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":'
            '{"Service":"batch.amazonaws.com"},"Action":"sts:AssumeRole"}]}'
        ),
    )["Role"]["Arn"]
    iam.create_role(
        RoleName=INSTANCE_ROLE,
        AssumeRolePolicyDocument=(
            '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":'
            '{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}'
        ),
    )
    profile = iam.create_instance_profile(InstanceProfileName=INSTANCE_ROLE)["InstanceProfile"]["Arn"]
    iam.add_role_to_instance_profile(InstanceProfileName=INSTANCE_ROLE, RoleName=INSTANCE_ROLE)
    return service, profile


def build_estate(
    sessions: SessionFactory, where: TargetRegion, specs: tuple[QueueSpec, ...] = ESTATE
) -> Estate:
    """Create the network, roles, compute environments, queues and job definitions of `specs`."""

    def client(service: str) -> Any:
        return sessions.client(service, where.target, where.region)

    estate = Estate(
        region=where.region, account_id=sessions.account_id(where.target, where.region), specs=specs
    )
    estate.subnets, group = _network(client("ec2"))
    service_role, instance_profile = _roles(client("iam"))
    batch = client("batch")
    for spec in specs:
        created = batch.create_compute_environment(
            computeEnvironmentName=spec.compute_environment,
            type="MANAGED",
            state="ENABLED",
            serviceRole=service_role,
            computeResources={
                "type": spec.capacity,
                "allocationStrategy": spec.allocation_strategy,
                "minvCpus": spec.min_vcpus,
                "maxvCpus": spec.max_vcpus,
                "desiredvCpus": spec.min_vcpus,
                "instanceTypes": list(spec.instance_types),
                "subnets": estate.subnets,
                "securityGroupIds": [group],
                "instanceRole": instance_profile,
                "tags": {"team": spec.queue},
            },
            tags={"workload": spec.queue},
        )
        estate.compute_environments[spec.compute_environment] = created["computeEnvironmentArn"]
        queue = batch.create_job_queue(
            jobQueueName=spec.queue,
            state="ENABLED",
            priority=spec.priority,
            computeEnvironmentOrder=[{"order": 1, "computeEnvironment": created["computeEnvironmentArn"]}],
            tags={"workload": spec.queue},
        )
        estate.queues[spec.queue] = queue["jobQueueArn"]
        requirements = [
            {"type": "VCPU", "value": str(spec.vcpus)},
            {"type": "MEMORY", "value": str(spec.memory_mib)},
        ]
        if spec.gpus:
            requirements.append({"type": "GPU", "value": str(spec.gpus)})
        container = {"image": IMAGE, "command": ["run-job"], "resourceRequirements": requirements}
        shape: dict[str, Any] = (
            {"type": "multinode", "nodeProperties": node_properties(spec.node_count, container)}
            if spec.node_count
            else {"type": "container", "containerProperties": container}
        )
        definition = batch.register_job_definition(
            jobDefinitionName=spec.job_definition,
            **shape,
            platformCapabilities=["EC2"],
            tags={"workload": spec.queue},
            **({"retryStrategy": {"attempts": spec.retry_attempts}} if spec.retry_attempts else {}),
        )
        estate.job_definitions[spec.job_definition] = definition["jobDefinitionArn"]
    return estate


def current_configuration(sessions: SessionFactory, where: TargetRegion) -> dict[str, Any]:
    """The estate as the replay simulator reads it: DescribeComputeEnvironments / DescribeJobQueues
    items (a superset of the Create* bodies `optimizer.simulate.parse_config` accepts)."""
    batch = sessions.client("batch", where.target, where.region)
    environments = batch.describe_compute_environments()["computeEnvironments"]
    queues = batch.describe_job_queues()["jobQueues"]
    return {
        "computeEnvironments": [
            {
                "computeEnvironmentName": ce["computeEnvironmentName"],
                "type": ce["type"],
                "state": ce.get("state", "ENABLED"),
                "computeResources": ce["computeResources"],
            }
            for ce in environments
        ],
        "jobQueues": [
            {
                "jobQueueName": q["jobQueueName"],
                "state": q.get("state", "ENABLED"),
                "priority": q["priority"],
                "computeEnvironmentOrder": q["computeEnvironmentOrder"],
            }
            for q in queues
        ],
    }
