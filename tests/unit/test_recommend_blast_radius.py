"""Blast radius: a spot CE of large instances packed with long jobs gets smaller sizes, priced by the
replay (seeded reclaims and the instances' cost) with the expected lost work beside it."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import pandas as pd
import pytest

from optimizer.domain import UpdateKind
from optimizer.errors import ConfigError
from optimizer.recommend.savings import DAYS_PER_MONTH
from optimizer.recommend.strategies import BlastRadiusSettings, BlastRadiusStrategy
from optimizer.recommend.strategies.blast_radius import expected_lost_work, largest_blast
from optimizer.simulate import parse_config, replay
from optimizer.simulate.allocation import jobs_per_instance
from tests.recommend_helpers import START, catalog, ce_item, history, inputs_for, jobdef_item, queue_item

RECLAIM_RETRY = {
    "attempts": 3,
    "evaluateOnExit": [
        {"onStatusReason": "Host EC2*", "action": "RETRY"},
        {"onReason": "*", "action": "EXIT"},
    ],
}
BIG = "c5.4xlarge"


def burst_estate(
    *,
    bursts: int = 8,
    per_burst: int = 8,
    types: tuple[str, ...] = (BIG,),
    runtime_s: tuple[float, float] = (3600.0, 6 * 3600.0),
) -> dict[str, Any]:
    """A spot-only CE of `types` and a queue whose jobs (2 vCPU, 3.5 GiB, 1-6 h) arrive `per_burst`
    at a time every 12 hours: a c5.4xlarge takes a whole burst and stays up for its longest job."""
    n = bursts * per_burst
    jobs, attempts = history(
        "genomics", "align", n=n, vcpus=2, memory_mib=3584, runtime_s=runtime_s, retry=RECLAIM_RETRY
    )
    created = [START + timedelta(hours=12 * (k // per_burst), seconds=k % per_burst) for k in range(n)]
    runtimes = (jobs["stopped_at"] - jobs["started_at"]).to_list()
    started = [c + timedelta(seconds=30) for c in created]
    jobs["created_at"], jobs["started_at"] = created, started
    jobs["stopped_at"] = [s + r for s, r in zip(started, runtimes, strict=True)]
    attempts["started_at"], attempts["stopped_at"] = jobs["started_at"], jobs["stopped_at"]
    return {
        "ces": [ce_item("spot-ce", platform="SPOT", strategy="SPOT_PRICE_CAPACITY_OPTIMIZED", types=types)],
        "queues": [queue_item("genomics", "spot-ce")],
        "defs": [jobdef_item("align", 2, 3584, retryStrategy=RECLAIM_RETRY)],
        "jobs": jobs,
        "attempts": attempts,
    }


def test_smaller_sizes_cap_the_jobs_one_reclaim_kills_priced_by_the_replay() -> None:
    inputs = inputs_for(burst_estate())
    [rec] = BlastRadiusStrategy().run(inputs)
    assert (rec.strategy, rec.target_name, rec.target_kind) == (
        "blast-radius",
        "spot-ce",
        "compute-environment",
    )
    assert rec.update_kind == UpdateKind.INFRASTRUCTURE  # SPOT_PRICE_CAPACITY_OPTIMIZED + the SLR
    types = rec.proposed["instance_types"]
    cat = catalog()
    # Every proposed size is a c5 with a spot price hosting 1..4 of the 2 vCPU / 3.5 GiB jobs.
    assert types and all(cat.types[t].family == "c5" for t in types)
    assert all(1 <= jobs_per_instance(cat.types[t], 2.0, 3584.0, 0) <= 4 for t in types)
    assert BIG not in types and "c5.large" in types
    blast = rec.evidence["blast_radius"]
    assert blast["largest_blast_before"] == 8 and blast["largest_blast_after"] <= 4
    assert rec.evidence["metadata"] == {
        "implementation_effort": "low",
        "restarts_running_jobs": False,
        "reversible": True,
    }
    # The two documents of the evidence reproduce the figure.
    replayed = rec.evidence["replay"]
    results = [
        replay(inputs.baseline.jobs, parse_config(replayed[k], cat))
        for k in ("current_config", "proposed_config")
    ]
    monthly = (
        (results[0].summary["total_cost_usd"] - results[1].summary["total_cost_usd"])
        * DAYS_PER_MONTH
        / inputs.baseline.window_days
    )
    assert rec.monthly_savings_usd == pytest.approx(monthly, abs=0.01) and rec.monthly_savings_usd >= 10.0
    assert largest_blast(results[1], "spot-ce") == blast["largest_blast_after"]
    # c5.4xlarge's band is far above the small sizes': less work is expected to be lost.
    assert blast["expected_lost_hours_per_month_after"] < blast["expected_lost_hours_per_month_before"]


def test_expected_lost_work_by_hand() -> None:
    """One 10-hour attempt of 2 of a c5.4xlarge's 16 vCPUs: (1 - e^-hd (1 + hd)) / h hours lost,
    priced at 2/16 of the spot price."""
    spec = catalog().types[BIG]
    estate = burst_estate(bursts=1, per_burst=1)
    estate["jobs"]["stopped_at"] = estate["jobs"]["started_at"] + timedelta(hours=10)
    inputs = inputs_for(estate)
    result = inputs.baseline.current()
    h, d = spec.spot_hazard_per_hour, 10.0
    # The replay ran it for its whole runtime, unless the seeded reclaim came first.
    [attempt] = result.attempts.itertuples()
    d = (attempt.ended_at - attempt.started_at) / 3600.0
    hours = (1 - math.exp(-h * d) * (1 + h * d)) / h
    assert expected_lost_work(result, "spot-ce", catalog()) == pytest.approx(
        (hours, hours * spec.spot_price * 2 / 16)
    )
    assert hours == pytest.approx(h * d * d / 2, rel=0.01)  # rare reclaims: about h d^2 / 2


def test_largest_blast_counts_attempts_on_one_instance_at_once() -> None:
    attempts = pd.DataFrame(
        {
            "compute_environment": ["ce"] * 5,
            "instance_id": ["i-1", "i-1", "i-1", "i-2", "i-2"],
            # i-1: [0,10) [5,15) [10,20): two at once (the one ending at 10 frees its place first)
            "started_at": [0.0, 5.0, 10.0, 0.0, 1.0],
            "ended_at": [10.0, 15.0, 20.0, 4.0, 3.0],
        }
    )

    class Result:
        pass

    result = Result()
    result.attempts = attempts  # type: ignore[attr-defined]
    assert largest_blast(result, "ce") == 2  # type: ignore[arg-type]
    assert largest_blast(result, "other") == 0  # type: ignore[arg-type]


def test_no_advice_for_small_instances_short_jobs_or_a_change_that_costs_more() -> None:
    # Already at most 4 jobs per instance.
    assert BlastRadiusStrategy().run(inputs_for(burst_estate(types=("c5.xlarge",)))) == []
    # On-demand CEs are not reclaimed.
    estate = burst_estate()
    estate["ces"] = [ce_item("spot-ce", types=(BIG,))]
    assert BlastRadiusStrategy().run(inputs_for(estate)) == []
    # Short jobs lose little.
    strict = BlastRadiusStrategy(BlastRadiusSettings(min_runtime_p50_s=8 * 3600.0))
    assert strict.run(inputs_for(burst_estate())) == []
    # A change must save at least min_monthly_savings_usd unless a cost is allowed.
    rich = BlastRadiusStrategy(BlastRadiusSettings(min_monthly_savings_usd=1e6))
    assert rich.run(inputs_for(burst_estate())) == []
    # Bursts of equally long jobs fill a c5.4xlarge to the end: smaller sizes (dearer per vCPU on
    # spot) cost more, and are proposed only with an allowance, as a cost (never a saving).
    full = burst_estate(runtime_s=(6 * 3600.0, 6 * 3600.0 + 1.0))
    assert BlastRadiusStrategy().run(inputs_for(full)) == []
    [costly] = BlastRadiusStrategy(BlastRadiusSettings(max_monthly_cost_usd=1000.0)).run(inputs_for(full))
    assert -1000.0 <= costly.monthly_savings_usd < 0
    assert costly.evidence["blast_radius"]["largest_blast_before"] == 8


def test_settings_are_reachable_from_toml() -> None:
    from optimizer.recommend.strategy_settings import strategy_settings

    chosen = strategy_settings({"blast-radius": {"max_jobs_per_instance": 2, "max_monthly_cost_usd": 50}})
    settings = chosen["blast-radius"]
    assert isinstance(settings, BlastRadiusSettings) and settings.max_jobs_per_instance == 2
    with pytest.raises(ConfigError, match=r"recommend\.blast-radius\.max_jobs_per_instance"):
        strategy_settings({"blast-radius": {"max_jobs_per_instance": 0}})
