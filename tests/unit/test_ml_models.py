"""ML models on small generated inputs: registry safety, forecast vs seasonal naive, conformal usage
quantiles, interruption-rate shrinkage."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from optimizer.catalog.interruptions import band_hourly_hazards
from optimizer.ml.demand import ALL_QUEUES, hourly_demand
from optimizer.ml.forecast import DemandForecaster, backtest, rolling_origins, seasonal_naive
from optimizer.ml.interruptions import interruption_rates, rates_by_type
from optimizer.ml.registry import IncompatibleModelError, ModelCard, ModelNotFoundError, ModelRegistry
from optimizer.ml.usage import (
    DefinitionQuantiles,
    UsageQuantileModel,
    conformal_rank,
    evaluate,
    evaluate_vcpus,
    recommend_vcpus,
    time_split,
)

pytestmark = pytest.mark.any_date  # dates are fixed and "now" is injected: the same on any date

SMALL = {"max_rows": 4000, "max_iter": 60}


def _card(name: str) -> ModelCard:
    return ModelCard(
        name=name,
        kind="test",
        trained_at="2026-11-27T00:00:00",
        training_window={"start": None, "end": None},
        features=["x"],
        target="y",
    )


def test_registry_round_trip_and_refusal_of_other_library_versions(tmp_path) -> None:
    registry = ModelRegistry(tmp_path)
    with pytest.raises(ModelNotFoundError, match="batchopt train"):
        registry.load("m")
    registry.save({"weights": [1, 2]}, _card("m"))
    model, card = registry.load("m")
    assert model == {"weights": [1, 2]} and card.library_versions["scikit-learn"]

    card_path = tmp_path / "m.card.json"
    data = json.loads(card_path.read_text())
    data["library_versions"]["scikit-learn"] = "0.24.2"
    card_path.write_text(json.dumps(data))
    with pytest.raises(IncompatibleModelError, match=r"scikit-learn 0\.24\.2 .*retrain"):
        registry.load("m")
    calls = []

    def train():
        calls.append(1)
        return {"weights": [3]}, _card("m")

    model, card = registry.load_or_train("m", train)
    assert calls == [1] and model == {"weights": [3]}
    assert registry.load("m")[0] == {"weights": [3]}  # the retrained model replaced the old one
    with pytest.raises(Exception, match="model name"):
        registry.load("../etc/passwd")


def test_hourly_demand_splits_jobs_across_hours() -> None:
    # one job of 2 vCPUs from 00:30 to 02:00 in queue a; one of 1 vCPU 01:00-01:30 in queue b
    demand = hourly_demand(
        np.array([1800.0, 3600.0]),
        np.array([7200.0, 5400.0]),
        np.array(["a", "b"]),
        np.array([2.0, 1.0]),
        np.array([1024.0, 2048.0]),
        np.array([0.0, 1.0]),
    )
    assert demand[("a", "vcpus")].tolist() == [1.0, 2.0]
    assert demand[("b", "gpus")].tolist() == [0.0, 0.5]
    assert demand[(ALL_QUEUES, "vcpus")].tolist() == [1.0, 2.5]
    assert demand[(ALL_QUEUES, "memory_gib")].tolist() == [0.5, 2.0]


def _weekly_series(weeks: int, seed: int = 0) -> pd.Series:
    rng = np.random.default_rng(seed)
    hours = pd.date_range("2026-01-05", periods=weeks * 168, freq="h")
    daily = 20 + 15 * np.sin((hours.hour.to_numpy() - 6) / 24 * 2 * np.pi)
    weekday = np.where(hours.day_of_week.to_numpy() < 5, 1.0, 0.4)
    trend = np.linspace(1.0, 1.6, len(hours))
    noise = rng.gamma(4.0, 0.25, len(hours))
    return pd.Series(daily * weekday * trend * noise, index=hours)


def test_forecast_beats_seasonal_naive_on_noisy_weekly_demand() -> None:
    series = _weekly_series(8)
    origins = rolling_origins(series.index, count=2, step_hours=48)
    result = backtest(series, origins, forecaster=DemandForecaster(**SMALL))
    assert len(result.origins) == 2
    assert result.improvement > 0.1, (result.mae_model, result.mae_naive)
    assert 0.6 < result.p90_coverage <= 1.0


def test_forecast_has_seven_days_of_ordered_non_negative_quantiles() -> None:
    series = _weekly_series(4)
    model = DemandForecaster(**SMALL).fit(series)
    pred = model.predict(series)
    assert len(pred) == 168 and pred.index[0] == series.index[-1] + pd.Timedelta(hours=1)
    assert (pred["p50"] >= 0).all() and (pred["p90"] >= pred["p50"]).all()
    naive = seasonal_naive(series)
    assert np.array_equal(naive, series.iloc[-168:].to_numpy())


def _usage_jobs(n: int, seed: int = 1) -> pd.DataFrame:
    """Two definitions; in `align` the `reads` parameter drives peak memory (lognormal noise)."""
    rng = np.random.default_rng(seed)
    definition = np.where(rng.random(n) < 0.5, "align", "sort")
    reads = rng.integers(1, 20, n)
    peak = np.where(definition == "align", 300.0 * reads, 2500.0) * rng.lognormal(0, 0.15, n)
    return pd.DataFrame(
        {
            "job_definition_name": definition,
            "name_pattern": np.where(definition == "align", "align-#", "sort-#"),
            "memory_mib": np.where(definition == "align", 8192.0, 6144.0),
            "vcpus": 2.0,
            "parameters": [{"reads": int(r)} for r in reads],
            "peak_memory_mib": peak,
            "peak_vcpus": rng.uniform(0.5, 1.8, n),
            "created_at": pd.date_range("2026-10-01", periods=n, freq="min"),
        }
    )


def test_conformal_rank_needs_enough_evidence() -> None:
    assert conformal_rank(50, 0.01) is None
    assert conformal_rank(99, 0.01) == 99
    assert conformal_rank(1000, 0.01) == 991


def test_usage_recommendations_keep_oom_risk_near_alpha_while_cutting_memory() -> None:
    frame = _usage_jobs(6000)
    train, calib, test = time_split(frame)
    per_def = DefinitionQuantiles().fit(pd.concat([train, calib]))
    ev_def = evaluate(test, per_def.recommend(test))
    model = UsageQuantileModel().fit(train, calib)
    ev_job = evaluate(test, model.recommend(test))
    assert "param:reads" in model.feature_names
    for ev in (ev_def, ev_job):
        assert ev.exceeded_share <= 0.02, ev
        assert ev.memory_cut > 0.2, ev
    # the parameter explains usage, so per-job recommendations cut more than one value per definition
    assert ev_job.memory_cut > ev_def.memory_cut
    assert per_def.vcpus["sort"] == 2.0
    cpu = evaluate_vcpus(test, recommend_vcpus(per_def, test))
    assert cpu["jobs"] == len(test) and cpu["vcpu_cut"] == pytest.approx(0.0)  # peaks up to 1.8 of 2


def test_thin_definitions_get_no_recommendation() -> None:
    frame = _usage_jobs(120)
    per_def = DefinitionQuantiles().fit(frame)
    assert per_def.memory_mib == {}  # ~60 jobs each: too few for a 1% guarantee
    assert np.array_equal(per_def.recommend(frame), frame["memory_mib"].to_numpy())


def test_interruption_rates_shrink_thin_pools_to_the_band() -> None:
    observed = pd.DataFrame(
        {
            "region": "us-east-1",
            "availability_zone": ["us-east-1a", "us-east-1b", "us-east-1c"],
            "instance_type": ["m5.large", "m5.large", "c9.huge"],
            "instance_hours": [10.0, 200_000.0, 100.0],
            "reclaims": [1, 400, 0],
            "instances": [2, 5000, 10],
        }
    )
    bands = pd.DataFrame({"region": ["us-east-1"], "instance_type": ["m5.large"], "band": [0]})
    rates = interruption_rates(observed, bands).set_index("availability_zone")
    prior = band_hourly_hazards(np.array([0]))[0]
    assert rates.loc["us-east-1a", "observed_rate"] == pytest.approx(0.1)
    assert rates.loc["us-east-1a", "rate"] < 3 * prior  # 1 reclaim in 10 h barely moves the band
    assert rates.loc["us-east-1b", "rate"] == pytest.approx(400 / 200_000, rel=0.15)  # data dominate
    assert rates.loc["us-east-1b", "weight"] > 0.85
    assert not rates.loc["us-east-1c", "band_known"]  # unknown type: the region's median band
    assert (rates["rate_p90"] >= rates["rate"]).all()


def test_rates_by_type_fall_back_to_the_band_for_types_never_run() -> None:
    observed = pd.DataFrame(
        {
            "region": "us-east-1",
            "availability_zone": ["us-east-1a", "us-east-1b"],
            "instance_type": "m5.large",
            "instance_hours": [1000.0, 3000.0],
            "reclaims": [2, 2],
            "instances": [10, 30],
        }
    )
    bands = pd.DataFrame({"region": "us-east-1", "instance_type": ["m5.large", "c5.large"], "band": [0, 3]})
    rates = interruption_rates(observed, bands)
    by_type = rates_by_type(rates, bands, "us-east-1")
    expected = np.average(rates["rate"], weights=rates["instance_hours"])
    assert by_type["m5.large"] == pytest.approx(expected)
    assert by_type["c5.large"] == pytest.approx(band_hourly_hazards(np.array([3]))[0])
