"""Executor waits (VALID, drain) with fake clocks and stubbed clients; permissions; fingerprint laws."""

from __future__ import annotations

import copy
import itertools
from dataclasses import replace
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from optimizer.apply import records
from optimizer.apply.executor import Executor
from optimizer.apply.fingerprint import fingerprint
from optimizer.apply.planner import CurrentState, plan_change
from optimizer.aws.permissions import actions_for, policy_document
from optimizer.config import ApplySettings
from optimizer.domain import UpdateKind
from optimizer.recommend.repository import save_recommendations
from tests.apply_helpers import CE_ARN, CUSTOM_ROLE, ce, make_recommendation, queue

pytestmark = pytest.mark.any_date  # dates are fixed and "now" is injected: the same on any date


def _describe_ce(stubber: Stubber, arn: str, item: dict[str, Any] | None) -> None:
    stubber.add_response(
        "describe_compute_environments",
        {"computeEnvironments": [item] if item else []},
        {"computeEnvironments": [arn]},
    )


def test_every_permission_a_plan_needs_is_declared_for_the_apply_role() -> None:
    plan = plan_change(
        make_recommendation("x", CE_ARN, "compute-environment", {"instance_types": ["m6i.large"]}),
        CurrentState(ce(role=CUSTOM_ROLE), (queue(CE_ARN),)),
    )
    declared = set(actions_for("apply"))
    assert set(plan.permissions) <= declared
    assert {"batch:DescribeComputeEnvironments", "ecs:ListTasks"} <= declared
    assert "batch:UpdateJobQueue" in policy_document("apply")


def test_waiting_for_valid_is_bounded_and_reported(sqlite_engine: Engine) -> None:
    client = boto3.client("batch", region_name="us-east-1")
    rec = make_recommendation(
        "m", CE_ARN, "compute-environment", {"max_vcpus": 64}, update_kind=UpdateKind.SCALING
    )
    save_recommendations(sqlite_engine, [rec])
    plan = plan_change(rec, CurrentState(ce()))
    records.save_plan(sqlite_engine, plan)
    updating = {**ce(), "status": "UPDATING"}
    with Stubber(client) as stubber:
        _describe_ce(stubber, CE_ARN, ce())
        stubber.add_response("update_compute_environment", {}, plan.calls[0].params)
        _describe_ce(stubber, CE_ARN, updating)
        _describe_ce(stubber, CE_ARN, updating)
        _describe_ce(stubber, CE_ARN, updating)  # read back: still the old values
        executor = Executor(
            sqlite_engine,
            ApplySettings(enabled=True, allow_list=["ce"], wait_for_valid_seconds=150),
            lambda service, arn: client,
            sleep=lambda seconds: None,
            monotonic=itertools.count(0, 100).__next__,
        )
        report = executor.run(plan, execute=True, actor="test")
        stubber.assert_no_pending_responses()
    assert report.result == "waiting"  # Batch is still working on it: resumable, not failed
    assert "ce not VALID after 150s (status UPDATING)" in report.message
    assert f"batchopt apply --resume {report.audit_id}" in report.message


def test_old_compute_environment_is_not_disabled_while_tasks_still_run(sqlite_engine: Engine) -> None:
    batch = boto3.client("batch", region_name="us-east-1")
    ecs = boto3.client("ecs", region_name="us-east-1")
    old = {**ce(role=CUSTOM_ROLE), "ecsClusterArn": "arn:aws:ecs:us-east-1:123456789012:cluster/old"}
    q = queue(CE_ARN)
    rec = make_recommendation(
        "mix", CE_ARN, "compute-environment", {"instance_types": ["m6i.large"], "new_name": "ce2"}
    )
    save_recommendations(sqlite_engine, [rec])
    plan = plan_change(rec, CurrentState(old, (q,)))
    records.save_plan(sqlite_engine, plan)
    new_arn = CE_ARN.replace("/ce", "/ce2")
    create, switch, _disable = plan.calls
    new_item = copy.deepcopy(old)
    new_item.update(computeEnvironmentName="ce2", computeEnvironmentArn=new_arn)
    new_item["computeResources"]["instanceTypes"] = ["m6i.large"]
    switched = {**q, "computeEnvironmentOrder": [{"order": 1, "computeEnvironment": new_arn}]}
    with Stubber(batch) as b, Stubber(ecs) as e:
        _describe_ce(b, CE_ARN, old)  # fingerprint: the old CE, no new one, the queue
        _describe_ce(b, new_arn, None)
        b.add_response("describe_job_queues", {"jobQueues": [q]}, {"jobQueues": [q["jobQueueArn"]]})
        b.add_response("create_compute_environment", {"computeEnvironmentArn": new_arn}, create.params)
        _describe_ce(b, new_arn, new_item)  # VALID at once
        b.add_response("update_job_queue", {}, switch.params)
        for _ in range(2):  # drain checks: one task keeps running
            _describe_ce(b, CE_ARN, old)
            e.add_response(
                "list_tasks",
                {"taskArns": ["arn:aws:ecs:us-east-1:123456789012:task/old/1"]},
                {"cluster": old["ecsClusterArn"], "desiredStatus": "RUNNING"},
            )
        _describe_ce(b, CE_ARN, old)  # read back
        _describe_ce(b, new_arn, new_item)
        b.add_response("describe_job_queues", {"jobQueues": [switched]}, {"jobQueues": [q["jobQueueArn"]]})
        executor = Executor(
            sqlite_engine,
            ApplySettings(enabled=True, allow_list=["ce", "q"], wait_for_valid_seconds=60),
            lambda service, arn: ecs if service == "ecs" else batch,
            sleep=lambda seconds: None,
            monotonic=itertools.count(0, 50).__next__,
        )
        report = executor.run(plan, execute=True, actor="test")
        b.assert_no_pending_responses()
    assert report.result == "waiting"
    assert [o.landed for o in report.outcomes] == [True, True, False]
    assert "ce still runs 1 tasks after 60s: not disabled yet" in report.message
    rollback = records.load_change_plan(sqlite_engine, report.rollback_plan_id or "")
    assert [c.operation for c in rollback.calls] == ["update_job_queue", "update_compute_environment"]


