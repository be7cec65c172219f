"""Batch compute environments and job queues, snapshotted each run.

Rows keep the whole Describe* item in `raw` (the apply planner builds change plans from it). A
resource no longer returned gets `deleted_at`; one that reappears has it cleared. `last_seen` is
touched separately from the upsert so `items_written` counts real changes only: a run over an
unchanged estate writes 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, Table, update

from optimizer.aws.calls import items
from optimizer.aws.permissions import declare
from optimizer.collectors.base import CollectContext, Collected, Source
from optimizer.store.schema import compute_environments, job_queues
from optimizer.store.upsert import bulk_upsert

declare("collector", "batch:DescribeComputeEnvironments", "batch:DescribeJobQueues")

CE_COLUMNS = [
    "arn", "name", "account_id", "region", "type", "state", "status", "platform", "allocation_strategy",
    "instance_types", "min_vcpus", "desired_vcpus", "max_vcpus", "bid_percentage", "ecs_cluster_arn",
    "service_role", "tags", "raw", "first_seen", "last_seen", "deleted_at",
]  # fmt: skip
QUEUE_COLUMNS = [
    "arn", "name", "account_id", "region", "state", "status", "priority", "compute_environment_order",
    "scheduling_policy_arn", "tags", "raw", "first_seen", "last_seen", "deleted_at",
]  # fmt: skip


def get_compute_environments(ctx: CollectContext) -> list[dict[str, Any]]:
    batch = ctx.client("batch")
    return list(items(batch, "describe_compute_environments", "computeEnvironments", sleep=ctx.sleep))


def get_job_queues(ctx: CollectContext) -> list[dict[str, Any]]:
    batch = ctx.client("batch")
    return list(items(batch, "describe_job_queues", "jobQueues", sleep=ctx.sleep))


def _account_from_arn(arn: str) -> str:
    parts = arn.split(":")
    return parts[4] if len(parts) > 5 else ""


def transform_compute_environments(
    items_: list[Mapping[str, Any]], region: str, now: datetime
) -> pd.DataFrame:
    """One row per CE: managed EC2/SPOT, FARGATE/FARGATE_SPOT (`platform`), or UNMANAGED (no
    computeResources, `platform` NULL: the customer runs the instances)."""
    rows = []
    for ce in items_:
        resources = ce.get("computeResources") or {}
        rows.append(
            {
                "arn": ce["computeEnvironmentArn"],
                "name": ce["computeEnvironmentName"],
                "account_id": _account_from_arn(ce["computeEnvironmentArn"]),
                "region": region,
                "type": ce.get("type", "MANAGED"),
                "state": ce.get("state"),
                "status": ce.get("status"),
                "platform": resources.get("type"),
                "allocation_strategy": resources.get("allocationStrategy"),
                "instance_types": list(resources["instanceTypes"]) if "instanceTypes" in resources else None,
                "min_vcpus": resources.get("minvCpus"),
                "desired_vcpus": resources.get("desiredvCpus"),
                "max_vcpus": resources.get("maxvCpus"),
                "bid_percentage": resources.get("bidPercentage"),
                "ecs_cluster_arn": ce.get("ecsClusterArn"),
                "service_role": ce.get("serviceRole"),
                "tags": dict(ce.get("tags") or {}),
                "raw": _jsonable(ce),
                "first_seen": now,
                "last_seen": now,
                "deleted_at": None,
            }
        )
    return _typed(
        pd.DataFrame(rows, columns=CE_COLUMNS), ["min_vcpus", "desired_vcpus", "max_vcpus", "bid_percentage"]
    )


def transform_job_queues(items_: list[Mapping[str, Any]], region: str, now: datetime) -> pd.DataFrame:
    rows = [
        {
            "arn": q["jobQueueArn"],
            "name": q["jobQueueName"],
            "account_id": _account_from_arn(q["jobQueueArn"]),
            "region": region,
            "state": q.get("state"),
            "status": q.get("status"),
            "priority": q.get("priority"),
            "compute_environment_order": sorted(
                (dict(o) for o in q.get("computeEnvironmentOrder") or ()), key=lambda o: o.get("order", 0)
            ),
            "scheduling_policy_arn": q.get("schedulingPolicyArn"),
            "tags": dict(q.get("tags") or {}),
            "raw": _jsonable(q),
            "first_seen": now,
            "last_seen": now,
            "deleted_at": None,
        }
        for q in items_
    ]
    return _typed(pd.DataFrame(rows, columns=QUEUE_COLUMNS), ["priority"])


def _typed(frame: pd.DataFrame, int_columns: list[str]) -> pd.DataFrame:
    for column in int_columns:
        frame[column] = frame[column].astype("Int64")
    return frame


def _jsonable(value: Any) -> Any:
    """Describe* items as JSON values (datetimes as ISO text), a deep copy of the input."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def load_snapshot(
    conn: Connection, table: Table, frame: pd.DataFrame, *, account_id: str | None, region: str, now: datetime
) -> int:
    """Upsert what was seen, touch its `last_seen`, and mark what is gone as deleted."""
    written = bulk_upsert(conn, table, frame, keep_existing=("first_seen", "last_seen"))
    seen = list(frame["arn"]) if not frame.empty else []
    if seen:
        conn.execute(update(table).where(table.c.arn.in_(seen)).values(last_seen=now))
    gone = update(table).where(table.c.region == region, table.c.deleted_at.is_(None))
    if account_id:
        gone = gone.where(table.c.account_id == account_id)
    if seen:
        gone = gone.where(table.c.arn.not_in(seen))
    written += conn.execute(gone.values(deleted_at=now)).rowcount or 0
    return written


def _collect_ces(ctx: CollectContext, engine: Engine, watermarks: Mapping[str, str]) -> Collected:
    raw = get_compute_environments(ctx)
    return Collected(
        len(raw), {"compute_environments": transform_compute_environments(raw, ctx.region, ctx.now)}
    )


def _load_ces(conn: Connection, ctx: CollectContext, collected: Collected) -> int:
    frame = collected.frames["compute_environments"]
    return load_snapshot(
        conn, compute_environments, frame, account_id=ctx.account_id, region=ctx.region, now=ctx.now
    )


def _collect_queues(ctx: CollectContext, engine: Engine, watermarks: Mapping[str, str]) -> Collected:
    raw = get_job_queues(ctx)
    return Collected(len(raw), {"job_queues": transform_job_queues(raw, ctx.region, ctx.now)})


def _load_queues(conn: Connection, ctx: CollectContext, collected: Collected) -> int:
    frame = collected.frames["job_queues"]
    return load_snapshot(conn, job_queues, frame, account_id=ctx.account_id, region=ctx.region, now=ctx.now)


COMPUTE_ENVIRONMENTS = Source(
    "compute_environments",
    _collect_ces,
    _load_ces,
    "Batch compute environments (managed, Fargate, unmanaged)",
)
JOB_QUEUES = Source("job_queues", _collect_queues, _load_queues, "Batch job queues and their CE order")
