"""`batchopt setup events`: the EventBridge rule, SQS queue and dead-letter queue the event intake reads.

Per (target, region): a rule on the default event bus matching Batch job state changes and EC2
instance state-change notifications (`event_messages.EVENT_PATTERN`, exactly what the collector
parses), targeting a queue that keeps messages 14 days (SQS's maximum, so a long outage of the
collector loses nothing) with a dead-letter queue behind it, and the queue policy that lets only
that rule send (`events.amazonaws.com`, `aws:SourceArn` = the rule's ARN).

Planning reads what exists and compares it field by field, so a second run plans no call; the
plan is printed as the exact requests (dry run), and `--execute` sends them in order, audited in
`audit_log` like an apply (a `pending` row first, completed after).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError
from sqlalchemy import Engine, insert

from optimizer.apply.records import finish_audit
from optimizer.aws.permissions import declare
from optimizer.collectors.event_messages import EVENT_PATTERN
from optimizer.store.schema import audit_log

declare(
    "setup",
    "sqs:GetQueueUrl",
    "sqs:GetQueueAttributes",
    "sqs:CreateQueue",
    "sqs:SetQueueAttributes",
    "events:DescribeRule",
    "events:PutRule",
    "events:ListTargetsByRule",
    "events:PutTargets",
)

RETENTION_SECONDS = 14 * 24 * 3600  # SQS's maximum MessageRetentionPeriod
MAX_RECEIVES = 5  # deliveries before a message goes to the dead-letter queue
TARGET_ID = "batchopt-event-intake"
AUDIT_ACTION = "setup-events"


@dataclass(frozen=True)
class IntakeNames:
    rule: str = "batchopt-event-intake"
    queue: str = "batchopt-event-intake"
    dead_letter: str = "batchopt-event-intake-dlq"


@dataclass(frozen=True)
class Call:
    """One request, exactly as sent (boto3 method name and parameters)."""

    service: str
    operation: str
    params: dict[str, Any]

    def render(self) -> str:
        return f"{self.service}.{self.operation} {json.dumps(self.params, sort_keys=True)}"


@dataclass
class IntakePlan:
    target: str
    region: str
    account_id: str
    queue_name: str
    queue_url: str | None  # known once the queue exists
    calls: list[Call] = field(default_factory=list)
    current: dict[str, Any] = field(default_factory=dict)


def partition(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def queue_arn(region: str, account: str, name: str) -> str:
    return f"arn:{partition(region)}:sqs:{region}:{account}:{name}"


def rule_arn(region: str, account: str, name: str) -> str:
    return f"arn:{partition(region)}:events:{region}:{account}:rule/{name}"


def queue_policy(queue: str, rule: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "BatchoptEventIntake",
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue,
                "Condition": {"ArnEquals": {"aws:SourceArn": rule}},
            }
        ],
    }


def _not_found(exc: ClientError) -> bool:
    code = str(exc.response.get("Error", {}).get("Code", ""))
    return code in (
        "AWS.SimpleQueueService.NonExistentQueue",
        "QueueDoesNotExist",
        "ResourceNotFoundException",
    )


def _queue(sqs: Any, name: str) -> tuple[str | None, dict[str, str]]:
    try:
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    except ClientError as exc:
        if _not_found(exc):
            return None, {}
        raise
    return url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"]).get("Attributes", {})


def _json_equal(stored: str | None, wanted: dict[str, Any]) -> bool:
    if not stored:
        return False
    try:
        parsed = json.loads(stored)
    except ValueError:
        return False
    normalise = lambda v: json.loads(json.dumps(v), parse_int=str, parse_float=str)  # noqa: E731
    return normalise(parsed) == normalise(wanted)


def plan_intake(
    sqs: Any, events: Any, *, target: str, region: str, account_id: str, names: IntakeNames
) -> IntakePlan:
    """The calls that make the intake exist as wanted; none when it already does."""
    dlq_arn = queue_arn(region, account_id, names.dead_letter)
    main_arn = queue_arn(region, account_id, names.queue)
    the_rule = rule_arn(region, account_id, names.rule)
    dlq_url, dlq_attrs = _queue(sqs, names.dead_letter)
    url, attrs = _queue(sqs, names.queue)
    plan = IntakePlan(target, region, account_id, names.queue, url)
    plan.current = {"dead_letter_queue": dlq_attrs or None, "queue": attrs or None}
    if dlq_url is None:
        plan.calls.append(
            Call(
                "sqs",
                "create_queue",
                {
                    "QueueName": names.dead_letter,
                    "Attributes": {"MessageRetentionPeriod": str(RETENTION_SECONDS)},
                },
            )
        )
    wanted = {
        "MessageRetentionPeriod": str(RETENTION_SECONDS),
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVES}),
        "Policy": json.dumps(queue_policy(main_arn, the_rule)),
    }
    if url is None:
        plan.calls.append(Call("sqs", "create_queue", {"QueueName": names.queue, "Attributes": wanted}))
    else:
        differing = {
            key: value
            for key, value in wanted.items()
            if not (
                _json_equal(attrs.get(key), json.loads(value))
                if key != "MessageRetentionPeriod"
                else attrs.get(key) == value
            )
        }
        if differing:
            plan.calls.append(Call("sqs", "set_queue_attributes", {"QueueUrl": url, "Attributes": differing}))
    try:
        rule = events.describe_rule(Name=names.rule)
    except ClientError as exc:
        if not _not_found(exc):
            raise
        rule = None
    plan.current["rule"] = {k: rule.get(k) for k in ("Arn", "EventPattern", "State")} if rule else None
    if (
        rule is None
        or rule.get("State") != "ENABLED"
        or not _json_equal(rule.get("EventPattern"), EVENT_PATTERN)
    ):
        plan.calls.append(
            Call(
                "events",
                "put_rule",
                {
                    "Name": names.rule,
                    "EventPattern": json.dumps(EVENT_PATTERN),
                    "State": "ENABLED",
                    "Description": "Batch job and EC2 instance state changes for batchopt's event intake",
                },
            )
        )
    targets = events.list_targets_by_rule(Rule=names.rule)["Targets"] if rule is not None else []
    plan.current["targets"] = targets
    if not any(t.get("Id") == TARGET_ID and t.get("Arn") == main_arn for t in targets):
        plan.calls.append(
            Call(
                "events", "put_targets", {"Rule": names.rule, "Targets": [{"Id": TARGET_ID, "Arn": main_arn}]}
            )
        )
    return plan


def execute(plan: IntakePlan, clients: Callable[[str], Any]) -> str:
    """Send the plan's calls in order; returns the queue URL."""
    url = plan.queue_url
    for call in plan.calls:
        response = getattr(clients(call.service), call.operation)(**call.params)
        if call.operation == "create_queue" and call.params["QueueName"] == plan.queue_name:
            url = response["QueueUrl"]
    if url is None:
        raise RuntimeError("event intake: no queue URL after setup")
    return url


def audit_start(engine: Engine, plan: IntakePlan, *, actor: str, dry_run: bool, now: datetime) -> int:
    with engine.begin() as conn:
        inserted = conn.execute(
            insert(audit_log)
            .values(
                plan_id=f"{AUDIT_ACTION}/{plan.target}/{plan.region}",
                recommendation_id=None,
                action=AUDIT_ACTION,
                actor=actor,
                dry_run=dry_run,
                started_at=now,
                finished_at=now if dry_run else None,
                before=plan.current,
                result="dry-run" if dry_run else "pending",
                message="\n".join(c.render() for c in plan.calls) or "nothing to change",
            )
            .returning(audit_log.c.id)
        )
        return int(inserted.scalar_one())


def audit_finish(
    engine: Engine, audit_id: int, *, result: str, after: Any, message: str, now: datetime
) -> None:
    finish_audit(engine, audit_id, result=result, after=after, message=message, now=now)
