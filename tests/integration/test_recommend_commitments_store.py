"""The recommendation engine on a seeded store with a stored demand forecast and a configured
Savings Plan: the commitments reach the replays, and commitment advice comes out as advice."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, insert

from optimizer.config import load_settings
from optimizer.domain import UpdateKind
from optimizer.recommend.commitment_basis import on_demand_change
from optimizer.recommend.generate import default_strategies, generate_recommendations
from optimizer.recommend.headline import counted_ids
from optimizer.recommend.inputs import load_recommend_inputs
from optimizer.recommend.strategies import InstanceMixSettings
from optimizer.store.tables.analysis import demand_forecasts
from tests.recommend_helpers import standard_estate, store_estate

CONFIG = """
[[commitments]]
id = "sp-config"
type = "COMPUTE_SAVINGS_PLAN"
usd_per_hour = 0.2
discount = 0.3
"""


def test_forecast_and_configured_plan_reach_the_strategies(sqlite_engine: Engine, tmp_path: Path) -> None:
    store_estate(sqlite_engine, standard_estate())
    hours = pd.date_range("2026-12-01", periods=168, freq="h")
    p50 = 40.0 + 20.0 * np.sin(np.arange(168) / 24.0 * 2.0 * np.pi)
    with sqlite_engine.begin() as conn:
        conn.execute(
            insert(demand_forecasts),
            [
                {"dataset": "aws", "queue": "(all)", "metric": "vcpus", "hour": h.to_pydatetime(),
                 "p50": float(v), "p90": float(v) * 1.25, "trained_at": datetime(2026, 11, 30)}
                for h, v in zip(hours, p50, strict=True)
            ],
        )  # fmt: skip
    config = tmp_path / "batchopt.toml"
    config.write_text(CONFIG)
    settings = load_settings(config)

    [inputs] = load_recommend_inputs(sqlite_engine, commitments=settings.commitments)
    assert [c.id for c in inputs.commitments.commitments] == ["sp-config"]
    assert inputs.baseline.commitments == inputs.commitments.commitments
    assert inputs.demand_forecast is not None and len(inputs.demand_forecast) == 168
    summary = inputs.baseline.current().summary
    assert summary["commitment_usd"] > 0 and summary["commitments"][0]["id"] == "sp-config"

    strategies = default_strategies(overrides={"instance-mix": InstanceMixSettings(time_limit_seconds=3)})
    recs = generate_recommendations(sqlite_engine, settings, strategies=strategies, clock=time.monotonic)
    [advice] = [r for r in recs if r.strategy == "commitment-advice"]
    assert advice.update_kind == UpdateKind.ADVICE and not advice.applicable
    assert advice.evidence["discount"] == 0.3
    assert advice.evidence["existing_compute_savings_plans_usd_per_hour"] == 0.2
    assert advice.evidence["rates_source"].startswith("plan in force sp-config: configuration")
    # Sized after the others: on the on-demand usage the ones the headline counts leave.
    others = [r for r in recs if r is not advice]
    change = on_demand_change(others, counted_ids(others))
    assert change.ids, "the estate's other advice moves on-demand cost"
    assert advice.evidence["sized_after_recommendations"] == list(change.ids)
    on_demand = float(summary["cost_by_capacity_type"]["ON_DEMAND"])
    assert advice.evidence["on_demand_usd_per_vcpu_hour"] == pytest.approx(
        advice.evidence["on_demand_usd_per_vcpu_hour_today"] * max(0.0, on_demand + change.usd) / on_demand,
        rel=1e-4,
    )
