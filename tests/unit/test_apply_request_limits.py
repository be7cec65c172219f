"""The value ranges and formats the Batch model documents (and botocore's ParamValidator checks
only in part), held by the planner before any call is sent: job-state time limit reasons,
shareIdentifier / weightFactor / overlap rules, new queue and policy names, copied tags, and MNP
node ranges. Every request the planner does build passes `botocore.validate.validate_parameters`.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from botocore import xform_name
from botocore.validate import validate_parameters

from optimizer.apply import shapes
from optimizer.apply.permissions import OPERATION_ACTIONS, READ_ACTIONS
from optimizer.apply.planner import CurrentState, plan_change
from optimizer.apply.rollback import build_rollback
from optimizer.apply.verify import verify_call
from optimizer.domain import ApiCall, UpdateKind
from optimizer.errors import InputError, UserError
from tests.apply_helpers import ACCOUNT, CE_ARN, CUSTOM_ROLE, ce, make_recommendation, queue

QUEUE_ARN = f"{ACCOUNT}:job-queue/shared"
POLICY_ARN = f"{ACCOUNT}:scheduling-policy/shared-fairshare"
LIMIT = {
    "reason": "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT",
    "state": "RUNNABLE",
    "maxTimeSeconds": 600,
    "action": "CANCEL",
}
SHARES = [
    {"shareIdentifier": "genomics", "weightFactor": 1.0},
    {"shareIdentifier": "imaging", "weightFactor": 8.0},
]


def assert_model_valid(call: ApiCall) -> None:
    """The request as botocore would send it: the input shape of the call's operation."""
    validate_parameters(call.params, shapes.operation(_camel(call.operation)).input_shape)


def _camel(snake: str) -> str:
    return "".join(part.title() for part in snake.split("_"))


def queue_item(**extra: Any) -> dict[str, Any]:
    return {
        "jobQueueName": "shared",
        "jobQueueArn": QUEUE_ARN,
        "state": "ENABLED",
        "status": "VALID",
        "priority": 10,
        "tags": {"team": "platform"},
        "computeEnvironmentOrder": [{"order": 1, "computeEnvironment": f"{ACCOUNT}:compute-environment/od"}],
        **extra,
    }


def limits_rec(actions: list[dict[str, Any]]) -> Any:
    return make_recommendation(
        "stuck-job-limits",
        QUEUE_ARN,
        "job-queue",
        {"job_state_time_limit_actions": actions},
        current={"job_state_time_limit_actions": []},
    )


def fair_rec(policy: dict[str, Any], new_name: str = "shared-fairshare", **extra: Any) -> Any:
    proposed: dict[str, Any] = {"scheduling_policy": policy}
    if new_name:
        proposed["new_job_queue"] = {"name": new_name}
    return make_recommendation(
        "fair-share",
        QUEUE_ARN,
        "job-queue",
        proposed,
        current={"scheduling_policy_arn": extra.pop("existing", None)},
        update_kind=UpdateKind.BLUE_GREEN,
    )


def test_time_limit_reasons_are_the_ones_batch_acts_on() -> None:
    # The user guide lists the reasons jobStateTimeLimitActions support; SERVICE_ROLE_PERMISSIONS,
    # ACTION_REQUIRED and UNDETERMINED need a person, EC2_INSTANCE_CONFIGURATION_UNSUPPORTED has a
    # statusReason but no documented action reason, and a made-up reason never matches a job.
    for reason in (
        "MISCONFIGURATION:SERVICE_ROLE_PERMISSIONS",
        "MISCONFIGURATION:EC2_INSTANCE_CONFIGURATION_UNSUPPORTED",
        "JOB_RESOURCE_REQUIREMENT",
        "",
    ):
        with pytest.raises(InputError, match=r"\.reason .* is not one Batch acts on"):
            plan_change(limits_rec([{**LIMIT, "reason": reason}]), CurrentState(queue_item()))
    capacity = {**LIMIT, "reason": "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY", "maxTimeSeconds": 86400}
    [call] = plan_change(limits_rec([LIMIT, capacity]), CurrentState(queue_item())).calls
    assert_model_valid(call)
    # An entry the queue already has is carried as Batch accepted it, whatever its reason.
    theirs = {**LIMIT, "reason": "MISCONFIGURATION:SOMETHING_NEWER"}
    rec = make_recommendation(
        "stuck-job-limits",
        QUEUE_ARN,
        "job-queue",
        {"job_state_time_limit_actions": [theirs, LIMIT]},
        current={"job_state_time_limit_actions": [theirs]},
    )
    [call] = plan_change(rec, CurrentState(queue_item(jobStateTimeLimitActions=[theirs]))).calls
    assert call.params["jobStateTimeLimitActions"] == [theirs, LIMIT]


