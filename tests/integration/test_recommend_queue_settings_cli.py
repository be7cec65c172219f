"""stuck-job-limits and fair-share through the store and the engine: jobs no CE could host and each
job's share (its team tag) reach the replay's history (`load_dataset`), and each saved
recommendation's evidence command (`batchopt simulate` on its two documents) prints the two costs
and the two p95 waits its figures come from."""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from optimizer.cli.main import main
from optimizer.recommend.generate import generate_recommendations
from optimizer.recommend.strategies.fair_share import FairShareStrategy
from optimizer.recommend.strategies.stuck_job_limits import StuckJobLimitStrategy
from optimizer.simulate.datasets import load_dataset
from optimizer.store.engine import create_store_engine, upgrade
from tests.recommend_helpers import store_estate
from tests.unit.test_recommend_fair_share import fifo_history, shared_estate
from tests.unit.test_recommend_stuck_job_limits import stuck_estate


def evidence_runs(rec: Any, tmp_path: Path) -> list[dict[str, Any]]:
    """The two runs of the recommendation's evidence command, as `batchopt simulate --out` writes them."""
    replayed = rec.evidence["replay"]
    current, proposed, out = tmp_path / "current.json", tmp_path / "proposed.json", tmp_path / "out.json"
    current.write_text(json.dumps(replayed["current_config"]))
    proposed.write_text(json.dumps(replayed["proposed_config"]))
    args = [
        str(current) if a == "current.json" else str(proposed) if a == "proposed.json" else a
        for a in replayed["command"].split()[1:]
    ]
    assert main([*args, "--out", str(out)]) == 0
    runs: list[dict[str, Any]] = json.loads(out.read_text())["runs"]
    assert runs[0]["total_cost_usd"] == pytest.approx(replayed["current_cost_usd"], abs=1e-6)
    assert runs[1]["total_cost_usd"] == pytest.approx(replayed["proposed_cost_usd"], abs=1e-6)
    monthly = (runs[0]["total_cost_usd"] - runs[1]["total_cost_usd"]) * 30 / replayed["window_days"]
    assert rec.monthly_savings_usd == pytest.approx(monthly, abs=0.01)
    return runs


def test_blocked_jobs_are_replayed_and_the_evidence_command_reproduces_the_figures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = create_store_engine(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(engine)
    store_estate(engine, stuck_estate())
    history, _ = load_dataset(engine, "aws")
    blocked = history[history["job_id"].str.contains("blocked")]
    assert len(blocked) == 3 and (blocked["runtime_s"] == 0).all()
    [rec] = generate_recommendations(
        engine, strategies=[StuckJobLimitStrategy()], seed=3, clock=time.monotonic, now=datetime(2026, 12, 1)
    )
    assert rec.strategy == "stuck-job-limits" and rec.target_name == "etl"
    monkeypatch.setenv("BATCHOPT_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    runs = evidence_runs(rec, tmp_path)
    wait = rec.evidence["wait_improvement"]
    assert runs[0]["queue_wait_s"]["etl"]["p95_s"] == pytest.approx(wait["p95_wait_before_s"], abs=0.05)
    assert runs[1]["queue_wait_s"]["etl"]["p95_s"] == pytest.approx(wait["p95_wait_after_s"], abs=0.05)
    assert runs[0]["blocked_heads"]["etl"]["jobs"] == 3
    capsys.readouterr()
    engine.dispose()


def test_shares_from_team_tags_are_replayed_and_the_evidence_command_reproduces_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = create_store_engine(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(engine)
    store_estate(engine, fifo_history(shared_estate()))
    history, _ = load_dataset(engine, "aws")
    assert set(history["share_identifier"]) == {"genomics", "imaging"}
    [rec] = generate_recommendations(
        engine, strategies=[FairShareStrategy()], seed=3, clock=time.monotonic, now=datetime(2026, 12, 1)
    )
    assert rec.strategy == "fair-share" and rec.proposed["new_job_queue"]["name"] == "shared-fairshare"
    monkeypatch.setenv("BATCHOPT_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    runs = evidence_runs(rec, tmp_path)
    wait = rec.evidence["wait_improvement"]
    assert runs[0]["share_wait_s"]["shared"]["imaging"]["p95_s"] == pytest.approx(
        wait["p95_wait_before_s"], abs=0.05
    )
    assert runs[1]["share_wait_s"]["shared"]["imaging"]["p95_s"] == pytest.approx(
        wait["p95_wait_after_s"], abs=0.05
    )
    capsys.readouterr()
    engine.dispose()
