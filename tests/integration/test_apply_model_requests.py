"""Apply requests checked against botocore's Batch model: every plan call goes through a Stubber,
which validates the parameters against the model (and the Describe items used as input against
the output shapes), and the exact request is pinned."""

from __future__ import annotations

import copy
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from optimizer.apply import shapes
from optimizer.apply.planner import EC2_ONLY_FIELDS, CurrentState, PlannerOptions, plan_change
from optimizer.apply.rollback import build_rollback
from optimizer.catalog.batch_rules import FARGATE_SIZES, is_fargate_size
from optimizer.domain import ChangePlan, UpdateKind
from optimizer.errors import InputError
from tests.apply_helpers import ACCOUNT, CE_ARN, make_recommendation, queue

pytestmark = pytest.mark.any_date

FLEET_ROLE = "arn:aws:iam::123456789012:role/AmazonEC2SpotFleetTaggingRole"


def full_ce(strategy: str = "BEST_FIT", ce_type: str = "EC2", **resources: Any) -> dict[str, Any]:
    """A DescribeComputeEnvironments item using every optional setting a copy must keep."""
    return {
        "computeEnvironmentName": "ce",
        "computeEnvironmentArn": CE_ARN,
        "ecsClusterArn": "arn:aws:ecs:us-east-1:123456789012:cluster/ce",
        "type": "MANAGED",
        "state": "ENABLED",
        "status": "VALID",
        "uuid": "0f6a7c1e-9d0a-4a52-8c5e-8d1b7d3b6f10",
        "context": "team-data",
        "tags": {"team": "data"},
        "containerOrchestrationType": "ECS",
        "ecsSettings": {"containerInsights": "enabled"},
        "updatePolicy": {"terminateJobsOnUpdate": False, "jobExecutionTimeoutMinutes": 120},
        "computeResources": {
            "type": ce_type,
            "allocationStrategy": strategy,
            "minvCpus": 0,
            "desiredvCpus": 16,
            "maxvCpus": 512,
            "instanceTypes": ["m5.large", "c5.xlarge"],
            "subnets": ["subnet-1", "subnet-2"],
            "securityGroupIds": ["sg-1"],
            "instanceRole": "arn:aws:iam::123456789012:instance-profile/ecsInstanceRole",
            "ec2KeyPair": "ops",
            "placementGroup": "pg-1",
            "tags": {"cost-center": "42"},
            "launchTemplate": {"launchTemplateId": "lt-0abc", "version": "$Latest"},
            "ec2Configuration": [{"imageType": "ECS_AL2023"}],
            "scalingPolicy": {"minScaleDownDelayMinutes": 45},
            **resources,
        },
    }


def ce_rec(proposed: dict[str, Any]) -> Any:
    return make_recommendation(
        "test", CE_ARN, "compute-environment", proposed, update_kind=UpdateKind.SCALING
    )


_RESPONSES = {
    "create_compute_environment": lambda p: {
        "computeEnvironmentName": p["computeEnvironmentName"],
        "computeEnvironmentArn": f"{ACCOUNT}:compute-environment/{p['computeEnvironmentName']}",
    },
    "update_compute_environment": lambda p: {"computeEnvironmentArn": p["computeEnvironment"]},
    "update_job_queue": lambda p: {"jobQueueArn": p["jobQueue"]},
    "register_job_definition": lambda p: {
        "jobDefinitionName": p["jobDefinitionName"],
        "jobDefinitionArn": f"{ACCOUNT}:job-definition/{p['jobDefinitionName']}:8",
        "revision": 8,
    },
}


def send_through_model(plan: ChangePlan, described: list[tuple[str, dict[str, Any]]] = ()) -> None:
    """Send every call of `plan` to a stubbed client: botocore validates each request against the
    model and the Stubber checks it is exactly the planned one. `described` items are validated as
    Describe responses first (so the inputs are real shapes too)."""
    client = boto3.client("batch", region_name="us-east-1")
    with Stubber(client) as stubber:
        for operation, item in described:
            stubber.add_response(operation, item)
            getattr(client, operation)()
        for call in plan.calls:
            stubber.add_response(call.operation, _RESPONSES[call.operation](call.params), call.params)
            getattr(client, call.operation)(**call.params)
        stubber.assert_no_pending_responses()


