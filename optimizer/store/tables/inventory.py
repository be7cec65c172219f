"""Batch resources as last seen: compute environments, job queues and job-definition revisions.

`raw` keeps the whole Describe* item so a change plan can be built from exactly what AWS returned.
"""

from sqlalchemy import Column, Index, Table

from optimizer.store.base import Arn, Float, Integer, Json, Str, Time, metadata

compute_environments = Table(
    "compute_environments",
    metadata,
    Column("arn", Arn, primary_key=True),
    Column("name", Str, nullable=False),
    Column("account_id", Str, nullable=False),
    Column("region", Str, nullable=False),
    Column("type", Str, nullable=False),  # MANAGED | UNMANAGED
    Column("state", Str),  # ENABLED | DISABLED
    Column("status", Str),  # VALID | INVALID | CREATING | UPDATING ...
    Column("platform", Str),  # EC2 | SPOT | FARGATE | FARGATE_SPOT (computeResources.type)
    Column("allocation_strategy", Str),
    Column("instance_types", Json),
    Column("min_vcpus", Integer),
    Column("desired_vcpus", Integer),
    Column("max_vcpus", Integer),
    Column("bid_percentage", Integer),
    Column("ecs_cluster_arn", Arn),
    Column("service_role", Arn),
    Column("tags", Json),
    Column("raw", Json, nullable=False),
    Column("first_seen", Time, nullable=False),
    Column("last_seen", Time, nullable=False),
    Column("deleted_at", Time),
)
Index(
    "ix_compute_environments_account_region", compute_environments.c.account_id, compute_environments.c.region
)

job_queues = Table(
    "job_queues",
    metadata,
    Column("arn", Arn, primary_key=True),
    Column("name", Str, nullable=False),
    Column("account_id", Str, nullable=False),
    Column("region", Str, nullable=False),
    Column("state", Str),
    Column("status", Str),
    Column("priority", Integer),
    Column("compute_environment_order", Json),  # [{"order": 1, "computeEnvironment": arn}, ...]
    Column("scheduling_policy_arn", Arn),
    Column("tags", Json),
    Column("raw", Json, nullable=False),
    Column("first_seen", Time, nullable=False),
    Column("last_seen", Time, nullable=False),
    Column("deleted_at", Time),
)

job_definitions = Table(
    "job_definitions",
    metadata,
    Column("arn", Arn, primary_key=True),  # includes the revision
    Column("name", Str, nullable=False),
    Column("revision", Integer, nullable=False),
    Column("account_id", Str, nullable=False),
    Column("region", Str, nullable=False),
    Column("status", Str),  # ACTIVE | INACTIVE
    Column("type", Str),  # container | multinode
    Column("platform_capabilities", Json),
    Column("vcpus", Float),
    Column("memory_mib", Integer),
    Column("gpus", Integer),
    Column("image", Str),
    Column("retry_strategy", Json),
    Column("timeout_seconds", Integer),
    Column("tags", Json),
    Column("raw", Json, nullable=False),
    Column("first_seen", Time, nullable=False),
    Column("last_seen", Time, nullable=False),
)
Index("ix_job_definitions_name_revision", job_definitions.c.name, job_definitions.c.revision)

TABLES = (compute_environments, job_queues, job_definitions)
