"""Waits that follow Batch's update rules and survive a restart: budgets from the update policy,
`waiting` applies resumed by a new executor (as after a restart), rollback once UPDATING ends.
Every request goes through botocore's Stubber, so it is validated against the model."""

from __future__ import annotations

import copy
import itertools
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from sqlalchemy import Engine

from optimizer.apply import records
from optimizer.apply.autotune import ACTOR, run_autotune
from optimizer.apply.executor import Executor, plan_wait_budget, wait_budget_seconds
from optimizer.apply.planner import CurrentState, plan_change
from optimizer.apply.rollback import build_rollback
from optimizer.apply.service import ApplyService
from optimizer.config import ApplySettings
from optimizer.domain import UpdateKind
from optimizer.errors import RefusedError
from optimizer.recommend.repository import get_recommendation, save_recommendations
from tests.apply_helpers import CE_ARN, CUSTOM_ROLE, ce, make_recommendation, queue

pytestmark = pytest.mark.any_date

SETTINGS = ApplySettings(enabled=True, allow_list=["ce", "q"], wait_for_valid_seconds=600)


def _describe(stubber: Stubber, item: dict[str, Any], arn: str = CE_ARN) -> None:
    stubber.add_response(
        "describe_compute_environments", {"computeEnvironments": [item]}, {"computeEnvironments": [arn]}
    )


def _executor(engine: Engine, client: Any, ecs: Any = None, step: int = 1000) -> Executor:
    return Executor(
        engine,
        SETTINGS,
        lambda service, arn: ecs if service == "ecs" else client,
        sleep=lambda seconds: None,
        monotonic=itertools.count(0, step).__next__,
    )


def _infrastructure_plan(engine: Engine, item: dict[str, Any]) -> Any:
    rec = make_recommendation(
        "mix",
        CE_ARN,
        "compute-environment",
        {"instance_types": ["m6i.large"]},
        update_kind=UpdateKind.INFRASTRUCTURE,
    )
    save_recommendations(engine, [rec])
    plan = plan_change(rec, CurrentState(item))
    records.save_plan(engine, plan)
    return rec, plan


def test_the_wait_budget_is_the_update_policy_timeout_plus_the_replacement_margin() -> None:
    rec = make_recommendation("m", CE_ARN, "compute-environment", {"instance_types": ["m6i.large"]})
    item = {**ce(), "updatePolicy": {"terminateJobsOnUpdate": False, "jobExecutionTimeoutMinutes": 90}}
    [call] = plan_change(rec, CurrentState(item)).calls
    assert wait_budget_seconds(call, item, SETTINGS) == 90 * 60 + 600
    scaling = plan_change(
        make_recommendation("s", CE_ARN, "compute-environment", {"max_vcpus": 64}), CurrentState(ce())
    )
    assert wait_budget_seconds(scaling.calls[0], ce(), SETTINGS) == 600  # no instance is replaced
    assert (
        plan_wait_budget(plan_change(rec, CurrentState(ce())), SETTINGS) == 30 * 60 + 600
    )  # Batch's default


def test_an_update_still_running_after_the_budget_waits_and_a_restarted_executor_resumes_it(
    sqlite_engine: Engine,
) -> None:
    client = boto3.client("batch", region_name="us-east-1")
    rec, plan = _infrastructure_plan(sqlite_engine, ce())
    [call] = plan.calls
    updating = copy.deepcopy(ce(instanceTypes=["m6i.large"]))
    updating["status"] = "UPDATING"
    valid = {**updating, "status": "VALID"}
    with Stubber(client) as stubber:
        _describe(stubber, ce())  # fingerprint
        stubber.add_response("update_compute_environment", {"computeEnvironmentArn": CE_ARN}, call.params)
        for _ in range(3):  # polls at 1000 s, 2000 s, 3000 s: the budget is 1800 + 600 s
            _describe(stubber, updating)
        _describe(stubber, updating)  # read back: the new values show while Batch updates
        report = _executor(sqlite_engine, client).run(plan, execute=True, actor="alice")
        stubber.assert_no_pending_responses()
    assert report.result == "waiting", report.message
    assert "ce not VALID after 2400s (status UPDATING)" in report.message
    waiting = records.audit(sqlite_engine, report.audit_id)
    assert waiting.after["resume"] == {"from": 1, "wait": "valid", "key": CE_ARN}
    assert get_recommendation(sqlite_engine, rec.id).status == "applied"

    service = ApplyService(sqlite_engine, SETTINGS, lambda service, arn: client)
    # Rollback is refused while the CE is UPDATING, and the refusal says why.
    with Stubber(client) as stubber:
        _describe(stubber, updating)
        with pytest.raises(RefusedError, match="ce is UPDATING: wait until Batch finishes"):
            service.rollback(rec.id, execute=True, actor="alice")

    with Stubber(client) as stubber:  # a new process: nothing but the store carries the run over
        _describe(stubber, updating)  # resume's read: the landed call still reads back
        _describe(stubber, updating)  # the wait, with a fresh budget...
        _describe(stubber, valid)  # ...until VALID
        _describe(stubber, valid)  # read back
        resumed = _executor(sqlite_engine, client).resume(report.audit_id, actor="alice")
        stubber.assert_no_pending_responses()
    assert resumed.result == "succeeded", resumed.message
    assert resumed.message.startswith(f"resumed audit #{report.audit_id}: succeeded")
    assert records.audit(sqlite_engine, report.audit_id).result == "resumed"
    with pytest.raises(RefusedError, match="only a waiting apply can be resumed"):
        _executor(sqlite_engine, client).resume(report.audit_id, actor="alice")

    # Once VALID, the rollback restores the old types and Batch's default policy.
    rollback = service.rollback_plan(rec.id)
    assert rollback.id == resumed.rollback_plan_id
    [undo] = rollback.calls
    assert undo.params == {
        "computeEnvironment": CE_ARN,
        "computeResources": {"instanceTypes": ["m5.large"]},
        "updatePolicy": {"terminateJobsOnUpdate": False, "jobExecutionTimeoutMinutes": 30},
    }


