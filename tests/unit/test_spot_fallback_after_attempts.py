"""The "after N attempts" spot fallback: jobs that run out of spot attempts on reclaims are resubmitted
to an on-demand queue, priced by a second replay of those jobs alone on the on-demand CE."""

from __future__ import annotations

import pandas as pd
import pytest

from optimizer.recommend.savings import DAYS_PER_MONTH
from optimizer.recommend.strategies import SpotFallbackSettings, SpotFallbackStrategy
from optimizer.recommend.strategies.spot_fallback import spot_attempts_strategy
from optimizer.simulate import parse_config, replay
from optimizer.simulate.resubmit import RESUBMIT_SUFFIX, fallback_document, resubmitted_jobs
from optimizer.simulate.results import ReplayResult
from optimizer.simulate.retry import reclaim_status_reason
from tests.recommend_helpers import catalog, inputs_for
from tests.unit.test_recommend_spot_fallback import spot_only_estate

ON_DEMAND_CE = {
    "computeEnvironmentName": "sim-spot-ondemand",
    "type": "MANAGED",
    "state": "ENABLED",
    "computeResources": {
        "type": "EC2",
        "allocationStrategy": "BEST_FIT_PROGRESSIVE",
        "minvCpus": 0,
        "maxvCpus": 64,
        "instanceTypes": ["c5.2xlarge"],
        "subnets": ["subnet-1"],
        "securityGroupIds": ["sg-1"],
        "instanceRole": "ecsInstanceRole",
    },
}


def stage1_result() -> tuple[ReplayResult, pd.DataFrame]:
    """Three jobs of queue `sim`: `a` lost its last spot attempt to a reclaim at t=500, `b` failed
    in its container, `c` succeeded; `d` ran out of attempts on a reclaim in another queue."""
    history = pd.DataFrame(
        {
            "job_id": ["a", "b", "c", "d"],
            "submit_s": [0.0, 0.0, 0.0, 0.0],
            "runtime_s": [3600.0, 60.0, 60.0, 60.0],
            "vcpus": [2.0, 1.0, 1.0, 1.0],
            "memory_mib": [4096.0, 2048.0, 2048.0, 2048.0],
            "gpus": [0, 0, 0, 0],
            "queue": ["sim", "sim", "sim", "other"],
        }
    )
    jobs = pd.DataFrame(
        {
            "job_id": ["a", "b", "c", "d"],
            "queue": ["sim", "sim", "sim", "other"],
            "status": ["FAILED", "FAILED", "SUCCEEDED", "FAILED"],
            "status_reason": [
                reclaim_status_reason("i-1"),
                "Essential container in task exited",
                "Essential container in task exited",
                reclaim_status_reason("i-2"),
            ],
            "ended_at": [500.0, 60.0, 60.0, 70.0],
            "attempt_count": [3, 1, 1, 3],
        }
    )
    return ReplayResult(summary={}, jobs=jobs, attempts=pd.DataFrame(), instances=pd.DataFrame()), history


def test_only_jobs_that_ran_out_of_attempts_on_a_reclaim_are_resubmitted_when_they_failed() -> None:
    result, history = stage1_result()
    out = resubmitted_jobs(result, history, "sim", "sim-fallback")
    assert out["job_id"].tolist() == [f"a{RESUBMIT_SUFFIX}"]
    assert out["submit_s"].tolist() == [500.0]
    assert out["queue"].tolist() == ["sim-fallback"]
    assert (out["runtime_s"].tolist(), out["vcpus"].tolist()) == ([3600.0], [2.0])
    assert resubmitted_jobs(result, history, "nothing-here", "x").empty


def test_stage_two_is_the_resubmitted_jobs_alone_on_the_on_demand_ce_hand_worked() -> None:
    """One 2-vCPU hour resubmitted at t=500 on c5.2xlarge with no launch delay and no idle time:
    one instance-hour at the on-demand price."""
    result, history = stage1_result()
    current = {"computeEnvironments": [], "jobQueues": [], "simulation": {"seed": 4}}
    current["simulation"].update(launchDelaySeconds=0, scaleInIdleSeconds=0, jobDefinitionRevisions={})
    document = fallback_document(current, "sim-fallback", ON_DEMAND_CE)
    assert "jobDefinitionRevisions" not in document["simulation"]
    assert [q["jobQueueName"] for q in document["jobQueues"]] == ["sim-fallback"]
    run = replay(resubmitted_jobs(result, history, "sim", "sim-fallback"), parse_config(document, catalog()))
    price = catalog().types["c5.2xlarge"].ondemand_price
    assert run.summary["total_cost_usd"] == pytest.approx(price * 1.0, rel=1e-6)
    assert run.attempts["started_at"].tolist() == [500.0]
    assert set(run.attempts["capacity_type"]) == {"ON_DEMAND"}


def test_spot_attempts_strategy_retries_reclaims_n_times_and_keeps_own_rules() -> None:
    assert spot_attempts_strategy({"attempts": 2}, 3) == {
        "attempts": 3,
        "evaluateOnExit": [
            {"onStatusReason": "Host EC2*", "action": "RETRY"},
            {"onReason": "*", "action": "EXIT"},
        ],
    }
    own = {"attempts": 5, "evaluateOnExit": [{"onExitCode": "137", "action": "RETRY"}]}
    assert spot_attempts_strategy(own, 2)["evaluateOnExit"][1:] == own["evaluateOnExit"]


def test_both_variants_priced_and_the_cheaper_named() -> None:
    inputs = inputs_for(spot_only_estate(("sim-spot", "SPOT")))
    [rec] = SpotFallbackStrategy(SpotFallbackSettings(fallback_after_attempts=2)).run(inputs)
    behind, after = rec.evidence["variants"]
    assert behind["monthly_savings_usd"] == pytest.approx(rec.monthly_savings_usd, abs=0.01)
    assert after["attempts"] == 2
    # Stage 1 reproduces: today's estate against the revisions, both under the same shortages.
    stage1 = after["stage1"]["proposed_config"]
    assert stage1["simulation"]["jobDefinitionRevisions"] == {
        "sim": {"retryStrategy": spot_attempts_strategy({"attempts": 3}, 2)}
    }
    current = rec.evidence["replay"]["current_config"]
    costs = [
        replay(inputs.baseline.jobs, parse_config(d, catalog())).summary["total_cost_usd"]
        for d in (current, stage1)
    ]
    stage1_monthly = (costs[0] - costs[1]) * DAYS_PER_MONTH / inputs.baseline.window_days
    assert after["stage1"]["monthly_savings_usd"] == pytest.approx(stage1_monthly, abs=0.01)
    stage2 = after["stage2"]["cost_usd"] * DAYS_PER_MONTH / inputs.baseline.window_days
    assert after["monthly_savings_usd"] == pytest.approx(stage1_monthly - stage2, abs=0.02)
    assert after["resubmitted_jobs"] == len(after["stage2"]["jobs_csv"])
    # Waiting for spot leaves no failed attempt to resubmit: the variant keeps today's shortage wait.
    assert after["p95_wait_s"] > behind["p95_wait_s"]
    best = max((behind, after), key=lambda v: v["monthly_savings_usd"])
    assert rec.evidence["cheaper_variant"] == best["variant"]
    # The title names the other variant once, with which of the two is cheaper.
    assert "or on-demand after 2 spot attempts: " in rec.title
    assert ("cheaper than this" if best is after else "this is cheaper") in rec.title
    off = SpotFallbackStrategy(SpotFallbackSettings(fallback_after_attempts=0)).run(inputs)
    assert [v["variant"] for v in off[0].evidence["variants"]] == ["on-demand CE behind spot"]