@pytest.mark.parametrize(
    ("shares", "message"),
    [
        ([{"shareIdentifier": "teama\n", "weightFactor": 1.0}], "'teama\\\\n' is not valid"),
        ([{"shareIdentifier": "a" * 256, "weightFactor": 1.0}], "is not valid"),
        ([{"shareIdentifier": "teama", "weightFactor": True}], "weightFactor of teama"),
        ([{"shareIdentifier": "teama", "weightFactor": 1000.0}], "weightFactor of teama"),
        ([{"shareIdentifier": "UserA*", "weightFactor": 1.0}, {"shareIdentifier": "UserA1"}], "overlap"),
        ([{"shareIdentifier": "UserA1", "weightFactor": 1.0}, {"shareIdentifier": "User*"}], "overlap"),
        ([{"shareIdentifier": "teama", "weightFactor": 1.0}] * 2, "overlap"),
        (["teama"], "share_distribution must be a list of objects"),
    ],
)
def test_share_distribution_follows_the_model(shares: list[Any], message: str) -> None:
    policy = {"name": "shared-fairshare", "share_distribution": shares}
    with pytest.raises(InputError, match=message):
        plan_change(fair_rec(policy), CurrentState(queue_item()))


def test_disjoint_prefixes_are_accepted_and_every_request_is_valid() -> None:
    shares = [
        {"shareIdentifier": "UserA*", "weightFactor": 0.0001},
        {"shareIdentifier": "UserB1", "weightFactor": 999.9999},
        {"shareIdentifier": "UserC"},  # weightFactor is optional: Batch's default 1.0
    ]
    policy = {"share_decay_seconds": 604800, "compute_reservation": 99, "share_distribution": shares}
    plan = plan_change(fair_rec(policy), CurrentState(queue_item(jobStateTimeLimitActions=[LIMIT])))
    sent = plan.calls[0].params["fairsharePolicy"]["shareDistribution"]
    assert [s["weightFactor"] for s in sent] == [0.0001, 999.9999, 1.0]
    for call in plan.calls:
        assert_model_valid(call)


@pytest.mark.parametrize(
    ("policy_name", "queue_name", "field"),
    [
        (None, "shared fair", "new_job_queue.name"),
        (None, "q" * 129, "new_job_queue.name"),
        ("shared/fair", "shared-fairshare", "scheduling_policy.name"),
    ],
)
def test_new_queue_and_policy_names_follow_the_model(
    policy_name: str | None, queue_name: str, field: str
) -> None:
    policy: dict[str, Any] = {"share_distribution": SHARES}
    if policy_name:
        policy["name"] = policy_name
    with pytest.raises(InputError, match=rf"{field} .* is not valid"):
        plan_change(fair_rec(policy, queue_name), CurrentState(queue_item()))


