"""`batchopt recommend --dismiss/--reopen` goes through the apply service, as the dashboard does:
refused while apply is disabled, a dismissal needs a reason, and each change is audited with its
actor. No AWS is reached."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from optimizer.cli.main import main
from optimizer.recommend.repository import get_recommendation, save_recommendations
from optimizer.store.engine import create_store_engine
from tests.apply_helpers import make_recommendation

QUEUE = "arn:aws:batch:us-east-1:123456789012:job-queue/main"


def _errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("batchopt: error: ")]


def test_dismiss_and_reopen_from_the_cli_are_gated_and_audited(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    monkeypatch.setenv("BATCHOPT_DATABASE_URL", url)
    monkeypatch.setenv("BATCHOPT_REGIONS", "us-east-1")
    monkeypatch.setenv("BATCHOPT_ACTOR", "alice")
    assert main(["db", "upgrade"]) == 0
    rec = make_recommendation("spot", QUEUE, "job-queue", {"compute_environment_order": ["a", "b"]})
    engine = create_store_engine(url)
    save_recommendations(engine, [rec])
    capsys.readouterr()

    # apply.enabled is false by default: nothing changes, as on the dashboard.
    assert main(["recommend", "--dismiss", rec.id, "--reason", "compliance"]) == 3
    assert "apply is disabled" in _errors(capsys.readouterr().err)[0]
    assert get_recommendation(engine, rec.id).status == "open"

    config = tmp_path / "batchopt.toml"
    config.write_text("[apply]\nenabled = true\n")
    enabled = ["--config", str(config), "recommend"]
    assert main([*enabled, "--dismiss", rec.id[:10]]) != 0
    assert "give a reason" in _errors(capsys.readouterr().err)[0]
    assert main([*enabled, "--dismiss", rec.id[:10], "--reason", "compliance"]) == 0
    assert capsys.readouterr().out.strip() == f"dismissed {rec.id}"
    stored = get_recommendation(engine, rec.id)
    assert (stored.status, stored.status_reason) == ("dismissed", "compliance")

    assert main([*enabled, "--reopen", rec.id]) == 0
    assert capsys.readouterr().out.strip() == f"reopened {rec.id}"
    assert get_recommendation(engine, rec.id).status == "open"

    assert main(["audit", rec.id, "--json"]) == 0
    trail = json.loads(capsys.readouterr().out)
    assert [(r["action"], r["actor"]) for r in trail] == [("reopen", "alice"), ("dismiss", "alice")]
    assert trail[1]["before"] == {"status": "open", "status_reason": None}
    assert trail[1]["after"] == {"status": "dismissed", "status_reason": "compliance"}
    engine.dispose()


def test_conflicting_or_ignored_flags_are_refused_before_anything_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--dismiss X --reopen X` dismissed X and dropped the reopen; `--reason` without --dismiss and
    `--json` with --dismiss were ignored without a word."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    monkeypatch.setenv("BATCHOPT_DATABASE_URL", url)
    monkeypatch.setenv("BATCHOPT_REGIONS", "us-east-1")
    assert main(["db", "upgrade"]) == 0
    rec = make_recommendation("spot", QUEUE, "job-queue", {"compute_environment_order": ["a", "b"]})
    engine = create_store_engine(url)
    save_recommendations(engine, [rec])
    config = tmp_path / "batchopt.toml"
    config.write_text("[apply]\nenabled = true\n")
    enabled = ["--config", str(config), "recommend"]
    capsys.readouterr()
    cases = [
        (["--dismiss", rec.id, "--reason", "x", "--reopen", rec.id], "not allowed with argument --dismiss"),
        (["--dismiss", rec.id, "--reason", "x", "--refresh"], "not allowed with argument --dismiss"),
        (["--reopen", rec.id, "--reason", "x"], "--reason goes with --dismiss"),
        (
            ["--dismiss", rec.id, "--reason", "x", "--json"],
            "--json lists recommendations: it does not go with",
        ),
        (["--all", "--status", "open"], "--all lists every status: give it or --status, not both"),
    ]
    for flags, message in cases:
        try:
            code = main([*enabled, *flags])
        except SystemExit as exc:  # (argparse's own refusal of two exclusive flags)
            code = exc.code
        assert code == 2, flags
        assert message in capsys.readouterr().err, flags
    assert get_recommendation(engine, rec.id).status == "open"
    engine.dispose()
