"""`batchopt analyze` on a store loaded from fixtures: persisted books balance, re-runs are idempotent."""

from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy import Engine, func, select

from optimizer.analysis.stored import read_cost_by_tag, read_cost_daily, read_utilization_hourly
from optimizer.cli.main import main
from optimizer.store.schema import instance_types, instances, job_attempts, jobs, ondemand_prices, spot_prices
from optimizer.store.tables.analysis import analysis_runs, cost_daily, utilization_hourly
from optimizer.store.upsert import bulk_upsert
from tests import analysis_helpers as h


def _load(engine: Engine) -> None:
    types = h.instance_types()
    with engine.begin() as conn:
        bulk_upsert(conn, instance_types, types)
        bulk_upsert(conn, ondemand_prices, h.ondemand())
        bulk_upsert(conn, spot_prices, h.spot_prices())
        bulk_upsert(conn, instances, h.instances())
        bulk_upsert(conn, jobs, h.jobs())
        attempts = h.attempts()
        # ints with None (an integer column takes neither 0.0 nor pd.NA on every dialect)
        attempts["exit_code"] = pd.Series(
            [None if pd.isna(v) else int(v) for v in attempts["exit_code"]], dtype=object
        )
        bulk_upsert(conn, job_attempts, attempts)


def _analyze(engine: Engine, monkeypatch: pytest.MonkeyPatch, *extra: str) -> int:
    monkeypatch.setenv("BATCHOPT_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    return main(["analyze", *extra])


def test_analyze_persists_balanced_books_and_is_idempotent(
    store_engine: Engine, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _load(store_engine)
    assert _analyze(store_engine, monkeypatch) == 0
    out = capsys.readouterr().out
    assert "4 instances, 6 attempts" in out and "spot-latest-region: 1" in out

    expected_total = 2 * 0.096 + 0.12 + 4 * 3.06 + 0.08
    by_queue = read_cost_daily(store_engine, ["queue"], period=None)
    assert by_queue["total_usd"].sum() == pytest.approx(expected_total)
    assert set(by_queue["queue"]) == {"q-main", "q-spot", "q-gpu", "(idle)"}
    weekly = read_cost_daily(store_engine, ["capacity_type"], period="week")
    assert set(weekly["week"]) == {pd.Timestamp("2026-11-02")}
    assert weekly["total_usd"].sum() == pytest.approx(expected_total)
    tags = read_cost_by_tag(store_engine, "team").set_index("tag_value")
    assert tags.loc["genomics", "total_usd"] == pytest.approx(0.144)
    util = read_utilization_hourly(store_engine)
    assert util["capacity_vcpu_hours"].sum() == pytest.approx(2 * 2 + 4 * 2 + 8 * 4 + 4 * 1)

    with store_engine.connect() as conn:
        rows_before = conn.execute(select(func.count()).select_from(cost_daily)).scalar_one()
        util_before = conn.execute(select(func.count()).select_from(utilization_hourly)).scalar_one()
    assert _analyze(store_engine, monkeypatch) == 0
    assert _analyze(store_engine, monkeypatch, "--since", "2026-11-03") == 0
    with store_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(cost_daily)).scalar_one() == rows_before
        assert conn.execute(select(func.count()).select_from(utilization_hourly)).scalar_one() == util_before
        assert conn.execute(select(func.count()).select_from(analysis_runs)).scalar_one() == 3
    again = read_cost_daily(store_engine, ["queue"], period=None)
    assert again["total_usd"].sum() == pytest.approx(expected_total)


def test_analyze_rejects_a_bad_date(
    sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _analyze(sqlite_engine, monkeypatch, "--since", "next tuesday") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["batchopt: error: --since 'next tuesday': not a date (expected YYYY-MM-DD)"]
