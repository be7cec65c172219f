"""The run recorder: atomic load + watermark + run row, interrupted and abandoned runs."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import pandas as pd
import pytest
from sqlalchemy import Connection, Engine, select

from optimizer.collectors.base import CollectContext, Collected, Source
from optimizer.collectors.runner import collect
from optimizer.store.read import read_frame
from optimizer.store.schema import collector_runs, collector_watermarks, spot_prices
from optimizer.store.upsert import bulk_upsert
from tests.collect_helpers import Clock, count, fixed_plan

pytestmark = pytest.mark.any_date  # dates are fixed and "now" is injected: the same on any date

NOW = datetime(2026, 3, 1, 12)


def _prices(ctx: CollectContext, engine: Engine, marks: Mapping[str, str]) -> Collected:
    frame = pd.DataFrame(
        {
            "region": ["us-east-1"],
            "availability_zone": ["us-east-1a"],
            "instance_type": ["m5.large"],
            "timestamp": [NOW],
            "price": [0.04],
        }
    )
    return Collected(1, {"p": frame}, {"m5.large|us-east-1a": "2026-03-01T12:00:00.000"})


def _load_then_fail(conn: Connection, ctx: CollectContext, collected: Collected) -> int:
    bulk_upsert(conn, spot_prices, collected.frames["p"])
    raise RuntimeError("disk full after the first table")


def _interrupt(ctx: CollectContext, engine: Engine, marks: Mapping[str, str]) -> Collected:
    raise KeyboardInterrupt


def test_a_load_that_fails_half_way_leaves_nothing(sqlite_engine: Engine) -> None:
    source = Source("spot_prices", _prices, _load_then_fail, "test")
    [result] = collect(sqlite_engine, [fixed_plan("prod", {})], [source], clock=Clock(NOW))
    assert result.status == "failed" and "disk full" in (result.error or "")
    assert count(sqlite_engine, spot_prices) == 0
    assert count(sqlite_engine, collector_watermarks) == 0


def test_interrupt_is_recorded_then_raised_and_abandoned_runs_are_closed(sqlite_engine: Engine) -> None:
    source = Source("spot_prices", _interrupt, _load_then_fail, "test")
    with pytest.raises(KeyboardInterrupt):
        collect(sqlite_engine, [fixed_plan("prod", {})], [source], clock=Clock(NOW))
    run = read_frame(sqlite_engine, select(collector_runs)).iloc[0]
    assert (run["status"], run["error"]) == ("failed", "interrupted (KeyboardInterrupt)")

    with sqlite_engine.begin() as conn:  # a process killed outright leaves its row "running"
        conn.execute(
            collector_runs.insert().values(
                target="prod", region="us-east-1", source="spot_prices", started_at=NOW, status="running"
            )
        )
    ok = Source(
        "spot_prices", _prices, lambda conn, ctx, c: bulk_upsert(conn, spot_prices, c.frames["p"]), "t"
    )
    [result] = collect(sqlite_engine, [fixed_plan("prod", {})], [ok], clock=Clock(NOW))
    assert (result.status, result.items_written) == ("succeeded", 1)
    runs = read_frame(sqlite_engine, select(collector_runs).order_by(collector_runs.c.id))
    assert list(runs["status"]) == ["failed", "failed", "succeeded"]
    assert runs["error"].iloc[1].startswith("abandoned")
    assert runs["watermark_after"].iloc[2] == "2026-03-01T12:00:00.000"
