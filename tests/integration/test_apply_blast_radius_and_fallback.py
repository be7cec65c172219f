"""blast-radius and spot-fallback as exact Batch requests, from the strategies' own
recommendations: blast-radius is an in-place UpdateComputeEnvironment of the spot CE's instance
types, spot-fallback a CreateComputeEnvironment (on-demand copy of the spot CE) and an
UpdateJobQueue putting it last; each validated by botocore's model through a Stubber, with the
rollback built from what landed."""

from __future__ import annotations

import pytest

from optimizer.apply.planner import CurrentState, plan_change
from optimizer.apply.rollback import build_rollback
from optimizer.domain import UpdateKind
from optimizer.recommend.strategies import BlastRadiusStrategy, SpotFallbackStrategy
from tests.integration.test_apply_model_requests import send_through_model
from tests.recommend_helpers import inputs_for
from tests.unit.test_recommend_blast_radius import BIG, burst_estate
from tests.unit.test_recommend_spot_fallback import spot_only_estate

pytestmark = pytest.mark.any_date


def test_blast_radius_is_an_in_place_instance_type_update_and_rolls_back() -> None:
    estate = burst_estate()
    [rec] = BlastRadiusStrategy().run(inputs_for(estate))
    [item] = estate["ces"]
    plan = plan_change(rec, CurrentState(item))
    assert plan.update_kind == rec.update_kind == UpdateKind.INFRASTRUCTURE
    [call] = plan.calls
    assert call.operation == "update_compute_environment"
    assert call.params["computeEnvironment"] == item["computeEnvironmentArn"]
    assert call.params["computeResources"] == {"instanceTypes": rec.proposed["instance_types"]}
    # Running jobs are not restarted: Batch lets them finish before replacing their instances.
    assert call.params["updatePolicy"]["terminateJobsOnUpdate"] is False
    assert "batch:UpdateComputeEnvironment" in plan.permissions
    send_through_model(plan, [("describe_compute_environments", {"computeEnvironments": [item]})])

    rollback = build_rollback(plan, [(0, {})], {item["computeEnvironmentArn"]: item})
    assert rollback is not None
    [undo] = rollback.calls
    assert undo.params["computeResources"] == {"instanceTypes": [BIG]}
    send_through_model(rollback)


def test_spot_fallback_creates_the_on_demand_copy_and_puts_it_last() -> None:
    estate = spot_only_estate(("sim-spot", "SPOT"))
    [rec] = SpotFallbackStrategy().run(inputs_for(estate))
    [spot] = estate["ces"]
    spot["computeResources"]["bidPercentage"] = 60  # a spot-only field the copy must not carry
    [target] = estate["queues"]
    plan = plan_change(rec, CurrentState(target, (), (spot,)))
    create, order = plan.calls
    assert create.operation == "create_compute_environment"
    resources = create.params["computeResources"]
    assert (resources["type"], resources["allocationStrategy"], resources["minvCpus"]) == (
        "EC2",
        "BEST_FIT_PROGRESSIVE",
        0,
    )
    assert "bidPercentage" not in resources and resources["instanceTypes"] == ["c5.2xlarge"]
    assert create.params["computeEnvironmentName"] == "sim-spot-ondemand"
    new_arn = spot["computeEnvironmentArn"].replace("sim-spot", "sim-spot-ondemand")
    assert order.params["computeEnvironmentOrder"] == [
        {"order": 1, "computeEnvironment": spot["computeEnvironmentArn"]},
        {"order": 2, "computeEnvironment": new_arn},
    ]
    assert {"batch:CreateComputeEnvironment", "batch:UpdateJobQueue"} <= set(plan.permissions)
    send_through_model(plan, [("describe_job_queues", {"jobQueues": [target]})])
    # Rollback: the queue's order back, the new CE disabled.
    responses = [
        {"computeEnvironmentName": "sim-spot-ondemand", "computeEnvironmentArn": new_arn},
        {"jobQueueName": "sim", "jobQueueArn": target["jobQueueArn"]},
    ]
    rollback = build_rollback(plan, list(enumerate(responses)), {target["jobQueueArn"]: target})
    assert rollback is not None
    by_operation = {c.operation: c.params for c in rollback.calls}
    assert by_operation["update_job_queue"]["computeEnvironmentOrder"] == target["computeEnvironmentOrder"]
    assert by_operation["update_compute_environment"] == {"computeEnvironment": new_arn, "state": "DISABLED"}
    send_through_model(rollback)