def test_blue_green_copy_keeps_every_field_create_accepts_and_carries_the_update_policy() -> None:
    item = full_ce()
    other = f"{ACCOUNT}:compute-environment/other"
    plan = plan_change(ce_rec({"instance_types": ["m6i.large"]}), CurrentState(item, (queue(CE_ARN, other),)))
    assert plan.update_kind == UpdateKind.BLUE_GREEN
    create, policy, switch, disable = plan.calls
    new = create.params
    new_arn = f"{ACCOUNT}:compute-environment/{new['computeEnvironmentName']}"
    assert new["ecsSettings"] == {"containerInsights": "enabled"}
    assert new["context"] == "team-data"
    expected_resources = {k: v for k, v in item["computeResources"].items() if k != "desiredvCpus"} | {
        "instanceTypes": ["m6i.large"]
    }
    assert new["computeResources"] == expected_resources
    # Nothing Describe returned and Create accepts is lost (read off the model, not a hand list).
    for field in shapes.request_members("CreateComputeEnvironment"):
        if field in item and field not in ("computeEnvironmentName", "serviceRole"):
            assert field in new, field
    assert "status" not in new and "uuid" not in new and "containerOrchestrationType" not in new
    assert policy.params == {
        "computeEnvironment": new_arn,
        "updatePolicy": {"terminateJobsOnUpdate": False, "jobExecutionTimeoutMinutes": 120},
    }
    assert disable.params == {"computeEnvironment": CE_ARN, "state": "DISABLED"}
    send_through_model(plan, [("describe_compute_environments", {"computeEnvironments": [item]})])
    # The rollback disables the copy and restores the queue; it never needs the policy call undone.
    responses = [_RESPONSES[c.operation](c.params) for c in plan.calls]
    rollback = build_rollback(plan, list(enumerate(responses)), {})
    assert rollback is not None
    assert [c.params.get("state") for c in rollback.calls] == ["ENABLED", None, "DISABLED"]
    assert switch.params["computeEnvironmentOrder"][0]["computeEnvironment"] == new_arn


def test_infrastructure_update_waits_per_the_ce_policy_and_rollback_restores_it() -> None:
    item = full_ce("BEST_FIT_PROGRESSIVE")
    item.pop("serviceRole", None)  # the service-linked role
    plan = plan_change(ce_rec({"instance_types": ["m6i.large"]}), CurrentState(item))
    [call] = plan.calls
    assert plan.update_kind == UpdateKind.INFRASTRUCTURE
    assert call.params["updatePolicy"] == {"terminateJobsOnUpdate": False, "jobExecutionTimeoutMinutes": 120}
    short = plan_change(
        ce_rec({"instance_types": ["m6i.large"]}),
        CurrentState(item),
        PlannerOptions(job_execution_timeout_minutes=15),
    )
    send_through_model(short)
    rollback = build_rollback(short, [(0, {})], {CE_ARN: item})
    assert rollback is not None
    [undo] = rollback.calls
    assert undo.params == {
        "computeEnvironment": CE_ARN,
        "computeResources": {"instanceTypes": ["m5.large", "c5.xlarge"]},
        "updatePolicy": {"terminateJobsOnUpdate": False, "jobExecutionTimeoutMinutes": 120},
    }


def test_ec2_only_fields_match_what_the_model_says_fargate_refuses() -> None:
    members = shapes.member_shape("CreateComputeEnvironment", "computeResources").members
    refused = {
        name
        for name, shape in members.items()
        if "isn't applicable to jobs that are running on Fargate resources" in (shape.documentation or "")
    }
    assert refused <= set(EC2_ONLY_FIELDS)


def test_new_revision_keeps_consumable_resources_and_every_registerable_field() -> None:
    item = {
        "jobDefinitionName": "etl",
        "jobDefinitionArn": f"{ACCOUNT}:job-definition/etl:7",
        "revision": 7,
        "status": "ACTIVE",
        "type": "container",
        "containerOrchestrationType": "ECS",
        "schedulingPriority": 5,
        "parameters": {"day": "today"},
        "platformCapabilities": ["EC2"],
        "propagateTags": True,
        "tags": {"team": "data"},
        "retryStrategy": {"attempts": 3, "evaluateOnExit": [{"onExitCode": "137", "action": "RETRY"}]},
        "timeout": {"attemptDurationSeconds": 3600},
        "consumableResourceProperties": {
            "consumableResourceList": [{"consumableResource": "license-seats", "quantity": 1}]
        },
        "containerProperties": {
            "image": "busybox",
            "command": ["run"],
            "jobRoleArn": "arn:aws:iam::123456789012:role/job",
            "resourceRequirements": [{"type": "VCPU", "value": "4"}, {"type": "MEMORY", "value": "16384"}],
            "ephemeralStorage": {"sizeInGiB": 40},
            "linuxParameters": {"sharedMemorySize": 64},
        },
    }
    rec = make_recommendation(
        "right-size", item["jobDefinitionArn"], "job-definition", {"vcpus": 2, "memory_mib": 8192}
    )
    plan = plan_change(rec, CurrentState(item))
    [call] = plan.calls
    expected = {
        k: v for k, v in copy.deepcopy(item).items() if k in shapes.request_members("RegisterJobDefinition")
    }
    expected["containerProperties"]["resourceRequirements"] = [
        {"type": "MEMORY", "value": "8192"},
        {"type": "VCPU", "value": "2"},
    ]
    assert call.params == expected
    assert call.params["consumableResourceProperties"] == item["consumableResourceProperties"]
    send_through_model(plan, [("describe_job_definitions", {"jobDefinitions": [item]})])


