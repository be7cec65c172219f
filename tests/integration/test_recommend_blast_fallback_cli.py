"""blast-radius and spot-fallback through the store and the engine: each saved recommendation's
evidence command (`batchopt simulate`, the shortages inside its documents) prints the two costs its
monthly figure comes from."""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from optimizer.cli.main import main
from optimizer.recommend.generate import generate_recommendations
from optimizer.recommend.strategies import BlastRadiusStrategy, SpotFallbackStrategy
from optimizer.store.engine import create_store_engine, upgrade
from tests.recommend_helpers import store_estate
from tests.unit.test_recommend_blast_radius import burst_estate
from tests.unit.test_recommend_spot_fallback import spot_only_estate


def both_estates() -> dict[str, Any]:
    burst, spot_only = burst_estate(), spot_only_estate(("sim-spot", "SPOT"))
    return {
        key: pd.concat([burst[key], spot_only[key]], ignore_index=True)
        if isinstance(burst[key], pd.DataFrame)
        else [*burst[key], *spot_only[key]]
        for key in burst
    }


def test_evidence_commands_reproduce_both_figures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = create_store_engine(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(engine)
    store_estate(engine, both_estates())
    recs = generate_recommendations(
        engine,
        strategies=[BlastRadiusStrategy(), SpotFallbackStrategy()],
        seed=3,
        clock=time.monotonic,
        now=datetime(2026, 12, 1),
    )
    # Both queues are spot-only: which one the assumed shortages delay by 10 min at p95 is the
    # replay's to say (with seed 3 the long jobs of `genomics`).
    found = {(r.strategy, r.target_name) for r in recs}
    assert ("blast-radius", "spot-ce") in found
    assert {t for s, t in found if s == "spot-fallback"} and {
        t for s, t in found if s == "spot-fallback"
    } <= {
        "genomics",
        "sim",
    }
    monkeypatch.setenv("BATCHOPT_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    for rec in recs:
        replayed = rec.evidence["replay"]
        current, proposed, out = tmp_path / "current.json", tmp_path / "proposed.json", tmp_path / "out.json"
        current.write_text(json.dumps(replayed["current_config"]))
        proposed.write_text(json.dumps(replayed["proposed_config"]))
        args = [
            str(current) if a == "current.json" else str(proposed) if a == "proposed.json" else a
            for a in replayed["command"].split()[1:]
        ]
        assert main([*args, "--out", str(out)]) == 0
        runs = json.loads(out.read_text())["runs"]
        assert runs[0]["total_cost_usd"] == pytest.approx(replayed["current_cost_usd"], abs=1e-6)
        assert runs[1]["total_cost_usd"] == pytest.approx(replayed["proposed_cost_usd"], abs=1e-6)
        monthly = (runs[0]["total_cost_usd"] - runs[1]["total_cost_usd"]) * 30 / replayed["window_days"]
        assert rec.monthly_savings_usd == pytest.approx(monthly, abs=0.01)
    capsys.readouterr()
    engine.dispose()
