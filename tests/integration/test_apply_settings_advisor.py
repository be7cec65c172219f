"""The settings advisor's revisions as exact Batch requests: planned, validated by botocore's model
through a Stubber, with their IAM actions and the rollback built from what landed."""

from __future__ import annotations

import copy
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from optimizer.apply import shapes
from optimizer.apply.planner import CurrentState, plan_change
from optimizer.apply.rollback import build_rollback
from optimizer.domain import UpdateKind
from optimizer.errors import RefusedError, UserError
from tests.apply_helpers import ACCOUNT, CE_ARN, ce, make_recommendation, queue
from tests.integration.test_apply_model_requests import send_through_model

pytestmark = pytest.mark.any_date

RETRY = {"attempts": 3, "evaluateOnExit": [{"onExitCode": "137", "action": "RETRY"}]}


def definition(**extra: Any) -> dict[str, Any]:
    """A DescribeJobDefinitions item with the fields a new revision must carry over."""
    return {
        "jobDefinitionName": "sim",
        "jobDefinitionArn": f"{ACCOUNT}:job-definition/sim:4",
        "revision": 4,
        "status": "ACTIVE",
        "type": "container",
        "containerOrchestrationType": "ECS",
        "parameters": {"day": "today"},
        "platformCapabilities": ["EC2"],
        "tags": {"team": "science"},
        "retryStrategy": RETRY,
        "containerProperties": {
            "image": "busybox",
            "command": ["simulate"],
            "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "2048"}],
        },
        **extra,
    }


def timeout_rec(item: dict[str, Any], seconds: int) -> Any:
    return make_recommendation(
        "attempt-timeouts",
        item["jobDefinitionArn"],
        "job-definition",
        {"timeout": {"attemptDurationSeconds": seconds}},
        current={"timeout": None},
        update_kind=UpdateKind.NEW_REVISION,
    )


def test_a_timeout_is_a_new_revision_with_everything_else_kept_and_rolls_back() -> None:
    item = definition()
    plan = plan_change(timeout_rec(item, 5760), CurrentState(item))
    [call] = plan.calls
    expected = {
        k: v for k, v in copy.deepcopy(item).items() if k in shapes.request_members("RegisterJobDefinition")
    }
    expected["timeout"] = {"attemptDurationSeconds": 5760}
    assert call.operation == "register_job_definition" and call.params == expected
    assert call.params["retryStrategy"] == RETRY  # the revision keeps what it did not change
    assert plan.permissions == ["batch:RegisterJobDefinition", "batch:TagResource", "iam:PassRole"]
    assert "timeout None -> {'attemptDurationSeconds': 5760}" in call.description
    send_through_model(plan, [("describe_job_definitions", {"jobDefinitions": [item]})])

    landed = {
        "jobDefinitionName": "sim",
        "jobDefinitionArn": f"{ACCOUNT}:job-definition/sim:5",
        "revision": 5,
    }
    rollback = build_rollback(plan, [(0, landed)], {key: item for key in plan.before["resources"]})
    assert rollback is not None
    [undo] = rollback.calls
    assert (undo.operation, undo.params) == (
        "deregister_job_definition",
        {"jobDefinition": f"{ACCOUNT}:job-definition/sim:5"},
    )
    assert "batch:DeregisterJobDefinition" in rollback.permissions
    client = boto3.client("batch", region_name="us-east-1")
    with Stubber(client) as stubber:  # the rollback request is valid for the model too
        stubber.add_response("deregister_job_definition", {}, undo.params)
        client.deregister_job_definition(**undo.params)


def test_a_retry_strategy_revision_and_refusals() -> None:
    item = definition(retryStrategy=None)
    item.pop("retryStrategy")
    strategy = {
        "attempts": 3,
        "evaluateOnExit": [
            {"onStatusReason": "Host EC2*", "action": "RETRY"},
            {"onReason": "*", "action": "EXIT"},
        ],
    }
    rec = make_recommendation(
        "retry-and-spot",
        item["jobDefinitionArn"],
        "job-definition",
        {"retry_strategy": strategy},
        current={"retry_strategy": None},
        update_kind=UpdateKind.NEW_REVISION,
    )
    plan = plan_change(rec, CurrentState(item))
    assert plan.calls[0].params["retryStrategy"] == strategy
    send_through_model(plan)
    # Someone set a timeout since the advice was computed: the figure no longer holds.
    with pytest.raises(RefusedError, match="stale"):
        plan_change(timeout_rec(item, 600), CurrentState({**item, "timeout": {"attemptDurationSeconds": 60}}))
    # Already there: nothing to register.
    with pytest.raises(UserError, match="already has the proposed settings"):
        rec = make_recommendation(
            "attempt-timeouts",
            item["jobDefinitionArn"],
            "job-definition",
            {"timeout": {"attemptDurationSeconds": 600}},
            update_kind=UpdateKind.NEW_REVISION,
        )
        plan_change(rec, CurrentState({**item, "timeout": {"attemptDurationSeconds": 600}}))


