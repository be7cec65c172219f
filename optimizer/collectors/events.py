"""The event intake: drains the SQS queue `batchopt setup events` feeds, the primary job source.

Batch emits a "Batch Job State Change" event for every transition and EC2 an "EC2 Instance
State-change Notification"; EventBridge puts them on the queue, where they wait (up to the queue's
retention) until a run reads them. Unlike ListJobs they never age out between runs, and an instance
that lives ten minutes between two runs still leaves its launch and its end.

Each batch of messages is parsed, written in one transaction (jobs and attempts through the same
transform and loader the ListJobs reconciliation uses, exact instance lifetimes, unreadable
messages into `event_rejects` with the reason), and deleted from the queue only after the commit:
a crash re-delivers the batch, and re-delivery writes nothing twice (rows are keyed by job id and
attempt, and a state never goes back, `job_states`). The run then extends the `events` coverage
(`coverage.py`); without a queue for the target and region, it records that gap instead.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlparse

from sqlalchemy import Connection, Engine, select

from optimizer.aws.calls import call, items
from optimizer.aws.paginate import chunks
from optimizer.aws.permissions import declare
from optimizer.collectors import coverage
from optimizer.collectors.base import CollectContext, Collected, Source, from_epoch_ms
from optimizer.collectors.batch_jobs import load_jobs
from optimizer.collectors.event_messages import InstanceEvent, JobEvent, ParsedBatch, parse_messages
from optimizer.collectors.instance_lifetimes import (
    LaunchFacts,
    apply_lifetimes,
    facts_from_described,
    lifetimes_of,
    stored_instances,
)
from optimizer.collectors.job_states import furthest, moves_forward
from optimizer.collectors.jobs_transform import transform_jobs
from optimizer.store.schema import job_attempts, jobs
from optimizer.store.tables.collection import event_rejects
from optimizer.store.upsert import bulk_upsert

declare(
    "collector",
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
    "ec2:DescribeInstances",
)
log = logging.getLogger(__name__)

RECEIVE_MAX = 10  # SQS ReceiveMessage's and DeleteMessageBatch's limit
DEFAULT_QUEUE_RETENTION = timedelta(days=4)  # SQS's default MessageRetentionPeriod
EXPIRED_UNREAD = "event queue not drained for longer than it keeps messages: events in between expired unread"


def queue_matches(url: str, account_id: str | None, region: str) -> bool:
    """Whether a queue URL belongs to this (account, region): `https://sqs.<region>.amazonaws.com/
    <account>/<name>`; an endpoint without a region in its host (an emulator) matches by account."""
    parsed = urlparse(url)
    parts = [p for p in parsed.path.split("/") if p]
    if len(parts) != 2:
        return False
    if account_id and parts[0] != account_id:
        return False
    host = (parsed.hostname or "").split(".")
    if len(host) >= 3 and host[0] == "sqs":
        return host[1] == region
    return True


@dataclass
class BatchResult:
    jobs_written: int = 0
    instances_written: int = 0
    rejected: int = 0


def _stored_statuses(conn: Connection, job_ids: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for chunk in chunks(job_ids, 500):
        found.update(conn.execute(select(jobs.c.job_id, jobs.c.status).where(jobs.c.job_id.in_(chunk))).all())
    return found


def load_job_events(conn: Connection, events: list[JobEvent]) -> int:
    """Jobs and attempts from job events: the furthest state of each job, never behind the stored one;
    attempts of every event merged (a retry's RUNNABLE event still carries the failed attempt)."""
    if not events:
        return 0
    best = furthest((e.record, (e.time, e.order)) for e in events)
    stored = _stored_statuses(conn, list(best))
    chosen = {
        job_id for job_id, (record, _) in best.items() if moves_forward(record["status"], stored.get(job_id))
    }
    by_place: dict[tuple[str | None, str | None], list[Mapping[str, Any]]] = defaultdict(list)
    others: dict[tuple[str | None, str | None], list[Mapping[str, Any]]] = defaultdict(list)
    for event in events:
        place = (event.account_id, event.region)
        record = event.record
        if record["jobId"] in chosen and best[record["jobId"]][0] is record:
            by_place[place].append(record)
        elif record.get("attempts"):
            others[place].append(record)
    written = 0
    for (account, region), records in by_place.items():
        job_frame, attempt_frame = transform_jobs(records, account, region or "")
        written += load_jobs(conn, job_frame, attempt_frame)
    for (account, region), records in others.items():
        _, attempt_frame = transform_jobs(records, account, region or "")
        keep = [c for c in attempt_frame.columns if c not in ("job_id", "attempt")]
        written += bulk_upsert(conn, job_attempts, attempt_frame, keep_existing=keep)
    return written


def load_rejects(conn: Connection, parsed: ParsedBatch, queue_url: str, now: datetime) -> int:
    """Unreadable messages, once each: by SQS message id (a re-delivery) and by body (EventBridge's
    at-least-once delivery can put the same event on the queue twice under two message ids)."""
    if not parsed.rejects:
        return 0
    bodies = list({r.body for r in parsed.rejects})
    known: set[str] = set()
    for chunk in chunks(bodies, 100):
        query = select(event_rejects.c.body).where(
            event_rejects.c.queue_url == queue_url, event_rejects.c.body.in_(chunk)
        )
        known.update(conn.execute(query).scalars())
    rows = [
        {
            "message_id": r.message_id,
            "queue_url": queue_url,
            "received_at": now,
            "body": r.body,
            "reason": r.reason,
        }
        for r in parsed.rejects
        if r.body not in known
    ]
    if not rows:
        return 0
    return bulk_upsert(conn, event_rejects, rows, keep_existing=("received_at",))


def instance_changes(events: list[InstanceEvent]) -> list[tuple[str, str, str | None, str | None, datetime]]:
    return [(e.instance_id, e.state, e.account_id, e.region, e.time) for e in events]


def store_batch(
    engine: Engine,
    parsed: ParsedBatch,
    *,
    queue_url: str,
    now: datetime,
    account_id: str | None,
    region: str,
    describe: Callable[[list[str]], dict[str, dict[str, Any]]] | None = None,
) -> BatchResult:
    """One transaction for one batch of parsed messages. `describe` (DescribeInstances by id) gives
    launch facts of instances the store does not know yet; it runs before the transaction opens."""
    lifetimes = lifetimes_of(instance_changes(parsed.instances))
    facts: dict[str, LaunchFacts] = {}
    if lifetimes and describe is not None:
        with engine.connect() as conn:
            unknown = sorted(set(lifetimes) - set(stored_instances(conn, list(lifetimes))))
        if unknown:
            facts = {iid: facts_from_described(d) for iid, d in describe(unknown).items()}
    result = BatchResult()
    with engine.begin() as conn:
        result.jobs_written = load_job_events(conn, parsed.jobs)
        result.instances_written = apply_lifetimes(
            conn, lifetimes, facts, source="events", default_account=account_id, default_region=region
        )
        result.rejected = load_rejects(conn, parsed, queue_url, now)
    return result


def _receive(ctx: CollectContext, queue_url: str, limit: int) -> list[dict[str, Any]]:
    sqs = ctx.client("sqs")
    messages: list[dict[str, Any]] = []
    while len(messages) < limit:
        page = call(
            sqs,
            "receive_message",
            sleep=ctx.sleep,
            QueueUrl=queue_url,
            MaxNumberOfMessages=min(RECEIVE_MAX, limit - len(messages)),
            WaitTimeSeconds=ctx.events_wait_seconds,
            VisibilityTimeout=ctx.events_visibility_timeout,
        )
        received = page.get("Messages") or []
        if not received:
            break
        messages.extend(received)
    return messages


def _delete(ctx: CollectContext, queue_url: str, messages: list[dict[str, Any]]) -> None:
    sqs = ctx.client("sqs")
    for chunk in chunks(messages, RECEIVE_MAX):
        entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)]
        response = call(sqs, "delete_message_batch", sleep=ctx.sleep, QueueUrl=queue_url, Entries=entries)
        if response.get("Failed"):
            # Stored already; a re-delivery writes nothing twice, so this is only logged.
            log.warning("events: %d message(s) not deleted from %s", len(response["Failed"]), queue_url)


