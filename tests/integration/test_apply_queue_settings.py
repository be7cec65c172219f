"""Job-state time limits and fair-share policies as exact Batch requests: every call of the plan and
of its rollback goes through a Stubber (botocore validates it against the model and the Stubber
pins it), and the fair-share plan lands, reads back and rolls back on the moto server."""

from __future__ import annotations

import copy
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from sqlalchemy import Engine

from optimizer.apply import shapes
from optimizer.apply.executor import Executor, _response_from
from optimizer.apply.planner import CurrentState, plan_change
from optimizer.apply.queue_settings import read_back
from optimizer.apply.rollback import build_rollback
from optimizer.apply.service import ApplyService, TargetClients
from optimizer.config import ApplySettings
from optimizer.domain import ChangePlan, UpdateKind
from optimizer.errors import InputError, RefusedError, UserError
from optimizer.recommend.repository import save_recommendations
from tests.apply_helpers import ACCOUNT, Estate, build_estate, make_recommendation

QUEUE_ARN = f"{ACCOUNT}:job-queue/shared"
POLICY_ARN = f"{ACCOUNT}:scheduling-policy/shared-fairshare"
LIMIT = {
    "reason": "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT",
    "state": "RUNNABLE",
    "maxTimeSeconds": 600,
    "action": "CANCEL",
}
POLICY = {
    "name": "shared-fairshare",
    "share_decay_seconds": 3600,
    "compute_reservation": 25,
    "share_distribution": [
        {"shareIdentifier": "genomics", "weightFactor": 1.0},
        {"shareIdentifier": "imaging", "weightFactor": 8.0},
    ],
}
API_POLICY = {
    "shareDecaySeconds": 3600,
    "computeReservation": 25,
    "shareDistribution": [
        {"shareIdentifier": "genomics", "weightFactor": 1.0},
        {"shareIdentifier": "imaging", "weightFactor": 8.0},
    ],
}


def queue_item(**extra: Any) -> dict[str, Any]:
    return {
        "jobQueueName": "shared",
        "jobQueueArn": QUEUE_ARN,
        "state": "ENABLED",
        "status": "VALID",
        "priority": 10,
        "tags": {"team": "platform"},
        "computeEnvironmentOrder": [
            {"order": 1, "computeEnvironment": f"{ACCOUNT}:compute-environment/od-ce"},
            {"order": 2, "computeEnvironment": f"{ACCOUNT}:compute-environment/od-ce-2"},
        ],
        **extra,
    }


_RESPONSES = {
    "update_job_queue": lambda p: {"jobQueueArn": p["jobQueue"], "jobQueueName": "shared"},
    "create_job_queue": lambda p: {
        "jobQueueName": p["jobQueueName"],
        "jobQueueArn": f"{ACCOUNT}:job-queue/{p['jobQueueName']}",
    },
    "delete_job_queue": lambda p: {},
    "create_scheduling_policy": lambda p: {
        "name": p["name"],
        "arn": f"{ACCOUNT}:scheduling-policy/{p['name']}",
    },
    "update_scheduling_policy": lambda p: {},
    "delete_scheduling_policy": lambda p: {},
}


def send(
    plan: ChangePlan, described: list[tuple[str, dict[str, Any], dict[str, Any]]] = ()
) -> list[dict[str, Any]]:
    """Every call of `plan` through a stubbed client (model-validated, pinned); the responses.
    `described` (operation, response, request) are Describe calls validated first, so the inputs
    are real shapes too."""
    client = boto3.client("batch", region_name="us-east-1")
    responses = []
    with Stubber(client) as stubber:
        for operation, item, request in described:
            stubber.add_response(operation, item, request)
            getattr(client, operation)(**request)
        for call in plan.calls:
            response = _RESPONSES[call.operation](call.params)
            stubber.add_response(call.operation, response, call.params)
            getattr(client, call.operation)(**call.params)
            responses.append(response)
        stubber.assert_no_pending_responses()
    return responses


