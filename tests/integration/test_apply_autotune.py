"""One auto-tuning pass against the moto server: apply under guardrails, then roll back on regression."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from optimizer.apply import records
from optimizer.apply.autotune import run_autotune
from optimizer.apply.executor import ExecutionReport, Executor
from optimizer.apply.service import TargetClients
from optimizer.config import ApplySettings
from optimizer.recommend.repository import get_recommendation, save_recommendations
from optimizer.store.schema import jobs
from optimizer.store.upsert import bulk_upsert
from tests.apply_helpers import build_estate, make_recommendation

pytestmark = pytest.mark.emulator


def test_autotune_applies_then_rolls_back_when_failures_regress(
    sqlite_engine: Engine, aws_endpoint: str
) -> None:
    estate = build_estate(aws_endpoint)
    rec = make_recommendation(
        "spot-adoption",
        estate.queue_arn,
        "job-queue",
        {"compute_environment_order": [estate.spot_arn, estate.ondemand_arn]},
        monthly_savings_usd=800.0,
    )
    small = make_recommendation(
        "right-size", estate.jobdef_arn, "job-definition", {"memory_mib": 8192}, monthly_savings_usd=10.0
    )
    replacement = make_recommendation(
        "instance-mix",
        estate.ondemand_arn,
        "compute-environment",
        {"instance_types": ["m6i.large"]},
        monthly_savings_usd=2000.0,
    )
    save_recommendations(sqlite_engine, [rec, small, replacement])
    settings = ApplySettings(
        enabled=True, allow_list=["main", "etl", "od-ce"], min_monthly_saving_usd=50, max_changes_per_run=2
    )
    clients = TargetClients(estate.factory)
    executor = Executor(sqlite_engine, settings, clients, poll_seconds=0.01)

    # A dry run decides as the pass would and changes nothing: the executor's dry run, audited as one.
    rehearsal = run_autotune(sqlite_engine, settings, clients, executor=executor, dry_run=True)
    assert [(r.plan.recommendation_id, r.result) for r in rehearsal.applied] == [(rec.id, "dry-run")]
    assert rehearsal.to_json()["dry_run"] and not rehearsal.errors
    [queue] = estate.batch.describe_job_queues(jobQueues=[estate.queue_arn])["jobQueues"]
    assert queue["computeEnvironmentOrder"][0]["computeEnvironment"] == estate.ondemand_arn
    assert get_recommendation(sqlite_engine, rec.id).status == "open"

    first = run_autotune(sqlite_engine, settings, clients, executor=executor)
    assert [r.result for r in first.applied] == ["succeeded"]
    skipped = {s.recommendation_id: s.reason for s in first.skipped}
    assert skipped[replacement.id] == "needs a blue/green replacement: left to a person"
    assert "below $50.00" in skipped[small.id]
    [queue] = estate.batch.describe_job_queues(jobQueues=[estate.queue_arn])["jobQueues"]
    assert queue["computeEnvironmentOrder"][0]["computeEnvironment"] == estate.spot_arn

    [apply_audit] = records.audits(sqlite_engine, actions=("apply",))
    changed_at = apply_audit.finished_at
    assert changed_at is not None

    def job(i: int, created: timedelta, status: str) -> dict[str, object]:
        return {
            "job_id": f"j{i}",
            "dataset": "aws",
            "queue": "main",
            "job_queue_arn": estate.queue_arn,
            "status": status,
            "created_at": changed_at + created,
            "started_at": changed_at + created + timedelta(seconds=30),
        }

    history = [job(i, -timedelta(minutes=170 - i), "SUCCEEDED") for i in range(60)]
    history += [
        job(100 + i, timedelta(minutes=5 + i), "FAILED" if i % 4 == 0 else "SUCCEEDED") for i in range(40)
    ]
    with sqlite_engine.begin() as conn:
        bulk_upsert(conn, jobs, history)

    later = changed_at + timedelta(hours=3)
    rehearsal = run_autotune(sqlite_engine, settings, clients, executor=executor, now=later, dry_run=True)
    assert [r.result for r in rehearsal.rolled_back] == ["dry-run"] and rehearsal.applied == []
    [queue] = estate.batch.describe_job_queues(jobQueues=[estate.queue_arn])["jobQueues"]
    assert queue["computeEnvironmentOrder"][0]["computeEnvironment"] == estate.spot_arn
    assert get_recommendation(sqlite_engine, rec.id).status == "applied"
    assert records.audits(sqlite_engine, actions=("observe",)) == []  # no verdict recorded

    second = run_autotune(sqlite_engine, settings, clients, executor=executor, now=later)
    assert [r.result for r in second.rolled_back] == ["succeeded"], second.to_json()
    assert second.applied == []
    [queue] = estate.batch.describe_job_queues(jobQueues=[estate.queue_arn])["jobQueues"]
    assert [e["computeEnvironment"] for e in queue["computeEnvironmentOrder"]] == [estate.ondemand_arn]
    assert get_recommendation(sqlite_engine, rec.id).status == "rolled-back"
    [observed] = records.audits(sqlite_engine, actions=("observe",))
    assert observed.result == "regressed" and "failure rate 25.0%" in (observed.message or "")
    assert [a.action for a in records.audits(sqlite_engine, actions=("auto-rollback",))] == ["auto-rollback"]
    rehearsed = records.audits(sqlite_engine, actions=("apply", "auto-rollback"), dry_run=True)
    assert [(a.action, a.result) for a in rehearsed] == [("auto-rollback", "dry-run"), ("apply", "dry-run")]


def test_autotune_leaves_a_queue_change_that_creates_a_compute_environment_to_a_person(
    sqlite_engine: Engine, aws_endpoint: str
) -> None:
    """Spot adoption as a queue-order change that adds a spot CE: new billed capacity, like a
    blue/green replacement, so auto-tuning skips it unless blue/green changes are allowed (it was
    applied, since only the plan's kind was checked)."""
    estate = build_estate(aws_endpoint)
    rec = make_recommendation(
        "spot-adoption",
        estate.queue_arn,
        "job-queue",
        {
            "new_compute_environment": {"based_on": "od-ce", "platform": "SPOT", "name": "od-ce-spot"},
            "compute_environment_order": ["od-ce-spot", estate.ondemand_arn],
        },
        monthly_savings_usd=800.0,
    )
    save_recommendations(sqlite_engine, [rec])
    settings = ApplySettings(enabled=True, allow_list=["main", "od-ce"], min_monthly_saving_usd=50)
    clients = TargetClients(estate.factory)
    executor = Executor(sqlite_engine, settings, clients, poll_seconds=0.01)
    report = run_autotune(sqlite_engine, settings, clients, executor=executor)
    assert report.applied == []
    assert {s.recommendation_id: s.reason for s in report.skipped}[rec.id] == (
        "creates a compute environment: left to a person"
    )
    described = estate.batch.describe_compute_environments(computeEnvironments=["od-ce-spot"])
    assert described["computeEnvironments"] == []


def test_a_partial_apply_fails_the_autotune_pass(sqlite_engine: Engine, aws_endpoint: str) -> None:
    """An apply that did not fully land is listed with what it did and counted as an error (the
    pass exits non-zero), not as one more change applied."""
    estate = build_estate(aws_endpoint)
    rec = make_recommendation(
        "spot-adoption",
        estate.queue_arn,
        "job-queue",
        {"compute_environment_order": [estate.spot_arn, estate.ondemand_arn]},
        monthly_savings_usd=800.0,
    )
    save_recommendations(sqlite_engine, [rec])
    settings = ApplySettings(enabled=True, allow_list=["main"], min_monthly_saving_usd=50)
    clients = TargetClients(estate.factory)

    class HalfLanding(Executor):
        def run(self, *args: Any, **kwargs: Any) -> ExecutionReport:
            done = super().run(*args, **kwargs)
            return replace(done, result="partial", message="partial: the queue update did not read back")

    executor = HalfLanding(sqlite_engine, settings, clients, poll_seconds=0.01)
    report = run_autotune(sqlite_engine, settings, clients, executor=executor)
    assert [r.result for r in report.applied] == ["partial"]
    assert [(e.recommendation_id, e.reason) for e in report.errors] == [
        (rec.id, "apply partial: partial: the queue update did not read back")
    ]
