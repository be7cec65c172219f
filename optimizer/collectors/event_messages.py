"""Parsing the event intake's SQS messages: EventBridge events, as JSON, one per message body.

Two kinds are read, the two the `batchopt setup events` rule forwards:
- "Batch Job State Change" (source aws.batch): `detail` is a DescribeJobs job, so it goes through
  the same transform as the reconciliation read (`jobs_transform.transform_jobs`).
- "EC2 Instance State-change Notification" (source aws.ec2): `detail` is
  `{"instance-id": ..., "state": ...}` and the event's `time` is when the state changed.

Anything else (not JSON, another detail type, a job without the fields a row needs) is a `Reject`
with a one-line reason; the intake stores it (`event_rejects`) instead of dropping it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from optimizer.collectors.base import utc_naive

JOB_EVENT = "Batch Job State Change"
INSTANCE_EVENT = "EC2 Instance State-change Notification"
EVENT_PATTERN: dict[str, Any] = {
    "source": ["aws.batch", "aws.ec2"],
    "detail-type": [JOB_EVENT, INSTANCE_EVENT],
}
"""The EventBridge rule's pattern (`batchopt setup events`): exactly the events parsed here."""

_JOB_REQUIRED: dict[str, type | tuple[type, ...]] = {
    "jobId": str,
    "jobQueue": str,
    "status": str,
    "createdAt": int,
}
EC2_STATES = frozenset({"pending", "running", "stopping", "stopped", "shutting-down", "terminated"})


@dataclass(frozen=True)
class JobEvent:
    record: dict[str, Any]  # the DescribeJobs-shaped detail
    account_id: str | None
    region: str | None
    time: datetime
    order: int  # arrival position in the batch, breaks ties of equal times


@dataclass(frozen=True)
class InstanceEvent:
    instance_id: str
    state: str
    account_id: str | None
    region: str | None
    time: datetime


@dataclass(frozen=True)
class Reject:
    message_id: str
    body: str
    reason: str


@dataclass
class ParsedBatch:
    jobs: list[JobEvent] = field(default_factory=list)
    instances: list[InstanceEvent] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)


class BadEvent(ValueError):
    """An event the intake cannot turn into rows; the message says which field."""


def _event_time(event: dict[str, Any]) -> datetime:
    raw = event.get("time")
    if not isinstance(raw, str):
        raise BadEvent("time: missing")
    try:
        return utc_naive(datetime.fromisoformat(raw.replace("Z", "+00:00")))
    except ValueError:
        raise BadEvent(f"time: not an ISO 8601 time: {raw[:40]!r}") from None


def _job_detail(detail: Any) -> dict[str, Any]:
    if not isinstance(detail, dict):
        raise BadEvent("detail: not an object")
    for name, kind in _JOB_REQUIRED.items():
        value = detail.get(name)
        if value is None:
            raise BadEvent(f"detail.{name}: missing")
        if not isinstance(value, kind) or isinstance(value, bool):
            raise BadEvent(
                f"detail.{name}: expected {getattr(kind, '__name__', kind)}, got {type(value).__name__}"
            )
    attempts = detail.get("attempts", [])
    if not isinstance(attempts, list) or not all(isinstance(a, dict) for a in attempts):
        raise BadEvent("detail.attempts: not a list of objects")
    return detail


def parse_event(body: str, order: int) -> JobEvent | InstanceEvent:
    """One message body -> the event it carries; BadEvent naming the field otherwise."""
    try:
        event = json.loads(body)
    except ValueError as exc:
        raise BadEvent(f"body: not JSON ({exc.msg} at char {exc.pos})") from None
    if not isinstance(event, dict):
        raise BadEvent("body: not a JSON object")
    kind = event.get("detail-type")
    account = event.get("account")
    region = event.get("region")
    if kind == JOB_EVENT:
        record = _job_detail(event.get("detail"))
        return JobEvent(record, account, region, _event_time(event), order)
    if kind == INSTANCE_EVENT:
        detail = event.get("detail")
        if not isinstance(detail, dict) or not isinstance(detail.get("instance-id"), str):
            raise BadEvent("detail.instance-id: missing")
        state = detail.get("state")
        if state not in EC2_STATES:
            raise BadEvent(f"detail.state: unknown EC2 state {state!r}")
        return InstanceEvent(detail["instance-id"], state, account, region, _event_time(event))
    raise BadEvent(f"detail-type: not an event the intake reads: {kind!r}")


def parse_messages(messages: list[dict[str, Any]]) -> ParsedBatch:
    """SQS messages (`MessageId`, `Body`) -> the events and the rejects, in arrival order."""
    parsed = ParsedBatch()
    for order, message in enumerate(messages):
        body = message.get("Body")
        message_id = str(message.get("MessageId") or f"no-id-{order}")
        if not isinstance(body, str):
            parsed.rejects.append(Reject(message_id, "", "Body: missing"))
            continue
        try:
            event = parse_event(body, order)
        except BadEvent as exc:
            parsed.rejects.append(Reject(message_id, body, str(exc)))
            continue
        if isinstance(event, JobEvent):
            parsed.jobs.append(event)
        else:
            parsed.instances.append(event)
    return parsed
