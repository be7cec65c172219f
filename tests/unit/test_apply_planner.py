"""Planner, fingerprint and rollback rules on fixed Describe* items (pure, no AWS)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from optimizer.apply.fingerprint import fingerprint
from optimizer.apply.planner import CurrentState, PlannerOptions, plan_change
from optimizer.apply.rollback import build_rollback
from optimizer.apply.verify import verify_call
from optimizer.domain import UpdateKind
from optimizer.errors import InputError, RefusedError, UserError
from tests.apply_helpers import ACCOUNT, CE_ARN, CUSTOM_ROLE, ce, make_recommendation, queue


def ce_rec(proposed: dict[str, Any]) -> Any:
    return make_recommendation(
        "test", CE_ARN, "compute-environment", proposed, update_kind=UpdateKind.SCALING
    )


def test_vcpu_limits_are_a_scaling_update_even_on_best_fit() -> None:
    plan = plan_change(ce_rec({"min_vcpus": 8, "max_vcpus": 128}), CurrentState(ce("BEST_FIT")))
    [call] = plan.calls
    assert plan.update_kind == UpdateKind.SCALING
    assert call.params == {"computeEnvironment": CE_ARN, "computeResources": {"minvCpus": 8, "maxvCpus": 128}}
    assert "batch:UpdateComputeEnvironment" in plan.permissions


def test_instance_types_on_service_linked_best_fit_progressive_is_infrastructure_with_update_policy() -> None:
    options = PlannerOptions(job_execution_timeout_minutes=45)
    plan = plan_change(ce_rec({"instance_types": ["m6i.large", "c6i.large"]}), CurrentState(ce()), options)
    [call] = plan.calls
    assert plan.update_kind == UpdateKind.INFRASTRUCTURE
    assert call.params["updatePolicy"] == {"terminateJobsOnUpdate": False, "jobExecutionTimeoutMinutes": 45}
    assert call.params["computeResources"] == {"instanceTypes": ["m6i.large", "c6i.large"]}


@pytest.mark.parametrize(
    ("item", "why"),
    [
        (ce("BEST_FIT"), "BEST_FIT allows no infrastructure update"),
        (ce(role=CUSTOM_ROLE), "custom service role"),
    ],
)
def test_blue_green_when_batch_cannot_update_in_place(item: dict[str, Any], why: str) -> None:
    other = f"{ACCOUNT}:compute-environment/other"
    state = CurrentState(item, (queue(other, CE_ARN), queue(other, name="unrelated")))
    plan = plan_change(ce_rec({"instance_types": ["m6i.large"]}), state)
    assert plan.update_kind == UpdateKind.BLUE_GREEN
    create, switch, disable = plan.calls
    assert why in create.description
    new = create.params
    assert new["computeEnvironmentName"].startswith("ce-bo")
    assert new["computeResources"]["instanceTypes"] == ["m6i.large"]
    assert "desiredvCpus" not in new["computeResources"]
    assert new["tags"] == {"team": "data", "batchopt:replaces": "ce"}
    assert ("serviceRole" in new) == (item.get("serviceRole") == CUSTOM_ROLE)
    new_arn = f"{ACCOUNT}:compute-environment/{new['computeEnvironmentName']}"
    assert switch.params["computeEnvironmentOrder"] == [
        {"order": 1, "computeEnvironment": other},
        {"order": 2, "computeEnvironment": new_arn},
    ]
    assert disable.params == {"computeEnvironment": CE_ARN, "state": "DISABLED"}
    assert plan.before is not None and plan.before["resources"][new_arn] is None


def test_ec2_to_fargate_is_blue_green_and_drops_ec2_only_fields() -> None:
    plan = plan_change(ce_rec({"platform": "FARGATE_SPOT"}), CurrentState(ce()))
    create = plan.calls[0].params["computeResources"]
    assert create["type"] == "FARGATE_SPOT"
    assert not {"instanceTypes", "allocationStrategy", "minvCpus", "instanceRole"} & set(create)


@pytest.mark.parametrize(
    ("item", "proposed", "error", "match"),
    [
        (ce(type="FARGATE"), {"min_vcpus": 2}, InputError, "do not apply to a FARGATE CE"),
        (ce(), {"allocation_strategy": "SPOT_CAPACITY_OPTIMIZED"}, InputError, "not valid for a EC2 CE"),
        (ce(), {"min_vcpus": 300}, InputError, "above max_vcpus"),
        (ce(), {"colour": "blue"}, InputError, "'colour' is not a compute environment setting"),
        (ce(), {"max_vcpus": 256}, UserError, "already has the proposed values"),
        ({**ce(), "type": "UNMANAGED"}, {"max_vcpus": 8}, RefusedError, "unmanaged"),
    ],
)
def test_changes_the_planner_refuses(
    item: dict[str, Any], proposed: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        plan_change(ce_rec(proposed), CurrentState(item))


def test_advice_only_recommendations_are_refused() -> None:
    rec = make_recommendation("x", CE_ARN, "compute-environment", {"max_vcpus": 8}, applicable=False)
    with pytest.raises(RefusedError, match="advice only"):
        plan_change(rec, CurrentState(ce()))


def test_lower_desired_vcpus_is_dropped_because_batch_only_accepts_raising_it() -> None:
    plan = plan_change(ce_rec({"desired_vcpus": 2, "max_vcpus": 64}), CurrentState(ce()))
    assert plan.calls[0].params["computeResources"] == {"maxvCpus": 64}
    assert "desiredvCpus 2 dropped" in plan.calls[0].description


def test_fingerprint_ignores_batch_scaling_and_status_but_not_settings() -> None:
    base = ce()
    scaled = copy.deepcopy(base)
    scaled["computeResources"]["desiredvCpus"] = 64
    scaled["status"] = "UPDATING"
    reordered = copy.deepcopy(base)
    reordered["computeResources"]["instanceTypes"] = ["m5.large"]
    changed = copy.deepcopy(base)
    changed["computeResources"]["maxvCpus"] = 512
    assert fingerprint({CE_ARN: base}) == fingerprint({CE_ARN: scaled}) == fingerprint({CE_ARN: reordered})
    assert fingerprint({CE_ARN: base}) != fingerprint({CE_ARN: changed})
    assert fingerprint({CE_ARN: base}) != fingerprint({CE_ARN: None})


def test_spot_adoption_creates_a_spot_copy_and_puts_it_first() -> None:
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
                "allocation_strategy": "SPOT_PRICE_CAPACITY_OPTIMIZED",
            },
            "compute_environment_order": ["ce-spot", "ce"],
        },
    )
    plan = plan_change(rec, CurrentState(target, (), (ce(),)))
    create, order = plan.calls
    assert create.params["computeResources"]["type"] == "SPOT"
    assert order.params["computeEnvironmentOrder"] == [
        {"order": 1, "computeEnvironment": f"{ACCOUNT}:compute-environment/ce-spot"},
        {"order": 2, "computeEnvironment": CE_ARN},
    ]


def _jobdef(**container: Any) -> dict[str, Any]:
    return {
        "jobDefinitionName": "etl",
        "jobDefinitionArn": f"{ACCOUNT}:job-definition/etl:7",
        "revision": 7,
        "status": "ACTIVE",
        "type": "container",
        "platformCapabilities": ["EC2"],
        "containerProperties": {
            "image": "busybox",
            "jobRoleArn": "arn:aws:iam::123456789012:role/job",
            **container,
        },
        "retryStrategy": {"attempts": 3},
        "timeout": {"attemptDurationSeconds": 3600},
    }


def test_right_sizing_registers_a_new_revision_from_the_current_one() -> None:
    rec = make_recommendation(
        "right-size", f"{ACCOUNT}:job-definition/etl:7", "job-definition", {"memory_mib": 3072}
    )
    plan = plan_change(rec, CurrentState(_jobdef(vcpus=2, memory=8192)))
    [call] = plan.calls
    assert plan.target_arn == f"{ACCOUNT}:job-definition/etl"
    assert call.params["containerProperties"] == {
        "image": "busybox",
        "jobRoleArn": "arn:aws:iam::123456789012:role/job",
        "resourceRequirements": [{"type": "MEMORY", "value": "3072"}, {"type": "VCPU", "value": "2"}],
    }
    assert (
        call.params["retryStrategy"] == {"attempts": 3}
        and call.params["timeout"]["attemptDurationSeconds"] == 3600
    )
    assert "MEMORY 8192 -> 3072" in call.description and "revision 8" in call.description
    assert "iam:PassRole" in plan.permissions


def test_fargate_right_sizing_must_be_a_fargate_size() -> None:
    item = _jobdef(resourceRequirements=[{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "4096"}])
    item["platformCapabilities"] = ["FARGATE"]
    rec = make_recommendation("right-size", item["jobDefinitionArn"], "job-definition", {"memory_mib": 1500})
    with pytest.raises(InputError, match="Fargate has no 1 vCPU / 1500 MiB"):
        plan_change(rec, CurrentState(item))
    ok = make_recommendation("right-size", item["jobDefinitionArn"], "job-definition", {"memory_mib": 2048})
    assert plan_change(ok, CurrentState(item)).calls


def test_rollback_restores_before_values_in_reverse_order() -> None:
    other = f"{ACCOUNT}:compute-environment/other"
    state = CurrentState(ce("BEST_FIT"), (queue(CE_ARN, other),))
    plan = plan_change(ce_rec({"instance_types": ["m6i.large"], "new_name": "ce2"}), state)
    new_arn = f"{ACCOUNT}:compute-environment/ce2"
    responses = [{"computeEnvironmentArn": new_arn}, {}, {}]
    rollback = build_rollback(plan, list(enumerate(responses)), {})
    assert rollback is not None and rollback.kind == "rollback"
    enable, restore, disable_new = rollback.calls
    assert enable.params == {"computeEnvironment": CE_ARN, "state": "ENABLED"}
    assert restore.params["computeEnvironmentOrder"][0] == {"order": 1, "computeEnvironment": CE_ARN}
    assert disable_new.params == {"computeEnvironment": new_arn, "state": "DISABLED"}


def test_read_back_compares_sets_and_names_what_differs() -> None:
    plan = plan_change(ce_rec({"instance_types": ["c5.large", "m5.large"]}), CurrentState(ce()))
    [call] = plan.calls
    landed = ce(instanceTypes=["m5.large", "c5.large"])
    assert verify_call(call, landed, ce()).landed
    verdict = verify_call(call, ce(), ce())
    assert not verdict.landed and "computeResources.instanceTypes" in verdict.detail


def test_a_recommendation_made_on_other_values_is_stale() -> None:
    rec = make_recommendation(
        "min-max", CE_ARN, "compute-environment", {"max_vcpus": 128}, current={"max_vcpus": 512, "note": "x"}
    )
    with pytest.raises(RefusedError, match="stale: max_vcpus was 512 when recommended, now 256"):
        plan_change(rec, CurrentState(ce()))
    fresh = make_recommendation(
        "min-max", CE_ARN, "compute-environment", {"max_vcpus": 128}, current={"max_vcpus": 256}
    )
    assert plan_change(fresh, CurrentState(ce())).calls


def test_eks_compute_environments_are_not_applied() -> None:
    with pytest.raises(RefusedError, match="EKS"):
        plan_change(ce_rec({"max_vcpus": 8}), CurrentState({**ce(), "containerOrchestrationType": "EKS"}))


def test_fargate_replacement_refused_when_the_queue_keeps_an_ec2_ce() -> None:
    other = {
        **ce(),
        "computeEnvironmentName": "ec2",
        "computeEnvironmentArn": f"{ACCOUNT}:compute-environment/ec2",
    }
    state = CurrentState(ce(), (queue(CE_ARN, other["computeEnvironmentArn"]),), (other,))
    with pytest.raises(InputError, match=r"queue q also uses ec2 \(EC2\); Batch does not mix"):
        plan_change(ce_rec({"platform": "FARGATE"}), state)
