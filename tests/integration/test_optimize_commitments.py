"""`batchopt optimize --queue` prices the commitments in force over the queue's window: the problem it
writes carries them, and the plan reports their utilization."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from sqlalchemy import Engine

from optimizer.cli.main import main
from optimizer.solver.plan import load_plan
from optimizer.solver.problem import load_problem
from optimizer.solver.validate import validate_plan
from tests.integration.test_solver_store import _fill

CONFIG = """
[[commitments]]
id = "ri-m5"
type = "RESERVED_INSTANCE"
region = "us-east-1"
instance_type = "m5.large"
count = 1

[[commitments]]
id = "sp-expired"
type = "COMPUTE_SAVINGS_PLAN"
usd_per_hour = 5.0
discount = 0.3
ends_at = 2026-01-01T00:00:00
"""


def test_optimize_queue_carries_the_commitments_in_force(
    sqlite_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _fill(sqlite_engine)  # jobs of June 2026
    config = tmp_path / "batchopt.toml"
    config.write_text(CONFIG)
    monkeypatch.setenv("BATCHOPT_DATABASE_URL", str(sqlite_engine.url))
    plan_path, problem_path = tmp_path / "plan.json", tmp_path / "problem.json"
    args = ["--config", str(config), "optimize", "--queue", "etl", "--out", str(plan_path)]
    assert main([*args, "--problem-out", str(problem_path)]) == 0
    document = json.loads(problem_path.read_text())
    assert document["commitments"] == [
        {"id": "ri-m5", "type": "RESERVED_INSTANCE", "instance_type": "m5.large", "count": 1}
    ]  # the expired plan is not in force
    problem, plan = load_problem(problem_path), load_plan(plan_path)
    assert validate_plan(problem, plan) == []
    [usage] = plan.commitments
    assert usage["id"] == "ri-m5" and 0.0 < usage["utilization"] <= 1.0
    out = capsys.readouterr().out
    # No bill in the store: the whole configured commitment applies, and the command says so.
    assert (
        "window: 2026-05-25 00:50 to 2026-06-01 00:50 UTC, the 7 days up to the queue's newest job:"
        " 6 of its 6 jobs" in out
    )
    assert "commitments: queue etl: the whole account's commitments, not a share" in out
    assert f"commitment ri-m5: 1 x m5.large in this problem, utilization {usage['utilization']:.1%}" in out


def test_a_job_no_allowed_type_can_host_is_left_out_and_named_not_the_whole_queue_infeasible(
    sqlite_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from datetime import datetime, timedelta

    from optimizer.store.schema import jobs
    from optimizer.store.upsert import bulk_upsert

    _fill(sqlite_engine)  # etl: 6 jobs of 1-3 vCPU on a catalogue of at most 8 vCPU / 32 GiB
    t0 = datetime(2026, 6, 1, 0, 30)
    huge = {  # a trace job asking for 64 TiB: no instance type has it
        "job_id": "huge", "dataset": "aws", "queue": "etl", "job_name": "n", "status": "SUCCEEDED",
        "created_at": t0, "started_at": t0, "stopped_at": t0 + timedelta(hours=1),
        "vcpus": 1.0, "memory_mib": 64 * 1024 * 1024, "gpus": 0,
    }  # fmt: skip
    with sqlite_engine.begin() as conn:
        bulk_upsert(conn, jobs, [huge])
    monkeypatch.setenv("BATCHOPT_DATABASE_URL", str(sqlite_engine.url))
    plan_path, problem_path = tmp_path / "plan.json", tmp_path / "problem.json"
    args = ["optimize", "--queue", "etl", "--out", str(plan_path), "--problem-out", str(problem_path)]
    assert main(args) == 0
    problem, plan = load_problem(problem_path), load_plan(plan_path)
    assert plan.has_solution and plan.cost_usd > 0 and validate_plan(problem, plan) == []
    assert all(s.memory_mib < 1024 * 1024 for s in problem.shapes)
    [note] = problem.left_out
    assert note.startswith("jobs of 1 vCPU, 65,536.0 GiB, 0 GPU") and "left out of the plan" in note
    assert re.search(r"up to 1 at once, in \d+ of \d+ buckets", note)
    assert f"left out: {note}" in capsys.readouterr().out
    # The stored document keeps it (the Fleet mix page and what-if read it from there).
    assert json.loads(problem_path.read_text())["left_out"] == [note]