def test_the_copied_queue_drops_reserved_tags_and_stays_within_the_tag_limit() -> None:
    stack = {"aws:cloudformation:stack-name": "batch", "aws:cloudformation:logical-id": "Queue"}
    item = queue_item(tags={"team": "platform", **stack}, serviceEnvironmentOrder=[], jobQueueType="ECS")
    _, create_queue = plan_change(fair_rec({"share_distribution": SHARES}), CurrentState(item)).calls
    assert create_queue.params["tags"] == {"team": "platform", "batchopt:fair-share-of": "shared"}
    # A queue has a computeEnvironmentOrder or a serviceEnvironmentOrder, not both (even empty).
    assert (
        "serviceEnvironmentOrder" not in create_queue.params and create_queue.params["jobQueueType"] == "ECS"
    )
    assert_model_valid(create_queue)
    # 50 tags of its own (and AWS's, which do not count): one more would be refused mid-apply.
    crowded = queue_item(tags={**{f"k{i}": "v" for i in range(50)}, **stack})
    with pytest.raises(UserError, match=r"CreateJobQueue\.tags: 51 tags, more than the 50"):
        plan_change(fair_rec({"share_distribution": SHARES}), CurrentState(crowded))


def test_the_blue_green_compute_environment_copy_drops_reserved_tags() -> None:
    item = ce(role=CUSTOM_ROLE)
    item["tags"] = {**item.get("tags", {}), "aws:cloudformation:stack-name": "batch"}
    other = f"{ACCOUNT}:compute-environment/other"
    rec = make_recommendation(
        "test",
        CE_ARN,
        "compute-environment",
        {"instance_types": ["m6i.large"]},
        update_kind=UpdateKind.SCALING,
    )
    create = plan_change(rec, CurrentState(item, (queue(other, CE_ARN),))).calls[0]
    assert create.operation == "create_compute_environment"
    assert not any(key.startswith("aws:") for key in create.params["tags"])
    assert_model_valid(create)


def test_an_existing_policy_equal_by_value_is_not_updated_again() -> None:
    # Batch lists the shares in its own order and reports the defaults it applied.
    described = {
        "shareDecaySeconds": 0,
        "computeReservation": 0,
        "shareDistribution": [SHARES[1], SHARES[0]],
    }
    item = {"name": "shared-fairshare", "arn": POLICY_ARN, "fairsharePolicy": described}
    rec = fair_rec({"share_distribution": SHARES}, new_name="", existing=POLICY_ARN)
    state = CurrentState(queue_item(schedulingPolicyArn=POLICY_ARN), scheduling_policies=(item,))
    with pytest.raises(UserError, match="already has the proposed policy"):
        plan_change(rec, state)


def mnp_definition(ranges: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "jobDefinitionName": "mpi-solver",
        "jobDefinitionArn": f"{ACCOUNT}:job-definition/mpi-solver:4",
        "revision": 4,
        "status": "ACTIVE",
        "type": "multinode",
        "nodeProperties": {"numNodes": 16, "mainNode": 0, "nodeRangeProperties": ranges},
    }


def node_rec(nodes: int) -> Any:
    return make_recommendation(
        "mnp-node-size",
        f"{ACCOUNT}:job-definition/mpi-solver",
        "job-definition",
        {"num_nodes": nodes, "vcpus_per_node": 8.0, "memory_mib_per_node": 16384},
        update_kind=UpdateKind.NEW_REVISION,
        current={"num_nodes": 16, "vcpus_per_node": 6.0, "memory_mib_per_node": 12288},
    )


def container() -> dict[str, Any]:
    return {
        "image": "mpi:4",
        "resourceRequirements": [{"type": "VCPU", "value": "6"}, {"type": "MEMORY", "value": "12288"}],
    }


