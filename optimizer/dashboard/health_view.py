"""Model cards from the model registry's folder, and the scheduler's persisted jobs. Pure-ish readers:
files and the scheduler's own table, never AWS.

The scheduler keeps its jobs in APScheduler's SQLAlchemyJobStore on the store's database
(`apscheduler_jobs`: id, next_run_time as a UNIX timestamp, pickled state). Only the id and the next
run time are read: unpickling a stored blob in a web app would execute whatever it contains.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Engine, MetaData, Table, select
from sqlalchemy.exc import NoSuchTableError

DEFAULT_MODELS_DIR = "models"
CARD_SUFFIX = ".card.json"
SCHEDULER_TABLE = "apscheduler_jobs"


def models_dir() -> Path:
    """Where `batchopt train` writes: `$BATCHOPT_MODELS_DIR`, else `models/` in the working directory."""
    return Path(os.environ.get("BATCHOPT_MODELS_DIR") or DEFAULT_MODELS_DIR)


def load_model_cards(folder: Path | None = None) -> list[dict[str, Any]]:
    """Every readable `<name>.card.json`, with `_file` set; unreadable cards get an `_error` instead."""
    folder = folder or models_dir()
    if not folder.is_dir():
        return []
    cards = []
    for path in sorted(folder.glob(f"*{CARD_SUFFIX}")):
        try:
            card = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(card, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as exc:
            card = {"_error": f"{path.name}: {exc}"}
        card["_file"] = path.name
        cards.append(card)
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
