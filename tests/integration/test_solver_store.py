"""`batchopt optimize --queue` reads jobs, catalogue, prices and spot bands from the store."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from optimizer.cli.main import main
from optimizer.solver.plan import load_plan
from optimizer.solver.problem import load_problem
from optimizer.solver.validate import validate_plan
from optimizer.store.schema import instance_types, jobs, ondemand_prices, spot_interruption_bands
from optimizer.store.upsert import bulk_upsert
from tests.solver_helpers import catalogue_rows


def _fill(engine: Engine) -> None:
    t0 = datetime(2026, 6, 1)
    job_rows = [
        {
            "job_id": f"j{i}",
            "dataset": "aws",
            "queue": "etl" if i < 6 else "other",
            "job_name": "n",
            "status": "SUCCEEDED",
            "created_at": t0 + timedelta(minutes=10 * i),
            "started_at": t0 + timedelta(minutes=10 * i + 1),
            "stopped_at": t0 + timedelta(minutes=10 * i + 95),
            "vcpus": float(1 + i % 3),
            "memory_mib": 2000 * (1 + i % 2),
            "gpus": 0,
        }
        for i in range(8)
    ]
    catalog = [("m5.large", 2, 8192, 0.096), ("c5.xlarge", 4, 8192, 0.17), ("m5.2xlarge", 8, 32768, 0.384)]
    types, prices = catalogue_rows(catalog)
    with engine.begin() as conn:
        bulk_upsert(conn, jobs, job_rows)
        bulk_upsert(conn, instance_types, types)
        bulk_upsert(conn, ondemand_prices, prices)
        bulk_upsert(
            conn,
            spot_interruption_bands,
            [
                {
                    "region": "us-east-1",
                    "instance_type": "m5.large",
                    "band": 1,
                    "band_label": "5-10%",
                    "savings_pct": 55.0,
                    "snapshot_date": datetime(2026, 5, 1),
                }
            ],
        )


def test_optimize_queue_from_store(
    sqlite_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fill(sqlite_engine)
    monkeypatch.setenv("BATCHOPT_DATABASE_URL", str(sqlite_engine.url))
    plan_path, problem_path = tmp_path / "plan.json", tmp_path / "problem.json"
    args = ["optimize", "--queue", "etl", "--out", str(plan_path), "--problem-out", str(problem_path)]
    assert main(args) == 0
    problem = load_problem(problem_path)
    assert int(problem.demand.sum()) > 0
    assert {o.key for o in problem.offerings} >= {"m5.large/SPOT", "c5.xlarge/ON_DEMAND"}
    plan = load_plan(plan_path)
    assert plan.has_solution and validate_plan(problem, plan) == []
    assert json.loads(plan_path.read_text())["schema"] == "batchopt.plan/v1"


def test_unknown_queue_is_a_clear_error(
    sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    _fill(sqlite_engine)
    monkeypatch.setenv("BATCHOPT_DATABASE_URL", str(sqlite_engine.url))
    assert main(["optimize", "--queue", "nope"]) == 2
    assert "queue nope: no jobs in dataset 'aws'; its queues: etl, other" in capsys.readouterr().err
    assert main(["optimize", "--queue", "etl", "--dataset", "none"]) == 2
    assert "(the dataset has no jobs: `batchopt import-trace` or `batchopt collect` first)" in (
        capsys.readouterr().err
    )
    with pytest.raises(SystemExit):  # (argparse: exit 2 with the reason)
        main(["optimize", "--queue", "etl", "--days", "nan"])
    assert "--days: 'nan' must be a number of days above 0" in capsys.readouterr().err


def test_queue_plans_are_stored_for_the_dashboard(
    sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    from sqlalchemy import select

    from optimizer.store.schema import fleet_plans

    _fill(sqlite_engine)
    monkeypatch.setenv("BATCHOPT_DATABASE_URL", str(sqlite_engine.url))
    queue = "etl"
    assert main(["optimize", "--queue", queue]) == 0
    with sqlite_engine.connect() as conn:
        [row] = conn.execute(select(fleet_plans)).all()
    assert row.scope == queue and row.plan["status"] == row.status
    assert row.problem["schema"] == "batchopt.problem/v1"
    assert f"fleet plan {row.id}" in capsys.readouterr().out