def test_time_limits_are_one_update_job_queue_and_roll_back_to_the_previous_list() -> None:
    capacity = {**LIMIT, "reason": "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY", "maxTimeSeconds": 14400}
    queue = queue_item(jobStateTimeLimitActions=[capacity])
    rec = make_recommendation(
        "stuck-job-limits",
        QUEUE_ARN,
        "job-queue",
        {"job_state_time_limit_actions": [capacity, LIMIT]},
        current={"job_state_time_limit_actions": [capacity]},
        update_kind=UpdateKind.QUEUE_SETTINGS,
    )
    plan = plan_change(rec, CurrentState(queue))
    [call] = plan.calls
    assert plan.update_kind == UpdateKind.QUEUE_SETTINGS
    assert call.params == {"jobQueue": QUEUE_ARN, "jobStateTimeLimitActions": [capacity, LIMIT]}
    assert plan.permissions == ["batch:UpdateJobQueue"]
    send(plan, [("describe_job_queues", {"jobQueues": [queue]}, {})])
    rollback = build_rollback(
        plan, [(0, {})], {QUEUE_ARN: {**queue, "jobStateTimeLimitActions": [capacity, LIMIT]}}
    )
    assert rollback is not None
    [undo] = rollback.calls
    assert undo.params == {"jobQueue": QUEUE_ARN, "jobStateTimeLimitActions": [capacity]}
    send(rollback)
    # A queue without limits before gets the empty list back.
    bare = queue_item()
    fresh = make_recommendation(
        "stuck-job-limits",
        QUEUE_ARN,
        "job-queue",
        {"job_state_time_limit_actions": [LIMIT]},
        current={"job_state_time_limit_actions": []},
    )
    plan = plan_change(fresh, CurrentState(bare))
    rollback = build_rollback(plan, [(0, {})], {QUEUE_ARN: {**bare, "jobStateTimeLimitActions": [LIMIT]}})
    assert rollback is not None and rollback.calls[0].params["jobStateTimeLimitActions"] == []
    send(rollback)


def test_time_limits_refuse_bad_values_and_stale_queues() -> None:
    queue = queue_item()

    def rec(actions: Any, current: Any = ()) -> Any:
        return make_recommendation(
            "stuck-job-limits",
            QUEUE_ARN,
            "job-queue",
            {"job_state_time_limit_actions": actions},
            current={"job_state_time_limit_actions": list(current)},
        )

    with pytest.raises(InputError, match="maxTimeSeconds must be from 600 to 86400"):
        plan_change(rec([{**LIMIT, "maxTimeSeconds": 300}]), CurrentState(queue))
    with pytest.raises(InputError, match="RUNNABLE jobs with CANCEL"):
        plan_change(rec([{**LIMIT, "action": "TERMINATE"}]), CurrentState(queue))
    with pytest.raises(InputError, match="listed twice"):
        plan_change(rec([LIMIT, LIMIT]), CurrentState(queue))
    with pytest.raises(RefusedError, match="stale"):
        plan_change(rec([LIMIT], current=[LIMIT]), CurrentState(queue))
    with pytest.raises(UserError, match="already has these time limits"):
        plan_change(rec([LIMIT], current=[LIMIT]), CurrentState(queue_item(jobStateTimeLimitActions=[LIMIT])))


def fair_share_rec() -> Any:
    return make_recommendation(
        "fair-share",
        QUEUE_ARN,
        "job-queue",
        {"scheduling_policy": POLICY, "new_job_queue": {"name": "shared-fairshare", "based_on": "shared"}},
        current={"scheduling_policy_arn": None},
        monthly_savings_usd=0.0,
        update_kind=UpdateKind.BLUE_GREEN,
    )


