"""Model cards through the model registry, and the scheduler's persisted jobs: files and the
scheduler's own table, never AWS.

The scheduler keeps its jobs in APScheduler's SQLAlchemyJobStore on the store's database
(`apscheduler_jobs`: id, next_run_time as a UNIX timestamp, pickled state). Only the id and the next
run time are read: unpickling a stored blob in a web app would execute whatever it contains.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Engine, MetaData, Table, select
from sqlalchemy.exc import NoSuchTableError

from optimizer.errors import UserError
from optimizer.ml.registry import ModelRegistry, default_models_dir, incompatibilities

SCHEDULER_TABLE = "apscheduler_jobs"


def models_dir() -> Path:
    """Where `batchopt train` writes (the registry's own rule)."""
    return default_models_dir()


def load_model_cards(folder: Path | None = None) -> list[dict[str, Any]]:
    """Every model card the registry holds (its `<name>.card.json` files), with `_file` set.

    Read one by one through `ModelRegistry.card`, so one unreadable card becomes a row with an
    `_error` instead of hiding every other model; cards whose library versions cannot load the model
    get `_error` too (what `batchopt train` would retrain).
    """
    registry = ModelRegistry(folder or models_dir())
    cards = []
    for name in registry.names():
        try:
            card = registry.card(name)
            row: dict[str, Any] = card.to_json()
            problems = incompatibilities(card.library_versions)
            if problems:
                row["_error"] = "needs retraining: written by " + "; ".join(problems)
        except UserError as exc:
            row = {"_error": str(exc)}
        row["_file"] = f"{name}{registry.CARD_SUFFIX}"
        cards.append(row)
    return cards


def _flat_metrics(metrics: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(metrics, dict):
        return {prefix.rstrip("."): metrics} if prefix else {}
    out: dict[str, Any] = {}
    for key, value in metrics.items():
        if isinstance(value, dict):
            out.update(_flat_metrics(value, f"{prefix}{key}."))
        elif isinstance(value, int | float | str | bool) or value is None:
            out[f"{prefix}{key}"] = value
    return out


def model_card_rows(cards: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per card: its scalar fields and its metrics (backtest results) flattened."""
    rows = []
    for card in cards:
        row = {"file": card["_file"]}
        if "_error" in card:
            row["error"] = card["_error"]
        for key, value in card.items():
            if key.startswith("_") or key == "metrics":
                continue
            if isinstance(value, int | float | str | bool) or value is None:
                row[key] = value
        window = card.get("training_window")
        if isinstance(window, dict):
            row["window_start"], row["window_end"] = window.get("start"), window.get("end")
        row.update({f"metric: {k}": v for k, v in _flat_metrics(card.get("metrics")).items()})
        rows.append(row)
    return pd.DataFrame(rows)


def scheduler_jobs(engine: Engine) -> pd.DataFrame | None:
    """The scheduler's jobs and next run times (UTC), or None when no scheduler used this store."""
    try:
        table = Table(SCHEDULER_TABLE, MetaData(), autoload_with=engine)
    except NoSuchTableError:
        return None
    with engine.connect() as conn:
        rows = conn.execute(select(table.c.id, table.c.next_run_time).order_by(table.c.next_run_time)).all()
    frame = pd.DataFrame(rows, columns=["job", "next_run_time"])
    frame["next_run_time"] = pd.to_datetime(frame["next_run_time"], unit="s", utc=True)
    frame["paused"] = frame["next_run_time"].isna()
    return frame


def job_descriptions() -> dict[str, str]:
    """What each registered periodic job does, from the schedule registry."""
    # imports every area's `scheduled` module: only when asked
    from optimizer.scheduler.registry import discover_jobs

    return {str(job.id): str(job.description) for job in discover_jobs()}


def with_descriptions(jobs: pd.DataFrame, descriptions: dict[str, str]) -> pd.DataFrame:
    """The scheduler's jobs with the registry's description of each (blank for unknown ids)."""
    return jobs.assign(description=[descriptions.get(str(job), "") for job in jobs["job"]])