@pytest.mark.parametrize(
    ("vcpus", "memory", "valid"),
    [
        (0.25, 512, True),
        (0.25, 1536, False),  # the old table's range(512, 2049, 512) accepted it
        (0.5, 3072, True),
        (8, 20480, True),
        (16, 122880, True),
        (32, 61440, True),
        (32, 249856, True),
        (32, 131072, False),
        (64, 249856, False),
    ],
)
def test_fargate_sizes_follow_the_api_table(vcpus: float, memory: int, valid: bool) -> None:
    assert is_fargate_size(vcpus, memory) is valid
    item = {
        "jobDefinitionName": "f",
        "jobDefinitionArn": f"{ACCOUNT}:job-definition/f:1",
        "revision": 1,
        "status": "ACTIVE",
        "type": "container",
        "platformCapabilities": ["FARGATE"],
        "containerProperties": {
            "image": "busybox",
            "executionRoleArn": "arn:aws:iam::123456789012:role/exec",
            "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "2048"}],
            "networkConfiguration": {"assignPublicIp": "DISABLED"},
        },
    }
    rec = make_recommendation(
        "right-size", item["jobDefinitionArn"], "job-definition", {"vcpus": vcpus, "memory_mib": memory}
    )
    if valid:
        send_through_model(plan_change(rec, CurrentState(item)))
    else:
        with pytest.raises(InputError, match="Fargate has no"):
            plan_change(rec, CurrentState(item))


def test_fargate_table_lists_each_vcpu_once_in_ascending_order() -> None:
    sizes = [v for v, _ in FARGATE_SIZES]
    assert sizes == sorted(set(sizes)) == [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0]


def test_moving_to_spot_gets_a_spot_strategy_not_best_fit() -> None:
    item = full_ce("BEST_FIT")
    plan = plan_change(ce_rec({"platform": "SPOT"}), CurrentState(item))
    create = plan.calls[0]
    assert create.params["computeResources"]["type"] == "SPOT"
    assert create.params["computeResources"]["allocationStrategy"] == "SPOT_PRICE_CAPACITY_OPTIMIZED"
    send_through_model(plan)
    ordered = full_ce("BEST_FIT_PROGRESSIVE_ORDERED")
    plan = plan_change(ce_rec({"platform": "SPOT"}), CurrentState(ordered))
    strategy = next(c for c in plan.calls if "computeResources" in c.params).params["computeResources"]
    assert strategy["allocationStrategy"] == "SPOT_CAPACITY_OPTIMIZED_PRIORITIZED"


def test_a_spot_best_fit_ce_without_a_fleet_role_is_refused_and_with_one_is_copied() -> None:
    spot = full_ce("BEST_FIT", "SPOT", bidPercentage=60)
    with pytest.raises(InputError, match="needs spotIamFleetRole"):
        plan_change(ce_rec({"instance_types": ["m6i.large"]}), CurrentState(spot))
    spot["computeResources"]["spotIamFleetRole"] = FLEET_ROLE
    plan = plan_change(ce_rec({"instance_types": ["m6i.large"]}), CurrentState(spot))
    assert plan.calls[0].params["computeResources"]["spotIamFleetRole"] == FLEET_ROLE
    send_through_model(plan)
    # Back to on-demand: the spot-only fields go, the strategy becomes one EC2 takes.
    spot_pco = full_ce("SPOT_PRICE_CAPACITY_OPTIMIZED", "SPOT", bidPercentage=60, spotIamFleetRole=FLEET_ROLE)
    target = queue(CE_ARN)
    rec = make_recommendation(
        "on-demand",
        target["jobQueueArn"],
        "job-queue",
        {
            "new_compute_environment": {"name": "ce-od", "based_on": CE_ARN, "platform": "EC2"},
            "compute_environment_order": ["ce-od"],
        },
    )
    plan = plan_change(rec, CurrentState(target, (), (spot_pco,)))
    resources = plan.calls[0].params["computeResources"]
    assert resources["allocationStrategy"] == "BEST_FIT_PROGRESSIVE"
    assert "bidPercentage" not in resources and "spotIamFleetRole" not in resources
    send_through_model(plan)
