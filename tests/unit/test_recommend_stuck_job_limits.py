"""stuck-job-limits: a queue whose history has jobs no compute environment can host gets
jobStateTimeLimitActions for those reasons, priced by replaying the blocked heads on both sides
(the owner's cancel delay measured from the history) and judged on the queue's p95 wait."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pandas as pd
import pytest

from optimizer.domain import UpdateKind
from optimizer.errors import ConfigError
from optimizer.recommend.headline import WAIT_ONLY, savings_headline
from optimizer.recommend.strategies.stuck_job_limits import (
    StuckJobLimitSettings,
    StuckJobLimitStrategy,
    blocked_history,
    waits_behind,
)
from optimizer.recommend.strategy_settings import strategy_settings
from optimizer.simulate import parse_config, replay
from optimizer.simulate.never_started import never_started_blocked
from optimizer.simulate.results import blocked_heads
from optimizer.simulate.timeouts import JOB_RESOURCE_REQUIREMENT
from tests.recommend_helpers import (
    ACCOUNT,
    PREFIX,
    REGION,
    START,
    catalog,
    ce_item,
    history,
    inputs_for,
    jobdef_item,
    queue_item,
)

REASON_TEXT = (
    f"{JOB_RESOURCE_REQUIREMENT} - Requested resources exceed the capability of the compute environments."
)
OWNER_CANCEL_S = 4 * 3600.0


def blocked_rows(
    queue: str, at_days: list[float], *, vcpus: float = 64, memory_mib: int = 512000
) -> pd.DataFrame:
    """Store rows of jobs that never started: no instance type of the queue's CE fits them, and their
    owner cancelled each `OWNER_CANCEL_S` after submitting it."""
    created = [START + timedelta(days=d) for d in at_days]
    return pd.DataFrame(
        {
            "job_id": [f"{queue}-blocked-{k}" for k in range(len(at_days))],
            "dataset": "aws",
            "account_id": ACCOUNT,
            "region": REGION,
            "job_name": [f"huge-{k}" for k in range(len(at_days))],
            "queue": queue,
            "job_queue_arn": f"{PREFIX}:job-queue/{queue}",
            "job_definition": f"{PREFIX}:job-definition/huge:1",
            "job_definition_name": "huge",
            "status": "FAILED",
            "status_reason": REASON_TEXT,
            "created_at": created,
            "started_at": pd.NaT,
            "stopped_at": [c + timedelta(seconds=OWNER_CANCEL_S) for c in created],
            "vcpus": vcpus,
            "memory_mib": memory_mib,
            "gpus": 0,
            "retry_strategy": None,
            "is_multinode": False,
            "node_count": None,
            "exit_code": None,
        }
    )


def stuck_estate(**limits: Any) -> dict[str, Any]:
    """Queue `etl` on one m5.4xlarge CE; 200 short jobs over two days and three jobs no CE can host."""
    jobs, attempts = history("etl", "etl", n=200, vcpus=2, memory_mib=4096, peak_mib=(2000, 3000), seed=4)
    queue = queue_item("etl", "etl-ce")
    queue.update(limits)
    return {
        "ces": [ce_item("etl-ce", min_vcpus=16, max_vcpus=64)],
        "queues": [queue],
        "defs": [jobdef_item("etl", 2, 4096), jobdef_item("huge", 64, 512000)],
        "jobs": pd.concat([jobs, blocked_rows("etl", [0.5, 1.0, 1.5])], ignore_index=True),
        "attempts": attempts,
    }


def stuck_inputs(estate: dict[str, Any]) -> Any:
    """The estate as strategies see it, the blocked jobs in the replay's history as `load_dataset`
    puts them there (never started: runtime 0 from their creation)."""
    rows = estate["jobs"].copy()
    blocked = rows["started_at"].isna() & never_started_blocked(rows["status_reason"])
    rows.loc[blocked, "started_at"] = rows.loc[blocked, "created_at"]
    inputs = inputs_for({**estate, "jobs": rows})
    inputs.jobs = estate["jobs"]
    return inputs


def test_time_limit_cancels_the_blocked_heads_and_frees_the_queue_behind_them() -> None:
    estate = stuck_estate()
    inputs = stuck_inputs(estate)
    [rec] = StuckJobLimitStrategy().run(inputs)
    assert (rec.strategy, rec.target_name, rec.update_kind) == (
        "stuck-job-limits",
        "etl",
        UpdateKind.QUEUE_SETTINGS,
    )
    assert rec.current == {"job_state_time_limit_actions": []}
    assert rec.proposed == {
        "job_state_time_limit_actions": [
            {
                "reason": JOB_RESOURCE_REQUIREMENT,
                "state": "RUNNABLE",
                "maxTimeSeconds": 600,
                "action": "CANCEL",
            }
        ]
    }
    assert rec.evidence["metadata"] == {
        "implementation_effort": "low",
        "restarts_running_jobs": False,
        "reversible": True,
    }
    blocked = rec.evidence["blocked"]
    # The owner's delay is measured from the history (median stay of the blocked jobs), not assumed.
    assert blocked["owner_cancel_s"] == OWNER_CANCEL_S and blocked["owner_cancel_assumed"] is False
    assert blocked["history"]["jobs"] == 3 and blocked["history"]["by_reason"] == {
        JOB_RESOURCE_REQUIREMENT: 3
    }
    # The evidence documents reproduce the figure and the waits.
    replayed = rec.evidence["replay"]
    assert replayed["current_config"]["simulation"]["blockedJobCancelSeconds"] == OWNER_CANCEL_S
    [queue_body] = replayed["proposed_config"]["jobQueues"]
    assert queue_body["jobStateTimeLimitActions"] == rec.proposed["job_state_time_limit_actions"]
    results = [
        replay(inputs.baseline.jobs, parse_config(replayed[k], catalog()))
        for k in ("current_config", "proposed_config")
    ]
    before = results[0].summary["queue_wait_s"]["etl"]["p95_s"]
    after = results[1].summary["queue_wait_s"]["etl"]["p95_s"]
    wait = rec.evidence["wait_improvement"]
    assert (wait["p95_wait_before_s"], wait["p95_wait_after_s"]) == (round(before, 1), round(after, 1))
    assert before - after >= 300.0
    heads = [blocked_heads(r) for r in results]
    assert list(heads[0]["blocked_s"]) == [OWNER_CANCEL_S] * 3
    assert list(heads[1]["blocked_s"]) == [600.0] * 3
    assert int(heads[0]["jobs_delayed"].sum()) > int(heads[1]["jobs_delayed"].sum())
    assert blocked["replay"]["jobs_delayed"] == int(heads[0]["jobs_delayed"].sum())
    # The CE's minimum capacity (one m5.4xlarge) sat unused while the heads were blocked: at most its
    # price over the 12 blocked hours, and most of it (the held jobs could not use it).
    blocked_hours = 3 * OWNER_CANCEL_S / 3600
    price = catalog().types["m5.4xlarge"].ondemand_price
    assert (
        0.9 * price * blocked_hours
        <= blocked["replay"]["idle_usd_while_blocked"]
        <= price * blocked_hours + 0.01
    )
    # No instance ran the blocked jobs on either side; both fail with the reason Batch gives.
    for result in results:
        huge = result.jobs[result.jobs["job_id"].str.contains("blocked")]
        assert huge["started_at"].isna().all() and set(huge["status"]) == {"FAILED"}


def test_headline_shows_a_wait_only_improvement_apart_from_the_dollars() -> None:
    [rec] = StuckJobLimitStrategy().run(stuck_inputs(stuck_estate()))
    headline = savings_headline([(replace(rec, monthly_savings_usd=0.0), "open")])
    [item] = headline.items
    assert item.verdict == WAIT_ONLY and headline.total_usd_per_month == 0.0
    assert "faster at the same cost" in item.label() and "queue etl" in item.label()
    assert headline.to_json()["wait_improvements"] == 1
    assert "1 wait improvement(s) at the same cost" in headline.describe()


def test_no_limits_where_the_queue_has_them_or_nothing_is_blocked() -> None:
    covered = stuck_estate(
        jobStateTimeLimitActions=[
            {
                "reason": JOB_RESOURCE_REQUIREMENT,
                "state": "RUNNABLE",
                "maxTimeSeconds": 1200,
                "action": "CANCEL",
            }
        ]
    )
    assert StuckJobLimitStrategy().run(stuck_inputs(covered)) == []
    clean = stuck_estate()
    clean["jobs"] = clean["jobs"][clean["jobs"]["started_at"].notna()].reset_index(drop=True)
    assert StuckJobLimitStrategy().run(stuck_inputs(clean)) == []
    demanding = StuckJobLimitStrategy(StuckJobLimitSettings(min_p95_wait_improvement_s=86400.0))
    assert demanding.run(stuck_inputs(stuck_estate())) == []


def test_history_reading_of_blocked_jobs() -> None:
    estate = stuck_estate()
    jobs = estate["jobs"]
    found = blocked_history(jobs, None)
    assert list(found["stayed_s"]) == [OWNER_CANCEL_S] * 3
    assert set(found["reason"]) == {JOB_RESOURCE_REQUIREMENT}
    behind = waits_behind(jobs, found)
    assert behind["jobs_behind"] > 0 and behind["p95_wait_behind_s"] == pytest.approx(30.0)
    reasons = pd.Series(
        [
            "MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE - CE max vCPUs",
            "Canceled by JobStateTimeLimit action due to reason: MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT",
            "cancelled by its owner after 21600 s blocking queue q"
            " (MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT)",
            "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY - Service cannot fulfill the capacity",
            "Essential container in task exited",
            "MISCONFIGURATION:EC2_INSTANCE_CONFIGURATION_UNSUPPORTED - AMI not found",
            None,
        ]
    )
    assert list(never_started_blocked(reasons)) == [True, True, True, False, False, False, False]


def test_settings_from_toml() -> None:
    chosen = strategy_settings({"stuck-job-limits": {"max_time_s": 1800}})
    assert chosen["stuck-job-limits"].max_time_s == 1800
    with pytest.raises(ConfigError, match=r"recommend\.stuck-job-limits\.max_time_s"):
        strategy_settings({"stuck-job-limits": {"max_time_s": 60}})
    with pytest.raises(ConfigError, match=r"recommend\.stuck-job-limits\.max_time_secs"):
        strategy_settings({"stuck-job-limits": {"max_time_secs": 600}})


def test_jobs_the_history_ran_but_no_ce_of_today_can_host_are_found_by_the_replay() -> None:
    """The history ran them (on capacity since removed): the replay of today's estate blocks them,
    and the owner's cancel delay is the stated assumption, marked so."""
    estate = stuck_estate()
    rows = estate["jobs"]
    huge = rows["job_id"].str.contains("blocked")
    rows.loc[huge, "started_at"] = rows.loc[huge, "created_at"] + timedelta(seconds=30)
    rows.loc[huge, "stopped_at"] = rows.loc[huge, "started_at"] + timedelta(seconds=600)
    rows.loc[huge, ["status", "status_reason"]] = ["SUCCEEDED", None]
    inputs = stuck_inputs(estate)
    assert blocked_history(inputs.jobs, None).empty
    [rec] = StuckJobLimitStrategy(StuckJobLimitSettings(assumed_owner_cancel_s=7200)).run(inputs)
    blocked = rec.evidence["blocked"]
    assert blocked["owner_cancel_assumed"] is True and blocked["owner_cancel_s"] == 7200
    assert blocked["replay"]["blocked_heads"] == 3 and blocked["history"]["jobs"] == 0
    assert rec.confidence == 0.5
