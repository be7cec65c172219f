"""Batch job definitions: every ACTIVE revision, plus any revision (even INACTIVE) a stored job ran.

Jobs keep pointing at the revision they were submitted with after it is deregistered, and right-
sizing compares a job's request with the revision's, so the revisions jobs reference are fetched by
ARN when the store does not have them yet.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, select, update

from optimizer.aws.calls import items
from optimizer.aws.paginate import chunks
from optimizer.aws.permissions import declare
from optimizer.collectors.base import CollectContext, Collected, Source
from optimizer.collectors.batch_fields import requested_resources
from optimizer.collectors.batch_inventory import _jsonable
from optimizer.store.schema import job_definitions, jobs
from optimizer.store.upsert import bulk_upsert

declare("collector", "batch:DescribeJobDefinitions")

COLUMNS = [
    "arn", "name", "revision", "account_id", "region", "status", "type", "platform_capabilities", "vcpus",
    "memory_mib", "gpus", "image", "retry_strategy", "timeout_seconds", "tags", "raw", "first_seen",
    "last_seen",
]  # fmt: skip


def get_active_definitions(ctx: CollectContext) -> list[dict[str, Any]]:
    batch = ctx.client("batch")
    return list(items(batch, "describe_job_definitions", "jobDefinitions", sleep=ctx.sleep, status="ACTIVE"))


def get_definitions_by_arn(ctx: CollectContext, arns: list[str]) -> list[dict[str, Any]]:
    batch = ctx.client("batch")
    found: list[dict[str, Any]] = []
    for chunk in chunks(arns, 100):
        found.extend(
            items(batch, "describe_job_definitions", "jobDefinitions", sleep=ctx.sleep, jobDefinitions=chunk)
        )
    return found


def referenced_missing(engine: Engine, region: str, seen: Iterable[str]) -> list[str]:
    """Job-definition ARNs that stored jobs of this region ran but the store (and `seen`) lacks."""
    known = select(job_definitions.c.arn)
    query = (
        select(jobs.c.job_definition)
        .where(jobs.c.region == region, jobs.c.job_definition.is_not(None))
        .where(jobs.c.job_definition.like("arn:%"))
        .where(jobs.c.job_definition.not_in(known))
        .distinct()
    )
    with engine.connect() as conn:
        referenced = {row[0] for row in conn.execute(query)}
    return sorted(referenced - set(seen))


def _image(definition: Mapping[str, Any]) -> str | None:
    container = definition.get("containerProperties") or {}
    if container.get("image"):
        return str(container["image"])
    for node_range in (definition.get("nodeProperties") or {}).get("nodeRangeProperties") or ():
        if (node_range.get("container") or {}).get("image"):
            return str(node_range["container"]["image"])
    for task in (definition.get("ecsProperties") or {}).get("taskProperties") or ():
        for container in task.get("containers") or ():
            if container.get("image"):
                return str(container["image"])
    return None


def transform_job_definitions(
    definitions: Iterable[Mapping[str, Any]], region: str, now: datetime
) -> pd.DataFrame:
    rows = []
    for definition in definitions:
        arn = definition["jobDefinitionArn"]
        vcpus, memory, gpus = requested_resources(definition)
        timeout = definition.get("timeout") or {}
        rows.append(
            {
                "arn": arn,
                "name": definition["jobDefinitionName"],
                "revision": int(definition["revision"]),
                "account_id": arn.split(":")[4],
                "region": region,
                "status": definition.get("status"),
                "type": definition.get("type"),
                "platform_capabilities": list(definition.get("platformCapabilities") or ["EC2"]),
                "vcpus": vcpus,
                "memory_mib": memory,
                "gpus": gpus,
                "image": _image(definition),
                "retry_strategy": _jsonable(definition["retryStrategy"])
                if definition.get("retryStrategy")
                else None,
                "timeout_seconds": timeout.get("attemptDurationSeconds"),
                "tags": dict(definition.get("tags") or {}),
                "raw": _jsonable(definition),
                "first_seen": now,
                "last_seen": now,
            }
        )
    frame = pd.DataFrame(rows, columns=COLUMNS)
    for column in ("revision", "memory_mib", "gpus", "timeout_seconds"):
        frame[column] = frame[column].astype("Int64")
    frame["vcpus"] = frame["vcpus"].astype("float64")
    return frame.drop_duplicates("arn", keep="last")


def _collect(ctx: CollectContext, engine: Engine, watermarks: Mapping[str, str]) -> Collected:
    active = get_active_definitions(ctx)
    missing = referenced_missing(engine, ctx.region, (d["jobDefinitionArn"] for d in active))
    extra = get_definitions_by_arn(ctx, missing) if missing else []
    frame = transform_job_definitions([*active, *extra], ctx.region, ctx.now)
    return Collected(len(active) + len(extra), {"job_definitions": frame})


def _load(conn: Connection, ctx: CollectContext, collected: Collected) -> int:
    frame = collected.frames["job_definitions"]
    written = bulk_upsert(conn, job_definitions, frame, keep_existing=("first_seen", "last_seen"))
    if not frame.empty:
        seen = list(frame["arn"])
        for chunk in chunks(seen, 500):
            conn.execute(
                update(job_definitions).where(job_definitions.c.arn.in_(chunk)).values(last_seen=ctx.now)
            )
    return written


JOB_DEFINITIONS = Source(
    "job_definitions", _collect, _load, "Batch job definitions: active revisions and those jobs ran"
)
