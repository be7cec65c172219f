"""Batch jobs: one ListJobs per queue for what was created since the last run, DescribeJobs in chunks.

Each queue is listed with the `AFTER_CREATED_AT` filter (botocore's ListJobs: with a filter,
`jobStatus` is ignored and every state is returned, up to 100 per page), from its watermark (when
it was last listed, `listed_through`) minus `reconcile_window` (jobs that become listable late,
clock skew), and grouped by state here. Before, every run listed each collected final state over
everything Batch retains plus each of the 5 open states: 7+ calls per queue re-reading the whole
retained queue. That per-state listing remains for a window as long as the retention (a first run,
or after an outage), where its 1,000 a page make it the cheaper one. Summaries older than the start
are dropped here too (a service that ignores the filter gives the same result).

Final jobs already stored with that state are skipped: nothing is described twice and a run over an
unchanged estate writes 0. A job created before the window and still open was stored open by an
earlier run and is followed by DescribeJobs until it ends (`reconcile.jobs_to_follow`). Array and
multi-node parents are described with their children (ListJobs by arrayJobId / multiNodeJobId),
every attempt becomes a `job_attempts` row.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, select

from optimizer.aws.calls import call, items
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
from optimizer.collectors.job_states import OPEN_STATES
from optimizer.collectors.jobs_transform import transform_jobs
from optimizer.collectors.reconcile import (
    jobs_to_follow,
    list_open_jobs,
    open_listing_is_cheaper,
    record_listing_coverage,
    stored_open_jobs,
)
from optimizer.store.schema import instances, job_attempts, jobs
from optimizer.store.upsert import bulk_upsert

declare("collector", "batch:DescribeJobQueues", "batch:ListJobs", "batch:DescribeJobs")

LIST_PAGE_SIZE = 1000  # ListJobs' maximum with jobStatus (children of array and multi-node jobs)
FILTERED_PAGE_SIZE = 100  # ListJobs' maximum with a filter (botocore's ListJobs maxResults)
CREATED_SCOPE = "created"


def scope_key(queue_arn: str) -> str:
    """Watermark scope of a queue's created-at listing."""
    return f"{queue_arn}|{CREATED_SCOPE}"


def legacy_scope_key(queue_arn: str, status: str) -> str:
    """Scope of the per-state watermarks stores written before the filtered listing hold."""
    return f"{queue_arn}|{status}"


def queue_watermark(watermarks: Mapping[str, str], queue_arn: str, statuses: Iterable[str]) -> str | None:
    """The queue's mark; for a store from before the filtered listing, the oldest per-state mark (so
    nothing between the states' marks is skipped)."""
    mark = watermarks.get(scope_key(queue_arn))
    if mark:
        return mark
    legacy = [
        watermarks[key] for key in (legacy_scope_key(queue_arn, s) for s in statuses) if watermarks.get(key)
    ]
    return min(legacy) if legacy else None


def created_after_filter(start: datetime) -> list[dict[str, Any]]:
    """ListJobs' filter for jobs created at or after `start` (epoch milliseconds as a string)."""
    return [{"name": "AFTER_CREATED_AT", "values": [str(to_epoch_ms(start) - 1)]}]


def list_queue_jobs(ctx: CollectContext, queue_arn: str, start: datetime) -> list[dict[str, Any]]:
    """Summaries of the queue's jobs in the collected final states and the open ones, created at or
    after `start`: one filtered listing when `start` is within what Batch still lists, else (a first
    run or after an outage) everything retained, per state at 1,000 a page (10x fewer calls than
    the filter's 100 when the window spans the whole retention)."""
    batch = ctx.client("batch")
    start_ms = to_epoch_ms(start)
    if start > ctx.now - ctx.listing_retention:
        pages = [{"filters": created_after_filter(start), "maxResults": FILTERED_PAGE_SIZE}]
    else:
        statuses = dict.fromkeys((*ctx.job_statuses, *OPEN_STATES))
        pages = [{"jobStatus": status, "maxResults": LIST_PAGE_SIZE} for status in statuses]
    summaries: list[dict[str, Any]] = []
    for params in pages:
        listed = items(batch, "list_jobs", "jobSummaryList", sleep=ctx.sleep, jobQueue=queue_arn, **params)
        summaries.extend(
            {**summary, "status": summary.get("status", params.get("jobStatus"))}
            for summary in listed
            if summary.get("createdAt") is not None and summary["createdAt"] >= start_ms
        )
    return summaries


#: Queues of service jobs (SageMaker training through Batch): ListJobs lists none of their jobs
#: (they are listed by ListServiceJobs, which this collector does not read), so they are not asked.
SERVICE_QUEUE_TYPES = frozenset({"SAGEMAKER_TRAINING"})


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


def known_job_ids(
    engine: Engine, queue_arn: str, statuses: Iterable[str], since: datetime
) -> set[tuple[str, str]]:
    """(job id, state) of the queue's jobs stored in one of `statuses`, created at or after `since`."""
    query = select(jobs.c.job_id, jobs.c.status).where(
        jobs.c.job_queue_arn == queue_arn, jobs.c.status.in_(list(statuses)), jobs.c.created_at >= since
    )
    with engine.connect() as conn:
        return {(row[0], row[1]) for row in conn.execute(query)}