def describe_instances(ctx: CollectContext, instance_ids: list[str]) -> dict[str, dict[str, Any]]:
    """EC2's view of instances by id (a filter, so ids already purged are just absent)."""
    ec2 = ctx.client("ec2")
    found: dict[str, dict[str, Any]] = {}
    for chunk in chunks(instance_ids, 200):
        filters = [{"Name": "instance-id", "Values": chunk}]
        for reservation in items(
            ec2, "describe_instances", "Reservations", token_in="NextToken", sleep=ctx.sleep, Filters=filters
        ):
            for instance in reservation.get("Instances", []):
                found[instance["InstanceId"]] = instance
    return found


def queue_window(ctx: CollectContext, queue_url: str) -> datetime:
    """The earliest time the queue can still hold events from: its creation, or now - retention."""
    attributes = call(
        ctx.client("sqs"),
        "get_queue_attributes",
        sleep=ctx.sleep,
        QueueUrl=queue_url,
        AttributeNames=["CreatedTimestamp", "MessageRetentionPeriod"],
    ).get("Attributes", {})
    retention = timedelta(
        seconds=int(attributes.get("MessageRetentionPeriod", DEFAULT_QUEUE_RETENTION.total_seconds()))
    )
    start = ctx.now - retention
    if "CreatedTimestamp" in attributes:  # epoch seconds; one after `now` (a skewed clock) says nothing
        created = from_epoch_ms(float(attributes["CreatedTimestamp"]) * 1000)
        if created <= ctx.now:
            start = max(start, created)
    return start


