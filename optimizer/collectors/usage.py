"""Usage evidence: per-task CPU and memory from Container Insights, per-instance CPU from CloudWatch.

Container Insights writes one "performance log event" per task per minute to
`/aws/ecs/containerinsights/<cluster>/performance`; the `Type: Task` events carry `CpuUtilized`
(CPU units, 1,024 per vCPU) and `MemoryUtilized` (MiB). Each becomes a `usage_samples` row linked to
the Batch attempt that ran the task (matched on the task id at the end of the attempt's task ARN),
and each attempt's peaks are folded into `job_attempts.peak_*`, which right-sizing reads. Samples of
a task whose job was not collected yet (still running) are stored unlinked and linked by a later
run. Clusters without Container Insights (no log group) are skipped, not failed. Instance CPU comes
from the `AWS/EC2 CPUUtilization` metric (5-minute averages) of the instances alive in the window.

Data arrives late: a performance event can be ingested after newer ones of the same cluster, and a
5-minute CloudWatch average is partial until every datapoint of its period has arrived. So each
read starts `usage_late_window` before its watermark (the newest sample seen), not at it: a sample
that came late is stored, a revised average replaces the partial one, and the overlap re-read
changes nothing (samples are upserted by resource, metric and time; peaks are rewritten only when
they change), so a run over an unchanged estate still writes 0.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from botocore.exceptions import ClientError
from sqlalchemy import Connection, Engine, Float, and_, bindparam, func, or_, select, update

from optimizer.aws.calls import error_code, items, pages
from optimizer.aws.paginate import chunks
from optimizer.aws.permissions import declare
from optimizer.collectors.base import (
    CollectContext,
    Collected,
    Source,
    format_watermark,
    from_epoch_ms,
    to_epoch_ms,
    utc_naive,
)
from optimizer.store.schema import instances, job_attempts, jobs, usage_samples
from optimizer.store.upsert import bulk_upsert

declare(
    "collector",
    "batch:DescribeComputeEnvironments",
    "logs:FilterLogEvents",
    "cloudwatch:GetMetricData",
)

CPU_UNITS_PER_VCPU = 1024
TASK_FILTER = '{ $.Type = "Task" }'
METRIC_PERIOD_SECONDS = 300
QUERIES_PER_REQUEST = 500
RELINK_WINDOW = timedelta(days=7)
SAMPLE_COLUMNS = ["resource_kind", "resource_id", "metric", "timestamp", "value", "job_id", "attempt"]
INSTANCE_SCOPE = "cloudwatch|instances"


def log_group(cluster_arn: str) -> str:
    return f"/aws/ecs/containerinsights/{cluster_arn.rsplit('/', 1)[-1]}/performance"


def clusters(ctx: CollectContext) -> list[str]:
    batch = ctx.client("batch")
    found = {
        ce["ecsClusterArn"]
        for ce in items(batch, "describe_compute_environments", "computeEnvironments", sleep=ctx.sleep)
        if ce.get("ecsClusterArn")
    }
    return sorted(found)


def get_task_events(ctx: CollectContext, cluster_arn: str, start: datetime) -> list[dict[str, Any]] | None:
    """The cluster's Task performance events since `start`; None when Container Insights is off."""
    logs = ctx.client("logs")
    events: list[dict[str, Any]] = []
    try:
        for page in pages(
            logs,
            "filter_log_events",
            sleep=ctx.sleep,
            logGroupName=log_group(cluster_arn),
            startTime=to_epoch_ms(start),
            endTime=to_epoch_ms(ctx.now),
            filterPattern=TASK_FILTER,
        ):
            events.extend(page.get("events", []))
    except ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return None
        raise
    return events


