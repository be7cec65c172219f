"""Plain typed records shared by all layers (no I/O, no AWS, no database types).

Layers exchange these or DataFrames with the store's column names; nothing here knows where a value
came from, which keeps the solver, simulator, analysis and recommendation code pure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class CapacityType(StrEnum):
    ON_DEMAND = "ON_DEMAND"
    SPOT = "SPOT"


class Arch(StrEnum):
    X86_64 = "x86_64"
    ARM64 = "arm64"


INSTANCE_CATEGORIES = ("general", "compute", "memory", "storage", "hpc", "accelerated", "other")
"""The instance categories: what `[optimization.instance_requirements]` may allow or exclude
(`optimizer.config`) and what the catalogue sorts every family into (`catalog.instance_kinds`)."""


class UpdateKind(StrEnum):
    """How Batch applies a change (see the apply planner for the rules)."""

    SCALING = "scaling"  # min/desired/max vCPUs: in place, no instance replacement
    INFRASTRUCTURE = "infrastructure"  # instance types, strategy...: rolling replacement by Batch
    BLUE_GREEN = "blue-green"  # a new CE, the queue order switched, the old CE drained and disabled
    NEW_REVISION = "new-revision"  # a job definition registered again with new values
    QUEUE_ORDER = "queue-order"  # UpdateJobQueue computeEnvironmentOrder
    QUEUE_SETTINGS = "queue-settings"  # a queue's time limits or fair-share policy, in place
    ADVICE = "advice"  # not applicable by this tool (e.g. unmanaged CEs)


class RiskLevel(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


@dataclass(frozen=True, slots=True)
class InstanceType:
    name: str
    vcpus: int
    memory_mib: int
    allocatable_memory_mib: int
    gpus: int = 0
    arch: str = Arch.X86_64
    gpu_model: str | None = None


@dataclass(frozen=True, slots=True)
class Offering:
    """An instance type bought one way: the unit the solver selects and the simulator launches."""

    instance_type: str
    capacity_type: CapacityType
    vcpus: int
    memory_mib: int  # allocatable, after OS and agent overhead
    gpus: int
    arch: str
    price_per_hour: float
    interruption_rate: float = 0.0  # expected reclaims per instance-hour (0 for on-demand)

    @property
    def key(self) -> str:
        return f"{self.instance_type}/{self.capacity_type}"


@dataclass(frozen=True, slots=True)
class ComputeEnvironmentConfig:
    """The tunable part of a managed compute environment."""

    name: str
    capacity_type: CapacityType
    instance_types: tuple[str, ...]
    allocation_strategy: str
    min_vcpus: int = 0
    max_vcpus: int = 256
    desired_vcpus: int | None = None
    platform: str = "EC2"  # EC2 | SPOT | FARGATE | FARGATE_SPOT
    managed: bool = True


@dataclass(frozen=True, slots=True)
class ApiCall:
    """One AWS API call of a change plan, exactly as it will be sent."""

    service: str  # "batch"
    operation: str  # boto3 method name, e.g. "update_compute_environment"
    params: dict[str, Any]
    update_kind: UpdateKind
    permissions: tuple[str, ...]
    description: str = ""


@dataclass(frozen=True, slots=True)
class Recommendation:
    id: str
    strategy: str
    target_arn: str
    target_kind: str  # compute-environment | job-queue | job-definition
    title: str
    current: dict[str, Any]
    proposed: dict[str, Any]
    monthly_savings_usd: float
    risk: dict[str, Any]
    risk_level: RiskLevel
    confidence: float
    effort: str
    update_kind: UpdateKind
    evidence: dict[str, Any] = field(default_factory=dict)
    target_name: str | None = None
    account_id: str | None = None
    region: str | None = None
    applicable: bool = True


@dataclass(frozen=True, slots=True)
class ChangePlan:
    id: str
    recommendation_id: str
    kind: str  # apply | rollback
    target_arn: str
    fingerprint: str
    update_kind: UpdateKind
    calls: tuple[ApiCall, ...]
    before: dict[str, Any] | None = None

    @property
    def permissions(self) -> list[str]:
        return sorted({p for call in self.calls for p in call.permissions})