def test_an_invalid_ce_may_be_rolled_back_but_not_applied_to(sqlite_engine: Engine) -> None:
    client = boto3.client("batch", region_name="us-east-1")
    _, plan = _infrastructure_plan(sqlite_engine, ce())
    invalid = {**ce(), "status": "INVALID", "statusReason": "CLIENT_ERROR - bad launch template"}
    executor = _executor(sqlite_engine, client)
    assert executor.state_refusals(plan, {CE_ARN: invalid}) == ["ce is INVALID, not VALID: fix it first"]
    rollback = build_rollback(plan, [(0, {})], {CE_ARN: invalid})
    assert rollback is not None
    assert executor.state_refusals(rollback, {CE_ARN: invalid}) == []


def test_resume_refuses_when_a_landed_call_no_longer_reads_back(sqlite_engine: Engine) -> None:
    client = boto3.client("batch", region_name="us-east-1")
    _, plan = _infrastructure_plan(sqlite_engine, ce())
    updating = {**ce(instanceTypes=["m6i.large"]), "status": "UPDATING"}
    with Stubber(client) as stubber:
        _describe(stubber, ce())
        stubber.add_response("update_compute_environment", {}, plan.calls[0].params)
        for _ in range(4):
            _describe(stubber, updating)
        report = _executor(sqlite_engine, client).run(plan, execute=True, actor="alice")
    assert report.result == "waiting"
    someone_else = {**ce(instanceTypes=["r5.large"]), "status": "UPDATING"}
    with Stubber(client) as stubber:
        _describe(stubber, someone_else)
        with pytest.raises(
            RefusedError, match=r"ce changed since the apply: computeResources\.instanceTypes"
        ):
            _executor(sqlite_engine, client).resume(report.audit_id, actor="alice")
    assert records.audit(sqlite_engine, report.audit_id).result == "waiting"  # nothing was taken over


def test_autotune_resumes_its_own_blue_green_switch_after_the_drain_wait(sqlite_engine: Engine) -> None:
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
    create, switch, disable = plan.calls
    new_item = copy.deepcopy(old)
    new_item.update(computeEnvironmentName="ce2", computeEnvironmentArn=new_arn)
    new_item["computeResources"]["instanceTypes"] = ["m6i.large"]
    switched = {**q, "computeEnvironmentOrder": [{"order": 1, "computeEnvironment": new_arn}]}
    task = {"taskArns": ["arn:aws:ecs:us-east-1:123456789012:task/old/1"]}
    running = {"cluster": old["ecsClusterArn"], "desiredStatus": "RUNNING"}
    with Stubber(batch) as b, Stubber(ecs) as e:
        _describe(b, old)
        b.add_response(
            "describe_compute_environments", {"computeEnvironments": []}, {"computeEnvironments": [new_arn]}
        )
        b.add_response("describe_job_queues", {"jobQueues": [q]}, {"jobQueues": [q["jobQueueArn"]]})
        b.add_response("create_compute_environment", {"computeEnvironmentArn": new_arn}, create.params)
        _describe(b, new_item, new_arn)
        b.add_response("update_job_queue", {}, switch.params)
        _describe(b, old)  # drain check: a task still runs and the next clock reading is past 600 s
        e.add_response("list_tasks", task, running)
        _describe(b, old)
        _describe(b, new_item, new_arn)
        b.add_response("describe_job_queues", {"jobQueues": [switched]}, {"jobQueues": [q["jobQueueArn"]]})
        report = _executor(sqlite_engine, batch, ecs).run(plan, execute=True, actor=ACTOR)
        b.assert_no_pending_responses()
    assert report.result == "waiting" and [o.landed for o in report.outcomes] == [True, True, False]

    disabled = {**old, "state": "DISABLED"}
    with Stubber(batch) as b, Stubber(ecs) as e:
        # resume's read (every resource of the plan): the landed calls still read back
        _describe(b, old)
        _describe(b, new_item, new_arn)
        b.add_response("describe_job_queues", {"jobQueues": [switched]}, {"jobQueues": [q["jobQueueArn"]]})
        _describe(b, old)  # drained now
        e.add_response("list_tasks", {"taskArns": []}, running)
        b.add_response("update_compute_environment", {}, disable.params)
        _describe(b, disabled)  # VALID after the disable
        _describe(b, disabled)  # read back
        _describe(b, new_item, new_arn)
        b.add_response("describe_job_queues", {"jobQueues": [switched]}, {"jobQueues": [q["jobQueueArn"]]})
        tuned = run_autotune(
            sqlite_engine,
            SETTINGS.model_copy(update={"min_monthly_saving_usd": 1e9}),  # resume only, apply nothing new
            lambda service, arn: ecs if service == "ecs" else batch,
            executor=_executor(sqlite_engine, batch, ecs),
        )
        b.assert_no_pending_responses()
    [resumed] = tuned.resumed
    assert resumed.result == "succeeded", resumed.message
    assert [o.landed for o in resumed.outcomes] == [True, True, True]
    rollback = records.load_change_plan(sqlite_engine, resumed.rollback_plan_id or "")
    assert [c.params.get("state") for c in rollback.calls] == ["ENABLED", None, "DISABLED"]