def test_fifo_queue_gets_a_new_policy_and_a_fair_share_queue_beside_it() -> None:
    queue = queue_item(jobStateTimeLimitActions=[LIMIT])
    plan = plan_change(fair_share_rec(), CurrentState(queue))
    policy, new_queue = plan.calls
    assert policy.operation == "create_scheduling_policy"
    assert policy.params == {
        "name": "shared-fairshare",
        "fairsharePolicy": API_POLICY,
        "tags": {"batchopt:fair-share-for": "shared"},
    }
    assert new_queue.operation == "create_job_queue"
    assert new_queue.params == {
        "jobQueueName": "shared-fairshare",
        "state": "ENABLED",
        "schedulingPolicyArn": POLICY_ARN,
        "priority": 10,
        "computeEnvironmentOrder": queue["computeEnvironmentOrder"],
        "tags": {"team": "platform", "batchopt:fair-share-of": "shared"},
        "jobStateTimeLimitActions": [LIMIT],
    }
    # Every field Describe gave that CreateJobQueue takes is carried (read off the model).
    for field in shapes.request_members("CreateJobQueue"):
        if field in queue and field not in ("jobQueueName", "schedulingPolicyArn", "state", "tags"):
            assert new_queue.params[field] == queue[field], field
    assert plan.update_kind == UpdateKind.BLUE_GREEN
    assert {"batch:CreateSchedulingPolicy", "batch:CreateJobQueue", "batch:TagResource"} == set(
        plan.permissions
    )
    responses = send(plan, [("describe_job_queues", {"jobQueues": [queue]}, {})])
    new_arn = responses[1]["jobQueueArn"]
    rollback = build_rollback(
        plan,
        list(enumerate(responses)),
        {
            POLICY_ARN: {"name": "shared-fairshare", "arn": POLICY_ARN, "fairsharePolicy": API_POLICY},
            new_arn: queue,
        },
    )
    assert rollback is not None
    assert [(c.operation, c.params) for c in rollback.calls] == [
        ("update_job_queue", {"jobQueue": new_arn, "state": "DISABLED"}),
        ("delete_job_queue", {"jobQueue": new_arn}),
        ("delete_scheduling_policy", {"arn": POLICY_ARN}),
    ]
    send(rollback)
    # A FIFO queue cannot get a policy in place: without new_job_queue the plan is refused.
    in_place = make_recommendation(
        "fair-share",
        QUEUE_ARN,
        "job-queue",
        {"scheduling_policy": POLICY},
        current={"scheduling_policy_arn": None},
    )
    with pytest.raises(InputError, match="FIFO queue"):
        plan_change(in_place, CurrentState(queue))
    hyphen = {**POLICY, "share_distribution": [{"shareIdentifier": "team-a", "weightFactor": 1.0}]}
    bad = make_recommendation(
        "fair-share",
        QUEUE_ARN,
        "job-queue",
        {"scheduling_policy": hyphen, "new_job_queue": {"name": "shared-fairshare"}},
        current={"scheduling_policy_arn": None},
    )
    with pytest.raises(InputError, match="'team-a' is not valid"):
        plan_change(bad, CurrentState(queue))


def test_a_queue_with_a_policy_gets_it_updated_and_restored() -> None:
    queue = queue_item(schedulingPolicyArn=POLICY_ARN)
    old = {"shareDecaySeconds": 600, "computeReservation": 0}
    item = {"name": "shared-fairshare", "arn": POLICY_ARN, "fairsharePolicy": old}
    rec = make_recommendation(
        "fair-share",
        QUEUE_ARN,
        "job-queue",
        {"scheduling_policy": POLICY},
        current={"scheduling_policy_arn": POLICY_ARN},
    )
    plan = plan_change(rec, CurrentState(queue, scheduling_policies=(item,)))
    [call] = plan.calls
    assert (call.operation, call.params) == (
        "update_scheduling_policy",
        {"arn": POLICY_ARN, "fairsharePolicy": API_POLICY},
    )
    assert plan.permissions == ["batch:UpdateSchedulingPolicy"]
    send(plan, [("describe_scheduling_policies", {"schedulingPolicies": [item]}, {"arns": [POLICY_ARN]})])
    rollback = build_rollback(plan, [(0, {})], {POLICY_ARN: {**item, "fairsharePolicy": API_POLICY}})
    assert rollback is not None
    [undo] = rollback.calls
    # Every field is restored, so the shares the apply added go too.
    assert undo.params == {"arn": POLICY_ARN, "fairsharePolicy": {**old, "shareDistribution": []}}
    send(rollback)
    # Read-back compares by value: Batch reports the defaults it applied and float weights.
    assert read_back(call, {**item, "fairsharePolicy": copy.deepcopy(API_POLICY)}) == (
        True,
        "read back as planned",
    )
    landed, detail = read_back(call, item)
    assert not landed and "fairsharePolicy" in detail


