"""blast-radius as exact Batch requests: the strategy's recommendation on a spot CE becomes an
in-place UpdateComputeEnvironment of its instance types (validated by botocore's model through a
Stubber), and the rollback puts the previous types back."""

from __future__ import annotations

import pytest

from optimizer.apply.planner import CurrentState, plan_change
from optimizer.apply.rollback import build_rollback
from optimizer.domain import UpdateKind
from optimizer.recommend.strategies import BlastRadiusStrategy
from tests.integration.test_apply_model_requests import send_through_model
from tests.recommend_helpers import inputs_for
from tests.unit.test_recommend_blast_radius import BIG, burst_estate

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
