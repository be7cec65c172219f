"""The exact UpdateComputeEnvironment requests, checked with botocore's Stubber (moto ignores them)."""

from __future__ import annotations

import copy
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from sqlalchemy import Engine

from optimizer.apply import records
from optimizer.apply.executor import Executor
from optimizer.apply.planner import CurrentState, plan_change
from optimizer.config import ApplySettings
from optimizer.domain import UpdateKind
from optimizer.errors import UserError
from optimizer.recommend.repository import get_recommendation, save_recommendations
from tests.apply_helpers import make_recommendation

pytestmark = pytest.mark.any_date  # dates are fixed and "now" is injected: the same on any date

ARN = "arn:aws:batch:us-east-1:123456789012:compute-environment/spot-ce"
SLR = "arn:aws:iam::123456789012:role/aws-service-role/batch.amazonaws.com/AWSServiceRoleForBatch"


def _ce(**resources: Any) -> dict[str, Any]:
    return {
        "computeEnvironmentName": "spot-ce",
        "computeEnvironmentArn": ARN,
        "ecsClusterArn": "arn:aws:ecs:us-east-1:123456789012:cluster/spot-ce",
        "type": "MANAGED",
        "state": "ENABLED",
        "status": "VALID",
        "serviceRole": SLR,
        "computeResources": {
            "type": "SPOT",
            "allocationStrategy": "SPOT_CAPACITY_OPTIMIZED",
            "minvCpus": 0,
            "desiredvCpus": 8,
            "maxvCpus": 256,
            "instanceTypes": ["m5.large", "m5.xlarge"],
            "subnets": ["subnet-1"],
            "securityGroupIds": ["sg-1"],
            "instanceRole": "arn:aws:iam::123456789012:instance-profile/ecsInstanceRole",
            **resources,
        },
    }


@pytest.fixture
def stubbed() -> tuple[Any, Stubber]:
    client = boto3.client("batch", region_name="us-east-1")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def _describe(stubber: Stubber, item: dict[str, Any], times: int = 1) -> None:
    for _ in range(times):
        stubber.add_response(
            "describe_compute_environments", {"computeEnvironments": [item]}, {"computeEnvironments": [ARN]}
        )


def test_infrastructure_update_request_is_exact_and_read_back_reports_what_landed(
    sqlite_engine: Engine, stubbed: tuple[Any, Stubber]
) -> None:
    client, stubber = stubbed
    current = _ce()
    rec = make_recommendation(
        "instance-mix",
        ARN,
        "compute-environment",
        {
            "instance_types": ["m6i.large", "m6i.xlarge", "m7i.large"],
            "allocation_strategy": "SPOT_PRICE_CAPACITY_OPTIMIZED",
        },
        update_kind=UpdateKind.INFRASTRUCTURE,
    )
    save_recommendations(sqlite_engine, [rec])
    plan = plan_change(rec, CurrentState(current))
    assert plan.update_kind == UpdateKind.INFRASTRUCTURE
    records.save_plan(sqlite_engine, plan)

    expected = {
        "computeEnvironment": ARN,
        "computeResources": {
            "instanceTypes": ["m6i.large", "m6i.xlarge", "m7i.large"],
            "allocationStrategy": "SPOT_PRICE_CAPACITY_OPTIMIZED",
        },
        "updatePolicy": {"terminateJobsOnUpdate": False, "jobExecutionTimeoutMinutes": 30},
    }
    # Batch moved desiredvCpus meanwhile: not part of the fingerprint, so the plan still applies.
    moved = copy.deepcopy(current)
    moved["computeResources"]["desiredvCpus"] = 32
    _describe(stubber, moved)  # fingerprint re-read
    stubber.add_response(
        "update_compute_environment",
        {"computeEnvironmentName": "spot-ce", "computeEnvironmentArn": ARN},
        expected,
    )
    updating = copy.deepcopy(moved)
    updating["status"] = "UPDATING"
    _describe(stubber, updating)  # waiting for VALID...
    updated = copy.deepcopy(moved)
    updated["computeResources"].update(expected["computeResources"])
    _describe(stubber, updated)  # ...VALID
    _describe(stubber, updated)  # read back

    slept: list[float] = []
    settings = ApplySettings(enabled=True, allow_list=[ARN])
    executor = Executor(
        sqlite_engine, settings, lambda service, arn: client, poll_seconds=5, sleep=slept.append
    )
    report = executor.run(plan, execute=True, actor="test")
    assert report.result == "succeeded", report.message
    assert slept == [5]
    assert get_recommendation(sqlite_engine, rec.id).status == "applied"
    rollback = records.load_change_plan(sqlite_engine, report.rollback_plan_id or "")
    [undo] = rollback.calls
    assert undo.params == {
        "computeEnvironment": ARN,
        "computeResources": {
            "instanceTypes": ["m5.large", "m5.xlarge"],
            "allocationStrategy": "SPOT_CAPACITY_OPTIMIZED",
        },
        "updatePolicy": {"terminateJobsOnUpdate": False, "jobExecutionTimeoutMinutes": 30},
    }


