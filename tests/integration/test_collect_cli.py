"""`batchopt collect`, `batchopt iam-policy` and the scheduler wiring, end to end on the emulator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import inspect, select, text

from optimizer.cli.main import main
from optimizer.config import load_settings
from optimizer.store.engine import create_store_engine
from optimizer.store.schema import collector_runs, jobs
from tests.collect_helpers import build_batch_estate, submit_and_wait

pytestmark = pytest.mark.emulator


@pytest.fixture
def cli_env(tmp_path: Path, aws_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    monkeypatch.setenv("BATCHOPT_DATABASE_URL", url)
    monkeypatch.setenv("BATCHOPT_AWS_ENDPOINT_URL", aws_endpoint)
    monkeypatch.setenv("BATCHOPT_REGIONS", "us-east-1")
    monkeypatch.setenv("BATCHOPT_AWS__MAX_ATTEMPTS", "2")
    assert main(["db", "upgrade"]) == 0
    return url


def test_collect_command_reads_the_estate(
    cli_env: str, aws_endpoint: str, capsys: pytest.CaptureFixture
) -> None:
    estate = build_batch_estate(aws_endpoint)
    ids = submit_and_wait(estate["batch"], estate["queue"], estate["rev1"], ["x", "y"])
    capsys.readouterr()
    assert main(["collect", "--source", "job_queues", "--source", "jobs"]) == 0
    out = capsys.readouterr().out
    assert "default/us-east-1 jobs: read 2, wrote 4" in out  # 2 jobs + 2 attempts
    assert "failed 0" in out
    engine = create_store_engine(cli_env)
    with engine.connect() as conn:
        assert {row[0] for row in conn.execute(select(jobs.c.job_id))} == set(ids)
        assert conn.execute(select(collector_runs.c.status)).scalars().all() == ["succeeded"] * 2
    engine.dispose()


def test_collect_rejects_bad_arguments_in_one_line(cli_env: str, capsys: pytest.CaptureFixture) -> None:
    assert main(["collect", "--since", "last tuesday"]) == 2
    assert capsys.readouterr().err.strip() == (
        "batchopt: error: --since 'last tuesday': not a date (expected YYYY-MM-DD or an ISO time)"
    )
    assert main(["collect", "--target", "nope"]) == 2
    assert "unknown target(s) nope" in capsys.readouterr().err


def test_iam_policy_is_read_only_and_covers_every_collector(capsys: pytest.CaptureFixture) -> None:
    assert main(["iam-policy", "--role", "collector"]) == 0
    policy = json.loads(capsys.readouterr().out)
    actions = {a for statement in policy["Statement"] for a in statement["Action"]}
    assert {
        "batch:ListJobs",
        "batch:DescribeJobs",
        "ecs:DescribeContainerInstances",
        "ec2:DescribeInstances",
        "ec2:DescribeSpotPriceHistory",
        "pricing:GetProducts",
        "logs:FilterLogEvents",
        "cloudwatch:GetMetricData",
    } <= actions
    # Reading the event intake consumes its own messages (receive, then delete once stored): the
    # only non-read calls, and only on SQS.
    consume = {"sqs:ReceiveMessage", "sqs:DeleteMessage"}
    assert consume <= actions
    names = {a.split(":", 1)[1] for a in actions - consume}
    assert all(n.startswith(("Describe", "List", "Get", "Filter", "Lookup")) for n in names), names


def test_scheduler_registers_collection_with_the_store_job_store(
    cli_env: str, aws_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from optimizer import collectors
    from optimizer.collectors.scheduled import collect_job
    from optimizer.scheduler import registry

    registry.discover_jobs()  # register every area's jobs in the real registry first, then work on a copy
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    registry.register_job(
        "nightly-extra",
        "optimizer.collectors.scheduled:collect_job",
        trigger=lambda s: registry.cron(s, hour=3),
        enabled=lambda s: s.schedule.autotune_enabled,
    )
    monkeypatch.setenv("BATCHOPT_SCHEDULE__AUTOTUNE_ENABLED", "true")
    settings = load_settings()
    scheduler = registry.build_scheduler(settings)
    scheduler.start(paused=True)
    try:
        job = scheduler.get_job("collect")
        assert job.trigger.interval.total_seconds() == settings.collection.interval_minutes * 60
        assert (job.coalesce, job.max_instances) == (True, 1)
        assert job.misfire_grace_time == settings.schedule.misfire_grace_seconds
        assert job.kwargs == {"config_file": None}
        assert scheduler.get_job("nightly-extra") is not None
    finally:
        scheduler.shutdown(wait=False)
    engine = create_store_engine(cli_env)
    assert inspect(engine).has_table("apscheduler_jobs")
    with engine.connect() as conn:
        stored = set(conn.execute(text("SELECT id FROM apscheduler_jobs")).scalars())
    assert stored >= {"collect", "nightly-extra"}

    monkeypatch.setenv("BATCHOPT_SCHEDULE__AUTOTUNE_ENABLED", "false")
    registry.build_scheduler(load_settings())  # a disabled job leaves the job store
    with engine.connect() as conn:
        left = set(conn.execute(text("SELECT id FROM apscheduler_jobs")).scalars())
    assert "collect" in left and "nightly-extra" not in left

    estate = build_batch_estate(aws_endpoint)
    submit_and_wait(estate["batch"], estate["queue"], estate["rev2"], ["z"])
    # What the scheduler runs; without the slow emulated catalog (its own tests cover it).
    monkeypatch.setattr(collectors, "SOURCES", tuple(s for s in collectors.SOURCES if s.name != "catalog"))
    collect_job(config_file=None)
    with engine.connect() as conn:
        assert len(conn.execute(select(jobs.c.job_id)).all()) == 1
    engine.dispose()


def test_progress_bar_counts_every_run(capsys: pytest.CaptureFixture) -> None:
    from optimizer.cli.cmd_collect import _with_progress
    from optimizer.collectors.runner import RunResult

    def work(on_progress: object) -> list[RunResult]:
        done = [
            RunResult("prod", "us-east-1", "jobs", "succeeded", 3, 3),
            RunResult("prod", "us-east-1", "usage", "failed", error="AccessDenied"),
        ]
        for result in done:
            on_progress(result)  # type: ignore[operator]
        return done

    assert len(_with_progress(2, work)) == 2
    assert "2/2" in capsys.readouterr().err


def test_scheduler_command_stops_cleanly_on_sigterm(cli_env: str) -> None:
    import os
    import signal
    import subprocess
    import sys

    from tests.data_paths import REPO_ROOT

    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "optimizer", "scheduler"], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        assert "scheduler started" in proc.stdout.readline()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
