"""What the ListJobs/DescribeJobs reconciliation adds so that nothing is missed however long a job runs.

`batch_jobs` lists each queue once per run with the `AFTER_CREATED_AT` filter (every state, only
the jobs created since its watermark minus `reconcile_window`), so a job created before that and
still open (a 30-hour job overtaken by short ones) is not listed again. It was listed open by an
earlier run and stored with that state: every stored open job the listing does not show (older
than the window, or gone) is described again, until DescribeJobs reports it final; a listed open
job is described when it is new or its state changed. A job is thus re-read until it ends. When
those old open jobs are so many that describing them all costs more calls than listing each open
state (a backlog of RUNNABLE jobs), the open states are listed too and only what changed is
described.

Each successful listing also extends the `jobs` coverage of its queue (`coverage.py`): Batch lists
finished jobs for `listing_retention`, so a listing from `start` covers
`[max(start, now - retention), now]`, and a longer outage is stored as a gap unless the event
intake covered that time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import Connection, Engine, select

from optimizer.aws.calls import items
from optimizer.collectors import coverage
from optimizer.collectors.base import CollectContext
from optimizer.collectors.job_states import OPEN_STATES
from optimizer.store.names import COLLECTED_DATASET
from optimizer.store.schema import jobs

LIST_PAGE_SIZE = 1000  # ListJobs' maximum with jobStatus
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


def jobs_to_follow(stored_open: Mapping[str, str], listed: Mapping[str, str]) -> list[str]:
    """Ids to describe: listed open jobs that are new or changed state, stored open jobs listed in
    another state (ended, whatever `job_statuses` collects), and stored open jobs the listing does
    not show at all (created before its window, or no longer listed: ended since)."""
    changed = [
        job_id
        for job_id, status in listed.items()
        if (status in OPEN_STATES or job_id in stored_open) and stored_open.get(job_id) != status
    ]
    unseen = [job_id for job_id in stored_open if job_id not in listed]
    return changed + unseen


def open_listing_is_cheaper(
    ctx: CollectContext, stored_open: Mapping[str, str], listed: Mapping[str, str], queues: int
) -> bool:
    """Whether listing each open state of every queue (1,000 a page, at least one call per state and
    queue) costs fewer calls than describing every stored open job the listing did not show (100 a
    call): a large backlog of old RUNNABLE jobs is then listed, and only what changed is described."""
    unseen = sum(1 for job_id in stored_open if job_id not in listed)
    describe_calls = -(-unseen // ctx.describe_jobs_chunk)
    return describe_calls > len(OPEN_STATES) * queues + -(-unseen // LIST_PAGE_SIZE)


def list_open_jobs(ctx: CollectContext, queues: Sequence[str]) -> dict[str, str]:
    """Job id -> state of every job Batch holds in an open state in these queues."""
    batch = ctx.client("batch")
    listed: dict[str, str] = {}
    for queue in queues:
        for status in OPEN_STATES:
            summaries = items(
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


def record_listing_coverage(
    conn: Connection, ctx: CollectContext, listed_from: Mapping[str, datetime]
) -> list[coverage.Gap]:
    """Extend each listed queue's `jobs` coverage to now from where its listing started (never
    before what Batch still lists); the holes found (stored as gaps)."""
    events = coverage.covered(conn, ctx.target, ctx.region, "events", coverage.ALL_SCOPES)
    gaps = []
    for queue, listing_start in listed_from.items():
        gap = coverage.extend(
            conn,
            target=ctx.target,
            region=ctx.region,
            source="jobs",
            scope=queue,
            start=max(listing_start, ctx.now - ctx.listing_retention),
            end=ctx.now,
            now=ctx.now,
            gap_reason=OUTAGE,
            also_covered_by=events,
        )
        if gap is not None:
            gaps.append(gap)
    return gaps
