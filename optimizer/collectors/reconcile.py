"""What the ListJobs/DescribeJobs reconciliation adds so that nothing is missed however long a job runs.

The created-at watermark of `batch_jobs` re-lists one `reconcile_window` before the newest job seen,
so a job created before that and still running (a 30-hour job overtaken by short ones) would never
be listed again once it ends. Instead, every run lists the jobs Batch holds in a non-terminal state
(ListJobs with each open `jobStatus`: current jobs, never aged out) and keeps them in the store with
that state; a stored open job that is no longer listed open has ended (or moved on) and is described
again, until DescribeJobs reports it final. A job is thus re-read until it ends, and only when its
state changed.

Each successful listing also extends the `jobs` coverage of its queue (`coverage.py`): Batch lists
finished jobs for `listing_retention`, so a listing covers `[now - retention, now]`, and a longer
outage is stored as a gap unless the event intake covered that time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Engine, select

from optimizer.collectors import coverage
from optimizer.collectors.base import CollectContext
from optimizer.collectors.calls import items
from optimizer.collectors.job_states import OPEN_STATES
from optimizer.store.names import COLLECTED_DATASET
from optimizer.store.schema import jobs

LIST_PAGE_SIZE = 1000
OUTAGE = (
    "no successful ListJobs for longer than Batch lists finished jobs, and no event intake covering it: "
    "jobs that finished in between are missing"
)


def stored_open_jobs(engine: Engine, ctx: CollectContext) -> dict[str, str]:
    """Job id -> state of the collected jobs of this account and region stored in an open state."""
    query = select(jobs.c.job_id, jobs.c.status).where(
        jobs.c.dataset == COLLECTED_DATASET, jobs.c.region == ctx.region, jobs.c.status.in_(OPEN_STATES)
    )
    if ctx.account_id:
        query = query.where(jobs.c.account_id == ctx.account_id)
    with engine.connect() as conn:
        return dict(conn.execute(query).all())


def list_open_jobs(ctx: CollectContext, queues: Sequence[str]) -> dict[str, str]:
    """Job id -> state of every job Batch holds in an open state in these queues."""
    batch = ctx.client("batch")
    listed: dict[str, str] = {}
    for queue in queues:
        for status in OPEN_STATES:
            summaries: Any = items(
                batch,
                "list_jobs",
                "jobSummaryList",
                sleep=ctx.sleep,
                jobQueue=queue,
                jobStatus=status,
                maxResults=LIST_PAGE_SIZE,
            )
            listed.update((s["jobId"], status) for s in summaries)
    return listed


def jobs_to_follow(ctx: CollectContext, engine: Engine, queues: Sequence[str]) -> tuple[list[str], int]:
    """(ids to describe, summaries read): open jobs that are new or changed state, and stored open
    jobs Batch no longer lists open (ended since the last run)."""
    stored = stored_open_jobs(engine, ctx)
    listed = list_open_jobs(ctx, queues)
    changed = [job_id for job_id, status in listed.items() if stored.get(job_id) != status]
    ended = [job_id for job_id in stored if job_id not in listed]
    return changed + ended, len(listed)


def record_listing_coverage(
    conn: Connection, ctx: CollectContext, queues: Sequence[str]
) -> list[coverage.Gap]:
    """Extend each queue's `jobs` coverage to now; the holes found (stored as gaps)."""
    events = coverage.covered(conn, ctx.target, ctx.region, "events", coverage.ALL_SCOPES)
    gaps = []
    for queue in queues:
        gap = coverage.extend(
            conn,
            target=ctx.target,
            region=ctx.region,
            source="jobs",
            scope=queue,
            start=ctx.now - ctx.listing_retention,
            end=ctx.now,
            now=ctx.now,
            gap_reason=OUTAGE,
            also_covered_by=events,
        )
        if gap is not None:
            gaps.append(gap)
    return gaps
