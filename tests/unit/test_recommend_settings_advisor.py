"""The settings advisor's strategies (attempt timeouts, retry and spot) on small hand-made estates."""

from __future__ import annotations

import copy
from dataclasses import replace
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest

from optimizer.domain import UpdateKind
from optimizer.recommend.savings import DAYS_PER_MONTH
from optimizer.recommend.strategies import (
    AttemptTimeoutSettings,
    AttemptTimeoutStrategy,
    RetryAndSpotStrategy,
    SpotAdoptionStrategy,
)
from optimizer.recommend.strategies.attempt_timeouts import proposed_timeout_s
from optimizer.recommend.strategies.retry_and_spot import reclaim_retry_strategy
from optimizer.simulate import parse_config, replay
from optimizer.simulate.timeouts import TIMEOUT_REASON
from tests.recommend_helpers import catalog, inputs_for, standard_estate

RUNAWAY_S = 20 * 3600.0


def with_runaways(
    estate: dict[str, Any], definition: str, count: int, status: str = "FAILED"
) -> dict[str, Any]:
    """The estate with the first `count` jobs of `definition` running RUNAWAY_S and ending `status`."""
    out = copy.deepcopy(estate)
    jobs, attempts = out["jobs"], out["attempts"]
    ids = jobs.loc[jobs["job_definition_name"] == definition, "job_id"].iloc[:count]
    for frame in (jobs, attempts):
        mask = frame["job_id"].isin(ids)
        frame.loc[mask, "stopped_at"] = frame.loc[mask, "started_at"] + timedelta(seconds=RUNAWAY_S)
        frame.loc[mask, "exit_code"] = 0 if status == "SUCCEEDED" else 1
    jobs.loc[jobs["job_id"].isin(ids), "status"] = status
    return out


@pytest.fixture(scope="module")
def runaway_estate() -> dict[str, Any]:
    return with_runaways(standard_estate(), "sim", 3)


def test_timeouts_stop_runaways_priced_by_the_replay(runaway_estate: dict[str, Any]) -> None:
    inputs = inputs_for(runaway_estate)
    recs = {r.target_name: r for r in AttemptTimeoutStrategy().run(inputs)}
    assert set(recs) == {"sim"}  # etl and legacy have no runaways
    rec = recs["sim"]
    assert rec.strategy == "attempt-timeouts" and rec.update_kind == UpdateKind.NEW_REVISION
    sim = inputs.baseline.jobs[inputs.baseline.jobs["job_definition_name"] == "sim"]
    usual = float(np.quantile(sim["runtime_s"], 0.99))
    timeout = rec.proposed["timeout"]["attemptDurationSeconds"]
    assert timeout == proposed_timeout_s(sim["runtime_s"].to_numpy(), 0.99, 3.0)
    longest_success = float(sim.loc[sim["status"] == "SUCCEEDED", "runtime_s"].max())
    assert timeout == max(3 * usual, longest_success) // 60 * 60 + 60 and timeout < RUNAWAY_S
    assert rec.evidence["runtimes"]["runaway_jobs"] == 3
    assert rec.evidence["metadata"] == {
        "implementation_effort": "low",
        "restarts_running_jobs": False,
        "reversible": True,
    }
    # The evidence's two documents reproduce the figure, and the runaways stop at the timeout.
    replay_evidence = rec.evidence["replay"]
    costs = []
    for key in ("current_config", "proposed_config"):
        result = replay(inputs.baseline.jobs, parse_config(replay_evidence[key], catalog()))
        costs.append(result.summary["total_cost_usd"])
    proposed = result.jobs
    assert (proposed["status_reason"] == TIMEOUT_REASON).sum() == 3
    monthly = (costs[0] - costs[1]) * DAYS_PER_MONTH / inputs.baseline.window_days
    assert rec.monthly_savings_usd == pytest.approx(monthly, abs=0.01)
    # sim retries failures (3 attempts): today each runaway ran 3 x RUNAWAY_S, each holding a
    # c5.2xlarge (on-demand, minvCpus 0); with the timeout one attempt of `timeout` s (Batch does not
    # retry a timeout). The jobs packed beside them shift a little: the figure is that within 5 %.
    price = catalog().types["c5.2xlarge"].ondemand_price
    held = 3 * (3 * RUNAWAY_S - timeout) / 3600 * price * DAYS_PER_MONTH / inputs.baseline.window_days
    assert rec.monthly_savings_usd == pytest.approx(held, rel=0.05)


def test_no_timeout_advice_without_runaways_or_where_one_is_set(runaway_estate: dict[str, Any]) -> None:
    assert AttemptTimeoutStrategy().run(inputs_for(standard_estate())) == []
    timed = copy.deepcopy(runaway_estate)
    for item in timed["defs"]:
        item["timeout"] = {"attemptDurationSeconds": 7200}
    assert AttemptTimeoutStrategy().run(inputs_for(timed)) == []
    # Long jobs that succeeded did wanted work: the timeout spares them, so there is nothing to stop.
    assert (
        AttemptTimeoutStrategy().run(inputs_for(with_runaways(standard_estate(), "sim", 3, "SUCCEEDED")))
        == []
    )
    # Many long jobs are a second kind of job, not runaways.
    crowded = with_runaways(standard_estate(), "sim", 30)
    strict = AttemptTimeoutStrategy(AttemptTimeoutSettings(max_runaway_share=0.05, quantile=0.9))
    assert strict.run(inputs_for(crowded)) == []


