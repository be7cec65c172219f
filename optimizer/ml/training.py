"""Train every model from the store and keep it in the registry: what `batchopt train` and the daily
scheduled job run.

- `demand-forecast.<dataset>`: one `DemandForecaster` per (queue, metric) with at least two weeks
  of history, plus "(all)"; the next 7 days of p50/p90 go to the `demand_forecasts` table.
  Card metrics: a rolling-origin backtest of vCPU demand per queue against seasonal naive.
- `usage-quantile.<dataset>`: `DefinitionQuantiles` and `UsageQuantileModel`, fitted on the first
  80% of attempts with usage (time order) and evaluated on the last 20%, as deployed.
- `spot-interruptions.<dataset>`: the shrunk interruption-rate table.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, delete, func, select

from optimizer.errors import UserError
from optimizer.ml.demand import demand_from_store_jobs
from optimizer.ml.forecast import FEATURES, HORIZON, WEEK, DemandForecaster, backtest, rolling_origins
from optimizer.ml.interruptions import interruption_rates, observed_reclaims
from optimizer.ml.kinds import MODEL_KINDS
from optimizer.ml.registry import IncompatibleModelError, ModelCard, ModelNotFoundError, ModelRegistry
from optimizer.ml.usage import (
    DefinitionQuantiles,
    UsageQuantileModel,
    evaluate,
    evaluate_vcpus,
    recommend_vcpus,
    time_split,
    usage_frame,
)
from optimizer.store.read import read_frame
from optimizer.store.schema import COLLECTED_DATASET, instances, job_attempts, jobs, spot_interruption_bands
from optimizer.store.tables.analysis import demand_forecasts
from optimizer.store.upsert import bulk_upsert

log = logging.getLogger(__name__)
MIN_USAGE_ROWS = 200
BACKTEST_ORIGINS = 3


@dataclass
class TrainingReport:
    trained: dict[str, dict[str, Any]] = field(default_factory=dict)  # model name -> metrics
    skipped: dict[str, str] = field(default_factory=dict)  # model name -> why


def model_name(kind: str, dataset: str) -> str:
    prefix = {"forecast": "demand-forecast", "usage": "usage-quantile", "interruptions": "spot-interruptions"}
    return f"{prefix[kind]}.{re.sub(r'[^A-Za-z0-9._-]+', '_', dataset)}"


def _iso(value: Any) -> str | None:
    return None if value is None or pd.isna(value) else pd.Timestamp(value).isoformat()


DEFAULT_FORECASTER = DemandForecaster()
"""The settings every demand model uses unless `train_all` is given a template."""


def history_end(engine: Engine, dataset: str, now: datetime) -> datetime | None:
    """Where a dataset's history ends: now for collected data, the last event for an imported
    trace (whose jobs ran decades ago), so `history_days` always counts back from real data."""
    last = func.max(func.coalesce(jobs.c.stopped_at, jobs.c.started_at, jobs.c.created_at))
    with engine.connect() as conn:
        value = conn.execute(select(last).where(jobs.c.dataset == dataset)).scalar_one_or_none()
    if value is None:
        return None
    return min(now, pd.Timestamp(value).to_pydatetime())


def _forecaster(template: DemandForecaster | None) -> DemandForecaster:
    return (template or DEFAULT_FORECASTER).settings()


def train_forecasts(
    engine: Engine,
    registry: ModelRegistry,
    dataset: str,
    now: datetime,
    history_days: int,
    template: DemandForecaster | None = None,
) -> tuple[dict[str, Any] | None, str | None]:
    end = history_end(engine, dataset, now)
    if end is None:
        return None, "no jobs in the dataset"
    since = end - timedelta(days=history_days)
    cols = [jobs.c.job_id, jobs.c.queue, jobs.c.started_at, jobs.c.stopped_at, jobs.c.vcpus]
    cols += [jobs.c.memory_mib, jobs.c.gpus]
    started = jobs.c.started_at.is_not(None)
    recent = (jobs.c.stopped_at.is_(None)) | (jobs.c.stopped_at >= since)
    frame = read_frame(
        engine, select(*cols).where(jobs.c.dataset == dataset, started, recent, jobs.c.started_at < end)
    )
    if frame.empty:
        return None, "no jobs ran in the history window"
    # still running: they hold their resources until the end of the history
    frame["stopped_at"] = frame["stopped_at"].fillna(pd.Timestamp(end))
    demand = demand_from_store_jobs(frame)
    demand = demand[demand.index < pd.Timestamp(end).floor("h")]  # the last hour is incomplete
    if len(demand) < 2 * WEEK:
        return None, f"{len(demand)} hours of demand history: at least {2 * WEEK} needed"
    models: dict[tuple[str, str], DemandForecaster] = {}
    forecasts = []
    metrics: dict[str, Any] = {}
    for (queue, metric), series in demand.items():
        if float(series.abs().sum()) == 0.0:
            continue
        model = _forecaster(template).fit(series)
        models[(str(queue), str(metric))] = model
        pred = model.predict(series)
        forecasts.append(pred.assign(queue=str(queue), metric=str(metric)).reset_index())
        if metric == "vcpus":
            origins = rolling_origins(series.index, count=BACKTEST_ORIGINS, step_hours=24)
            if origins:
                result = backtest(series, origins, forecaster=_forecaster(template))
                metrics[str(queue)] = {
                    "mae_p50": result.mae_model,
                    "mae_seasonal_naive": result.mae_naive,
                    "improvement": result.improvement,
                    "p90_coverage": result.p90_coverage,
                    "origins": [o.isoformat() for o in result.origins],
                    "horizon_hours": HORIZON,
                }
    name = model_name("forecast", dataset)
    card = ModelCard(
        name=name,
        kind="demand-forecast",
        trained_at=now.isoformat(),
        training_window={"start": _iso(demand.index[0]), "end": _iso(demand.index[-1])},
        features=list(FEATURES),
        target="resource-hours per hour of running jobs, per queue and metric (vcpus, memory_gib, gpus)",
        metrics={"backtest_vcpus": metrics},
        params={"quantiles": [0.5, 0.9], "horizon_hours": HORIZON, "model": "HistGradientBoostingRegressor"},
        data={"dataset": dataset, "jobs": len(frame), "series": [f"{q}/{m}" for q, m in models]},
    )
    registry.save(models, card)
    rows = pd.concat(forecasts, ignore_index=True)
    rows["dataset"] = dataset
    rows["trained_at"] = now
    with engine.begin() as conn:
        conn.execute(delete(demand_forecasts).where(demand_forecasts.c.dataset == dataset))
        bulk_upsert(
            conn, demand_forecasts, rows[["dataset", "queue", "metric", "hour", "p50", "p90", "trained_at"]]
        )
    return {"series": len(models), "backtest_vcpus": metrics}, None


def train_usage(
    engine: Engine, registry: ModelRegistry, dataset: str, now: datetime, history_days: int
) -> tuple[dict[str, Any] | None, str | None]:
    since = (history_end(engine, dataset, now) or now) - timedelta(days=history_days)
    job_cols = [
        "job_id",
        "job_definition_name",
        "job_name",
        "vcpus",
        "memory_mib",
        "parameters",
        "created_at",
    ]
    job_frame = read_frame(
        engine,
        select(*[jobs.c[c] for c in job_cols]).where(jobs.c.dataset == dataset, jobs.c.created_at >= since),
    )
    att = read_frame(
        engine,
        select(job_attempts)
        .join(jobs, jobs.c.job_id == job_attempts.c.job_id)
        .where(
            jobs.c.dataset == dataset, jobs.c.created_at >= since, job_attempts.c.peak_memory_mib.is_not(None)
        ),
    )
    frame = usage_frame(job_frame, att)
    if len(frame) < MIN_USAGE_ROWS:
        return None, f"{len(frame)} attempts with measured peak memory: at least {MIN_USAGE_ROWS} needed"
    train, calib, test = time_split(frame)
    per_def = DefinitionQuantiles().fit(pd.concat([train, calib]))
    per_job = UsageQuantileModel().fit(train, calib)
    ev_def = evaluate(test, per_def.recommend(test))
    ev_job = evaluate(test, per_job.recommend(test))
    metrics = {
        "per_definition": ev_def.to_json(),
        "per_job": ev_job.to_json(),
        "per_definition_vcpus": evaluate_vcpus(test, recommend_vcpus(per_def, test)),
        "alpha": per_job.alpha,
    }
    card = ModelCard(
        name=model_name("usage", dataset),
        kind="usage-quantile",
        trained_at=now.isoformat(),
        training_window={"start": _iso(frame["created_at"].min()), "end": _iso(frame["created_at"].max())},
        features=per_job.feature_names,
        target="peak memory MiB per attempt (log), conformal upper bound at 1 - alpha",
        metrics=metrics,
        params={"alpha": per_job.alpha, "base_quantile": per_job.base_quantile, "split": "60/20/20 by time"},
        data={"dataset": dataset, "attempts": len(frame), "definitions": len(per_def.evidence)},
    )
    registry.save({"per_definition": per_def, "per_job": per_job}, card)
    return metrics, None


def train_interruptions(
    engine: Engine, registry: ModelRegistry, dataset: str, now: datetime, history_days: int
) -> tuple[dict[str, Any] | None, str | None]:
    since = (history_end(engine, dataset, now) or now) - timedelta(days=history_days)
    inst = read_frame(
        engine, select(instances).where(instances.c.dataset == dataset, instances.c.last_seen >= since)
    )
    att = read_frame(
        engine,
        select(job_attempts.c.instance_id, job_attempts.c.is_spot_reclaim)
        .join(jobs, jobs.c.job_id == job_attempts.c.job_id)
        .where(jobs.c.dataset == dataset, job_attempts.c.is_spot_reclaim.is_(True)),
    )
    observed = observed_reclaims(inst, att)
    if observed.empty:
        return None, "no spot instances in the history window"
    bands = read_frame(engine, select(spot_interruption_bands))
    rates = interruption_rates(observed, bands)
    metrics = {
        "pools": len(rates),
        "instance_hours": float(rates["instance_hours"].sum()),
        "reclaims": int(rates["reclaims"].sum()),
        "pools_without_band": int((~rates["band_known"]).sum()),
        "mean_weight_on_observation": float(
            np.average(rates["weight"], weights=rates["instance_hours"] + 1e-9)
        ),
    }
    card = ModelCard(
        name=model_name("interruptions", dataset),
        kind="interruption-rate",
        trained_at=now.isoformat(),
        training_window={"start": since.isoformat(), "end": now.isoformat()},
        features=["region", "availability_zone", "instance_type", "spot advisor band"],
        target="spot reclaims per instance-hour (Gamma-Poisson posterior mean)",
        metrics=metrics,
        params={"prior_events": 1.0},
        data={"dataset": dataset},
    )
    registry.save(rates, card)
    return metrics, None


TRAINERS = {"forecast": train_forecasts, "usage": train_usage, "interruptions": train_interruptions}


def train_all(
    engine: Engine,
    registry: ModelRegistry,
    *,
    now: datetime,
    dataset: str = COLLECTED_DATASET,
    kinds: tuple[str, ...] = MODEL_KINDS,
    history_days: int = 56,
    forecaster: DemandForecaster | None = None,
) -> TrainingReport:
    """Train the requested model kinds; a kind without enough data is skipped with the reason.

    `forecaster` is a template whose settings (quantiles, rows, iterations) every demand model uses.
    """
    report = TrainingReport()
    for kind in kinds:
        name = model_name(kind, dataset)
        if kind == "forecast":
            metrics, reason = train_forecasts(engine, registry, dataset, now, history_days, forecaster)
        else:
            metrics, reason = TRAINERS[kind](engine, registry, dataset, now, history_days)
        if metrics is None:
            report.skipped[name] = reason or "not enough data"
            log.info("model %s skipped: %s", name, reason)
        else:
            report.trained[name] = metrics
    return report


def load_or_train(
    engine: Engine,
    registry: ModelRegistry,
    kind: str,
    *,
    now: datetime,
    dataset: str = COLLECTED_DATASET,
    history_days: int = 56,
) -> tuple[Any, ModelCard]:
    """The trained model of `kind` for `dataset`; missing or written by incompatible library
    versions, it is retrained from the store first (the refusal is logged with its reason)."""
    name = model_name(kind, dataset)
    try:
        return registry.load(name)
    except (ModelNotFoundError, IncompatibleModelError) as exc:
        log.warning("retraining %s: %s", name, exc)
        why = str(exc)
    report = train_all(engine, registry, now=now, dataset=dataset, kinds=(kind,), history_days=history_days)
    if name not in report.trained:
        raise UserError(f"model {name}: {why}; retraining failed: {report.skipped.get(name, 'no data')}")
    return registry.load(name)