@settings(max_examples=40, deadline=None)
@given(
    types=st.lists(
        st.sampled_from(["m5.large", "c5.large", "r5.large", "m6g.large"]), min_size=1, unique=True
    ),
    desired=st.integers(0, 512),
    status=st.sampled_from(["VALID", "UPDATING"]),
    max_vcpus=st.integers(1, 4096),
)
def test_fingerprint_moves_with_settings_only(
    types: list[str], desired: int, status: str, max_vcpus: int
) -> None:
    base = ce(instanceTypes=types, maxvCpus=max_vcpus)
    noisy = ce(instanceTypes=list(reversed(types)), maxvCpus=max_vcpus, desiredvCpus=desired)
    noisy["status"] = status
    assert fingerprint({CE_ARN: base}) == fingerprint({CE_ARN: noisy})
    assert fingerprint({CE_ARN: base}) != fingerprint(
        {CE_ARN: ce(instanceTypes=types, maxvCpus=max_vcpus + 1)}
    )


def _scaling_run(sqlite_engine: Engine, after_update: dict[str, Any] | None, *, reject: bool = False) -> Any:
    """A one-call scaling apply against a stubbed Batch whose CE reads `after_update` after it (or
    whose update AWS rejects)."""
    client = boto3.client("batch", region_name="us-east-1")
    rec = make_recommendation(
        "m", CE_ARN, "compute-environment", {"max_vcpus": 64}, update_kind=UpdateKind.SCALING
    )
    save_recommendations(sqlite_engine, [rec])
    plan = plan_change(rec, CurrentState(ce()))
    records.save_plan(sqlite_engine, plan)
    with Stubber(client) as stubber:
        _describe_ce(stubber, CE_ARN, ce())
        if reject:
            stubber.add_client_error(
                "update_compute_environment", "ClientException", "maxvCpus is below desiredvCpus"
            )
            _describe_ce(stubber, CE_ARN, ce())  # read back: unchanged
        else:
            stubber.add_response("update_compute_environment", {}, plan.calls[0].params)
            _describe_ce(stubber, CE_ARN, after_update)  # the wait for VALID
            _describe_ce(stubber, CE_ARN, after_update)  # read back
        executor = Executor(
            sqlite_engine,
            ApplySettings(enabled=True, allow_list=["ce"]),
            lambda service, arn: client,
            sleep=lambda seconds: None,
        )
        report = executor.run(plan, execute=True, actor="test")
        stubber.assert_no_pending_responses()
    return report


def test_a_compute_environment_left_invalid_is_not_a_success(sqlite_engine: Engine) -> None:
    # Every call read back, but Batch left the CE INVALID: reported as partial with the reason
    # (it was "succeeded", and the recommendation "applied" with a broken CE behind it).
    resources = {**ce()["computeResources"], "maxvCpus": 64}
    invalid = {**ce(), "computeResources": resources, "status": "INVALID", "statusReason": "bad AMI"}
    report = _scaling_run(sqlite_engine, invalid)
    assert report.result == "partial"
    assert "ce became INVALID: bad AMI" in report.message


