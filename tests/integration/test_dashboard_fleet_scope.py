"""Fleet mix sets a plan beside its own queue's spend over the plan's window, not all queues over 28 days.

The seeded estate (tests/dashboard_helpers.py): the stored plan is q-spot's, 2 one-hour buckets; q-spot's
last job stopped on 2 Nov 2026; q-spot is configured on [ce-spot, ce-od]. Expected figures are summed from
the attribution's own lines.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import time_machine
from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

from optimizer.analysis.cost import IDLE
from optimizer.dashboard.components import money
from optimizer.dashboard.plan_scope import plan_days, plan_hours
from optimizer.store.engine import create_store_engine
from tests import dashboard_helpers as dh
from tests.integration.test_dashboard_pages import frame_with, metric, run_page


@pytest.fixture(scope="module")
def seeded_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return dh.seeded_sqlite_url(tmp_path_factory.mktemp("fleet_scope"))


@pytest.fixture
def seeded(seeded_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("BATCHOPT_DATABASE_URL", seeded_url)
    return seeded_url


def test_the_current_spend_leaves_todays_partial_day_out_as_the_overview_does(seeded: str) -> None:
    """With the data reaching into today, the all-queue spend is the 28 full days before it: the
    page once summed the partial day too, and its cost-per-day line ended in a drop that was only
    the hours not yet collected (the demo's last day, 6 h of data, at a fifth of the day before)."""
    lines = dh.expected().lines
    days = pd.to_datetime(lines["day"])
    last = days.max()
    with time_machine.travel(datetime(last.year, last.month, last.day, 7, tzinfo=UTC), tick=False):
        app = run_page("fleet_mix")
    assert metric(app, "Spend, last 28 days") == money(lines.loc[days < last, "total_usd"].sum())
    captions = " ".join(c.value for c in app.caption)
    through = (last - pd.Timedelta(days=1)).strftime("%Y-%m-%d")
    assert f"the 28 full days through {through} (UTC); today ({last:%Y-%m-%d}) is partial" in captions


def test_the_plan_sits_beside_its_queues_spend_over_its_window(seeded: str) -> None:
    lines = dh.expected().lines
    _, plan = dh.fleet_documents()
    day = lines[pd.to_datetime(lines["day"]) == pd.Timestamp("2026-11-02")]
    serving = [dh.CE_ARN["ce-spot"], dh.CE_ARN["ce-od"]]
    work = day.loc[day["queue"] == "q-spot", "total_usd"].sum()
    idle = day.loc[(day["queue"] == IDLE) & day["compute_environment_arn"].isin(serving), "total_usd"].sum()
    assert work + idle == pytest.approx(0.115 + 0.085 + 0.048)
    app = run_page("fleet_mix")
    assert metric(app, "Spend of q-spot, same window") == money(work + idle)
    assert metric(app, "Plan cost − spend") == money(plan["cost_usd"] - (work + idle))
    assert metric(app, "Spend, last 28 days") == money(lines["total_usd"].sum())  # all queues, labelled so
    assert _cost_label(app) == "Cost ($)"  # no commitments: list prices are what the plan pays
    captions = " ".join(c.value for c in app.caption)
    assert "2 h of q-spot's demand" in captions and "1 UTC day(s) 2026-11-02 to 2026-11-02" in captions
    assert "All queues, the 28 full days through 2026-11-03 (UTC)" in captions
    # the spend's last day is partial exactly when the data ends on it
    ends_there = pd.to_datetime(lines["day"]).max().normalize() == pd.Timestamp("2026-11-02")
    assert ("(2026-11-02 up to the end of the collected data)" in captions) == ends_there


def test_a_plan_with_commitments_is_set_beside_the_spend_at_list_prices_and_split(
    sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The store's spend is instance-hours at list prices: a plan netted by its Savings Plan once sat
    # beside it as "Plan cost - spend", so the plan's discount read as a saving today's fleet also has.
    import streamlit as st

    st.cache_data.clear()
    dh.seed(sqlite_engine)
    problem, plan = dh.committed_fleet_documents()
    with sqlite_engine.begin() as conn:
        dh.store_plan(conn, problem, plan, datetime(2026, 11, 10))  # newest: shown first
    monkeypatch.setenv("BATCHOPT_DATABASE_URL", sqlite_engine.url.render_as_string(hide_password=False))
    app = run_page("fleet_mix")
    spend = 0.115 + 0.085 + 0.048
    assert metric(app, "Plan cost") == money(plan["cost_usd"])
    assert metric(app, "Plan at list prices − spend") == money(0.24 + 0.096 - spend)
    assert not [m for m in app.metric if m.label == "Plan cost − spend"]
    split = frame_with(app, "part", "USD", "how").set_index("part")["USD"]
    assert split.to_dict() == {
        "Spot": money(0.24),
        "On-demand, not covered": money(0.0),
        "Commitment fees": money(plan["commitment_usd"]),
        "Plan cost": money(plan["cost_usd"]),
    }
    rows = frame_with(app, "commitment", "total commitment (USD)").set_index("commitment")
    assert rows.loc["sp", "total commitment (USD)"] == money(plan["commitment_usd"])
    # the plan mix table adds up to the plan at list prices, not to the Plan cost above: it says so
    assert _cost_label(app) == "Cost at list prices ($)"


def _cost_label(app: AppTest) -> str:
    """The label Fleet mix gives the plan mix table's `cost_usd` column (its column config)."""
    [table] = [d for d in app.dataframe if "instance_hours" in d.value.columns]
    return str(json.loads(table.proto.columns)["cost_usd"]["label"])


def test_plan_days_match_the_window_length_and_end_on_its_last_day() -> None:
    assert plan_hours({"buckets": 168, "bucket_seconds": 3600}) == 168.0
    assert plan_days(datetime(2026, 11, 9, 14), 168.0) == (datetime(2026, 11, 3), datetime(2026, 11, 10))
    assert plan_days(datetime(2026, 11, 9, 14), 2.0) == (datetime(2026, 11, 9), datetime(2026, 11, 10))


def test_the_scoped_figures_agree_on_sqlite_and_postgresql(
    store_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The queue -> CE lookup (JSON order + cost rows) and the plan window read alike on both stores."""
    import streamlit as st

    st.cache_data.clear()  # the PostgreSQL test database keeps its URL for the whole session
    dh.seed(store_engine)
    monkeypatch.setenv("BATCHOPT_DATABASE_URL", store_engine.url.render_as_string(hide_password=False))
    fleet = run_page("fleet_mix")
    assert metric(fleet, "Spend of q-spot, same window") == money(0.115 + 0.085 + 0.048)
    explorer = run_page("cost_explorer")
    explorer.multiselect(key="f_queue").set_value(["q-spot"]).run()
    assert metric(explorer, "Idle") == money(0.085 + 0.048)


def test_a_plan_with_gangs_says_how_their_nodes_are_priced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Beside a plan that runs gangs the page says what their nodes are paid for (so 'Plan cost −
    spend' is read right): the hours the jobs held them when the problem has `gang_hours`, whole hour
    buckets for a plan stored before, and nothing beside a plan without gangs."""
    import streamlit as st

    from optimizer.dashboard.pages.fleet_mix import GANG_HELD_HOURS_NOTE, GANG_WHOLE_HOURS_NOTE

    url = dh.seeded_sqlite_url(tmp_path)
    monkeypatch.setenv("BATCHOPT_DATABASE_URL", url)
    st.cache_data.clear()
    plain = " ".join(c.value for c in run_page("fleet_mix").caption)
    assert GANG_WHOLE_HOURS_NOTE not in plain and GANG_HELD_HOURS_NOTE not in plain
    problem, plan = dh.fleet_documents()
    gang = {
        "id": "g1",
        "vcpus": 2,
        "memory_mib": 4096,
        "gpus": 0,
        "arch": "x86_64",
        "spot_ok": False,
        "nodes": 2,
    }
    problem = {**problem, "shapes": [*problem["shapes"], gang], "demand": {**problem["demand"], "g1": [1, 0]}}
    engine = create_store_engine(url)
    with engine.begin() as conn:
        dh.store_plan(conn, problem, plan, datetime(2026, 11, 10))
    st.cache_data.clear()
    whole = " ".join(c.value for c in run_page("fleet_mix").caption)  # the newest plan first
    assert GANG_WHOLE_HOURS_NOTE in whole and GANG_HELD_HOURS_NOTE not in whole
    with engine.begin() as conn:
        dh.store_plan(conn, {**problem, "gang_hours": {"g1": [0.5, 0.0]}}, plan, datetime(2026, 11, 11))
    engine.dispose()
    st.cache_data.clear()
    held = " ".join(c.value for c in run_page("fleet_mix").caption)
    assert GANG_HELD_HOURS_NOTE in held and GANG_WHOLE_HOURS_NOTE not in held


def test_a_plan_of_shorter_buckets_says_what_hour_buckets_would_hold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Beside a plan whose buckets are not an hour the page says so and why: for the same demand,
    hour buckets (each hour's peak for the whole hour) hold more vCPU-hours; nothing beside an
    hourly plan."""
    import streamlit as st

    url = dh.seeded_sqlite_url(tmp_path)
    monkeypatch.setenv("BATCHOPT_DATABASE_URL", url)
    st.cache_data.clear()
    hourly = " ".join(c.value for c in run_page("fleet_mix").caption)
    assert "time buckets" not in hourly
    problem, plan = dh.fleet_documents()  # s1: 2 vCPUs, demand [4, 2]
    engine = create_store_engine(url)
    with engine.begin() as conn:
        dh.store_plan(conn, {**problem, "bucket_seconds": 1800}, plan, datetime(2026, 11, 10))
    engine.dispose()
    st.cache_data.clear()
    half = " ".join(c.value for c in run_page("fleet_mix").caption)
    # Half-hour buckets hold (4 + 2) x 2 vCPUs x 0.5 h = 6; one hour bucket holds its peak 4 x 2 x 1 = 8.
    assert "time buckets are 30 min long, not an hour" in half
    assert "1.33x the instance vCPU-hours for the same demand (8 against 6)" in half


def test_a_plan_solved_again_at_hour_buckets_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A short-bucket solve that found no plan was solved again at hour buckets: the stored plan's
    note (`fleet.plans.solve_with_bucket_fallback`) is shown beside it, since its cost errs high."""
    note = "The solve at 10 min buckets ended TIMEOUT without a plan, so this plan uses 1 h buckets"
    problem, plan = dh.fleet_documents()
    stats = {**(plan.get("stats") or {}), "bucket_fallback": note}
    app = _page_with_plan(tmp_path, monkeypatch, problem, {**plan, "stats": stats})
    assert note in " ".join(c.value for c in app.caption)


def _page_with_plan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, problem: dict, plan: dict) -> AppTest:
    """Fleet mix on a fresh seeded store whose newest plan (the one the page opens on) is `plan`."""
    import streamlit as st

    url = dh.seeded_sqlite_url(tmp_path)
    monkeypatch.setenv("BATCHOPT_DATABASE_URL", url)
    engine = create_store_engine(url)
    with engine.begin() as conn:
        dh.store_plan(conn, problem, plan, datetime(2026, 11, 10))
    engine.dispose()
    st.cache_data.clear()
    return run_page("fleet_mix")


def test_the_planned_cost_curve_is_zero_in_the_buckets_the_plan_leaves_empty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo's mpi-parallel plan runs in 30 of its 663 hour buckets: the curve drew only the
    buckets with instances, so its line sloped across the empty ones as if they cost $1-2 each."""
    problem, plan = dh.fleet_documents()
    spot = {"offering": "m5.xlarge/SPOT", "count": 2, "jobs": {"s1": 2}}
    on_demand = {"offering": "m5.large/ON_DEMAND", "count": 1, "jobs": {"s1": 1}}
    problem = {**problem, "buckets": 4, "demand": {"s1": [4, 0, 5, 0]}}
    plan = {**plan, "buckets": [[spot], [], [spot, on_demand], []]}
    app = _page_with_plan(tmp_path, monkeypatch, problem, plan)
    specs = [json.loads(chart.proto.spec) for chart in app.get("plotly_chart")]
    [curve] = [s for s in specs if s["layout"]["title"]["text"] == "Planned cost per 1 h bucket"]
    drawn = {t["name"]: dict(zip(_values(t["x"]), _values(t["y"]), strict=True)) for t in curve["data"]}
    assert drawn == {
        "SPOT": {0: pytest.approx(0.16), 1: 0.0, 2: pytest.approx(0.16), 3: 0.0},
        "ON_DEMAND": {0: 0.0, 1: 0.0, 2: pytest.approx(0.096), 3: 0.0},
    }


def _values(array: list | dict) -> list:
    """A trace's values as plotted: a list, or the typed array plotly sends (`{"dtype", "bdata"}`)."""
    if isinstance(array, list):
        return array
    return np.frombuffer(base64.b64decode(array["bdata"]), dtype=np.dtype(array["dtype"])).tolist()


def test_every_chart_colours_spot_and_on_demand_alike(seeded: str) -> None:
    """Plotly colours categories in the order it meets them: the demo's memory-heavy plan (spot its
    costliest type) drew spot in the colour the current-fleet charts beside it use for on-demand."""
    app = run_page("fleet_mix")
    colours: dict[str, set[str]] = {}
    for chart in app.get("plotly_chart"):
        for trace in json.loads(chart.proto.spec)["data"]:
            if trace.get("name") in ("SPOT", "ON_DEMAND"):
                style = trace.get("marker") if trace["type"] == "bar" else trace.get("line")
                colours.setdefault(trace["name"], set()).add(style["color"])
    assert len(colours["SPOT"]) == 1 and len(colours["ON_DEMAND"]) == 1, colours
    assert colours["SPOT"] != colours["ON_DEMAND"]


def test_the_plan_says_why_its_gap_is_what_it_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo's cpu-batch plan showed "Lower bound $0.00, Gap 100.0%" and nothing else; the plan
    stores why (its `reason`), as the What-if page already shows for a re-solve."""
    reason = "gap 100.000% above target 0.500% at the time limit 10 s (best plan from the heuristic)"
    problem, plan = dh.fleet_documents()
    plan = {**plan, "status": "FEASIBLE", "lower_bound_usd": 0.0, "gap": 1.0, "reason": reason}
    app = _page_with_plan(tmp_path, monkeypatch, problem, plan)
    assert metric(app, "Gap") == "100.0%"
    assert f"FEASIBLE: {reason}" in [c.value for c in app.caption]


def test_jobs_the_plan_left_out_are_named_above_its_cost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = dh.seeded_sqlite_url(tmp_path)
    problem, plan = dh.fleet_documents()
    note = "jobs of 1 vCPU, 65,536.0 GiB, 0 GPU (x86_64) fit no instance type the policy allows"
    engine = create_store_engine(url)
    with engine.begin() as conn:
        dh.store_plan(conn, {**problem, "left_out": [note]}, plan, datetime(2026, 12, 1))
    engine.dispose()
    monkeypatch.setenv("BATCHOPT_DATABASE_URL", url)
    app = run_page("fleet_mix")
    assert [w.value for w in app.warning] == [f"Left out: {note}"]