def select_new(
    summaries: Iterable[Mapping[str, Any]], statuses: Iterable[str], known: set[tuple[str, str]]
) -> list[Mapping[str, Any]]:
    """Summaries in one of the collected final `statuses` not already stored with that state."""
    wanted = frozenset(statuses)
    return [s for s in summaries if s.get("status") in wanted and (s["jobId"], s["status"]) not in known]


def newest_created(summaries: Iterable[Mapping[str, Any]]) -> int | None:
    return max((s["createdAt"] for s in summaries), default=None)


def listed_through(now: datetime, newest_ms: int | None, mark: str | None) -> str:
    """A queue's new watermark: a listing at `now` has seen every job created before it, so the
    mark is `now` (or the newest `createdAt` listed, if Batch's clock is ahead), never going back.
    A queue idle for longer than the retention thus still lists only the last hour."""
    value = format_watermark(now)
    if newest_ms is not None:
        value = max(value, format_watermark(from_epoch_ms(newest_ms)))
    return max(value, mark) if mark else value


def get_jobs(
    ctx: CollectContext, engine: Engine, watermarks: Mapping[str, str]
) -> tuple[list[dict[str, Any]], dict[str, str], int, dict[str, datetime]]:
    """(DescribeJobs records, new watermarks, summaries read, where each queue's listing started)
    for every queue; open jobs are followed until they end (`reconcile.jobs_to_follow`)."""
    batch = ctx.client("batch")
    queues = [
        q["jobQueueArn"]
        for q in items(batch, "describe_job_queues", "jobQueues", sleep=ctx.sleep)
        if q.get("jobQueueType") not in SERVICE_QUEUE_TYPES
    ]
    to_describe: list[str] = []
    new_marks: dict[str, str] = {}
    listed: dict[str, str] = {}
    listed_from: dict[str, datetime] = {}
    read = 0
    for queue_arn in queues:
        mark = queue_watermark(watermarks, queue_arn, ctx.job_statuses)
        start = ctx.start_from(mark)
        if ctx.since is None and mark:
            start = start - ctx.reconcile_window
        listed_from[queue_arn] = start
        summaries = list_queue_jobs(ctx, queue_arn, start)
        read += len(summaries)
        listed.update((s["jobId"], s["status"]) for s in summaries)
        for summary in select_new(
            summaries, ctx.job_statuses, known_job_ids(engine, queue_arn, ctx.job_statuses, start)
        ):
            to_describe.append(summary["jobId"])
            to_describe.extend(list_children(ctx, summary, ctx.job_statuses))
        new_marks[scope_key(queue_arn)] = listed_through(ctx.now, newest_created(summaries), mark)
    stored_open = stored_open_jobs(engine, ctx)
    if open_listing_is_cheaper(ctx, stored_open, listed, len(queues)):
        open_listed = list_open_jobs(ctx, queues)
        read += len(open_listed)
        listed = {**open_listed, **listed}
    follow = jobs_to_follow(stored_open, listed)
    unique_ids = list(dict.fromkeys(to_describe + follow))
    records = describe_jobs(ctx, unique_ids)
    return (
        records + ended_parents_children(ctx, records, set(follow) - set(to_describe)),
        new_marks,
        read,
        listed_from,
    )


def ended_parents_children(
    ctx: CollectContext, records: list[dict[str, Any]], followed: set[str]
) -> list[dict[str, Any]]:
    """DescribeJobs records of the children of array and multi-node parents that were followed (open
    when stored) and have now ended. ListJobs shows children only when asked by parent id, and a
    parent that ends after its listing window is found by following it, not by the listing that
    asks for children (`list_children` in `get_jobs`): without this its children were never
    collected, and no later run would ask (the parent is then stored in its final state)."""
    described = {r["jobId"] for r in records}
    children: list[str] = []
    for record in records:
        if record["jobId"] in followed and record.get("status") in ctx.job_statuses:
            children.extend(c for c in list_children(ctx, record, ctx.job_statuses) if c not in described)
    return describe_jobs(ctx, list(dict.fromkeys(children))) if children else []


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
    records, marks, read, listed_from = get_jobs(ctx, engine, watermarks)
    job_frame, attempt_frame = transform_jobs(records, ctx.account_id, ctx.region)
    return Collected(
        read, {"jobs": job_frame, "job_attempts": attempt_frame}, marks, {"listed_from": listed_from}
    )


def _load(conn: Connection, ctx: CollectContext, collected: Collected) -> int:
    record_listing_coverage(conn, ctx, collected.extra["listed_from"])
    return load_jobs(conn, collected.frames["jobs"], collected.frames["job_attempts"])


JOBS = Source("jobs", _collect, _load, "Batch jobs and every attempt (ListJobs + DescribeJobs)")
