"""The executor lets a job queue settle before the next call of the same plan: Batch deletes a queue
only once it is DISABLED, and a scheduling policy only once no queue uses it (DeleteSchedulingPolicy
in the API reference). Checked on the fair-share rollback with a Stubber and injected clocks."""

from __future__ import annotations

import itertools
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from sqlalchemy import Engine

from optimizer.apply import records
from optimizer.apply.executor import Executor
from optimizer.apply.planner import CurrentState, plan_change
from optimizer.apply.rollback import build_rollback
from optimizer.config import ApplySettings
from optimizer.domain import ChangePlan, UpdateKind
from optimizer.recommend.repository import save_recommendations
from tests.apply_helpers import ACCOUNT, make_recommendation

pytestmark = pytest.mark.any_date

QUEUE_ARN = f"{ACCOUNT}:job-queue/shared"
NEW_ARN = f"{ACCOUNT}:job-queue/shared-fairshare"
POLICY_ARN = f"{ACCOUNT}:scheduling-policy/shared-fairshare"
POLICY = {"shareDecaySeconds": 3600, "computeReservation": 0}


def _queue(arn: str, name: str, **extra: Any) -> dict[str, Any]:
    return {
        "jobQueueName": name,
        "jobQueueArn": arn,
        "state": "ENABLED",
        "status": "VALID",
        "priority": 1,
        "computeEnvironmentOrder": [{"order": 1, "computeEnvironment": f"{ACCOUNT}:compute-environment/ce"}],
        **extra,
    }


def _rollback(engine: Engine) -> ChangePlan:
    """The rollback of a landed fair-share apply (new policy, new queue), saved with its apply."""
    rec = make_recommendation(
        "fair-share",
        QUEUE_ARN,
        "job-queue",
        {
            "scheduling_policy": {"name": "shared-fairshare", "share_decay_seconds": 3600},
            "new_job_queue": {"name": "shared-fairshare"},
        },
        current={"scheduling_policy_arn": None},
        update_kind=UpdateKind.BLUE_GREEN,
    )
    save_recommendations(engine, [rec])
    plan = plan_change(rec, CurrentState(_queue(QUEUE_ARN, "shared")))
    records.save_plan(engine, plan)
    after = {
        POLICY_ARN: {"name": "shared-fairshare", "arn": POLICY_ARN, "fairsharePolicy": POLICY},
        NEW_ARN: _queue(NEW_ARN, "shared-fairshare", schedulingPolicyArn=POLICY_ARN),
    }
    rollback = build_rollback(plan, [(0, {"arn": POLICY_ARN}), (1, {"jobQueueArn": NEW_ARN})], after)
    assert rollback is not None
    records.save_plan(engine, rollback)
    return rollback


def _describe_queue(stubber: Stubber, item: dict[str, Any] | None) -> None:
    stubber.add_response(
        "describe_job_queues", {"jobQueues": [item] if item else []}, {"jobQueues": [NEW_ARN]}
    )


def _describe_policy(stubber: Stubber, item: dict[str, Any] | None) -> None:
    found = [item] if item else []
    stubber.add_response(
        "describe_scheduling_policies", {"schedulingPolicies": found}, {"arns": [POLICY_ARN]}
    )


def _executor(engine: Engine, client: Any) -> Executor:
    return Executor(
        engine,
        ApplySettings(enabled=True, allow_list=[], wait_for_valid_seconds=250),
        lambda service, arn: client,
        sleep=lambda seconds: None,
        monotonic=itertools.count(0, 100).__next__,
    )


def test_the_policy_is_deleted_only_once_its_queue_is_gone(sqlite_engine: Engine) -> None:
    rollback = _rollback(sqlite_engine)
    new_queue = _queue(NEW_ARN, "shared-fairshare", schedulingPolicyArn=POLICY_ARN)
    policy = {"name": "shared-fairshare", "arn": POLICY_ARN, "fairsharePolicy": POLICY}
    client = boto3.client("batch", region_name="us-east-1")
    disable, delete, drop = rollback.calls
    with Stubber(client) as stubber:
        _describe_queue(stubber, new_queue)  # the fingerprint re-read
        _describe_policy(stubber, policy)
        stubber.add_response(
            "update_job_queue", {"jobQueueArn": NEW_ARN, "jobQueueName": "x"}, disable.params
        )
        _describe_queue(stubber, {**new_queue, "state": "DISABLED", "status": "UPDATING"})
        _describe_queue(stubber, {**new_queue, "state": "DISABLED"})  # settled: now it can be deleted
        stubber.add_response("delete_job_queue", {}, delete.params)
        _describe_queue(stubber, {**new_queue, "state": "DISABLED", "status": "DELETING"})
        _describe_queue(stubber, None)  # gone: the policy is no longer used
        stubber.add_response("delete_scheduling_policy", {}, drop.params)
        _describe_queue(stubber, None)  # read back
        _describe_policy(stubber, None)
        report = _executor(sqlite_engine, client).run(rollback, execute=True, actor="test")
        stubber.assert_no_pending_responses()
    assert report.result == "succeeded", report.message
    assert [o.detail for o in report.outcomes] == ["disabled, then deleted", "deleted", "deleted"]


def test_a_queue_still_deleting_stops_the_rollback_as_waiting(sqlite_engine: Engine) -> None:
    rollback = _rollback(sqlite_engine)
    new_queue = _queue(NEW_ARN, "shared-fairshare", schedulingPolicyArn=POLICY_ARN)
    policy = {"name": "shared-fairshare", "arn": POLICY_ARN, "fairsharePolicy": POLICY}
    deleting = {**new_queue, "state": "DISABLED", "status": "DELETING"}
    client = boto3.client("batch", region_name="us-east-1")
    disable, delete, _ = rollback.calls
    with Stubber(client) as stubber:
        _describe_queue(stubber, new_queue)
        _describe_policy(stubber, policy)
        stubber.add_response(
            "update_job_queue", {"jobQueueArn": NEW_ARN, "jobQueueName": "x"}, disable.params
        )
        _describe_queue(stubber, {**new_queue, "state": "DISABLED"})
        stubber.add_response("delete_job_queue", {}, delete.params)
        for _ in range(3):
            _describe_queue(stubber, deleting)  # never gone within the 250 s budget
        _describe_queue(stubber, deleting)  # read back
        _describe_policy(stubber, policy)
        report = _executor(sqlite_engine, client).run(rollback, execute=True, actor="test")
        stubber.assert_no_pending_responses()
    assert report.result == "waiting"
    assert "shared-fairshare not deleted after 250s (status DELETING)" in report.message
    resume = records.audit(sqlite_engine, report.audit_id).after["resume"]
    assert resume == {"from": 2, "wait": "queue-deleted", "key": NEW_ARN}