def test_node_ranges_must_fit_the_new_node_count() -> None:
    split = [
        {"targetNodes": "0:7", "container": container()},
        {"targetNodes": "8:15", "container": container()},
    ]
    # 12 nodes: "8:15" opens to "8:", and both ranges fit.
    [call] = plan_change(node_rec(12), CurrentState(mnp_definition(copy.deepcopy(split)))).calls
    assert [r["targetNodes"] for r in call.params["nodeProperties"]["nodeRangeProperties"]] == ["0:7", "8:"]
    assert_model_valid(call)
    plan = plan_change(node_rec(12), CurrentState(mnp_definition(copy.deepcopy(split))))
    rollback = build_rollback(plan, [(0, {"jobDefinitionArn": f"{ACCOUNT}:job-definition/mpi-solver:5"})], {})
    assert rollback is not None
    for undo in rollback.calls:
        assert_model_valid(undo)
    # 4 nodes: "0:7" names nodes 4..7 and "8:" starts past the last node; Batch refuses both.
    with pytest.raises(UserError, match="node range '0:7' does not fit 4 nodes"):
        plan_change(node_rec(4), CurrentState(mnp_definition(copy.deepcopy(split))))


def test_a_range_pinned_to_an_instance_type_keeps_its_node_size() -> None:
    pinned = [{"targetNodes": "0:15", "container": container(), "instanceTypes": ["c5.xlarge"]}]
    with pytest.raises(UserError, match=r"pins instanceTypes \['c5.xlarge'\]"):
        plan_change(node_rec(12), CurrentState(mnp_definition(pinned)))


def test_a_new_revision_does_not_copy_reserved_tags() -> None:
    item = mnp_definition([{"targetNodes": "0:15", "container": container()}])
    item["tags"] = {"team": "cfd", "aws:cloudformation:stack-name": "solvers"}
    [call] = plan_change(node_rec(12), CurrentState(item)).calls
    assert call.params["tags"] == {"team": "cfd"}
    assert_model_valid(call)


def test_every_declared_batch_action_is_an_operation_of_the_model() -> None:
    # Batch's IAM actions are its API operation names; a plan's boto3 operation names map onto them.
    operations = set(shapes.batch_model().operation_names)
    for operation, actions in OPERATION_ACTIONS.items():
        assert _camel(operation) in operations and xform_name(_camel(operation)) == operation
        assert f"batch:{_camel(operation)}" in actions
    declared = {a for actions in OPERATION_ACTIONS.values() for a in actions} | set(READ_ACTIONS)
    batch = {a.split(":", 1)[1] for a in declared if a.startswith("batch:")}
    assert batch <= operations, sorted(batch - operations)


def test_a_quota_share_policy_is_not_turned_into_a_fair_share_one() -> None:
    # UpdateSchedulingPolicy: "Once set during creation, a quotaSharePolicy cannot be removed or
    # changed to a fairsharePolicy".
    item = {
        "name": "shared-quota",
        "arn": POLICY_ARN,
        "quotaSharePolicy": {"idleResourceAssignmentStrategy": "FIFO"},
    }
    rec = fair_rec({"share_distribution": SHARES}, new_name="", existing=POLICY_ARN)
    state = CurrentState(queue_item(schedulingPolicyArn=POLICY_ARN), scheduling_policies=(item,))
    with pytest.raises(UserError, match="shared-quota is a quota-share policy"):
        plan_change(rec, state)


def test_time_limits_read_back_in_any_order() -> None:
    capacity = {**LIMIT, "reason": "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY", "maxTimeSeconds": 14400}
    [call] = plan_change(limits_rec([LIMIT, capacity]), CurrentState(queue_item())).calls
    assert verify_call(call, queue_item(jobStateTimeLimitActions=[capacity, LIMIT]), queue_item()).landed
    missing = verify_call(call, queue_item(jobStateTimeLimitActions=[capacity]), queue_item())
    assert not missing.landed and "jobStateTimeLimitActions" in missing.detail


def test_a_range_without_a_start_opens_to_0_colon() -> None:
    item = mnp_definition([{"targetNodes": ":15", "container": container()}])
    [call] = plan_change(node_rec(20), CurrentState(item)).calls
    assert call.params["nodeProperties"]["nodeRangeProperties"][0]["targetNodes"] == "0:"