def test_scaling_update_request_is_exact_and_an_ignored_update_is_not_applied(
    sqlite_engine: Engine, stubbed: tuple[Any, Stubber]
) -> None:
    client, stubber = stubbed
    current = _ce(allocationStrategy="BEST_FIT")  # scaling works on any managed CE
    rec = make_recommendation(
        "min-max-vcpus",
        ARN,
        "compute-environment",
        {"min_vcpus": 4, "max_vcpus": 128},
        update_kind=UpdateKind.SCALING,
    )
    save_recommendations(sqlite_engine, [rec])
    plan = plan_change(rec, CurrentState(current))
    records.save_plan(sqlite_engine, plan)
    expected = {"computeEnvironment": ARN, "computeResources": {"minvCpus": 4, "maxvCpus": 128}}
    _describe(stubber, current)
    stubber.add_response(
        "update_compute_environment",
        {"computeEnvironmentName": "spot-ce", "computeEnvironmentArn": ARN},
        expected,
    )
    _describe(stubber, current, times=2)  # VALID at once, and nothing changed on read-back
    executor = Executor(
        sqlite_engine, ApplySettings(enabled=True, allow_list=["spot-ce"]), lambda s, a: client
    )
    report = executor.run(plan, execute=True, actor="test")
    assert report.result == "not-applied"
    assert "computeResources.minvCpus is 0, expected 4" in report.outcomes[0].detail
    assert report.rollback_plan_id is None
    [audit] = records.audits(sqlite_engine, results=("not-applied",))
    assert audit.finished_at is not None and "did not read back" in (audit.message or "")


def test_aws_rejecting_the_call_is_a_failed_audit_and_a_read_error_is_one_line(
    sqlite_engine: Engine, stubbed: tuple[Any, Stubber]
) -> None:
    client, stubber = stubbed
    current = _ce()
    rec = make_recommendation(
        "min-max-vcpus", ARN, "compute-environment", {"max_vcpus": 64}, update_kind=UpdateKind.SCALING
    )
    save_recommendations(sqlite_engine, [rec])
    plan = plan_change(rec, CurrentState(current))
    records.save_plan(sqlite_engine, plan)
    executor = Executor(
        sqlite_engine, ApplySettings(enabled=True, allow_list=["spot-ce"]), lambda s, a: client
    )

    _describe(stubber, current)
    stubber.add_client_error(
        "update_compute_environment", "ClientException", "maxvCpus below running capacity", 400
    )
    _describe(stubber, current)  # read back
    report = executor.run(plan, execute=True, actor="test")
    assert report.result == "failed" and "maxvCpus below running capacity" in report.message
    assert records.audits(sqlite_engine, results=("pending",)) == []
    assert get_recommendation(sqlite_engine, rec.id).status == "open"

    stubber.add_client_error("describe_compute_environments", "AccessDeniedException", "not authorized", 403)
    with pytest.raises(
        UserError, match=r"^reading .*spot-ce: AWS said AccessDeniedException: not authorized$"
    ):
        executor.run(plan, execute=True, actor="test")