def drain(ctx: CollectContext, engine: Engine, queue_url: str) -> tuple[int, BatchResult]:
    """Read, store and delete batches until the queue is empty or the run's cap is reached."""
    total = BatchResult()
    read = 0
    while read < ctx.events_max_messages:
        messages = _receive(ctx, queue_url, min(ctx.events_batch_messages, ctx.events_max_messages - read))
        if not messages:
            break
        read += len(messages)
        parsed = parse_messages(messages)
        result = store_batch(
            engine,
            parsed,
            queue_url=queue_url,
            now=ctx.now,
            account_id=ctx.account_id,
            region=ctx.region,
            describe=lambda ids: describe_instances(ctx, ids),
        )
        _delete(ctx, queue_url, messages)
        total.jobs_written += result.jobs_written
        total.instances_written += result.instances_written
        total.rejected += result.rejected
    return read, total


def _collect(ctx: CollectContext, engine: Engine, watermarks: Mapping[str, str]) -> Collected:
    urls = [u for u in ctx.events_queue_urls if queue_matches(u, ctx.account_id, ctx.region)]
    if not urls:
        return Collected(0, extra={"events_queue": None, "written": 0})
    read = 0
    written = 0
    starts = []
    for url in urls:
        starts.append(queue_window(ctx, url))
        count, result = drain(ctx, engine, url)
        read += count
        written += result.jobs_written + result.instances_written + result.rejected
        if result.rejected:
            log.warning("events: %d message(s) from %s kept in event_rejects", result.rejected, url)
    return Collected(read, extra={"events_queue": urls, "written": written, "covered_from": min(starts)})


def _load(conn: Connection, ctx: CollectContext, collected: Collected) -> int:
    """The batches are committed already; this records coverage (or that there is no intake)."""
    if collected.extra["events_queue"] is None:
        coverage.note_events_missing(conn, ctx.target, ctx.region, ctx.now)
        return 0
    coverage.extend(
        conn,
        target=ctx.target,
        region=ctx.region,
        source="events",
        scope=coverage.ALL_SCOPES,
        start=collected.extra["covered_from"],
        end=ctx.now,
        now=ctx.now,
        gap_reason=EXPIRED_UNREAD,
    )
    return int(collected.extra["written"])


EVENTS = Source(
    "events", _collect, _load, "Batch job and EC2 instance state changes from the event intake (SQS)"
)
