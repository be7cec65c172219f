"""A second shell that sources the demo's `demo.env` runs the CLI against the running demo: the
store, the emulator, the region and the throwaway credentials all come from that one file."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from optimizer.aws.session import SessionFactory
from optimizer.config import AwsSettings
from optimizer.demo.emulator import Emulator
from optimizer.demo.estate import build_estate
from optimizer.demo.pipeline import DEMO_CREDENTIALS, DEMO_REGION
from optimizer.demo.shell_env import write_demo_env
from optimizer.domain import UpdateKind
from optimizer.recommend.base import make_recommendation
from optimizer.recommend.repository import save_recommendations
from optimizer.store.engine import create_store_engine, upgrade
from tests.demo_helpers import NOW

pytestmark = [pytest.mark.emulator, pytest.mark.xdist_group("demo")]


@pytest.fixture
def emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with Emulator(NOW) as running:
        yield running


def _in_sourced_shell(env_file: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`source <env_file>; batchopt ARGS` in a clean shell (no BATCHOPT_* or AWS_* of this process)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("BATCHOPT_", "AWS_"))}
    command = f"source {shlex.quote(str(env_file))} && exec {shlex.quote(sys.executable)} -m optimizer "
    command += " ".join(shlex.quote(a) for a in args)
    return subprocess.run(
        ["bash", "-c", command], env=clean, cwd=cwd, capture_output=True, text=True, timeout=180
    )


def test_sourced_demo_env_lists_and_dry_runs_against_the_demo(emulator: Emulator, tmp_path: Path) -> None:
    sessions = SessionFactory(AwsSettings(endpoint_url=emulator.endpoint_url, regions=[DEMO_REGION]))
    estate = build_estate(sessions, sessions.target_regions()[0])
    workdir = tmp_path / "var"
    # A relative store path, as `batchopt demo` makes by default: demo.env must make it absolute.
    (tmp_path / "var").mkdir()
    relative_url = "sqlite:///var/demo.db"
    engine: Engine = create_store_engine(f"sqlite:///{workdir / 'demo.db'}")
    upgrade(engine)
    rec = make_recommendation(
        strategy="ce-scaling",
        target_arn=estate.compute_environments["memory-heavy-ondemand"],
        target_kind="compute-environment",
        target_name="memory-heavy-ondemand",
        title="memory-heavy-ondemand: min_vcpus 8 -> 0",
        current={"min_vcpus": 8},
        proposed={"min_vcpus": 0},
        monthly_savings_usd=244.8,
        risk={},
        risk_scores={"queue_wait": 0.0},
        confidence=0.9,
        effort="low",
        update_kind=UpdateKind.SCALING,
        evidence={},
        account_id=estate.account_id,
        region=DEMO_REGION,
    )
    save_recommendations(engine, [rec])
    engine.dispose()
    old_cwd = Path.cwd()
    os.chdir(tmp_path)
    try:
        env_file = write_demo_env(
            workdir / "demo.env",
            database_url=relative_url,
            endpoint_url=emulator.endpoint_url,
            region=DEMO_REGION,
            credentials=DEMO_CREDENTIALS,
            models_dir=Path("var/models"),
            extra={"BATCHOPT_APPLY__ALLOW_LIST": "memory-heavy-ondemand"},
        )
    finally:
        os.chdir(old_cwd)
    assert env_file.is_absolute()
    assert f"export BATCHOPT_DATABASE_URL=sqlite:///{workdir / 'demo.db'}" in env_file.read_text()

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    listed = _in_sourced_shell(env_file, "recommend", "--json", cwd=elsewhere)
    assert listed.returncode == 0, listed.stderr
    shown = json.loads(listed.stdout)
    assert [r["id"] for r in shown["recommendations"]] == [rec.id]
    assert shown["identified_savings_usd_per_month"] == 244.8

    dry_run = _in_sourced_shell(env_file, "apply", rec.id, cwd=elsewhere)
    assert dry_run.returncode == 0, dry_run.stderr
    assert "DRY RUN" in dry_run.stdout
    assert "would call update_compute_environment" in dry_run.stdout
    assert "minvCpus" in dry_run.stdout and "not on apply.allow_list" not in dry_run.stdout
