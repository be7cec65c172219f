"""`batchopt train` on a store loaded from generated fixtures: models, cards and forecasts persisted."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, func, select

from optimizer.analysis.stored import read_demand_forecasts
from optimizer.cli.main import main
from optimizer.ml import training
from optimizer.ml.forecast import DemandForecaster
from optimizer.ml.registry import ModelRegistry
from optimizer.store.schema import instances, job_attempts, jobs, spot_interruption_bands
from optimizer.store.tables.analysis import demand_forecasts
from optimizer.store.upsert import bulk_upsert

NOW = pd.Timestamp.now(tz="UTC").tz_localize(None).floor("h")


def _load(engine: Engine) -> None:
    rng = np.random.default_rng(5)
    # 15 days: enough to train (two weeks), too short for a backtest (tested in the unit tests)
    hours = pd.date_range(NOW - pd.Timedelta(days=15), NOW - pd.Timedelta(hours=1), freq="h")
    rows, attempts = [], []
    for k, start in enumerate(hours):
        for q, queue in enumerate(("etl", "ml")):
            n = 1 + (start.hour in range(8, 18)) * 2 + q
            for i in range(n):
                job_id = f"j-{k}-{q}-{i}"
                run = pd.Timedelta(minutes=int(rng.integers(10, 90)))
                reads = int(rng.integers(1, 10))
                rows.append(
                    {
                        "job_id": job_id,
                        "dataset": "aws",
                        "queue": queue,
                        "job_definition_name": f"def-{queue}",
                        "job_name": f"{queue}-{k}",
                        "status": "SUCCEEDED",
                        "created_at": start,
                        "started_at": start,
                        "stopped_at": start + run,
                        "vcpus": 2.0,
                        "memory_mib": 4096,
                        "gpus": 0,
                        "parameters": {"reads": reads},
                    }
                )
                attempts.append(
                    {
                        "job_id": job_id,
                        "attempt": 0,
                        "instance_id": f"i-{k % 40}",
                        "started_at": start,
                        "stopped_at": start + run,
                        "exit_code": 0,
                        "is_spot_reclaim": bool(k % 97 == 0 and i == 0),
                        "peak_memory_mib": float(300 * reads * rng.lognormal(0, 0.1)),
                        "peak_vcpus": 1.0,
                    }
                )
    inst = pd.DataFrame(
        {
            "instance_id": [f"i-{k}" for k in range(40)],
            "dataset": "aws",
            "region": "us-east-1",
            "availability_zone": "us-east-1a",
            "instance_type": "m5.xlarge",
            "capacity_type": "SPOT",
            "first_seen": NOW - pd.Timedelta(days=15),
            "last_seen": NOW,
        }
    )
    bands = pd.DataFrame(
        {
            "region": ["us-east-1"],
            "instance_type": ["m5.xlarge"],
            "band": [1],
            "band_label": ["5-10%"],
            "snapshot_date": [pd.Timestamp("2025-06-28")],
        }
    )
    with engine.begin() as conn:
        bulk_upsert(conn, jobs, pd.DataFrame(rows))
        bulk_upsert(conn, job_attempts, pd.DataFrame(attempts))
        bulk_upsert(conn, instances, inst)
        bulk_upsert(conn, spot_interruption_bands, bands)


def test_train_writes_models_cards_and_forecasts(
    sqlite_engine: Engine, tmp_path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _load(sqlite_engine)
    monkeypatch.setenv("BATCHOPT_DATABASE_URL", sqlite_engine.url.render_as_string(hide_password=False))
    # the same code path with smaller trees: the test budget is seconds, not a production fit
    small = DemandForecaster(max_rows=1500, max_iter=30)
    monkeypatch.setattr(training, "DEFAULT_FORECASTER", small)
    models = tmp_path / "models"
    assert main(["train", "--models-dir", str(models), "--history-days", "28"]) == 0
    out = capsys.readouterr().out
    assert "trained demand-forecast.aws: 6 series; no backtest (history too short)" in out
    assert "trained usage-quantile.aws" in out and "trained spot-interruptions.aws" in out

    registry = ModelRegistry(models)
    forecasters, card = registry.load("demand-forecast.aws")
    assert ("etl", "vcpus") in forecasters and ("(all)", "vcpus") in forecasters
    assert card.training_window["start"] and card.metrics == {"backtest_vcpus": {}}
    assert card.library_versions["scikit-learn"] and "same_hour_w1" in card.features
    usage_card = json.loads((models / "usage-quantile.aws.card.json").read_text())
    assert "param:reads" in usage_card["features"]
    assert usage_card["metrics"]["per_job"]["jobs"] > 0
    assert usage_card["metrics"]["per_definition_vcpus"]["vcpu_cut"] == pytest.approx(0.5)  # peak 1 of 2
    rates, _ = registry.load("spot-interruptions.aws")
    assert rates["reclaims"].sum() > 0 and (rates["rate"] > 0).all()

    with sqlite_engine.connect() as conn:
        per_series = conn.execute(
            select(demand_forecasts.c.queue, demand_forecasts.c.metric, func.count()).group_by(
                demand_forecasts.c.queue, demand_forecasts.c.metric
            )
        ).all()
    assert per_series and all(count == 168 for _, _, count in per_series)
    etl = read_demand_forecasts(sqlite_engine, queues=["etl"])
    assert len(etl) == 168 and (etl["p90"] >= etl["p50"]).all() and (etl["p50"] >= 0).all()
    assert etl["hour"].iloc[0] >= NOW - pd.Timedelta(hours=1)
    # training again replaces the forecasts instead of adding to them
    report = training.train_all(sqlite_engine, registry, now=NOW.to_pydatetime(), kinds=("forecast",))
    assert list(report.trained) == ["demand-forecast.aws"]
    with sqlite_engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(demand_forecasts)).scalar_one()
    assert total == 168 * len(per_series)


def test_train_rejects_unknown_model_kinds(
    sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BATCHOPT_DATABASE_URL", sqlite_engine.url.render_as_string(hide_password=False))
    assert main(["train", "--only", "forecast,magic"]) == 2
    err = capsys.readouterr().err.strip()
    assert (
        err == "batchopt: error: --only 'forecast,magic': each must be one of forecast, usage, interruptions"
    )


def test_train_on_an_empty_store_skips_with_reasons(
    sqlite_engine: Engine, tmp_path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BATCHOPT_DATABASE_URL", sqlite_engine.url.render_as_string(hide_password=False))
    assert main(["train", "--models-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "skipped demand-forecast.aws: no jobs in the dataset" in out
    assert "skipped usage-quantile.aws: 0 attempts with measured peak memory" in out


def test_a_model_from_another_scikit_learn_is_refused_and_retrained(sqlite_engine: Engine, tmp_path) -> None:
    _load(sqlite_engine)
    registry = ModelRegistry(tmp_path)
    now = NOW.to_pydatetime()
    rates, card = training.load_or_train(sqlite_engine, registry, "interruptions", now=now)
    assert (rates["rate"] > 0).all() and card.kind == "interruption-rate"  # trained: none existed
    card_path = tmp_path / "spot-interruptions.aws.card.json"
    stale = json.loads(card_path.read_text())
    stale["library_versions"]["scikit-learn"] = "0.22.0"
    stale["trained_at"] = "2020-01-01T00:00:00"
    card_path.write_text(json.dumps(stale))
    _, again = training.load_or_train(sqlite_engine, registry, "interruptions", now=now)
    assert again.trained_at == now.isoformat()  # retrained, not loaded
    assert again.library_versions["scikit-learn"] != "0.22.0"


def test_daily_analytics_job_is_registered_and_runs(
    sqlite_engine: Engine, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from optimizer.ml.scheduled import daily_analytics_job
    from optimizer.scheduler.registry import discover_jobs
    from optimizer.store.tables.analysis import analysis_runs

    assert "daily-analytics" in [job.id for job in discover_jobs()]
    monkeypatch.setenv("BATCHOPT_DATABASE_URL", sqlite_engine.url.render_as_string(hide_password=False))
    monkeypatch.chdir(tmp_path)
    daily_analytics_job()
    with sqlite_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(analysis_runs)).scalar_one() == 1
