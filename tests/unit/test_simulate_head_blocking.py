"""Head-of-line blocking in the replay (`optimizer.simulate.head_blocking`).

Hand-worked cases give the schedule Batch produces when a job no compute environment can host
heads a FIFO queue; the hypothesis property checks from the records alone that a blocked head
holds every job that became RUNNABLE behind it until it leaves, that it leaves after exactly its
action's maxTimeSeconds, one at a time per queue, and that queues without such a job replay
exactly as if no action were configured.
"""

from __future__ import annotations

import copy
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings

from optimizer.errors import ConfigError
from optimizer.simulate import parse_config, replay
from optimizer.simulate.head_blocking import AT_ONCE, BY_ACTION, BY_OWNER
from optimizer.simulate.results import blocked_heads
from optimizer.simulate.timeouts import JOB_RESOURCE_REQUIREMENT, cancelled_reason
from tests.simulate_helpers import ce, jobs_frame, queue
from tests.unit.test_simulate_invariants import CATALOG, check_invariants, histories
from tests.unit.test_simulate_time_limits import limited_configurations

EPS = 1e-6
FAST = {"launchDelaySeconds": 0, "scaleInIdleSeconds": 1000}
S_LARGE_PER_S = 0.10 / 3600  # s.large: 2 vCPUs, 4 GiB, $0.10/h on demand


def _document(limits: list[dict[str, Any]] | None, **simulation: Any) -> dict[str, Any]:
    body = queue("q", 1, "od")
    if limits is not None:
        body["jobStateTimeLimitActions"] = limits
    return {
        "computeEnvironments": [ce("od", "EC2", 8, ["s.large"], allocationStrategy="BEST_FIT")],
        "jobQueues": [body],
        "simulation": {**FAST, **simulation},
    }


CANCEL_600 = [
    {"reason": JOB_RESOURCE_REQUIREMENT, "state": "RUNNABLE", "maxTimeSeconds": 600, "action": "CANCEL"}
]
THREE_JOBS = jobs_frame(
    [
        {"job_id": "early", "submit_s": 0, "vcpus": 2, "runtime_s": 300},
        {"job_id": "huge", "submit_s": 10, "vcpus": 16, "runtime_s": 100},  # no s.large hosts 16 vCPUs
        {"job_id": "late", "submit_s": 20, "vcpus": 1, "runtime_s": 100},
    ]
)


def test_a_blocked_head_holds_the_job_behind_it_until_its_action_cancels_it() -> None:
    result = replay(THREE_JOBS, parse_config(_document(CANCEL_600), CATALOG))
    out = result.jobs.set_index("job_id")
    # early runs 0-300 on instance 1 (it was RUNNABLE before huge: ahead of it, not blocked).
    assert (out.loc["early", "started_at"], out.loc["early", "ended_at"]) == (0.0, 300.0)
    # huge heads the queue from 10 and is cancelled at 610; late, RUNNABLE at 20 behind it, waits
    # until then and runs 610-710 on instance 1 (idle since 300, scale-in not before 1300).
    assert out.loc["huge", "ended_at"] == 610.0
    assert out.loc["huge", "status_reason"] == cancelled_reason(JOB_RESOURCE_REQUIREMENT)
    assert (out.loc["late", "started_at"], out.loc["late", "ended_at"]) == (610.0, 710.0)
    assert result.instances["instance_id"].nunique() == 1
    # One instance from 0, idle from 710, scaled in at 1710: 1710 s of s.large.
    assert result.summary["total_cost_usd"] == pytest.approx(1710 * S_LARGE_PER_S, abs=1e-9)
    table = blocked_heads(result)
    assert table.to_dict("records") == [
        {
            "queue": "q",
            "job_id": "huge",
            "reason": JOB_RESOURCE_REQUIREMENT,
            "head_at_s": 10.0,
            "blocked_s": 600.0,
            "jobs_delayed": 1,
            "removed_by": BY_ACTION,
        }
    ]
    assert result.summary["blocked_heads"] == {"q": {"jobs": 1, "blocked_s": 600.0, "jobs_delayed": 1}}


def test_without_an_action_the_job_fails_at_once_and_blocks_nothing() -> None:
    result = replay(THREE_JOBS, parse_config(_document(None), CATALOG))
    out = result.jobs.set_index("job_id")
    assert out.loc["huge", "ended_at"] == 10.0 and out.loc["huge", "status"] == "FAILED"
    # late starts at once on a second instance (early fills the first until 300).
    assert out.loc["late", "started_at"] == 20.0
    assert result.instances["instance_id"].nunique() == 2
    row = blocked_heads(result).iloc[0]
    assert (row["job_id"], row["blocked_s"], row["jobs_delayed"], row["removed_by"]) == (
        "huge",
        0.0,
        0,
        AT_ONCE,
    )


