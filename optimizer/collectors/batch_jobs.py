"""Batch jobs: ListJobs per queue and status from a created-at watermark, DescribeJobs in chunks.

Watermarks are per (queue, status) scope: the newest `createdAt` listed there. A job created before
that mark can still finish later (a long job overtaken by short ones), so each run re-reads a
`reconcile_window` before the mark and skips the ids the store already holds with that status:
nothing is described twice, nothing is missed, and a run over an unchanged estate writes 0.
Array and multi-node parents are described with their children (ListJobs by arrayJobId /
multiNodeJobId), every attempt becomes a `job_attempts` row.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, select

from optimizer.aws.paginate import chunks
from optimizer.aws.permissions import declare
from optimizer.collectors.base import (
    CollectContext,
    Collected,
    Source,
    format_watermark,
    from_epoch_ms,
    to_epoch_ms,
)
from optimizer.collectors.calls import call, items
from optimizer.collectors.jobs_transform import transform_jobs
from optimizer.collectors.reconcile import jobs_to_follow, record_listing_coverage
from optimizer.store.schema import instances, job_attempts, jobs
from optimizer.store.upsert import bulk_upsert

declare("collector", "batch:DescribeJobQueues", "batch:ListJobs", "batch:DescribeJobs")

LIST_PAGE_SIZE = 1000  # ListJobs' maximum: a busy queue lists in a tenth of the calls of the default 100


def scope_key(queue_arn: str, status: str) -> str:
    return f"{queue_arn}|{status}"


def list_queue_jobs(ctx: CollectContext, queue_arn: str, status: str) -> list[dict[str, Any]]:
    batch = ctx.client("batch")
    return list(
        items(
            batch,
            "list_jobs",
            "jobSummaryList",
            sleep=ctx.sleep,
            jobQueue=queue_arn,
            jobStatus=status,
            maxResults=LIST_PAGE_SIZE,
        )
    )


def list_children(ctx: CollectContext, summary: Mapping[str, Any], statuses: Iterable[str]) -> list[str]:
    """Ids of an array parent's children or a multi-node parent's node jobs."""
    if summary.get("arrayProperties", {}).get("size"):
        key = "arrayJobId"
    elif summary.get("nodeProperties"):
        key = "multiNodeJobId"
    else:
        return []
    batch = ctx.client("batch")
    ids: list[str] = []
    for status in statuses:
        params = {key: summary["jobId"], "jobStatus": status, "maxResults": LIST_PAGE_SIZE}
        ids.extend(s["jobId"] for s in items(batch, "list_jobs", "jobSummaryList", sleep=ctx.sleep, **params))
    return ids


def describe_jobs(ctx: CollectContext, job_ids: list[str]) -> list[dict[str, Any]]:
    batch = ctx.client("batch")
    records: list[dict[str, Any]] = []
    for chunk in chunks(job_ids, ctx.describe_jobs_chunk):
        records.extend(call(batch, "describe_jobs", sleep=ctx.sleep, jobs=chunk).get("jobs", []))
    return records


def known_job_ids(engine: Engine, queue_arn: str, status: str, since: datetime) -> set[str]:
    query = select(jobs.c.job_id).where(
        jobs.c.job_queue_arn == queue_arn, jobs.c.status == status, jobs.c.created_at >= since
    )
    with engine.connect() as conn:
        return {row[0] for row in conn.execute(query)}


def select_new(
    summaries: Iterable[Mapping[str, Any]], start: datetime, known: set[str]
) -> tuple[list[Mapping[str, Any]], int | None]:
    """Summaries created at or after `start` and not already stored; and the newest createdAt."""
    start_ms = to_epoch_ms(start)
    fresh: list[Mapping[str, Any]] = []
    newest: int | None = None
    for summary in summaries:
        created = summary.get("createdAt")
        if created is None:
            continue
        newest = created if newest is None else max(newest, created)
        if created >= start_ms and summary["jobId"] not in known:
            fresh.append(summary)
    return fresh, newest


def get_jobs(
    ctx: CollectContext, engine: Engine, watermarks: Mapping[str, str]
) -> tuple[list[dict[str, Any]], dict[str, str], int, list[str]]:
    """(DescribeJobs records, new watermarks, summaries read, queues) for every queue and status;
    open jobs are followed until they end (`reconcile.jobs_to_follow`)."""
    batch = ctx.client("batch")
    queues = [q["jobQueueArn"] for q in items(batch, "describe_job_queues", "jobQueues", sleep=ctx.sleep)]
    to_describe: list[str] = []
    new_marks: dict[str, str] = {}
    read = 0
    for queue_arn in queues:
        for status in ctx.job_statuses:
            scope = scope_key(queue_arn, status)
            mark = watermarks.get(scope)
            start = ctx.start_from(mark)
            if ctx.since is None and mark:
                start = start - ctx.reconcile_window
            summaries = list_queue_jobs(ctx, queue_arn, status)
            read += len(summaries)
            fresh, newest = select_new(summaries, start, known_job_ids(engine, queue_arn, status, start))
            for summary in fresh:
                to_describe.append(summary["jobId"])
                to_describe.extend(list_children(ctx, summary, ctx.job_statuses))
            if newest is not None:
                value = format_watermark(from_epoch_ms(newest))
                new_marks[scope] = max(value, mark) if mark else value
    follow, open_read = jobs_to_follow(ctx, engine, queues)
    unique_ids = list(dict.fromkeys(to_describe + follow))
    return describe_jobs(ctx, unique_ids), new_marks, read + open_read, queues


def _link_instances(conn: Connection, attempts: pd.DataFrame) -> pd.DataFrame:
    """Fill attempts' instance id and CE from container instances the store already knows."""
    if attempts.empty:
        return attempts
    missing = attempts["instance_id"].isna() & attempts["container_instance_arn"].notna()
    arns = attempts.loc[missing, "container_instance_arn"].unique().tolist()
    if not arns:
        return attempts
    mapping: dict[str, tuple[str, str | None]] = {}
    for chunk in chunks(arns, 500):
        query = select(
            instances.c.container_instance_arn, instances.c.instance_id, instances.c.compute_environment_arn
        ).where(instances.c.container_instance_arn.in_(chunk))
        mapping.update({row[0]: (row[1], row[2]) for row in conn.execute(query)})
    if not mapping:
        return attempts
    linked = attempts.copy()
    found = linked["container_instance_arn"].map(lambda arn: mapping.get(arn, (None, None)))
    linked.loc[missing, "instance_id"] = [pair[0] for pair in found[missing]]
    linked["compute_environment_arn"] = [pair[1] for pair in found]
    return linked


def load_jobs(conn: Connection, job_frame: pd.DataFrame, attempt_frame: pd.DataFrame) -> int:
    """Upsert jobs and attempts (attempts linked to known instances); rows inserted or changed."""
    written = bulk_upsert(conn, jobs, job_frame)
    attempt_frame = _link_instances(conn, attempt_frame)
    written += bulk_upsert(conn, job_attempts, attempt_frame)
    return written


def _collect(ctx: CollectContext, engine: Engine, watermarks: Mapping[str, str]) -> Collected:
    records, marks, read, queues = get_jobs(ctx, engine, watermarks)
    job_frame, attempt_frame = transform_jobs(records, ctx.account_id, ctx.region)
    return Collected(read, {"jobs": job_frame, "job_attempts": attempt_frame}, marks, {"queues": queues})


def _load(conn: Connection, ctx: CollectContext, collected: Collected) -> int:
    record_listing_coverage(conn, ctx, collected.extra["queues"])
    return load_jobs(conn, collected.frames["jobs"], collected.frames["job_attempts"])


JOBS = Source("jobs", _collect, _load, "Batch jobs and every attempt (ListJobs + DescribeJobs)")