def transform_task_events(events: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Task events -> cpu_vcpus and memory_mib samples (unlinked)."""
    rows = []
    for event in events:
        try:
            body = json.loads(event["message"])
        except (KeyError, ValueError):
            continue
        if body.get("Type") != "Task" or not body.get("TaskId"):
            continue
        stamp = from_epoch_ms(body.get("Timestamp") or event["timestamp"])
        if body.get("CpuUtilized") is not None:
            rows.append(
                ("task", body["TaskId"], "cpu_vcpus", stamp, float(body["CpuUtilized"]) / CPU_UNITS_PER_VCPU)
            )
        if body.get("MemoryUtilized") is not None:
            rows.append(("task", body["TaskId"], "memory_mib", stamp, float(body["MemoryUtilized"])))
    frame = pd.DataFrame(rows, columns=SAMPLE_COLUMNS[:5])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"])
    return frame


def instances_alive(engine: Engine, region: str, since: datetime) -> list[str]:
    query = select(instances.c.instance_id).where(
        instances.c.dataset == "aws",
        instances.c.region == region,
        instances.c.last_seen >= since,
        or_(instances.c.terminated_at.is_(None), instances.c.terminated_at >= since),
    )
    with engine.connect() as conn:
        return [row[0] for row in conn.execute(query)]


def get_instance_cpu(ctx: CollectContext, instance_ids: list[str], start: datetime) -> list[dict[str, Any]]:
    cloudwatch = ctx.client("cloudwatch")
    results: list[dict[str, Any]] = []
    for chunk in chunks(instance_ids, QUERIES_PER_REQUEST):
        queries = [
            {
                "Id": f"i{n}",
                "Label": instance_id,
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/EC2",
                        "MetricName": "CPUUtilization",
                        "Dimensions": [{"Name": "InstanceId", "Value": instance_id}],
                    },
                    "Period": METRIC_PERIOD_SECONDS,
                    "Stat": "Average",
                },
                "ReturnData": True,
            }
            for n, instance_id in enumerate(chunk)
        ]
        ids = {q["Id"]: q["Label"] for q in queries}
        for page in pages(
            cloudwatch,
            "get_metric_data",
            token_in="NextToken",
            sleep=ctx.sleep,
            MetricDataQueries=queries,
            StartTime=start,
            EndTime=ctx.now,
        ):
            for result in page.get("MetricDataResults", []):
                results.append({**result, "InstanceId": ids.get(result["Id"], result.get("Label"))})
    return results


def transform_instance_cpu(results: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    rows = [
        ("instance", result["InstanceId"], "cpu_utilization_pct", utc_naive(stamp), float(value))
        for result in results
        for stamp, value in zip(result.get("Timestamps", []), result.get("Values", []), strict=False)
    ]
    frame = pd.DataFrame(rows, columns=SAMPLE_COLUMNS[:5])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"])
    return frame


def read_start(ctx: CollectContext, watermark: str | None) -> datetime:
    """Where a usage read starts: `usage_late_window` before the watermark, so late data is read."""
    start = ctx.start_from(watermark)
    return start - ctx.usage_late_window if ctx.since is None and watermark else start


def advanced(frame: pd.DataFrame, watermark: str | None) -> str | None:
    """The newest sample read, never before the watermark (a re-read of the window only)."""
    if frame.empty:
        return watermark
    newest = format_watermark(frame["timestamp"].max().to_pydatetime())
    return max(newest, watermark) if watermark else newest


def _collect(ctx: CollectContext, engine: Engine, watermarks: Mapping[str, str]) -> Collected:
    frames = []
    marks: dict[str, str] = {}
    read = 0
    skipped = []
    for cluster_arn in clusters(ctx):
        scope = f"logs|{cluster_arn}"
        events = get_task_events(ctx, cluster_arn, read_start(ctx, watermarks.get(scope)))
        if events is None:
            skipped.append(cluster_arn.rsplit("/", 1)[-1])
            continue
        read += len(events)
        frame = transform_task_events(events)
        if (mark := advanced(frame, watermarks.get(scope))) is not None:
            marks[scope] = mark
        frames.append(frame)
    cw_start = read_start(ctx, watermarks.get(INSTANCE_SCOPE))
    alive = instances_alive(engine, ctx.region, cw_start)
    if alive:
        results = get_instance_cpu(ctx, alive, cw_start)
        read += sum(len(r.get("Values", [])) for r in results)
        frame = transform_instance_cpu(results)
        if (mark := advanced(frame, watermarks.get(INSTANCE_SCOPE))) is not None:
            marks[INSTANCE_SCOPE] = mark
        frames.append(frame)
    samples = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=SAMPLE_COLUMNS[:5])
    extra = (
        {"warning": f"no Container Insights log group for cluster(s) {', '.join(skipped)}"} if skipped else {}
    )
    return Collected(read, {"usage_samples": samples}, marks, extra)


def _attempts_by_task(
    conn: Connection, task_ids: set[str], region: str, since: datetime
) -> dict[str, tuple[str, int]]:
    """task id -> (job id, attempt) for attempts of this region that started after `since`."""
    if not task_ids:
        return {}
    query = (
        select(job_attempts.c.task_arn, job_attempts.c.job_id, job_attempts.c.attempt)
        .join(jobs, jobs.c.job_id == job_attempts.c.job_id)
        .where(jobs.c.region == region, job_attempts.c.task_arn.is_not(None))
        .where(or_(job_attempts.c.started_at.is_(None), job_attempts.c.started_at >= since))
    )
    mapping = {}
    for task_arn, job_id, attempt in conn.execute(query):
        task_id = task_arn.rsplit("/", 1)[-1]
        if task_id in task_ids:
            mapping[task_id] = (job_id, int(attempt))
    return mapping


def _unlinked_task_ids(conn: Connection, since: datetime) -> set[str]:
    query = (
        select(usage_samples.c.resource_id)
        .where(usage_samples.c.resource_kind == "task", usage_samples.c.job_id.is_(None))
        .where(usage_samples.c.timestamp >= since)
        .distinct()
    )
    return {row[0] for row in conn.execute(query)}


def _fold_peaks(conn: Connection, pairs: set[tuple[str, int]]) -> int:
    """Set each attempt's peak vCPUs and memory to the maximum of its samples; returns rows changed
    (an attempt whose peaks are already those is not rewritten)."""
    changed = 0
    job_ids = sorted({job_id for job_id, _ in pairs})
    for chunk in chunks(job_ids, 500):
        query = (
            select(
                usage_samples.c.job_id,
                usage_samples.c.attempt,
                usage_samples.c.metric,
                func.max(usage_samples.c.value),
            )
            .where(usage_samples.c.job_id.in_(chunk), usage_samples.c.metric.in_(["cpu_vcpus", "memory_mib"]))
            .group_by(usage_samples.c.job_id, usage_samples.c.attempt, usage_samples.c.metric)
        )
        peaks: dict[tuple[str, int], dict[str, float]] = {}
        for job_id, attempt, metric, value in conn.execute(query):
            peaks.setdefault((job_id, int(attempt)), {})[metric] = float(value)
        params = [
            {"j": job_id, "a": attempt, "cpu": values.get("cpu_vcpus"), "mem": values.get("memory_mib")}
            for (job_id, attempt), values in peaks.items()
            if (job_id, attempt) in pairs
        ]
        if params:
            statement = (
                update(job_attempts)
                .where(
                    and_(job_attempts.c.job_id == bindparam("j"), job_attempts.c.attempt == bindparam("a"))
                )
                .where(
                    or_(
                        job_attempts.c.peak_vcpus.is_distinct_from(bindparam("cpu", type_=Float)),
                        job_attempts.c.peak_memory_mib.is_distinct_from(bindparam("mem", type_=Float)),
                    )
                )
                .values(peak_vcpus=bindparam("cpu"), peak_memory_mib=bindparam("mem"))
            )
            changed += conn.execute(statement, params).rowcount or 0
    return changed


def load_usage(conn: Connection, samples: pd.DataFrame, *, region: str, now: datetime) -> int:
    since = now - RELINK_WINDOW
    if not samples.empty:
        since = min(since, samples["timestamp"].min().to_pydatetime())
    task_ids = (
        set(samples.loc[samples["resource_kind"] == "task", "resource_id"]) if not samples.empty else set()
    )
    unlinked = _unlinked_task_ids(conn, since)
    mapping = _attempts_by_task(conn, task_ids | unlinked, region, since - timedelta(days=1))
    frame = samples.copy()
    links = [
        mapping.get(resource, (None, None)) if kind == "task" else (None, None)
        for kind, resource in zip(frame["resource_kind"], frame["resource_id"], strict=True)
    ]
    frame["job_id"] = pd.Series([link[0] for link in links], index=frame.index, dtype=object)
    frame["attempt"] = pd.Series([link[1] for link in links], index=frame.index, dtype=object)
    written = bulk_upsert(conn, usage_samples, frame) if not frame.empty else 0
    relink = [{"tid": t, "j": mapping[t][0], "a": mapping[t][1]} for t in unlinked if t in mapping]
    if relink:
        statement = (
            update(usage_samples)
            .where(
                and_(usage_samples.c.resource_kind == "task", usage_samples.c.resource_id == bindparam("tid"))
            )
            .where(usage_samples.c.job_id.is_(None))
            .values(job_id=bindparam("j"), attempt=bindparam("a"))
        )
        written += conn.execute(statement, relink).rowcount or 0
    affected = {mapping[t] for t in task_ids | {r["tid"] for r in relink} if t in mapping}
    return written + _fold_peaks(conn, affected)


def _load(conn: Connection, ctx: CollectContext, collected: Collected) -> int:
    return load_usage(conn, collected.frames["usage_samples"], region=ctx.region, now=ctx.now)


USAGE = Source("usage", _collect, _load, "Container Insights task CPU/memory and EC2 CPUUtilization samples")
