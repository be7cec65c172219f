"""`batchopt recommend / plan / apply / rollback` end to end against the moto server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from optimizer.cli.main import main
from optimizer.recommend.repository import save_recommendations
from optimizer.store.engine import create_store_engine
from tests.apply_helpers import build_estate, make_recommendation

pytestmark = pytest.mark.emulator


def _errors(stderr: str) -> list[str]:
    """The CLI's error lines (the emulator's request log shares stderr in tests)."""
    return [line for line in stderr.splitlines() if line.startswith("batchopt: error: ")]


def test_recommend_plan_apply_rollback_commands(
    tmp_path: Path, aws_endpoint: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    estate = build_estate(aws_endpoint)
    monkeypatch.setenv("BATCHOPT_DATABASE_URL", f"sqlite:///{tmp_path / 'store.db'}")
    monkeypatch.setenv("BATCHOPT_AWS_ENDPOINT_URL", aws_endpoint)
    monkeypatch.setenv("BATCHOPT_REGIONS", "us-east-1")
    monkeypatch.setenv("BATCHOPT_ACTOR", "alice")
    assert main(["db", "upgrade"]) == 0
    rec = make_recommendation(
        "spot-adoption",
        estate.queue_arn,
        "job-queue",
        {"compute_environment_order": [estate.spot_arn, estate.ondemand_arn]},
    )
    engine = create_store_engine(f"sqlite:///{tmp_path / 'store.db'}")
    save_recommendations(engine, [rec])
    engine.dispose()
    capsys.readouterr()

    assert main(["recommend", "--json"]) == 0
    [listed] = json.loads(capsys.readouterr().out)["recommendations"]
    assert listed["id"] == rec.id and listed["status"] == "open"

    assert main(["plan", rec.id[:10]]) == 0
    shown = capsys.readouterr().out
    assert "batch.update_job_queue [queue-order]" in shown and "batch:UpdateJobQueue" in shown

    assert main(["apply", rec.id]) == 0
    assert "DRY RUN" in capsys.readouterr().out

    assert main(["apply", rec.id, "--execute"]) == 3
    errors = _errors(capsys.readouterr().err)
    assert "apply is disabled" in errors[0] and errors[-1] == "batchopt: error: nothing was changed"

    config = tmp_path / "batchopt.toml"
    config.write_text('[apply]\nenabled = true\nallow_list = ["main"]\nwait_for_valid_seconds = 5\n')
    assert main(["--config", str(config), "apply", rec.id, "--execute", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["result"] == "succeeded" and report["calls"][0]["landed"]
    [queue] = estate.batch.describe_job_queues(jobQueues=[estate.queue_arn])["jobQueues"]
    assert queue["computeEnvironmentOrder"][0]["computeEnvironment"] == estate.spot_arn

    assert main(["recommend", "--status", "applied"]) == 0
    assert rec.id in capsys.readouterr().out

    assert main(["--config", str(config), "rollback", rec.id]) == 0
    assert "ROLLBACK" in capsys.readouterr().out
    assert main(["--config", str(config), "rollback", rec.id]) == 3
    assert "already rolled back" in _errors(capsys.readouterr().err)[0]

    assert main(["audit", rec.id, "--json"]) == 0
    trail = json.loads(capsys.readouterr().out)
    assert [(r["action"], r["result"], r["actor"]) for r in trail] == [
        ("rollback", "succeeded", "alice"),
        ("apply", "succeeded", "alice"),
        ("apply", "refused", "alice"),
    ]
    assert trail[1]["before"][estate.queue_arn]["computeEnvironmentOrder"][0]["computeEnvironment"] == (
        estate.ondemand_arn
    )

    assert main(["plan", "rec-doesnotexist"]) == 2
    assert "not found" in _errors(capsys.readouterr().err)[0]
