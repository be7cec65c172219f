"""Attempt timeouts, job-state time limit actions and retry strategies in the replay.

Hand-worked cases state the schedule Batch would produce; the hypothesis property checks, from the
records alone, what must hold on any history: no attempt outlives its timeout, a timed-out attempt
is its job's last and fails it, no job gets more attempts than its retry strategy allows, and a job
cancelled by a time limit action never ran and waited at least maxTimeSeconds, one at a time per
queue.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optimizer.errors import ConfigError, InputError
from optimizer.simulate import parse_config, replay
from optimizer.simulate.timeouts import (
    COMPUTE_ENVIRONMENT_MAX_RESOURCE,
    JOB_RESOURCE_REQUIREMENT,
    TIMEOUT_REASON,
    cancelled_reason,
)
from tests.simulate_helpers import ce, jobs_frame, queue
from tests.unit.test_simulate_invariants import CATALOG, check_invariants, configurations, histories

FAST = {"launchDelaySeconds": 0, "scaleInIdleSeconds": 1000}
EPS = 1e-6


def _config(environments: list[dict], queues: list[dict], **simulation: Any) -> Any:
    document = {
        "computeEnvironments": environments,
        "jobQueues": queues,
        "simulation": {**FAST, **simulation},
    }
    return parse_config(document, CATALOG)


def _limit(reason: str, seconds: int) -> dict[str, Any]:
    return {"reason": reason, "state": "RUNNABLE", "maxTimeSeconds": seconds, "action": "CANCEL"}


def _with_limits(body: dict[str, Any], *limits: dict[str, Any]) -> dict[str, Any]:
    return {**body, "jobStateTimeLimitActions": list(limits)}


RETRY_ANYTHING = {"attempts": 3}


def test_an_attempt_stops_at_its_timeout_fails_the_job_and_is_not_retried() -> None:
    # One s.large (2 vCPUs, $0.10/h, on-demand) runs both 1-vCPU jobs side by side from t=0.
    config = _config(
        [ce("od", "EC2", 2, ["s.large"], allocationStrategy="BEST_FIT")],
        [queue("q", 1, "od")],
        defaultRetryStrategy=RETRY_ANYTHING,
    )
    jobs = jobs_frame(
        [
            {"job_id": "runaway", "runtime_s": 5000, "vcpus": 1},
            {"job_id": "usual", "runtime_s": 200, "vcpus": 1},
        ]
    ).assign(timeout_s=[300.0, 300.0])
    result = replay(jobs, config)
    out = result.jobs.set_index("job_id")
    assert out.loc["runaway", "status"] == "FAILED"
    assert out.loc["runaway", "status_reason"] == TIMEOUT_REASON
    assert out.loc["runaway", "attempt_count"] == 1  # retries would be allowed, a timeout is not retried
    assert out.loc["runaway", "ended_at"] == 300.0
    assert out.loc["usual", "status"] == "SUCCEEDED" and out.loc["usual", "ended_at"] == 200.0
    attempt = result.attempts.set_index("job_id").loc["runaway"]
    assert attempt["reason"] == TIMEOUT_REASON and pd.isna(attempt["exit_code"])
    # The instance idles from 300 s and scales in 1000 s later: billed 1300 s, not 5000 + 1000 s.
    assert result.summary["total_cost_usd"] == pytest.approx(1300 * 0.10 / 3600, abs=1e-6)


def test_own_failures_are_still_retried_under_a_timeout_and_each_attempt_restarts_the_clock() -> None:
    config = _config(
        [ce("od", "EC2", 2, ["s.large"], allocationStrategy="BEST_FIT")],
        [queue("q", 1, "od")],
        defaultRetryStrategy=RETRY_ANYTHING,
        defaultTimeout={"attemptDurationSeconds": 250},
    )
    jobs = jobs_frame([{"job_id": "flaky", "runtime_s": 200, "vcpus": 2, "status": "FAILED"}])
    result = replay(jobs, config)
    attempts = result.attempts.sort_values("started_at")
    # Exit 1 at 200, 400, 600: three attempts of 200 s, none reaching the 250 s timeout.
    assert attempts["started_at"].tolist() == [0.0, 200.0, 400.0]
    assert attempts["ended_at"].tolist() == [200.0, 400.0, 600.0]
    assert result.jobs["status_reason"].iat[0] == "Essential container in task exited"


def test_a_fargate_attempt_times_out_from_its_start_not_its_dispatch() -> None:
    config = _config(
        [ce("serverless", "FARGATE", 16)], [queue("q", 1, "serverless")], fargateStartDelaySeconds=60
    )
    jobs = jobs_frame([{"job_id": "long", "runtime_s": 1000, "vcpus": 1, "memory_mib": 2048}]).assign(
        timeout_s=[300]
    )
    result = replay(jobs, config)
    attempt = result.attempts.iloc[0]
    assert (attempt["started_at"], attempt["ended_at"]) == (60.0, 360.0)
    assert attempt["reason"] == TIMEOUT_REASON
    # Billed from dispatch (0) to the end (360 s): 1 vCPU and 2 GiB at the catalogue's Fargate rates.
    rate = CATALOG.fargate.vcpu_hour + 2 * CATALOG.fargate.gib_hour
    assert attempt["fargate_cost_usd"] == pytest.approx(rate * 360 / 3600)


def test_blocked_jobs_are_cancelled_one_at_a_time_by_a_matching_time_limit_action() -> None:
    # m.2xlarge (8 vCPUs) is the CE's only type: a 32-vCPU job fits no type (JOB_RESOURCE_REQUIREMENT).
    environments = [ce("od", "EC2", 64, ["m.2xlarge"])]
    limited = _with_limits(queue("q", 1, "od"), _limit(JOB_RESOURCE_REQUIREMENT, 600))
    jobs = jobs_frame(
        [
            {"job_id": "huge-1", "submit_s": 0, "vcpus": 32},
            {"job_id": "huge-2", "submit_s": 100, "vcpus": 32},
            {"job_id": "huge-3", "submit_s": 2000, "vcpus": 32},
            {"job_id": "small", "submit_s": 50, "vcpus": 1, "runtime_s": 10},
        ]
    )
    out = replay(jobs, _config(environments, [limited])).jobs.set_index("job_id")
    # huge-1 heads the queue from 0 and goes at 600; huge-2 heads it from 600 and goes at 1200;
    # huge-3 arrives after that and waits its own 600 s.
    assert out.loc[["huge-1", "huge-2", "huge-3"], "ended_at"].tolist() == [600.0, 1200.0, 2600.0]
    # Word for word the user guide's "statusReason message after the job is canceled".
    assert set(out.loc[["huge-1", "huge-2", "huge-3"], "status_reason"]) == {
        "Canceled by JobStateTimeLimit action due to reason: MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT"
    }
    assert (out.loc[["huge-1", "huge-2", "huge-3"], "attempt_count"] == 0).all()
    # small became RUNNABLE behind huge-1 (head-of-line blocking, `head_blocking.py`) and ahead of
    # huge-2: it runs when huge-1 leaves the head at 600.
    assert out.loc["small", "status"] == "SUCCEEDED" and out.loc["small", "started_at"] == 600.0

    # An action for another reason does not apply: the job fails at once, as without any action.
    other = _with_limits(queue("q", 1, "od"), _limit(COMPUTE_ENVIRONMENT_MAX_RESOURCE, 600))
    out = replay(jobs, _config(environments, [other])).jobs.set_index("job_id")
    assert out.loc["huge-2", "ended_at"] == 100.0
    assert "no compute environment of queue q" in out.loc["huge-2", "status_reason"]


def test_a_job_only_max_vcpus_keeps_out_is_blocked_for_compute_environment_max_resource() -> None:
    # BEST_FIT on-demand never exceeds maxvCpus 8, and the only type has 16 vCPUs.
    environments = [ce("od", "EC2", 8, ["m.2xlarge", "b.8xlarge"], allocationStrategy="BEST_FIT")]
    limited = _with_limits(queue("q", 1, "od"), _limit(COMPUTE_ENVIRONMENT_MAX_RESOURCE, 900))
    jobs = jobs_frame([{"job_id": "wide", "submit_s": 10, "vcpus": 12, "memory_mib": 4096}])
    out = replay(jobs, _config(environments, [limited])).jobs.set_index("job_id")
    assert out.loc["wide", "ended_at"] == 910.0
    assert out.loc["wide", "status_reason"] == cancelled_reason(COMPUTE_ENVIRONMENT_MAX_RESOURCE)


def test_reclaims_retry_and_application_errors_exit_under_a_host_ec2_rule() -> None:
    retry = {
        "attempts": 4,
        "evaluateOnExit": [
            {"onStatusReason": "Host EC2*", "action": "RETRY"},
            {"onExitCode": "*", "action": "EXIT"},
        ],
    }
    config = _config(
        [ce("od", "EC2", 8, ["s.large"], allocationStrategy="BEST_FIT")],
        [queue("q", 1, "od")],
        defaultRetryStrategy=retry,
    )
    jobs = jobs_frame([{"job_id": "bug", "runtime_s": 100, "vcpus": 1, "status": "FAILED"}])
    out = replay(jobs, config).jobs.set_index("job_id")
    # Exit code 1 matches `onExitCode: *` before the default retry: one attempt, then FAILED.
    assert out.loc["bug", "attempt_count"] == 1 and out.loc["bug", "status"] == "FAILED"


@pytest.mark.parametrize(
    ("document_edit", "field"),
    [
        (lambda d: d["jobQueues"][0].update(jobStateTimeLimitActions=[_limit(JOB_RESOURCE_REQUIREMENT, 100)]),
         "jobStateTimeLimitActions[0].maxTimeSeconds"),
        (lambda d: d["jobQueues"][0].update(jobStateTimeLimitActions=[_limit("ACTION_REQUIRED", 600)]),
         "jobStateTimeLimitActions[0].reason"),
        (lambda d: d["jobQueues"][0].update(jobStateTimeLimitActions=[
            _limit(JOB_RESOURCE_REQUIREMENT, 600),
            _limit("MISCONFIGURATION:EC2_INSTANCE_CONFIGURATION_UNSUPPORTED", 600)]),
         "jobStateTimeLimitActions[1].reason"),
        (lambda d: d["jobQueues"][0].update(jobStateTimeLimitActions=[{"reason": JOB_RESOURCE_REQUIREMENT}]),
         "jobStateTimeLimitActions[0].state"),
        (lambda d: d["simulation"].update(defaultTimeout={"attemptDurationSeconds": 30}),
         "simulation.defaultTimeout.attemptDurationSeconds"),
    ],
)  # fmt: skip
def test_bad_time_limits_name_their_field(document_edit: Any, field: str) -> None:
    document = {
        "computeEnvironments": [ce("od", "EC2", 8, ["s.large"])],
        "jobQueues": [queue("q", 1, "od")],
        "simulation": {},
    }
    document_edit(document)
    with pytest.raises(ConfigError, match=field.replace("[", r"\[").replace("]", r"\]")):
        parse_config(document, CATALOG)


def test_a_timeout_below_batchs_minimum_is_rejected_naming_the_job() -> None:
    config = _config([ce("od", "EC2", 8, ["s.large"])], [queue("q", 1, "od")])
    jobs = jobs_frame([{"job_id": "a"}, {"job_id": "b"}]).assign(timeout_s=[None, 10])
    with pytest.raises(InputError, match="job b: field 'timeout_s'"):
        replay(jobs, config)


# ----------------------------------------------------------------- property


@st.composite
def limited_configurations(draw: st.DrawFn) -> dict[str, Any]:
    document = draw(configurations())
    for body in document["jobQueues"]:
        reasons = draw(
            st.lists(
                st.sampled_from([JOB_RESOURCE_REQUIREMENT, COMPUTE_ENVIRONMENT_MAX_RESOURCE]),
                max_size=2,
                unique=True,
            )
        )
        body["jobStateTimeLimitActions"] = [
            _limit(r, draw(st.sampled_from([600, 3600, 86400]))) for r in reasons
        ]
    if draw(st.booleans()):
        document["simulation"]["defaultTimeout"] = {
            "attemptDurationSeconds": draw(st.sampled_from([60, 900]))
        }
    return document


@st.composite
def timed_histories(draw: st.DrawFn) -> pd.DataFrame:
    jobs = draw(histories())
    timeouts = [draw(st.sampled_from([None, None, 60, 500, 5000])) for _ in range(len(jobs))]
    return jobs.assign(timeout_s=pd.array(timeouts, dtype="Float64"))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(jobs=timed_histories(), document=limited_configurations())
def test_time_limits_hold_on_any_history(jobs: pd.DataFrame, document: dict[str, Any]) -> None:
    config = parse_config(document, CATALOG)
    result = replay(jobs, config)
    check_invariants(jobs, config, CATALOG, result)
    out = result.jobs.set_index("job_id")
    attempts = result.attempts
    default = config.options.default_attempt_duration_s
    own = jobs.set_index("job_id")["timeout_s"].astype(float)
    limit = own.where(own.notna(), default)

    # No attempt outlives its timeout (Fargate attempts count from their start).
    duration = attempts["ended_at"] - attempts["started_at"]
    assert (duration <= attempts["job_id"].map(limit) + EPS).all()
    # A timed-out attempt is its job's last, and the job fails with that reason.
    timed = attempts[attempts["reason"] == TIMEOUT_REASON]
    for row in timed.itertuples():
        assert row.attempt == attempts.loc[attempts["job_id"] == row.job_id, "attempt"].max()
        assert out.loc[row.job_id, "status_reason"] == TIMEOUT_REASON
    # Never more attempts than the retry strategy allows.
    assert (out["attempt_count"] <= out["retry_attempts"]).all()

    # Jobs cancelled by an action: never ran, waited maxTimeSeconds at least, one at a time per queue.
    actions = {q.name: {a.reason: a.max_time_s for a in q.state_time_limits} for q in config.queues}
    for reason in (JOB_RESOURCE_REQUIREMENT, COMPUTE_ENVIRONMENT_MAX_RESOURCE):
        cancelled = out[out["status_reason"] == cancelled_reason(reason)]
        assert (cancelled["attempt_count"] == 0).all()
        for name, group in cancelled.groupby("queue"):
            wait = actions[str(name)][reason]
            assert ((group["ended_at"] - group["submitted_at"]) >= wait - EPS).all()
        by_action = out["status_reason"].astype(str).str.startswith("Canceled by JobStateTimeLimit")
        for _, group in out[by_action].groupby("queue"):
            ends = sorted(group["ended_at"])
            gaps = [b - a for a, b in itertools.pairwise(ends)]
            assert all(g >= 600 - EPS for g in gaps)
    assert not any(math.isnan(v) for v in out["ended_at"])


def test_a_definition_revision_gives_its_jobs_its_retry_strategy_and_timeout() -> None:
    revision = {
        "retryStrategy": {"attempts": 2, "evaluateOnExit": [{"onExitCode": "1", "action": "RETRY"}]},
        "timeout": {"attemptDurationSeconds": 600},
    }
    config = _config(
        [ce("od", "EC2", 8, ["s.large"], allocationStrategy="BEST_FIT")],
        [queue("q", 1, "od")],
        jobDefinitionRevisions={"etl": revision},
    )
    jobs = jobs_frame(
        [
            {"job_id": "etl-flaky", "runtime_s": 100, "vcpus": 1, "status": "FAILED"},
            {"job_id": "etl-runaway", "runtime_s": 9000, "vcpus": 1},
            {"job_id": "other-flaky", "runtime_s": 100, "vcpus": 1, "status": "FAILED"},
            {"job_id": "other-long", "runtime_s": 9000, "vcpus": 1},
        ]
    ).assign(job_definition_name=["etl", "etl", "report", "report"])
    out = replay(jobs, config).jobs.set_index("job_id")
    # etl jobs: exit 1 retried once (two attempts), the runaway stopped at 600 s.
    assert out.loc["etl-flaky", "attempt_count"] == 2 and out.loc["etl-flaky", "ended_at"] == 200.0
    assert out.loc["etl-runaway", "ended_at"] == 600.0
    assert out.loc["etl-runaway", "status_reason"] == TIMEOUT_REASON
    # Other definitions keep Batch's default: one attempt, no timeout.
    assert out.loc["other-flaky", "attempt_count"] == 1
    assert out.loc["other-long", "ended_at"] == 9000.0 and out.loc["other-long", "status"] == "SUCCEEDED"

    with pytest.raises(InputError, match="job_definition_name"):
        replay(jobs.drop(columns=["job_definition_name"]), config)
    with pytest.raises(ConfigError, match=r"jobDefinitionRevisions\.etl\.retryStrategy\.attempts"):
        _config([ce("od", "EC2", 8, ["s.large"])], [queue("q", 1, "od")],
                jobDefinitionRevisions={"etl": {"retryStrategy": {"attempts": 11}}})  # fmt: skip


def test_bill_until_extends_what_is_still_up_at_the_end_and_nothing_else() -> None:
    # minvCpus 2 keeps one s.large ($0.10/h) from t=0; the one job ends at 100 s.
    environments = [ce("od", "EC2", 8, ["s.large"], allocationStrategy="BEST_FIT", minvCpus=2)]
    jobs = jobs_frame([{"job_id": "a", "runtime_s": 100, "vcpus": 1}])
    plain = replay(jobs, _config(environments, [queue("q", 1, "od")]))
    billed = replay(jobs, _config(environments, [queue("q", 1, "od")], billUntilSeconds=3600))
    assert plain.instances["terminated_at"].tolist() == [100.0]
    assert billed.instances["terminated_at"].tolist() == [3600.0]
    assert billed.summary["total_cost_usd"] == pytest.approx(0.10, abs=1e-6)
    assert billed.jobs["ended_at"].tolist() == plain.jobs["ended_at"].tolist() == [100.0]