def test_a_call_aws_rejected_is_reported_as_rejected_not_as_never_sent(sqlite_engine: Engine) -> None:
    from optimizer.apply.render import report_text

    report = _scaling_run(sqlite_engine, None, reject=True)
    assert report.result == "failed"
    assert "update_compute_environment: rejected" in report.message
    assert "maxvCpus is below desiredvCpus" in report.message
    assert "  update_compute_environment: REJECTED\n" in report_text(report) + "\n"
    # A rollback's dry run points at what runs it (`batchopt rollback` has no --execute).
    dry = replace(report, dry_run=True, action="rollback")
    assert report_text(dry).endswith("run it again without --dry-run to roll back")


def test_a_desired_vcpus_batch_has_since_passed_is_refused_before_any_call(sqlite_engine: Engine) -> None:
    # Planned when the CE wanted 4 vCPUs; Batch has scaled it to 16 since (the fingerprint leaves
    # desiredvCpus out). Setting 8 now is what AWS refuses ("greater than or equal to the current").
    from optimizer.apply.executor import RefusedError

    client = boto3.client("batch", region_name="us-east-1")
    rec = make_recommendation(
        "d", CE_ARN, "compute-environment", {"desired_vcpus": 8}, update_kind=UpdateKind.SCALING
    )
    save_recommendations(sqlite_engine, [rec])
    plan = plan_change(rec, CurrentState(ce()))
    assert plan.calls[0].params["computeResources"]["desiredvCpus"] == 8
    records.save_plan(sqlite_engine, plan)
    grown = ce(desiredvCpus=16)
    with Stubber(client) as stubber:
        _describe_ce(stubber, CE_ARN, grown)
        executor = Executor(
            sqlite_engine, ApplySettings(enabled=True, allow_list=["ce"]), lambda service, arn: client
        )
        with pytest.raises(
            RefusedError, match="ce: desiredvCpus 8 is below the current 16, which Batch refuses"
        ):
            executor.run(plan, execute=True, actor="test")
        stubber.assert_no_pending_responses()  # no update was sent


def test_the_audit_end_and_the_status_move_in_one_transaction(
    sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A crash while moving the recommendation's status leaves the audit pending (the next run
    # reconciles it), not finished beside a recommendation still "open".
    import optimizer.apply.executor as executor_module

    def crash(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("store went away")

    monkeypatch.setattr(executor_module, "set_status", crash)
    with pytest.raises(RuntimeError, match="store went away"):
        _scaling_run(
            sqlite_engine, {**ce(), "computeResources": {**ce()["computeResources"], "maxvCpus": 64}}
        )
    [record] = records.audits(sqlite_engine, actions=("apply",))
    assert record.result == "pending"


def test_a_copy_left_by_an_earlier_apply_is_named_not_an_endless_plan_again(sqlite_engine: Engine) -> None:
    # A blue/green plan creates a CE whose name comes from the change; a copy an earlier partial
    # apply left makes every new plan stale the same way, so "run `batchopt plan` again" looped.
    plan = plan_change(
        make_recommendation("bg", CE_ARN, "compute-environment", {"instance_types": ["m6i.large"]}),
        CurrentState(ce(role=CUSTOM_ROLE), (queue(CE_ARN),)),
    )
    assert plan.update_kind == UpdateKind.BLUE_GREEN
    planned = plan.before["resources"]
    [new_arn] = [key for key, item in planned.items() if item is None]
    left_behind = {
        **ce(),
        "computeEnvironmentArn": new_arn,
        "computeEnvironmentName": new_arn.rsplit("/", 1)[1],
    }
    executor = Executor(sqlite_engine, ApplySettings(enabled=True), lambda service, arn: None)
    [refusal] = executor.state_refusals(plan, {**planned, new_arn: left_behind})
    assert refusal.startswith(f"{new_arn.rsplit('/', 1)[1]} exists already, and this plan creates it")
    assert "run `batchopt plan` again" not in refusal


def test_planning_advice_is_refused_before_any_aws_read(sqlite_engine: Engine) -> None:
    # A Savings Plan to buy has a savingsplans ARN no target covers: planning it failed as
    # "no configured target covers account ... in region " instead of saying it is advice.
    from optimizer.apply.service import ApplyService
    from optimizer.errors import RefusedError

    rec = make_recommendation(
        "commitment-advice",
        "arn:aws:savingsplans::123456789012:savingsplan/new-compute-us-east-1",
        "savings-plan",
        {"new_commitment_usd_per_hour": 19.68},
        update_kind=UpdateKind.ADVICE,
        applicable=False,
    )
    save_recommendations(sqlite_engine, [rec])

    def no_aws(service: str, arn: str) -> Any:
        raise AssertionError(f"read {service} for {arn}")

    service = ApplyService(sqlite_engine, ApplySettings(), no_aws)
    with pytest.raises(
        RefusedError, match=rf"^recommendation {rec.id} is advice only \(commitment-advice on"
    ):
        service.plan(rec.id)
