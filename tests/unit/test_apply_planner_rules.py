"""Planner and rollback rules read off botocore's Batch model (pure, no AWS): launch template
overrides stay within new instance types, retired CEs keep no minvCpus, no updatePolicy on a new
Fargate CE, and proposed values are checked before any call."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from botocore.validate import validate_parameters

from optimizer.apply import shapes
from optimizer.apply.executor import is_drain_step, replaces_instances
from optimizer.apply.planner import CurrentState, plan_change, queue_states
from optimizer.apply.rollback import build_rollback
from optimizer.domain import ApiCall, ChangePlan, UpdateKind
from optimizer.errors import InputError
from tests.apply_helpers import ACCOUNT, CE_ARN, CUSTOM_ROLE, ce, make_recommendation, queue

OTHER = f"{ACCOUNT}:compute-environment/other"
NEW_ARN = f"{ACCOUNT}:compute-environment/ce2"
OPERATIONS = {
    "create_compute_environment": "CreateComputeEnvironment",
    "update_compute_environment": "UpdateComputeEnvironment",
    "update_job_queue": "UpdateJobQueue",
    "register_job_definition": "RegisterJobDefinition",
}


def ce_rec(proposed: dict[str, Any]) -> Any:
    return make_recommendation(
        "test", CE_ARN, "compute-environment", proposed, update_kind=UpdateKind.SCALING
    )


def with_overrides(item: dict[str, Any], *targets: list[str]) -> dict[str, Any]:
    item["computeResources"]["launchTemplate"] = {
        "launchTemplateId": "lt-0abc",
        "version": "$Latest",
        "overrides": [
            {"launchTemplateId": f"lt-{i}", "targetInstanceTypes": types} for i, types in enumerate(targets)
        ],
    }
    return item


def assert_valid_for_model(calls: tuple[ApiCall, ...]) -> None:
    """Every request body matches its operation's input shape (botocore's own client-side check)."""
    for call in calls:
        shape = shapes.operation(OPERATIONS[call.operation]).input_shape
        validate_parameters(call.params, shape)


def responses(plan: ChangePlan) -> list[tuple[int, dict[str, Any]]]:
    out = []
    for index, call in enumerate(plan.calls):
        if call.operation == "create_compute_environment":
            name = call.params["computeEnvironmentName"]
            out.append((index, {"computeEnvironmentArn": f"{ACCOUNT}:compute-environment/{name}"}))
        else:
            out.append((index, {}))
    return out


# --- #3: launch template overrides must stay within the new instanceTypes ----------------------


def test_in_place_instance_types_that_drop_an_override_target_are_refused() -> None:
    """Scenario B of the audit: the override still targets c5.xlarge, the update sends only types."""
    item = with_overrides(ce(instanceTypes=["m5.large", "c5.xlarge"]), ["c5.xlarge"])
    with pytest.raises(
        InputError, match=r"^recommendation \S+: ce has a launch template override for c5\.xlarge"
    ):
        plan_change(ce_rec({"instance_types": ["m6i.large", "c6i.xlarge"]}), CurrentState(item))


def test_blue_green_copy_that_keeps_an_override_outside_the_new_types_is_refused() -> None:
    item = with_overrides(ce("BEST_FIT", instanceTypes=["m5", "c5"]), ["m5.large"], ["c5"])
    state = CurrentState(item, (queue(CE_ARN),))
    with pytest.raises(InputError, match=r"ce has a launch template override for c5,") as caught:
        plan_change(ce_rec({"instance_types": ["m5", "m6i"]}), state)
    assert "\n" not in str(caught.value)


def test_new_spot_copy_of_a_queue_recommendation_checks_its_overrides() -> None:
    base = with_overrides(ce(instanceTypes=["c5.xlarge"]), ["c5.xlarge"])
    target = queue(CE_ARN)
    rec = make_recommendation(
        "spot-adoption",
        target["jobQueueArn"],
        "job-queue",
        {
            "new_compute_environment": {
                "name": "ce-spot",
                "based_on": CE_ARN,
                "platform": "SPOT",
                "instance_types": ["m6i.xlarge"],
            },
            "compute_environment_order": ["ce-spot", "ce"],
        },
    )
    with pytest.raises(
        InputError, match=r"ce-spot \(copy of ce\) has a launch template override for c5\.xlarge"
    ):
        plan_change(rec, CurrentState(target, (), (base,)))


@pytest.mark.parametrize(
    ("new_types", "targets"),
    [
        (["m5", "g5"], ["m5.2xlarge", "m5.large"]),  # the model's own example: a type of a listed family
        (["c6i.large", "m5.large"], ["m5.large"]),  # the type itself
        (["c6i", "m5.large"], ["c6i"]),  # the family itself
        (["c6i.large", "m5.large"], ["c6i"]),  # a family of which the set holds a size: left to Batch
        (["optimal"], ["c5.xlarge"]),  # an alias: Batch picks (and changes) its families
        (["default_x86_64"], ["m6i.large"]),
    ],
)
def test_overrides_within_the_new_types_are_planned(new_types: list[str], targets: list[str]) -> None:
    item = with_overrides(ce(instanceTypes=["m5.large", "c5.xlarge"]), targets)
    plan = plan_change(ce_rec({"instance_types": new_types}), CurrentState(item))
    assert plan.update_kind == UpdateKind.INFRASTRUCTURE


def test_overrides_are_not_checked_when_instance_types_do_not_change() -> None:
    item = with_overrides(ce(instanceTypes=["m5.large"]), ["c5.xlarge"])  # already off, not ours
    plan = plan_change(ce_rec({"max_vcpus": 64}), CurrentState(item))
    assert plan.update_kind == UpdateKind.SCALING


# --- #4: a CE the plan disables keeps no minvCpus ---------------------------------------------------


def test_blue_green_retires_the_old_ce_with_min_vcpus_zero_after_the_drained_disable() -> None:
    item = ce("BEST_FIT", minvCpus=16, desiredvCpus=16)
    state = CurrentState(item, (queue(CE_ARN, OTHER),))
    plan = plan_change(ce_rec({"instance_types": ["m6i.large"], "new_name": "ce2"}), state)
    create, switch, disable, release = plan.calls
    # The disable stays the executor's drain step; minvCpus goes in the next call, a scaling update.
    assert disable.params == {"computeEnvironment": CE_ARN, "state": "DISABLED"}
    assert is_drain_step(plan, disable)
    assert release.params == {"computeEnvironment": CE_ARN, "computeResources": {"minvCpus": 0}}
    assert not is_drain_step(plan, release) and not replaces_instances(release)
    assert "minvCpus of ce to 0 (was 16)" in release.description
    assert create.params["computeResources"]["minvCpus"] == 16  # the copy serves the queue as before
    assert plan.before is not None and plan.before["observe"][-1] == CE_ARN
    assert_valid_for_model(plan.calls)

    rollback = build_rollback(plan, responses(plan), {})
    assert rollback is not None
    restore_min, enable, restore_queue, disable_new = rollback.calls
    assert restore_min.params == {"computeEnvironment": CE_ARN, "computeResources": {"minvCpus": 16}}
    assert enable.params == {"computeEnvironment": CE_ARN, "state": "ENABLED"}
    assert restore_queue.params["jobQueue"] == switch.params["jobQueue"]
    # The copy the apply created is disabled without keeping its 16 vCPUs running.
    assert disable_new.params == {
        "computeEnvironment": NEW_ARN,
        "state": "DISABLED",
        "computeResources": {"minvCpus": 0},
    }
    assert_valid_for_model(rollback.calls)


def test_rollback_restores_every_compute_resources_key_the_apply_sent() -> None:
    item = ce("BEST_FIT", role=CUSTOM_ROLE, minvCpus=8, desiredvCpus=8)
    state = CurrentState(item, (queue(CE_ARN),))
    plan = plan_change(ce_rec({"instance_types": ["m6i.large"], "max_vcpus": 128}), state)
    rollback = build_rollback(plan, responses(plan), {})
    assert rollback is not None
    before = item["computeResources"]
    restored: dict[str, dict[str, Any]] = {}
    for call in rollback.calls:
        if call.operation == "update_compute_environment":
            restored.setdefault(call.params["computeEnvironment"], {}).update(
                call.params.get("computeResources") or {}
            )
    sent = [
        c
        for c in plan.calls
        if c.operation == "update_compute_environment" and "computeResources" in c.params
    ]
    assert sent
    for call in sent:
        for key in call.params["computeResources"]:
            assert restored[call.params["computeEnvironment"]][key] == before[key], key


def test_min_vcpus_zero_needs_no_release_and_fargate_has_no_min_vcpus() -> None:
    plan = plan_change(
        ce_rec({"instance_types": ["m6i.large"]}), CurrentState(ce("BEST_FIT"), (queue(CE_ARN),))
    )
    assert [c.operation for c in plan.calls][-1] == "update_compute_environment"
    assert "computeResources" not in plan.calls[-1].params
    fargate = ce(type="FARGATE", minvCpus=4)  # not something Batch reports; still never sent
    for key in ("allocationStrategy", "instanceTypes", "instanceRole"):
        fargate["computeResources"].pop(key)
    plan = plan_change(
        ce_rec({"platform": "FARGATE_SPOT", "new_name": "ce2"}), CurrentState(fargate, (queue(CE_ARN),))
    )
    assert plan.update_kind == UpdateKind.BLUE_GREEN
    assert not any("computeResources" in c.params for c in plan.calls[1:])
    rollback = build_rollback(plan, responses(plan), {})
    assert rollback is not None
    assert rollback.calls[-1].params == {"computeEnvironment": NEW_ARN, "state": "DISABLED"}


# --- #8: no updatePolicy for a new Fargate CE ---------------------------------------------------


def test_a_fargate_copy_of_a_ce_with_its_own_update_policy_gets_no_update_policy() -> None:
    """Scenario X1: UpdatePolicy "applies only to Amazon EC2 managed compute environments"."""
    item = {**ce(), "updatePolicy": {"terminateJobsOnUpdate": False, "jobExecutionTimeoutMinutes": 120}}
    plan = plan_change(
        ce_rec({"platform": "FARGATE", "new_name": "ce2"}), CurrentState(item, (queue(CE_ARN),))
    )
    assert plan.update_kind == UpdateKind.BLUE_GREEN
    assert not any("updatePolicy" in c.params for c in plan.calls)
    assert [c.operation for c in plan.calls] == [
        "create_compute_environment",
        "update_job_queue",
        "update_compute_environment",
    ]
    # An EC2 copy still carries the policy over.
    ec2 = plan_change(
        ce_rec({"instance_types": ["m6i.large"]}), CurrentState({**item, "serviceRole": CUSTOM_ROLE})
    )
    assert ec2.calls[1].params["updatePolicy"] == item["updatePolicy"]


def test_a_new_fargate_ce_of_a_queue_recommendation_gets_no_update_policy() -> None:
    base = {**ce(), "updatePolicy": {"terminateJobsOnUpdate": True, "jobExecutionTimeoutMinutes": 10}}
    target = queue(CE_ARN)
    rec = make_recommendation(
        "fargate",
        target["jobQueueArn"],
        "job-queue",
        {
            "new_compute_environment": {"name": "ce-fg", "based_on": CE_ARN, "platform": "FARGATE"},
            "compute_environment_order": ["ce-fg"],
        },
    )
    plan = plan_change(rec, CurrentState(target, (), (base,)))
    assert [c.operation for c in plan.calls] == ["create_compute_environment", "update_job_queue"]


# --- #9: proposed values are checked before any call -------------------------------------------


def test_a_bare_string_of_instance_types_is_refused_not_split_into_characters() -> None:
    """Scenario J5: "m5.large" used to become ["m", "5", ".", ...]."""
    with pytest.raises(
        InputError, match=r"instance_types must be a list of instance type names, not 'm6i.large'"
    ):
        plan_change(ce_rec({"instance_types": "m6i.large"}), CurrentState(ce()))
    with pytest.raises(InputError, match="instance_types must be a list"):
        plan_change(ce_rec({"instance_types": ["m6i.large", 5]}), CurrentState(ce()))


def test_a_bare_string_in_a_new_compute_environment_is_refused() -> None:
    target = queue(CE_ARN)
    rec = make_recommendation(
        "spot-adoption",
        target["jobQueueArn"],
        "job-queue",
        {
            "new_compute_environment": {"based_on": CE_ARN, "platform": "SPOT", "instance_types": "m6i"},
            "compute_environment_order": ["ce"],
        },
    )
    with pytest.raises(InputError, match="instance_types must be a list"):
        plan_change(rec, CurrentState(target, (), (ce(),)))


def test_queue_state_must_be_one_of_the_model_enum() -> None:
    """Scenario Q3b: botocore does not check enums, so "PAUSED" reached AWS after earlier calls."""
    enum = tuple(shapes.batch_model().shape_for("JQState").enum)
    assert queue_states() == enum == ("ENABLED", "DISABLED")
    target = queue(CE_ARN)
    rec = make_recommendation(
        "spot-adoption",
        target["jobQueueArn"],
        "job-queue",
        {
            "new_compute_environment": {"name": "ce-spot", "based_on": CE_ARN, "platform": "SPOT"},
            "compute_environment_order": ["ce-spot", "ce"],
            "state": "PAUSED",
        },
    )
    with pytest.raises(
        InputError, match=r"proposed state 'PAUSED' is not a job queue state \(ENABLED or DISABLED\)"
    ):
        plan_change(rec, CurrentState(target, (), (ce(),)))
    ok = make_recommendation("x", target["jobQueueArn"], "job-queue", {"state": "DISABLED"})
    [call] = plan_change(ok, CurrentState(target)).calls
    assert call.params == {"jobQueue": target["jobQueueArn"], "state": "DISABLED"}
    assert_valid_for_model((call,))


def test_a_rollback_sets_a_bid_the_ce_never_had_back_to_its_documented_default() -> None:
    # A SPOT CE without bidPercentage (Batch's default: 100 % of on-demand) given a 70 % cap in
    # place: the rollback sent only the update policy and reported success with 70 % still set.
    item = ce("SPOT_CAPACITY_OPTIMIZED", type="SPOT")
    assert "bidPercentage" not in item["computeResources"]
    plan = plan_change(ce_rec({"bid_percentage": 70}), CurrentState(item, (queue(CE_ARN),)))
    [update] = [c for c in plan.calls if c.operation == "update_compute_environment"]
    assert update.params["computeResources"]["bidPercentage"] == 70
    rollback = build_rollback(plan, responses(plan), {})
    assert rollback is not None
    [restore] = rollback.calls
    assert restore.params["computeResources"] == {"bidPercentage": 100}
    assert "kept as applied" not in restore.description
    assert_valid_for_model(rollback.calls)


def test_a_rollback_names_what_it_cannot_restore() -> None:
    # An image the CE did not pin: an update cannot unset it, so the rollback says it stays.
    item = ce("SPOT_CAPACITY_OPTIMIZED", type="SPOT")
    plan = plan_change(ce_rec({"instance_types": ["m6i.large"]}), CurrentState(item, (queue(CE_ARN),)))
    call = plan.calls[0]
    pinned = ApiCall(
        call.service,
        call.operation,
        {**call.params, "computeResources": {**call.params["computeResources"], "imageId": "ami-1"}},
        call.update_kind,
        call.permissions,
        call.description,
    )
    rollback = build_rollback(replace(plan, calls=(pinned, *plan.calls[1:])), responses(plan), {})
    assert rollback is not None
    [restore] = [c for c in rollback.calls if c.params.get("computeEnvironment") == CE_ARN]
    assert restore.params["computeResources"] == {"instanceTypes": ["m5.large"]}
    assert restore.description.endswith(
        "kept as applied (the CE had no value, which an update cannot restore): imageId"
    )


def test_a_compute_environment_type_the_planner_has_no_rules_for_is_refused_as_such() -> None:
    # A plain maxvCpus change on an ECS_MANAGED_INSTANCES CE was refused as "allocation strategy
    # BEST_FIT is not valid for a ECS_MANAGED_INSTANCES CE": right to refuse, wrong reason.
    from optimizer.errors import RefusedError

    item = ce(type="ECS_MANAGED_INSTANCES")
    with pytest.raises(RefusedError, match=r"^ce is a ECS_MANAGED_INSTANCES compute environment: batchopt"):
        plan_change(ce_rec({"max_vcpus": 64}), CurrentState(item, (queue(CE_ARN),)))
