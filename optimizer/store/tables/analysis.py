"""Persisted analysis aggregates, so the dashboard and the report read a million jobs' worth fast.

Written by `batchopt analyze` (one transaction per run: the covered days are replaced, so a
re-run is idempotent), except `demand_forecasts`, which `batchopt train` replaces per dataset.
Money is USD; resource-hours are vCPU-hours and GiB-hours. Dimension values that are unknown are
"(none)"; idle cost has "(idle)" as its queue and job definition, so summing any slice gives the
instances' full cost.
"""

from sqlalchemy import Column, Index, Table

from optimizer.store.base import Arn, Float, Integer, Json, Str, Time, metadata

_MONEY = ("total_usd", "attributed_usd", "idle_usd", "over_requested_usd", "spot_reclaim_usd", "failed_usd")


def _money_columns() -> list[Column]:
    names = [*_MONEY, "oom_usd"]
    return [Column(name, Float, nullable=False, server_default="0") for name in names]


cost_daily = Table(
    "cost_daily",
    metadata,
    Column("dataset", Str, primary_key=True),
    Column("day", Time, primary_key=True),  # UTC midnight
    Column("queue", Str, primary_key=True),
    Column("compute_environment_arn", Arn, primary_key=True),
    Column("job_definition_name", Str, primary_key=True),
    Column("instance_type", Str, primary_key=True),
    Column("capacity_type", Str, primary_key=True),
    *_money_columns(),
    Column("vcpu_hours", Float, nullable=False, server_default="0"),
    Column("attempts", Integer, nullable=False, server_default="0"),
)
Index("ix_cost_daily_dataset_day", cost_daily.c.dataset, cost_daily.c.day)

cost_daily_tags = Table(
    "cost_daily_tags",
    metadata,
    Column("dataset", Str, primary_key=True),
    Column("day", Time, primary_key=True),
    Column("tag_key", Str, primary_key=True),
    Column("tag_value", Str, primary_key=True),  # "(untagged)" for attempts without the key
    *_money_columns(),
    Column("vcpu_hours", Float, nullable=False, server_default="0"),
)
Index("ix_cost_daily_tags_dataset_day", cost_daily_tags.c.dataset, cost_daily_tags.c.day)

utilization_hourly = Table(
    "utilization_hourly",
    metadata,
    Column("dataset", Str, primary_key=True),
    Column("hour", Time, primary_key=True),
    Column("compute_environment_arn", Arn, primary_key=True),
    Column("instance_hours", Float, nullable=False),
    Column("capacity_vcpu_hours", Float, nullable=False),
    Column("allocated_vcpu_hours", Float, nullable=False),
    Column("allocated_known_vcpu_hours", Float, nullable=False),
    Column("used_vcpu_hours", Float, nullable=False),
    Column("capacity_memory_gib_hours", Float, nullable=False),
    Column("allocated_memory_gib_hours", Float, nullable=False),
    Column("allocated_known_memory_gib_hours", Float, nullable=False),
    Column("used_memory_gib_hours", Float, nullable=False),
    Column("capacity_gpu_hours", Float, nullable=False),
    Column("allocated_gpu_hours", Float, nullable=False),
    Column("fragmented_vcpu_hours", Float, nullable=False, server_default="0"),
    Column("fragmented_memory_gib_hours", Float, nullable=False, server_default="0"),
)
Index("ix_utilization_hourly_dataset_hour", utilization_hourly.c.dataset, utilization_hourly.c.hour)

analysis_runs = Table(
    "analysis_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("dataset", Str, nullable=False),
    Column("computed_at", Time, nullable=False),
    Column("since", Time),  # first day replaced (None: all history)
    Column("until", Time),
    Column("instances", Integer, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("total_usd", Float, nullable=False),
    Column("idle_usd", Float, nullable=False),
    Column("price_sources", Json, nullable=False),  # {"on-demand": 120, "spot-latest-region": 3, ...}
    Column("unplaced_attempts", Integer, nullable=False),  # attempts on instances the store lacks
    # Multi-node parallel jobs (`analysis/multinode.py`): how many, their nodes' cost, and the part of
    # `idle_usd` their gangs' forming explains (instances held empty until the last node joined).
    Column("mnp_jobs", Integer),
    Column("mnp_cost_usd", Float),
    Column("gang_formation_idle_usd", Float),
)

TABLES = (cost_daily, cost_daily_tags, utilization_hourly, analysis_runs)

demand_forecasts = Table(
    "demand_forecasts",
    metadata,
    Column("dataset", Str, primary_key=True),
    Column("queue", Str, primary_key=True),  # "(all)" for the sum over queues
    Column("metric", Str, primary_key=True),  # vcpus | memory_gib | gpus (resource-hours per hour)
    Column("hour", Time, primary_key=True),
    Column("p50", Float, nullable=False),
    Column("p90", Float, nullable=False),
    Column("trained_at", Time, nullable=False),
)

TABLES = (*TABLES, demand_forecasts)