def test_retry_and_spot_registers_the_revisions_then_creates_the_spot_ce_and_reorders() -> None:
    item = definition()
    item.pop("retryStrategy")
    target = queue(CE_ARN)
    strategy = {
        "attempts": 3,
        "evaluateOnExit": [
            {"onStatusReason": "Host EC2*", "action": "RETRY"},
            {"onReason": "*", "action": "EXIT"},
        ],
    }
    rec = make_recommendation(
        "retry-and-spot",
        target["jobQueueArn"],
        "job-queue",
        {
            "compute_environment_order": ["ce-spot", "ce"],
            "new_compute_environment": {
                "name": "ce-spot",
                "based_on": "ce",
                "platform": "SPOT",
                "allocation_strategy": "SPOT_PRICE_CAPACITY_OPTIMIZED",
                "min_vcpus": 0,
            },
            "job_definition_revisions": [
                {"job_definition": item["jobDefinitionArn"], "retry_strategy": strategy}
            ],
        },
        current={
            "compute_environment_order": ["ce"],
            "job_definition_revisions": [
                {"job_definition": item["jobDefinitionArn"], "retry_strategy": None}
            ],
        },
    )
    state = CurrentState(target, (), (ce(),), job_definitions=(item,))
    plan = plan_change(rec, state)
    register, create, order = plan.calls
    assert register.operation == "register_job_definition"
    assert register.params["retryStrategy"] == strategy
    assert register.params["containerProperties"] == item["containerProperties"]
    assert (create.operation, create.params["computeResources"]["type"]) == (
        "create_compute_environment",
        "SPOT",
    )
    assert order.params["computeEnvironmentOrder"] == [
        {"order": 1, "computeEnvironment": f"{ACCOUNT}:compute-environment/ce-spot"},
        {"order": 2, "computeEnvironment": CE_ARN},
    ]
    assert {"batch:RegisterJobDefinition", "batch:CreateComputeEnvironment", "batch:UpdateJobQueue"} <= set(
        plan.permissions
    )
    send_through_model(plan)

    # Rollback from "before": the queue order back, the spot CE disabled, the revision deregistered.
    landed = [
        (
            0,
            {
                "jobDefinitionName": "sim",
                "jobDefinitionArn": f"{ACCOUNT}:job-definition/sim:5",
                "revision": 5,
            },
        ),
        (
            1,
            {
                "computeEnvironmentName": "ce-spot",
                "computeEnvironmentArn": f"{ACCOUNT}:compute-environment/ce-spot",
            },
        ),
        (2, {"jobQueueArn": target["jobQueueArn"]}),
    ]
    after = {key: None for key in plan.before["resources"]}
    rollback = build_rollback(plan, landed, after)
    assert rollback is not None
    assert [c.operation for c in rollback.calls] == [
        "update_job_queue",
        "update_compute_environment",
        "deregister_job_definition",
    ]
    assert rollback.calls[0].params["computeEnvironmentOrder"] == target["computeEnvironmentOrder"]
    assert rollback.calls[1].params == {
        "computeEnvironment": f"{ACCOUNT}:compute-environment/ce-spot",
        "state": "DISABLED",
    }
    assert rollback.calls[2].params == {"jobDefinition": f"{ACCOUNT}:job-definition/sim:5"}

    # The definition gained a retry strategy since: the advice was priced for another one.
    changed = CurrentState(target, (), (ce(),), job_definitions=({**item, "retryStrategy": {"attempts": 2}},))
    with pytest.raises(RefusedError, match="stale: sim retryStrategy"):
        plan_change(rec, changed)
    with pytest.raises(UserError, match="no ACTIVE revision"):
        plan_change(rec, CurrentState(target, (), (ce(),)))
