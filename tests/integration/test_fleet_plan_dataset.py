"""A fleet plan keeps the dataset its demand came from: an imported trace's queue `default` (or here
`q-spot`) is not the collected queue of that name. Before, `optimize --dataset T --queue Q` stored
only Q, so the Fleet mix page set T's plan beside the collected Q's spend and the What-if replay ran
it on the collected jobs against the collected Q's compute environments."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, select

from optimizer.cli.main import main
from optimizer.dashboard.components import money
from optimizer.dashboard.replay_compare import load_replay_inputs
from optimizer.store.schema import fleet_plans, jobs
from optimizer.store.upsert import bulk_upsert
from tests import dashboard_helpers as dh
from tests.integration.test_dashboard_pages import metric, run_page
from tests.integration.test_solver_store import _fill

TRACE = "trace-x"


def _trace_jobs(engine: Engine, queue: str, n: int) -> None:
    """`n` finished jobs of an imported trace in a queue named like a collected one."""
    t0 = datetime(2026, 11, 8)
    rows = [
        {
            "job_id": f"{TRACE}-{i}",
            "dataset": TRACE,
            "queue": queue,
            "job_name": "t",
            "status": "SUCCEEDED",
            "created_at": t0 + timedelta(minutes=5 * i),
            "started_at": t0 + timedelta(minutes=5 * i + 1),
            "stopped_at": t0 + timedelta(minutes=5 * i + 50),
            "vcpus": 2.0,
            "memory_mib": 4096,
            "gpus": 0,
        }
        for i in range(n)
    ]
    with engine.begin() as conn:
        bulk_upsert(conn, jobs, rows)


def test_optimize_stores_the_dataset_of_the_queue_it_planned(
    sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _fill(sqlite_engine)
    _trace_jobs(sqlite_engine, "etl", 5)
    monkeypatch.setenv("BATCHOPT_DATABASE_URL", str(sqlite_engine.url))
    assert main(["optimize", "--queue", "etl"]) == 0
    assert main(["optimize", "--queue", "etl", "--dataset", TRACE]) == 0
    assert f"for queue etl of dataset {TRACE} (dashboard" in capsys.readouterr().out
    with sqlite_engine.connect() as conn:
        stored = conn.execute(select(fleet_plans.c.scope, fleet_plans.c.dataset).order_by(fleet_plans.c.id))
        assert [tuple(r) for r in stored] == [("etl", "aws"), ("etl", TRACE)]


def test_a_trace_queues_replay_reads_the_trace_and_no_collected_configuration(sqlite_engine: Engine) -> None:
    dh.seed(sqlite_engine)
    _trace_jobs(sqlite_engine, "q-spot", 3)
    collected = load_replay_inputs(sqlite_engine, "q-spot", 30, "us-east-1")
    assert collected.current is not None and TRACE not in set(collected.jobs["job_id"].str[: len(TRACE)])
    traced = load_replay_inputs(sqlite_engine, "q-spot", 30, "us-east-1", dataset=TRACE)
    assert traced.current is None  # the collected q-spot's CEs are not the trace's
    assert sorted(traced.jobs["job_id"]) == [f"{TRACE}-{i}" for i in range(3)]


@pytest.fixture
def seeded_with_trace_plan(sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Engine:
    """The dashboard's seeded store plus a newer plan of the trace's q-spot at another cost."""
    dh.seed(sqlite_engine)
    problem, plan = dh.fleet_documents()
    with sqlite_engine.begin() as conn:
        conn.execute(
            fleet_plans.insert().values(
                scope="q-spot",
                dataset=TRACE,
                created_at=datetime(2026, 11, 20),
                status=plan["status"],
                cost_usd=999.0,
                objective_usd=999.0,
                lower_bound_usd=plan["lower_bound_usd"],
                gap=plan["gap"],
                solve_seconds=plan["solve_seconds"],
                problem=problem,
                plan={**plan, "cost_usd": 999.0},
            )
        )
    monkeypatch.setenv("BATCHOPT_DATABASE_URL", sqlite_engine.url.render_as_string(hide_password=False))
    return sqlite_engine


def test_fleet_mix_shows_the_plans_of_the_history_it_shows(seeded_with_trace_plan: Engine) -> None:
    # The trace's plan is the newest, and was the page's default pick beside the collected spend.
    app = run_page("fleet_mix")
    assert metric(app, "Plan cost") == money(dh.fleet_documents()[1]["cost_usd"])
    (picker,) = [s for s in app.selectbox if s.label == "Plan"]
    assert all(TRACE not in str(option) for option in picker.options)


def test_what_if_names_the_dataset_of_a_trace_plan(seeded_with_trace_plan: Engine) -> None:
    app = run_page("what_if")
    (picker,) = [s for s in app.selectbox if s.label == "Start from plan"]
    assert any(f"q-spot ({TRACE})" in str(option) for option in picker.options)
    assert any("q-spot (2026-11-09" in str(option) for option in picker.options)  # the collected one
