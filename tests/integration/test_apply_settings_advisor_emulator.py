"""retry-and-spot applied end to end on the moto server through boto3: the revision, the spot CE and
the queue order land, read back, and roll back."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine

from optimizer.apply.executor import Executor
from optimizer.apply.service import ApplyService, TargetClients
from optimizer.config import ApplySettings
from optimizer.domain import UpdateKind
from optimizer.errors import RefusedError
from optimizer.recommend.repository import save_recommendations
from tests.apply_helpers import Estate, build_estate, make_recommendation

pytestmark = pytest.mark.emulator

STRATEGY = {
    "attempts": 3,
    "evaluateOnExit": [
        {"onStatusReason": "Host EC2*", "action": "RETRY"},
        {"onReason": "*", "action": "EXIT"},
    ],
}


@pytest.fixture
def estate(aws_endpoint: str) -> Estate:
    return build_estate(aws_endpoint)


def _latest_jobdef(estate: Estate) -> dict[str, Any]:
    items = estate.batch.describe_job_definitions(jobDefinitionName="etl", status="ACTIVE")["jobDefinitions"]
    return max((i for i in items if i["status"] == "ACTIVE"), key=lambda i: i["revision"])


def _upper_actions(strategy: dict[str, Any]) -> dict[str, Any]:
    rules = [{**rule, "action": rule["action"].upper()} for rule in strategy.get("evaluateOnExit", [])]
    return {**strategy, "evaluateOnExit": rules}


def _order(estate: Estate) -> list[str]:
    [queue] = estate.batch.describe_job_queues(jobQueues=[estate.queue_arn])["jobQueues"]
    return [
        e["computeEnvironment"] for e in sorted(queue["computeEnvironmentOrder"], key=lambda e: e["order"])
    ]


def test_retry_and_spot_lands_reads_back_and_rolls_back(sqlite_engine: Engine, estate: Estate) -> None:
    rec = make_recommendation(
        "retry-and-spot",
        estate.queue_arn,
        "job-queue",
        {
            "compute_environment_order": ["od-ce-spot", "od-ce"],
            "new_compute_environment": {
                "name": "od-ce-spot",
                "based_on": "od-ce",
                "platform": "SPOT",
                "allocation_strategy": "SPOT_PRICE_CAPACITY_OPTIMIZED",
                "min_vcpus": 0,
            },
            "job_definition_revisions": [{"job_definition": estate.jobdef_arn, "retry_strategy": STRATEGY}],
        },
        current={
            "compute_environment_order": ["od-ce"],
            "job_definition_revisions": [
                {"job_definition": estate.jobdef_arn, "retry_strategy": {"attempts": 2}}
            ],
        },
    )
    save_recommendations(sqlite_engine, [rec])
    clients = TargetClients(estate.factory)

    def service_for(allow: list[str]) -> ApplyService:
        settings = ApplySettings(enabled=True, allow_list=allow, wait_for_valid_seconds=5)
        executor = Executor(sqlite_engine, settings, clients, poll_seconds=0.01)
        return ApplyService(sqlite_engine, settings, clients, executor=executor)

    # The job definition is a resource the plan changes: the allow-list must name it too.
    with pytest.raises(RefusedError, match=r"not on apply\.allow_list: etl"):
        service_for(["main"]).apply(rec.id, execute=True, actor="test")
    assert _latest_jobdef(estate)["revision"] == 1 and _order(estate) == [estate.ondemand_arn]
    service = service_for(["main", "etl"])
    _, plan = service.plan(rec.id)
    assert [c.operation for c in plan.calls] == [
        "register_job_definition",
        "create_compute_environment",
        "update_job_queue",
    ]
    report = service.apply(rec.id, execute=True, actor="test")
    assert report.result == "succeeded", report.message
    latest = _latest_jobdef(estate)
    # RetryAction values are case-insensitive (the model says so); the emulator reads them back lowercase.
    assert latest["revision"] == 2 and _upper_actions(latest["retryStrategy"]) == STRATEGY
    assert latest["containerProperties"]["image"].endswith("busybox:latest")
    spot_arn = estate.ondemand_arn.replace("od-ce", "od-ce-spot")
    assert _order(estate) == [spot_arn, estate.ondemand_arn]
    [spot] = estate.batch.describe_compute_environments(computeEnvironments=[spot_arn])["computeEnvironments"]
    assert spot["computeResources"]["type"] == "SPOT"

    undo = service.rollback(rec.id, execute=True, actor="test")
    assert undo.result == "succeeded", undo.message
    assert _order(estate) == [estate.ondemand_arn]
    assert _latest_jobdef(estate)["revision"] == 1
    [spot] = estate.batch.describe_compute_environments(computeEnvironments=[spot_arn])["computeEnvironments"]
    assert spot["state"] == "DISABLED"
    assert UpdateKind(plan.update_kind) == UpdateKind.QUEUE_ORDER
