"""Planner + executor against the moto server through boto3: apply, read back, roll back, refuse."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine

from optimizer.apply import records
from optimizer.apply.executor import Executor
from optimizer.apply.service import ApplyService, TargetClients
from optimizer.config import ApplySettings
from optimizer.domain import Recommendation, UpdateKind
from optimizer.errors import RefusedError
from optimizer.recommend.repository import get_recommendation, save_recommendations
from tests.apply_helpers import Estate, build_estate, make_recommendation

pytestmark = pytest.mark.emulator


@pytest.fixture
def estate(aws_endpoint: str) -> Estate:
    return build_estate(aws_endpoint)


def _service(engine: Engine, estate: Estate, **settings: Any) -> ApplyService:
    apply_settings = ApplySettings(
        **{"enabled": True, "allow_list": ["main", "etl", "od-ce"], "wait_for_valid_seconds": 5, **settings}
    )
    clients = TargetClients(estate.factory)
    return ApplyService(
        engine, apply_settings, clients, executor=Executor(engine, apply_settings, clients, poll_seconds=0.01)
    )


def _order(estate: Estate) -> list[str]:
    [queue] = estate.batch.describe_job_queues(jobQueues=[estate.queue_arn])["jobQueues"]
    return [
        e["computeEnvironment"] for e in sorted(queue["computeEnvironmentOrder"], key=lambda e: e["order"])
    ]


def _latest_jobdef(estate: Estate) -> dict[str, Any]:
    items = estate.batch.describe_job_definitions(jobDefinitionName="etl", status="ACTIVE")["jobDefinitions"]
    return max((i for i in items if i["status"] == "ACTIVE"), key=lambda i: i["revision"])


def _spot_first(estate: Estate) -> Recommendation:
    return make_recommendation(
        "spot-adoption",
        estate.queue_arn,
        "job-queue",
        {"compute_environment_order": [estate.spot_arn, estate.ondemand_arn]},
    )


def test_queue_order_applied_read_back_and_rolled_back(sqlite_engine: Engine, estate: Estate) -> None:
    rec = _spot_first(estate)
    save_recommendations(sqlite_engine, [rec])
    service = _service(sqlite_engine, estate)
    _, plan = service.plan(rec.id)
    assert plan.update_kind == UpdateKind.QUEUE_ORDER
    assert [c.operation for c in plan.calls] == ["update_job_queue"]
    assert "batch:UpdateJobQueue" in plan.permissions

    dry = service.apply(rec.id, execute=False, actor="test")
    assert dry.result == "dry-run" and dry.refusals == ()
    assert _order(estate) == [estate.ondemand_arn], "a dry run changes nothing"

    report = service.apply(rec.id, execute=True, actor="test")
    assert report.result == "succeeded", report.message
    assert _order(estate) == [estate.spot_arn, estate.ondemand_arn]
    assert get_recommendation(sqlite_engine, rec.id).status == "applied"
    [audit] = records.audits(sqlite_engine, results=("succeeded",))
    assert (
        audit.actor == "test" and audit.before[estate.queue_arn]["computeEnvironmentOrder"][0]["order"] == 1
    )

    undo = service.rollback(rec.id, execute=True, actor="test")
    assert undo.result == "succeeded", undo.message
    assert _order(estate) == [estate.ondemand_arn]
    assert get_recommendation(sqlite_engine, rec.id).status == "rolled-back"


def test_job_definition_revision_applied_and_rolled_back(sqlite_engine: Engine, estate: Estate) -> None:
    rec = make_recommendation(
        "right-size",
        estate.jobdef_arn,
        "job-definition",
        {"vcpus": 2, "memory_mib": 6144},
        update_kind=UpdateKind.NEW_REVISION,
    )
    save_recommendations(sqlite_engine, [rec])
    service = _service(sqlite_engine, estate)
    report = service.apply(rec.id, execute=True, actor="test")
    assert report.result == "succeeded", report.message
    latest = _latest_jobdef(estate)
    assert latest["revision"] == 2
    requirements = {r["type"]: r["value"] for r in latest["containerProperties"]["resourceRequirements"]}
    assert requirements == {"VCPU": "2", "MEMORY": "6144"}
    assert latest["containerProperties"]["image"].endswith("busybox:latest")
    assert latest["retryStrategy"]["attempts"] == 2

    undo = service.rollback(rec.id, execute=True, actor="test")
    assert undo.result == "succeeded", undo.message
    assert _latest_jobdef(estate)["revision"] == 1


def test_second_apply_of_a_plan_whose_resource_changed_is_refused(
    sqlite_engine: Engine, estate: Estate
) -> None:
    rec = _spot_first(estate)
    save_recommendations(sqlite_engine, [rec])
    service = _service(sqlite_engine, estate)
    _, plan = service.plan(rec.id)
    assert service.apply(plan.id, execute=True, actor="test").result == "succeeded"
    with pytest.raises(RefusedError, match=r"changed since this plan was made.*computeEnvironmentOrder"):
        service.apply(plan.id, execute=True, actor="test")
    assert _order(estate) == [estate.spot_arn, estate.ondemand_arn]
    [refused] = records.audits(sqlite_engine, results=("refused",))
    assert refused.plan_id == plan.id


def test_out_of_band_change_after_planning_is_refused(sqlite_engine: Engine, estate: Estate) -> None:
    rec = _spot_first(estate)
    save_recommendations(sqlite_engine, [rec])
    service = _service(sqlite_engine, estate)
    service.plan(rec.id)
    estate.batch.update_job_queue(jobQueue=estate.queue_arn, priority=99)
    with pytest.raises(RefusedError, match=r"main: priority.*batchopt plan"):
        service.apply(rec.id, execute=True, actor="test")
    assert _order(estate) == [estate.ondemand_arn]
    assert get_recommendation(sqlite_engine, rec.id).status == "open"


@pytest.mark.parametrize(
    ("settings", "message"),
    [({"enabled": False}, "apply is disabled"), ({"allow_list": ["other"]}, "not on apply.allow_list: main")],
)
def test_guards_refuse_and_change_nothing(
    sqlite_engine: Engine, estate: Estate, settings: dict[str, Any], message: str
) -> None:
    rec = _spot_first(estate)
    save_recommendations(sqlite_engine, [rec])
    service = _service(sqlite_engine, estate, **settings)
    with pytest.raises(RefusedError, match=message):
        service.apply(rec.id, execute=True, actor="test")
    assert _order(estate) == [estate.ondemand_arn]
    dry = service.apply(rec.id, execute=False, actor="test")
    assert any(message in r for r in dry.refusals)


def test_compute_environment_update_that_moto_ignores_reads_back_as_not_applied(
    sqlite_engine: Engine, estate: Estate
) -> None:
    rec = make_recommendation(
        "min-max-vcpus",
        estate.ondemand_arn,
        "compute-environment",
        {"max_vcpus": 128},
        update_kind=UpdateKind.SCALING,
    )
    save_recommendations(sqlite_engine, [rec])
    service = _service(sqlite_engine, estate)
    report = service.apply(rec.id, execute=True, actor="test")
    assert report.result == "not-applied"
    [outcome] = report.outcomes
    assert outcome.sent and not outcome.landed
    assert "did not read back" in outcome.detail and "maxvCpus is 64, expected 128" in outcome.detail
    assert report.rollback_plan_id is None
    assert get_recommendation(sqlite_engine, rec.id).status == "open"


def test_blue_green_replacement_switches_the_queue_and_rolls_back(
    sqlite_engine: Engine, estate: Estate
) -> None:
    # od-ce uses a custom service role, so an instance-type change cannot be an infrastructure update.
    rec = make_recommendation(
        "instance-mix",
        estate.ondemand_arn,
        "compute-environment",
        {"instance_types": ["m6i.large", "c6i.large"], "new_name": "od-ce-v2"},
        update_kind=UpdateKind.BLUE_GREEN,
    )
    save_recommendations(sqlite_engine, [rec])
    service = _service(sqlite_engine, estate)
    _, plan = service.plan(rec.id)
    assert [c.operation for c in plan.calls] == [
        "create_compute_environment",
        "update_job_queue",
        "update_compute_environment",
    ]
    report = service.apply(rec.id, execute=True, actor="test")
    assert report.result == "succeeded", report.message
    new_arn = estate.ondemand_arn.replace("od-ce", "od-ce-v2")
    assert _order(estate) == [new_arn]
    [old, new] = sorted(
        estate.batch.describe_compute_environments(computeEnvironments=[estate.ondemand_arn, new_arn])[
            "computeEnvironments"
        ],
        key=lambda ce: ce["computeEnvironmentName"],
    )
    assert old["state"] == "DISABLED" and new["state"] == "ENABLED"
    assert sorted(new["computeResources"]["instanceTypes"]) == ["c6i.large", "m6i.large"]

    undo = service.rollback(rec.id, execute=True, actor="test")
    assert undo.result == "succeeded", undo.message
    assert _order(estate) == [estate.ondemand_arn]
    states = {
        ce["computeEnvironmentName"]: ce["state"]
        for ce in estate.batch.describe_compute_environments(
            computeEnvironments=[estate.ondemand_arn, new_arn]
        )["computeEnvironments"]
    }
    assert states == {"od-ce": "ENABLED", "od-ce-v2": "DISABLED"}


class _CrashAfter:
    """A Batch client whose `operation` lands in AWS, then the process "dies" before recording it."""

    def __init__(self, client: Any, operation: str) -> None:
        self._client = client
        self._operation = operation

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if name != self._operation:
            return attr

        def crash(**params: Any) -> Any:
            attr(**params)
            raise SystemExit("killed mid-apply")

        return crash


def test_crash_mid_apply_leaves_pending_record_that_the_next_run_reconciles(
    sqlite_engine: Engine, estate: Estate
) -> None:
    rec = _spot_first(estate)
    save_recommendations(sqlite_engine, [rec])
    settings = ApplySettings(enabled=True, allow_list=["main"], wait_for_valid_seconds=5)
    clients = TargetClients(estate.factory)

    def crashing(service: str, arn: str) -> Any:
        client = clients(service, arn)
        return _CrashAfter(client, "update_job_queue") if service == "batch" else client

    crashing_service = ApplyService(sqlite_engine, settings, crashing)
    with pytest.raises(SystemExit):
        crashing_service.apply(rec.id, execute=True, actor="test")
    assert len(records.audits(sqlite_engine, results=("pending",))) == 1
    assert _order(estate) == [estate.spot_arn, estate.ondemand_arn], "the change landed before the crash"

    # A run right after the crash must not start a second change on the same target...
    fresh = ApplyService(sqlite_engine, settings, clients)
    with pytest.raises(RefusedError, match="in flight"):
        fresh.apply(rec.id, execute=True, actor="test")
    # ...and once the record is stale, the next run reads the queue back and settles it.
    executor = Executor(sqlite_engine, settings, clients, poll_seconds=0.01)
    [settled] = executor.reconcile_pending(older_than_seconds=0)
    assert settled.result == "succeeded" and settled.message.startswith("reconciled")
    assert settled.rollback_plan_id is not None
    assert records.audits(sqlite_engine, results=("pending",)) == []
    assert get_recommendation(sqlite_engine, rec.id).status == "applied"
    undo = fresh.rollback(rec.id, execute=True, actor="test")
    assert undo.result == "succeeded"
    assert _order(estate) == [estate.ondemand_arn]