@pytest.fixture
def estate(aws_endpoint: str) -> Estate:
    return build_estate(aws_endpoint)


@pytest.mark.emulator
def test_fair_share_queue_lands_reads_back_and_rolls_back_on_the_emulator(
    sqlite_engine: Engine, estate: Estate
) -> None:
    rec = make_recommendation(
        "fair-share",
        estate.queue_arn,
        "job-queue",
        {
            "scheduling_policy": {**POLICY, "name": "main-fairshare"},
            "new_job_queue": {"name": "main-fairshare", "based_on": "main"},
        },
        current={"scheduling_policy_arn": None},
        monthly_savings_usd=0.0,
        update_kind=UpdateKind.BLUE_GREEN,
    )
    save_recommendations(sqlite_engine, [rec])
    clients = TargetClients(estate.factory)
    settings = ApplySettings(enabled=True, allow_list=["main"], wait_for_valid_seconds=5)
    service = ApplyService(
        sqlite_engine,
        settings,
        clients,
        executor=Executor(sqlite_engine, settings, clients, poll_seconds=0.01),
    )
    _, plan = service.plan(rec.id)
    assert [c.operation for c in plan.calls] == ["create_scheduling_policy", "create_job_queue"]
    report = service.apply(rec.id, execute=True, actor="test")
    assert report.result == "succeeded", report.message
    batch = estate.batch
    policy_arn = plan.calls[1].params["schedulingPolicyArn"]
    [policy] = batch.describe_scheduling_policies(arns=[policy_arn])["schedulingPolicies"]
    assert policy["fairsharePolicy"]["computeReservation"] == 25
    [new_queue] = batch.describe_job_queues(jobQueues=["main-fairshare"])["jobQueues"]
    assert new_queue["schedulingPolicyArn"] == policy_arn
    [old_queue] = batch.describe_job_queues(jobQueues=[estate.queue_arn])["jobQueues"]
    assert old_queue.get("schedulingPolicyArn") is None  # the FIFO queue is left as it was
    assert new_queue["computeEnvironmentOrder"] == old_queue["computeEnvironmentOrder"]

    undo = service.rollback(rec.id, execute=True, actor="test")
    assert undo.result == "succeeded", undo.message
    assert batch.describe_job_queues(jobQueues=["main-fairshare"])["jobQueues"] == []
    assert batch.describe_scheduling_policies(arns=[policy_arn])["schedulingPolicies"] == []
    assert batch.describe_job_queues(jobQueues=[estate.queue_arn])["jobQueues"] == [old_queue]


def test_an_interrupted_fair_share_apply_rolls_back_by_the_arns_read_back() -> None:
    """After a crash the executor rebuilds each landed call's response from the resource it reads
    back (`_response_from`): the rollback deletes the new queue and policy by ARN."""
    queue = queue_item()
    plan = plan_change(fair_share_rec(), CurrentState(queue))
    new_arn = f"{ACCOUNT}:job-queue/shared-fairshare"
    observed = [
        {"name": "shared-fairshare", "arn": POLICY_ARN, "fairsharePolicy": API_POLICY},
        {
            **queue,
            "jobQueueName": "shared-fairshare",
            "jobQueueArn": new_arn,
            "schedulingPolicyArn": POLICY_ARN,
        },
    ]
    responses = [_response_from(call, item) for call, item in zip(plan.calls, observed, strict=True)]
    assert responses == [{"arn": POLICY_ARN}, {"jobQueueArn": new_arn}]
    rollback = build_rollback(
        plan, list(enumerate(responses)), {POLICY_ARN: observed[0], new_arn: observed[1]}
    )
    assert rollback is not None
    assert [c.params for c in rollback.calls] == [
        {"jobQueue": new_arn, "state": "DISABLED"},
        {"jobQueue": new_arn},
        {"arn": POLICY_ARN},
    ]