def without_retries(estate: dict[str, Any], definition: str) -> dict[str, Any]:
    """The estate with `definition` (its revision and its jobs) not retrying at all."""
    out = copy.deepcopy(estate)
    for item in out["defs"]:
        if item["jobDefinitionName"] == definition:
            item.pop("retryStrategy", None)
    mask = out["jobs"]["job_definition_name"] == definition
    out["jobs"].loc[mask, "retry_strategy"] = None
    return out


def test_retry_and_spot_where_spot_adoption_refuses_for_want_of_retries() -> None:
    estate = without_retries(standard_estate(), "sim")
    inputs = inputs_for(estate)
    assert SpotAdoptionStrategy().run(inputs) == []  # sim jobs would fail on the first reclaim
    [rec] = RetryAndSpotStrategy().run(inputs)
    assert (rec.strategy, rec.target_name, rec.target_kind) == ("retry-and-spot", "sim", "job-queue")
    strategy = {
        "attempts": 3,
        "evaluateOnExit": [
            {"onStatusReason": "Host EC2*", "action": "RETRY"},
            {"onReason": "*", "action": "EXIT"},
        ],
    }
    [revision] = rec.proposed["job_definition_revisions"]
    assert revision == {"job_definition": estate["defs"][1]["jobDefinitionArn"], "retry_strategy": strategy}
    assert rec.proposed["compute_environment_order"] == ["sim-ce-spot", "sim-ce"]
    assert rec.evidence["metadata"]["restarts_running_jobs"] is False
    # The evidence replays today's estate against revisions + spot and reproduces the figure.
    replayed = rec.evidence["replay"]
    assert "jobDefinitionRevisions" not in replayed["current_config"].get("simulation", {})
    assert replayed["proposed_config"]["simulation"]["jobDefinitionRevisions"] == {
        "sim": {"retryStrategy": strategy}
    }
    costs = [
        replay(inputs.baseline.jobs, parse_config(replayed[key], catalog())).summary["total_cost_usd"]
        for key in ("current_config", "proposed_config")
    ]
    monthly = (costs[0] - costs[1]) * DAYS_PER_MONTH / inputs.baseline.window_days
    assert rec.monthly_savings_usd == pytest.approx(monthly, abs=0.01)
    # Once the definition retries reclaims, it is spot adoption's case, with the same figure.
    revised = copy.deepcopy(estate)
    revised["defs"][1]["retryStrategy"] = strategy
    revised["jobs"].loc[revised["jobs"]["job_definition_name"] == "sim", "retry_strategy"] = [strategy] * 300
    [spot] = SpotAdoptionStrategy().run(inputs_for(revised))
    assert spot.monthly_savings_usd == pytest.approx(rec.monthly_savings_usd, abs=0.01)
    assert RetryAndSpotStrategy().run(inputs_for(revised)) == []


def test_the_new_retry_strategy_puts_the_reclaim_rule_first_and_keeps_the_rest() -> None:
    assert reclaim_retry_strategy(None, 3) == {
        "attempts": 3,
        "evaluateOnExit": [
            {"onStatusReason": "Host EC2*", "action": "RETRY"},
            {"onReason": "*", "action": "EXIT"},
        ],
    }
    own = {"attempts": 5, "evaluateOnExit": [{"onExitCode": str(c), "action": "EXIT"} for c in range(5)]}
    new = reclaim_retry_strategy(own, 3)
    assert new["attempts"] == 5 and len(new["evaluateOnExit"]) == 5
    assert new["evaluateOnExit"][0] == {"onStatusReason": "Host EC2*", "action": "RETRY"}
    assert new["evaluateOnExit"][1:] == own["evaluateOnExit"][:4]


def test_jobs_that_never_started_say_nothing_of_the_usual_runtime(runaway_estate: dict[str, Any]) -> None:
    """A job kept though it never started runs in the replay for 0 s or, a gang, for an estimate
    from the very runs the timeout reads: 40 such jobs of sim at 30 h change neither the usual
    runtime nor the runaways the timeout is proposed for."""
    inputs = inputs_for(runaway_estate)
    [rec] = AttemptTimeoutStrategy().run(inputs)
    jobs = inputs.baseline.jobs
    sim = jobs[jobs["job_definition_name"] == "sim"].head(40)
    stuck = sim.assign(job_id="stuck-" + sim["job_id"], runtime_s=30 * 3600.0, never_started=True)
    history = pd.concat([jobs.assign(never_started=False), stuck], ignore_index=True)
    with_stuck = replace(inputs, baseline=replace(inputs.baseline, jobs=history))
    [again] = AttemptTimeoutStrategy().run(with_stuck)
    assert again.proposed == rec.proposed
    assert again.evidence["runtimes"]["runaway_jobs"] == rec.evidence["runtimes"]["runaway_jobs"] == 3
