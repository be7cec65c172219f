"""spot-fallback: a spot-only queue gets an on-demand CE behind spot, priced by replaying the same
assumed capacity shortages on both sides; the figure is a cost, bought with a shorter p95 wait."""

from __future__ import annotations

from typing import Any

import pytest

from optimizer.domain import UpdateKind
from optimizer.errors import ConfigError
from optimizer.recommend.savings import DAYS_PER_MONTH
from optimizer.recommend.strategies import SpotFallbackSettings, SpotFallbackStrategy
from optimizer.recommend.strategies.spot_fallback import ShortageSettings
from optimizer.recommend.strategy_settings import strategy_settings
from optimizer.simulate import parse_config, replay
from tests.recommend_helpers import catalog, ce_item, history, inputs_for, jobdef_item, queue_item

RETRY = {"attempts": 3}


def spot_only_estate(*order: tuple[str, str]) -> dict[str, Any]:
    """Queue `sim` over CEs given as (name, platform); 300 short 1-vCPU jobs over two days."""
    jobs, attempts = history("sim", "sim", n=300, vcpus=1, memory_mib=2048, retry=RETRY, seed=2)
    ces = [
        ce_item(
            name,
            platform=platform,
            strategy="SPOT_PRICE_CAPACITY_OPTIMIZED" if platform == "SPOT" else "BEST_FIT_PROGRESSIVE",
            types=("c5.2xlarge",),
            max_vcpus=128,
        )
        for name, platform in order
    ]
    return {
        "ces": ces,
        "queues": [queue_item("sim", *(name for name, _ in order))],
        "defs": [jobdef_item("sim", 1, 2048, retryStrategy=RETRY)],
        "jobs": jobs,
        "attempts": attempts,
    }


def test_on_demand_behind_spot_priced_by_the_same_shortages_on_both_sides() -> None:
    inputs = inputs_for(spot_only_estate(("sim-spot", "SPOT")))
    [rec] = SpotFallbackStrategy().run(inputs)
    assert (rec.strategy, rec.target_name, rec.update_kind) == (
        "spot-fallback",
        "sim",
        UpdateKind.QUEUE_ORDER,
    )
    assert rec.proposed == {
        "compute_environment_order": ["sim-spot", "sim-spot-ondemand"],
        "new_compute_environment": {
            "name": "sim-spot-ondemand",
            "based_on": "sim-spot",
            "platform": "EC2",
            "allocation_strategy": "BEST_FIT_PROGRESSIVE",
            "min_vcpus": 0,
        },
    }
    assert rec.evidence["metadata"]["reversible"] is True
    replayed = rec.evidence["replay"]
    rules = [{"capacityType": "SPOT", "instanceTypes": ["*"], "perDay": 1.0, "meanDurationSeconds": 7200.0}]
    # Both documents carry the shortages: they reproduce the figure, and today's queue waits.
    for key in ("current_config", "proposed_config"):
        assert replayed[key]["simulation"]["capacityShortages"] == rules
    results = [
        replay(inputs.baseline.jobs, parse_config(replayed[k], catalog()))
        for k in ("current_config", "proposed_config")
    ]
    monthly = (
        (results[0].summary["total_cost_usd"] - results[1].summary["total_cost_usd"])
        * DAYS_PER_MONTH
        / inputs.baseline.window_days
    )
    assert rec.monthly_savings_usd == pytest.approx(monthly, abs=0.01)
    assert rec.monthly_savings_usd < 0  # on-demand hours cost more than the spot hours they replace
    shortages = rec.evidence["shortages"]
    before, after = shortages["p95_wait_before_s"], shortages["p95_wait_after_s"]
    assert before - after >= 600.0
    assert before == pytest.approx(results[0].summary["queue_wait_s"]["sim"]["p95_s"], abs=0.1)
    # The work that waited today ran on the fallback: its jobs are the only on-demand attempts.
    proposed_attempts = results[1].attempts
    assert set(proposed_attempts["capacity_type"]) == {"SPOT", "ON_DEMAND"}
    assert set(results[0].attempts["capacity_type"]) == {"SPOT"}
    # Without shortages there is nothing to fall back for.
    calm = SpotFallbackStrategy(SpotFallbackSettings(shortages=(ShortageSettings(per_day=1e-6),)))
    assert calm.run(inputs) == []


def test_no_fallback_where_on_demand_is_there_or_the_cost_is_too_high() -> None:
    assert (
        SpotFallbackStrategy().run(inputs_for(spot_only_estate(("sim-spot", "SPOT"), ("sim-od", "EC2"))))
        == []
    )
    assert SpotFallbackStrategy().run(inputs_for(spot_only_estate(("sim-od", "EC2")))) == []
    stingy = SpotFallbackStrategy(SpotFallbackSettings(max_monthly_cost_usd=1.0))
    assert stingy.run(inputs_for(spot_only_estate(("sim-spot", "SPOT")))) == []
    patient = SpotFallbackStrategy(SpotFallbackSettings(min_p95_wait_improvement_s=86400.0))
    assert patient.run(inputs_for(spot_only_estate(("sim-spot", "SPOT")))) == []


def test_shortage_settings_from_toml() -> None:
    chosen = strategy_settings(
        {"spot-fallback": {"shortages": [{"instance_types": ["c5.*"], "per_day": 3, "mean_duration_s": 900}]}}
    )
    [rule] = chosen["spot-fallback"].shortages
    assert rule.to_api() == {
        "capacityType": "SPOT",
        "instanceTypes": ["c5.*"],
        "perDay": 3.0,
        "meanDurationSeconds": 900.0,
    }
    with pytest.raises(ConfigError, match=r"recommend\.spot-fallback\.shortages\.0\.capacity_type"):
        strategy_settings({"spot-fallback": {"shortages": [{"capacity_type": "spot"}]}})
