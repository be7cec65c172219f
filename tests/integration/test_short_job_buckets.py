"""A queue of short jobs in bursts: `batchopt optimize --queue` must not price its plan above what
EC2's per-second billing charges for the instances those jobs need."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine, select

from optimizer.cli.main import main
from optimizer.simulate.config import SimulationOptions
from optimizer.solver.plan import Plan, load_plan
from optimizer.solver.problem import Problem, load_problem
from optimizer.solver.validate import validate_plan
from optimizer.store.schema import fleet_plans, instance_types, jobs, ondemand_prices
from optimizer.store.upsert import bulk_upsert
from tests.solver_helpers import catalogue_rows

T0 = datetime(2026, 6, 1)
#: Both types cost $0.048 per vCPU-hour: however jobs are packed, each 4-vCPU job costs $0.192/h.
CATALOG = [("m5.xlarge", 4, 16384, 0.192), ("m5.2xlarge", 8, 32768, 0.384)]


def _fill(engine: Engine, runs: list[tuple[str, float, float]]) -> None:
    rows = [
        {
            "job_id": f"{queue}-{i}",
            "dataset": "aws",
            "queue": queue,
            "job_name": "n",
            "status": "SUCCEEDED",
            "created_at": T0 + timedelta(seconds=start),
            "started_at": T0 + timedelta(seconds=start),
            "stopped_at": T0 + timedelta(seconds=start + runtime),
            "vcpus": 4.0,
            "memory_mib": 6000,
            "gpus": 0,
        }
        for i, (queue, start, runtime) in enumerate(runs)
    ]
    types, prices = catalogue_rows(CATALOG)
    with engine.begin() as conn:
        bulk_upsert(conn, jobs, rows)
        bulk_upsert(conn, instance_types, types)
        bulk_upsert(conn, ondemand_prices, prices)


def _bursts(seed: int) -> list[tuple[str, float, float]]:
    """Two days of a burst every 3 hours: 5 jobs starting within 3 minutes, running 4 to 12."""
    rng = np.random.default_rng(seed)
    runs = []
    for burst in range(16):
        for _ in range(5):
            start = burst * 3 * 3600 + float(rng.integers(0, 180))
            runs.append(("etl", start, float(rng.integers(240, 720))))
    return runs


def test_short_job_plan_costs_no_more_than_per_second_billing(
    sqlite_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    runs = _bursts(11)
    _fill(sqlite_engine, runs)
    monkeypatch.setenv("BATCHOPT_DATABASE_URL", str(sqlite_engine.url))
    plan_path, problem_path = tmp_path / "plan.json", tmp_path / "problem.json"
    args = ["optimize", "--queue", "etl", "--out", str(plan_path), "--problem-out", str(problem_path)]
    # On-demand only, so every instance the plan can choose costs the same per job.
    assert main([*args, "--what-if", "max_spot_share=0"]) == 0
    problem, plan = load_problem(problem_path), load_plan(plan_path)
    assert {o.price_per_hour / o.vcpus for o in problem.offerings if not o.is_spot} == {0.048}
    assert plan.has_solution and validate_plan(problem, plan) == []
    # What EC2 bills, by the second, for one instance per job (no packing is cheaper here) from its
    # launch to its scale-in after the job, with the replay's launch delay and idle before scale-in.
    sim = SimulationOptions()
    held = sum(runtime + sim.launch_delay_s + sim.scale_in_idle_s for _, _, runtime in runs)
    per_second_usd = held / 3600.0 * CATALOG[0][3]
    assert plan.cost_usd <= per_second_usd
    assert problem.bucket_seconds < 3600
    assert "buckets: This plan's time buckets are" in capsys.readouterr().out


def test_long_jobs_keep_hour_buckets(
    sqlite_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    _fill(sqlite_engine, [("long", 3600.0 * i, 5 * 3600.0) for i in range(30)])
    monkeypatch.setenv("BATCHOPT_DATABASE_URL", str(sqlite_engine.url))
    problem_path = tmp_path / "problem.json"
    assert main(["optimize", "--queue", "long", "--problem-out", str(problem_path)]) == 0
    assert load_problem(problem_path).bucket_seconds == 3600
    assert "buckets:" not in capsys.readouterr().out


def test_a_fixed_bucket_length_is_kept_when_asked(
    sqlite_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fill(sqlite_engine, _bursts(11))
    monkeypatch.setenv("BATCHOPT_DATABASE_URL", str(sqlite_engine.url))
    problem_path = tmp_path / "problem.json"
    args = ["optimize", "--queue", "etl", "--problem-out", str(problem_path), "--min-bucket-seconds", "3600"]
    assert main(args) == 0
    assert load_problem(problem_path).bucket_seconds == 3600


def test_problem_out_is_the_problem_the_plan_solved_after_a_bucket_fallback(
    sqlite_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """When the short-bucket solve ends without a plan, `optimize --queue` solves at hour buckets
    (`solve_with_bucket_fallback`); `--problem-out` once still wrote the short-bucket problem, which
    the plan in `--out` and in the store does not validate against."""
    import optimizer.solver.solve as solve_module

    real_solve = solve_module.solve

    def short_buckets_time_out(problem: Problem, **kwargs: Any) -> Plan:
        plan = real_solve(problem, **kwargs)
        if problem.bucket_seconds < 3600:
            return replace(plan, status="TIMEOUT", buckets=[], selected=[])
        return plan

    _fill(sqlite_engine, _bursts(11))
    monkeypatch.setenv("BATCHOPT_DATABASE_URL", str(sqlite_engine.url))
    monkeypatch.setattr(solve_module, "solve", short_buckets_time_out)
    plan_path, problem_path = tmp_path / "plan.json", tmp_path / "problem.json"
    args = ["optimize", "--queue", "etl", "--out", str(plan_path), "--problem-out", str(problem_path)]
    assert main(args) == 0
    assert "so this plan uses 1 h buckets" in capsys.readouterr().out
    problem, plan = load_problem(problem_path), load_plan(plan_path)
    assert problem.bucket_seconds == 3600
    assert plan.has_solution and validate_plan(problem, plan) == []
    with sqlite_engine.connect() as conn:
        [stored] = conn.execute(select(fleet_plans.c.problem)).all()
    assert stored.problem == json.loads(problem_path.read_text())
