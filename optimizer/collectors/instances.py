"""Container instances behind each compute environment, joined with EC2, snapshotted into lifetimes.

Every run records what it sees now: a new instance gets `first_seen`, a seen one a new `last_seen`,
and an instance that was alive at the last run but is gone now gets `terminated_at` = its
`last_seen` (the latest time it was known to run; the true end lies between that and this run, so
lifetimes are conservative by at most one collection interval). EC2 says whether an instance is
spot (`InstanceLifecycle`) and when it launched; without EC2's answer (already gone) the CE's
platform decides. Attempts that ran on a container instance get its EC2 instance id here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import pandas as pd
from botocore.exceptions import BotoCoreError, ClientError
from sqlalchemy import Connection, Engine, and_, bindparam, or_, update

from optimizer.aws.calls import call, items
from optimizer.aws.paginate import chunks
from optimizer.aws.permissions import declare
from optimizer.collectors.base import CollectContext, Collected, Source, format_watermark, utc_naive
from optimizer.collectors.events import describe_instances, queue_matches
from optimizer.collectors.instance_lifetimes import (
    EXACT_SOURCES,
    apply_lifetimes,
    keep_exact_lifetimes,
    lifetimes_of,
)
from optimizer.collectors.instance_trail import WATERMARK_SCOPE as TRAIL_SCOPE
from optimizer.collectors.instance_trail import get_trail, parse_trail
from optimizer.collectors.runner import describe_error
from optimizer.store.schema import instances, job_attempts
from optimizer.store.upsert import bulk_upsert

declare(
    "collector",
    "batch:DescribeComputeEnvironments",
    "ecs:ListContainerInstances",
    "ecs:DescribeContainerInstances",
    "ec2:DescribeInstances",
)

COLUMNS = [
    "instance_id", "dataset", "account_id", "region", "compute_environment_arn", "cluster_arn",
    "container_instance_arn", "instance_type", "availability_zone", "capacity_type", "launch_time",
    "first_seen", "last_seen", "terminated_at", "status", "lifetime_source",
]  # fmt: skip
EC2_GONE_STATES = ("shutting-down", "terminated")
_TRANSITION_TIME = re.compile(r"\((\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) GMT\)")


def _gone_at(described: Mapping[str, Any], now: datetime) -> datetime:
    """When EC2 says the instance stopped: its `StateTransitionReason` carries the time
    ("User initiated (2026-11-02 10:15:00 GMT)", "Service initiated (...)"); else `now`."""
    match = _TRANSITION_TIME.search(str(described.get("StateTransitionReason") or ""))
    if match is None:
        return now
    return min(datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S"), now)


def get_container_instances(ctx: CollectContext) -> list[dict[str, Any]]:
    """Container instances of every EC2/SPOT/unmanaged CE, each tagged with its CE and platform."""
    batch = ctx.client("batch")
    ecs = ctx.client("ecs")
    found: list[dict[str, Any]] = []
    for ce in items(batch, "describe_compute_environments", "computeEnvironments", sleep=ctx.sleep):
        platform = (ce.get("computeResources") or {}).get("type")
        cluster = ce.get("ecsClusterArn")
        if not cluster or (platform or "").startswith("FARGATE"):
            continue
        arns = list(
            items(ecs, "list_container_instances", "containerInstanceArns", sleep=ctx.sleep, cluster=cluster)
        )
        for chunk in chunks(arns, 100):
            page = call(
                ecs,
                "describe_container_instances",
                sleep=ctx.sleep,
                cluster=cluster,
                containerInstances=chunk,
            )
            for instance in page.get("containerInstances", []):
                found.append(
                    {
                        "ce_arn": ce["computeEnvironmentArn"],
                        "platform": platform,
                        "cluster": cluster,
                        **instance,
                    }
                )
    return found


def _attribute(container_instance: Mapping[str, Any], name: str) -> str | None:
    for attribute in container_instance.get("attributes") or ():
        if attribute.get("name") == name:
            return attribute.get("value")
    return None


def transform_instances(
    container_instances: Iterable[Mapping[str, Any]],
    ec2: Mapping[str, Mapping[str, Any]],
    *,
    account_id: str | None,
    region: str,
    now: datetime,
) -> pd.DataFrame:
    rows = []
    for ci in container_instances:
        instance_id = ci.get("ec2InstanceId")
        if not instance_id:
            continue
        described = ec2.get(instance_id, {})
        lifecycle = described.get("InstanceLifecycle")
        if described:
            capacity = "SPOT" if lifecycle == "spot" else "ON_DEMAND"
        else:
            capacity = "SPOT" if ci.get("platform") == "SPOT" else "ON_DEMAND"
        state = (described.get("State") or {}).get("Name")
        launch = described.get("LaunchTime") or ci.get("registeredAt")
        rows.append(
            {
                "instance_id": instance_id,
                "dataset": "aws",
                "account_id": account_id,
                "region": region,
                "compute_environment_arn": ci.get("ce_arn"),
                "cluster_arn": ci.get("cluster"),
                "container_instance_arn": ci.get("containerInstanceArn"),
                "instance_type": described.get("InstanceType")
                or _attribute(ci, "ecs.instance-type")
                or "unknown",
                "availability_zone": (described.get("Placement") or {}).get("AvailabilityZone")
                or _attribute(ci, "ecs.availability-zone"),
                "capacity_type": capacity,
                "launch_time": utc_naive(launch) if isinstance(launch, datetime) else None,
                "first_seen": now,
                "last_seen": now,
                "terminated_at": _gone_at(described, now) if state in EC2_GONE_STATES else None,
                "status": state or ci.get("status"),
                "lifetime_source": "sampling",
            }
        )
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame["launch_time"] = pd.to_datetime(frame["launch_time"])
    return frame.drop_duplicates("instance_id", keep="last")


def load_instances(
    conn: Connection, frame: pd.DataFrame, *, account_id: str | None, region: str, now: datetime
) -> int:
    frame = keep_exact_lifetimes(conn, frame)
    written = bulk_upsert(conn, instances, frame, keep_existing=("first_seen", "last_seen"))
    alive = frame.loc[frame["terminated_at"].isna(), "instance_id"].tolist()
    for chunk in chunks(alive, 500):
        conn.execute(update(instances).where(instances.c.instance_id.in_(chunk)).values(last_seen=now))
    gone = update(instances).where(
        instances.c.dataset == "aws",
        instances.c.region == region,
        instances.c.terminated_at.is_(None),
        # an instance with exact times gets its end from its own events, not from a missed snapshot
        or_(instances.c.lifetime_source.is_(None), instances.c.lifetime_source.not_in(EXACT_SOURCES)),
    )
    if account_id:
        gone = gone.where(instances.c.account_id == account_id)
    seen = frame["instance_id"].tolist()
    if seen:
        gone = gone.where(instances.c.instance_id.not_in(seen))
    written += conn.execute(gone.values(terminated_at=instances.c.last_seen)).rowcount or 0
    _link_attempts(conn, frame)
    return written


def _link_attempts(conn: Connection, frame: pd.DataFrame) -> None:
    """Attempts stored before their container instance was seen get its instance id and CE now."""
    links = [
        {"ci": ci, "iid": iid, "ce": ce}
        for ci, iid, ce in frame[
            ["container_instance_arn", "instance_id", "compute_environment_arn"]
        ].itertuples(index=False)
        if isinstance(ci, str)
    ]
    if not links:
        return
    statement = (
        update(job_attempts)
        .where(
            and_(
                job_attempts.c.container_instance_arn == bindparam("ci"), job_attempts.c.instance_id.is_(None)
            )
        )
        .values(instance_id=bindparam("iid"), compute_environment_arn=bindparam("ce"))
    )
    conn.execute(statement, links)


def _collect(ctx: CollectContext, engine: Engine, watermarks: Mapping[str, str]) -> Collected:
    container_instances = get_container_instances(ctx)
    ids = sorted({ci["ec2InstanceId"] for ci in container_instances if ci.get("ec2InstanceId")})
    ec2 = describe_instances(ctx, ids) if ids else {}
    frame = transform_instances(
        container_instances, ec2, account_id=ctx.account_id, region=ctx.region, now=ctx.now
    )
    collected = Collected(len(container_instances), {"instances": frame})
    intake = any(queue_matches(url, ctx.account_id, ctx.region) for url in ctx.events_queue_urls)
    if ctx.cloudtrail_lifetimes and not intake:
        # No event intake here: exact lifetimes (short instances included) from CloudTrail instead;
        # without CloudTrail (denied, unreachable) the snapshot alone, and the run says so.
        try:
            events, newest = get_trail(ctx, watermarks.get(TRAIL_SCOPE))
        except (ClientError, BotoCoreError) as exc:
            collected.extra["warning"] = (
                f"CloudTrail LookupEvents failed ({describe_error(exc)}): lifetimes from sampling only, "
                "instances shorter than a run interval can be missing"
            )
            return collected
        collected.items_read += len(events)
        collected.extra["trail"] = parse_trail(events, ctx.account_id, ctx.region)
        if newest is not None:
            collected.watermarks[TRAIL_SCOPE] = format_watermark(newest)
    return collected


def _load(conn: Connection, ctx: CollectContext, collected: Collected) -> int:
    written = 0
    if "trail" in collected.extra:
        changes, facts = collected.extra["trail"]
        written += apply_lifetimes(
            conn,
            lifetimes_of(changes),
            facts,
            source="cloudtrail",
            default_account=ctx.account_id,
            default_region=ctx.region,
        )
    return written + load_instances(
        conn, collected.frames["instances"], account_id=ctx.account_id, region=ctx.region, now=ctx.now
    )


INSTANCES = Source(
    "instances", _collect, _load, "ECS container instances + EC2 lifecycle -> instance lifetimes"
)