def test_an_owner_cancel_delay_blocks_like_an_action_with_its_own_reason() -> None:
    result = replay(THREE_JOBS, parse_config(_document(None, blockedJobCancelSeconds=3600), CATALOG))
    out = result.jobs.set_index("job_id")
    # huge holds the head 10-3610; instance 1 scaled in at 1300, so late launches a new one at 3610.
    assert out.loc["huge", "ended_at"] == 3610.0
    assert "cancelled by its owner after 3600 s blocking queue q" in out.loc["huge", "status_reason"]
    assert out.loc["late", "started_at"] == 3610.0
    assert result.instances["launched_at"].tolist() == [0.0, 3610.0]
    assert blocked_heads(result)["removed_by"].tolist() == [BY_OWNER]


def test_jobs_between_two_blocked_heads_go_when_the_first_leaves() -> None:
    jobs = jobs_frame(
        [
            {"job_id": "huge-1", "submit_s": 0, "vcpus": 16},
            {"job_id": "between", "submit_s": 5, "vcpus": 1, "runtime_s": 50},
            {"job_id": "huge-2", "submit_s": 10, "vcpus": 16},
            {"job_id": "after", "submit_s": 15, "vcpus": 1, "runtime_s": 50},
        ]
    )
    result = replay(jobs, parse_config(_document(CANCEL_600), CATALOG))
    out = result.jobs.set_index("job_id")
    # huge-1 heads 0-600; huge-2 then heads 600-1200. between (RUNNABLE before huge-2) runs at 600,
    # after (behind huge-2 too) at 1200.
    assert out.loc[["huge-1", "huge-2"], "ended_at"].tolist() == [600.0, 1200.0]
    assert out.loc["between", "started_at"] == 600.0
    assert out.loc["after", "started_at"] == 1200.0
    table = blocked_heads(result)
    assert table["jobs_delayed"].tolist() == [2, 1]  # huge-1 held between and after; huge-2 held after
    assert table["head_at_s"].tolist() == [0.0, 600.0]


def test_a_bad_owner_cancel_delay_names_its_field() -> None:
    with pytest.raises(ConfigError, match=r"simulation\.blockedJobCancelSeconds"):
        parse_config(_document(None, blockedJobCancelSeconds=-1), CATALOG)


# ----------------------------------------------------------------- property


def _without_actions(document: dict[str, Any]) -> dict[str, Any]:
    plain = copy.deepcopy(document)
    for body in plain["jobQueues"]:
        body.pop("jobStateTimeLimitActions", None)
    return plain


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(jobs=histories(), document=limited_configurations())
def test_blocked_heads_hold_the_jobs_behind_them_on_any_history(
    jobs: pd.DataFrame, document: dict[str, Any]
) -> None:
    config = parse_config(document, CATALOG)
    result = replay(jobs, config)
    check_invariants(jobs, config, CATALOG, result)
    table = blocked_heads(result)
    out = result.jobs.set_index("job_id")
    source = jobs.set_index("job_id")
    no_deps = source["depends_on"].map(len) == 0
    actions = {q.name: {a.reason: a.max_time_s for a in q.state_time_limits} for q in config.queues}

    if table.empty or (table["blocked_s"] == 0).all():
        # Nothing blocked a head: the actions change nothing, to the bit.
        plain = replay(jobs, parse_config(_without_actions(document), CATALOG))
        pd.testing.assert_frame_equal(result.jobs, plain.jobs)
        pd.testing.assert_frame_equal(result.attempts, plain.attempts)
        pd.testing.assert_frame_equal(result.instances, plain.instances)
        assert result.summary == plain.summary
        return

    blocked_ids = set(table["job_id"])
    for name, rows in table[table["blocked_s"] > 0].groupby("queue"):
        rows = rows.sort_values("head_at_s")
        # Each stays exactly its action's maxTimeSeconds, one at a time.
        assert (rows["blocked_s"] == rows["reason"].map(actions[str(name)])).all()
        ends = rows["head_at_s"] + rows["blocked_s"]
        assert (rows["head_at_s"].iloc[1:].to_numpy() >= ends.iloc[:-1].to_numpy() - EPS).all()
        mine = out[(out["queue"] == name) & ~out.index.isin(blocked_ids)]
        mine = mine[no_deps.reindex(mine.index).fillna(False).astype(bool)]
        for row in rows.itertuples():
            end = row.head_at_s + row.blocked_s
            behind = mine[(mine["submitted_at"] > row.head_at_s + EPS) & (mine["submitted_at"] < end - EPS)]
            # Every job that became RUNNABLE behind the head waited at least until it left...
            assert (behind["started_at"].isna() | (behind["started_at"] >= end - EPS)).all()
            # ...and was counted as delayed by it.
            assert row.jobs_delayed >= len(behind)
