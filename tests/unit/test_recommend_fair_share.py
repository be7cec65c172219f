"""fair-share: a FIFO queue where one team's bursts starve another team's short jobs gets a
fair-share policy (weights from demand, decay from runtimes, a reserve for the quiet team) on a new
queue beside it, priced by replaying both sides: the starved share's p95 wait, at the same cost."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest

from optimizer.domain import UpdateKind
from optimizer.errors import ConfigError
from optimizer.recommend.headline import COSTS_MONEY, WAIT_ONLY, savings_headline
from optimizer.recommend.strategies.fair_share import (
    FairShareSettings,
    FairShareStrategy,
    batch_share_identifier,
    compute_reservation,
    decay_seconds,
    equal_weights,
    history_shares,
    new_resource_name,
    share_stats,
    weights_from_demand,
)
from optimizer.recommend.strategy_settings import strategy_settings
from optimizer.simulate import parse_config, replay
from optimizer.simulate.results import share_waits
from tests.recommend_helpers import (
    PREFIX,
    START,
    catalog,
    ce_item,
    history,
    inputs_for,
    jobdef_item,
    queue_item,
)


def team_jobs(
    team: str, n: int, *, vcpus: float, runtime_s: tuple[float, float], starts: np.ndarray
) -> pd.DataFrame:
    jobs, _ = history("shared", team, n=n, vcpus=vcpus, memory_mib=2048, runtime_s=runtime_s, seed=len(team))
    created = [START + timedelta(seconds=float(s)) for s in starts]
    runtimes = (jobs["stopped_at"] - jobs["started_at"]).to_numpy()
    jobs["created_at"] = created
    jobs["started_at"] = [c + timedelta(seconds=30) for c in created]
    jobs["stopped_at"] = jobs["started_at"].to_numpy() + runtimes
    jobs["job_id"] = [f"{team}-{k:04d}" for k in range(n)]
    jobs["tags"] = [{"team": team}] * n
    return jobs


def shared_estate() -> dict[str, Any]:
    """Queue `shared` on one 64-vCPU CE: genomics submits three bursts of 48 two-hour 8-vCPU jobs
    (each burst needs six times the CE), imaging one 1-vCPU 10-minute job every 15 minutes."""
    bursts = np.concatenate([np.full(48, day * 86400.0 + 3600.0) for day in (0, 1, 2)])
    genomics = team_jobs("genomics", len(bursts), vcpus=8, runtime_s=(7000.0, 7400.0), starts=bursts)
    steady = np.arange(0.0, 3 * 86400.0, 900.0)
    imaging = team_jobs("imaging", len(steady), vcpus=1, runtime_s=(500.0, 700.0), starts=steady)
    return {
        "ces": [ce_item("shared-ce", types=("m5.4xlarge",), max_vcpus=64)],
        "queues": [queue_item("shared", "shared-ce")],
        "defs": [jobdef_item("genomics", 8, 2048), jobdef_item("imaging", 1, 2048)],
        "jobs": pd.concat([genomics, imaging], ignore_index=True),
        "attempts": pd.DataFrame(columns=["job_id", "attempt"]),
    }


def fifo_history(estate: dict[str, Any]) -> dict[str, Any]:
    """The same jobs with the waits FIFO gave them: replay today's queue and write its starts back,
    so the history shows the starvation the strategy looks for."""
    inputs = inputs_for(estate)
    result = replay(inputs.baseline.jobs, parse_config(inputs.baseline.current_document, catalog()))
    start = pd.Timestamp(estate["jobs"]["created_at"].min())
    started = dict(zip(result.jobs["job_id"], result.jobs["started_at"], strict=True))
    jobs = estate["jobs"].copy()
    runtimes = jobs["stopped_at"] - jobs["started_at"]
    jobs["started_at"] = [start + timedelta(seconds=float(started[j])) for j in jobs["job_id"]]
    jobs["stopped_at"] = jobs["started_at"] + runtimes
    return {**estate, "jobs": jobs}


def test_fair_share_policy_for_the_starved_team_at_the_same_cost() -> None:
    estate = fifo_history(shared_estate())
    inputs = inputs_for(estate)
    [rec] = FairShareStrategy().run(inputs)
    assert (rec.strategy, rec.target_name, rec.update_kind) == ("fair-share", "shared", UpdateKind.BLUE_GREEN)
    assert rec.effort == "high"
    policy = rec.proposed["scheduling_policy"]
    assert rec.proposed["new_job_queue"] == {"name": "shared-fairshare", "based_on": "shared"}
    assert policy["name"] == "shared-fairshare"
    weights = {s["shareIdentifier"]: s["weightFactor"] for s in policy["share_distribution"]}
    # genomics asks for ~48 x 3 x 8 vCPU x 2 h, imaging for 288 x 1 vCPU x 10 min: weights from demand.
    rows = estate["jobs"]
    demand = (
        ((rows["stopped_at"] - rows["started_at"]).dt.total_seconds() * rows["vcpus"])
        .groupby(rows["job_id"].str.split("-").str[0])
        .sum()
    )
    assert weights["genomics"] == 1.0
    assert weights["imaging"] == pytest.approx(demand["genomics"] / demand["imaging"], abs=1e-4)
    assert weights["imaging"] > 40
    assert policy["share_decay_seconds"] >= 600 and policy["compute_reservation"] >= 1
    # Both weightings were replayed; the fairer (worst, then total p95 slowdown) is the one proposed.
    found = rec.evidence["fair_share"]
    assert set(found["candidates"]) == {"demand", "equal"}
    score = {
        k: (v["worst_p95_slowdown"], v["total_p95_slowdown"], k != "demand")
        for k, v in found["candidates"].items()
    }
    assert found["weights"] == min(score, key=score.__getitem__) == "demand"
    assert rec.evidence["metadata"] == {
        "implementation_effort": "high",
        "restarts_running_jobs": False,
        "reversible": True,
    }
    wait = rec.evidence["wait_improvement"]
    assert wait["scope"] == "share imaging in queue shared"
    # The documents reproduce both sides' per-share waits and costs.
    replayed = rec.evidence["replay"]
    jobs = inputs.baseline.jobs.assign(share_identifier=inputs.baseline.jobs["job_id"].str.split("-").str[0])
    results = [
        replay(jobs, parse_config(replayed[k], catalog())) for k in ("current_config", "proposed_config")
    ]
    waits = [share_waits(r).set_index(["queue", "share"]) for r in results]
    assert waits[0].loc[("shared", "imaging"), "p95_wait_s"] == pytest.approx(
        wait["p95_wait_before_s"], abs=0.05
    )
    assert waits[1].loc[("shared", "imaging"), "p95_wait_s"] == pytest.approx(
        wait["p95_wait_after_s"], abs=0.05
    )
    assert wait["p95_wait_before_s"] - wait["p95_wait_after_s"] >= 600.0
    # Interleaved shares pack mixed shapes onto the instances: the replay's cost change is the figure.
    costs = [r.summary["total_cost_usd"] for r in results]
    monthly = (costs[0] - costs[1]) * 30 / inputs.baseline.window_days
    assert rec.monthly_savings_usd == pytest.approx(monthly, abs=0.01)
    assert rec.evidence["fair_share"]["cost_change_usd_per_month"] == pytest.approx(-monthly, abs=0.01)
    assert results[1].summary["utilization"]["vcpu"] < results[0].summary["utilization"]["vcpu"]
    [queue_body] = replayed["proposed_config"]["jobQueues"]
    assert queue_body["schedulingPolicyArn"] == "shared-fairshare"
    # The headline never counts it as a saving: "faster, costs $X", or, at the same cost, a wait
    # improvement with its p95 waits.
    headline = savings_headline([(rec, "open")])
    assert headline.items[0].verdict == COSTS_MONEY and headline.total_usd_per_month == 0.0
    same_cost = savings_headline([(replace(rec, monthly_savings_usd=0.0), "open")])
    [item] = same_cost.items
    assert item.verdict == WAIT_ONLY and "share imaging in queue shared" in item.label()
    strict = FairShareStrategy(
        FairShareSettings(max_monthly_cost_usd=monthly / 2 if monthly > 0 else -monthly / 2)
    )
    assert strict.run(inputs) == []


def test_no_policy_without_starvation_or_with_one_share() -> None:
    estate = shared_estate()  # the history's own waits: 30 s for everyone
    assert FairShareStrategy().run(inputs_for(estate)) == []
    starved = fifo_history(shared_estate())
    one_team = {**starved, "jobs": starved["jobs"].assign(tags=[{"team": "all"}] * len(starved["jobs"]))}
    assert FairShareStrategy().run(inputs_for(one_team)) == []
    strict = FairShareStrategy(FairShareSettings(min_p95_wait_improvement_s=10 * 86400.0))
    assert strict.run(inputs_for(starved)) == []
    with_policy = replace_queue(starved, schedulingPolicyArn="arn:aws:batch:us-east-1:1:scheduling-policy/p")
    assert FairShareStrategy().run(inputs_for(with_policy)) == []


def replace_queue(estate: dict[str, Any], **fields: Any) -> dict[str, Any]:
    [queue] = estate["queues"]
    return {**estate, "queues": [{**queue, **fields}]}


def test_policy_values() -> None:
    stats = pd.DataFrame(
        {"share": ["a", "b", "c"], "demand_vcpu_s": [1000.0, 250.0, 0.0], "p95_vcpus": [16.0, 2.0, 0.0]}
    )
    assert weights_from_demand(stats) == [
        {"shareIdentifier": "a", "weightFactor": 1.0},
        {"shareIdentifier": "b", "weightFactor": 4.0},
        {"shareIdentifier": "c", "weightFactor": 999.9999},
    ]
    assert batch_share_identifier("team-a") == "teama" and batch_share_identifier("x" * 300) == "x" * 255
    assert equal_weights(stats) == [{"shareIdentifier": k, "weightFactor": 1.0} for k in ("a", "b", "c")]
    assert decay_seconds(60.0, 4.0) == 600  # Batch's minimum window
    assert decay_seconds(1000.0, 4.0) == 4020  # 4 x 1000 s, whole minutes
    assert decay_seconds(10 * 86400.0, 4.0) == 604800
    assert compute_reservation(2.0, 64.0) == 3 and compute_reservation(0.0, 64.0) == 0
    assert compute_reservation(500.0, 64.0) == 99
    jobs = shared_estate()["jobs"]
    assert set(share_stats(jobs, history_shares(jobs))["share"]) == {"genomics", "imaging"}


def test_settings_from_toml() -> None:
    chosen = strategy_settings({"fair-share": {"min_wait_ratio": 2.5, "decay_runtimes": 8}})
    assert chosen["fair-share"].min_wait_ratio == 2.5
    with pytest.raises(ConfigError, match=r"recommend\.fair-share\.min_wait_ratio"):
        strategy_settings({"fair-share": {"min_wait_ratio": 0.5}})
    with pytest.raises(ConfigError, match=r"recommend\.fair-share\.decay"):
        strategy_settings({"fair-share": {"decay": 4}})


def test_team_names_become_alphanumeric_share_identifiers() -> None:
    estate = fifo_history(shared_estate())
    rows = estate["jobs"]
    rows["tags"] = [{"team": f"{t['team']}-lab"} for t in rows["tags"]]
    [rec] = FairShareStrategy().run(inputs_for(estate))
    assert rec.evidence["fair_share"]["share_identifiers"] == {
        "genomics-lab": "genomicslab",
        "imaging-lab": "imaginglab",
    }
    assert {e["shareIdentifier"] for e in rec.proposed["scheduling_policy"]["share_distribution"]} == {
        "genomicslab",
        "imaginglab",
    }
    assert "(genomicslab, imaginglab)" in rec.title
    # Two teams whose names differ only in punctuation cannot be told apart by Batch: no proposal.
    rows["tags"] = [{"team": "a-b" if t["team"].startswith("genomics") else "ab"} for t in rows["tags"]]
    assert FairShareStrategy().run(inputs_for(estate)) == []


def test_the_new_name_is_free_among_queues_and_the_estates_policies_and_valid() -> None:
    """A queue of the estate uses a policy named shared-fairshare and another queue is named
    shared-fairshare-2: the new queue and policy take shared-fairshare-3."""
    estate = fifo_history(shared_estate())
    other = queue_item("other", "shared-ce")
    other["schedulingPolicyArn"] = f"{PREFIX}:scheduling-policy/shared-fairshare"
    estate["queues"] = [*estate["queues"], other, queue_item("shared-fairshare-2", "shared-ce")]
    [rec] = FairShareStrategy().run(inputs_for(estate))
    assert rec.target_name == "shared"
    assert rec.proposed["scheduling_policy"]["name"] == "shared-fairshare-3"
    assert rec.proposed["new_job_queue"]["name"] == "shared-fairshare-3"


def test_new_resource_names_stay_within_botocores_rule() -> None:
    long = "q" * 128
    assert new_resource_name(long, "-fairshare", set()) == "q" * 118 + "-fairshare"
    assert new_resource_name(long, "-fairshare", {"q" * 118 + "-fairshare"}) == "q" * 116 + "-fairshare-2"
    assert new_resource_name("a", "-x", {"a-x", *(f"a-x-{n}" for n in range(2, 5))}, attempts=4) is None
