"""The What-if page with a Compute Savings Plan level (Streamlit AppTest on a seeded store): the
re-solve carries the level into the problem, and the replay charges its fee in both replays."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

from optimizer.dashboard.commitment_view import (
    WHAT_IF_ID,
    WHAT_IF_LABEL,
    compute_commitment,
    with_compute_commitment,
)
from optimizer.dashboard.components import percent
from optimizer.dashboard.pages.what_if import plan_key
from optimizer.dashboard.what_if_model import solve_document
from optimizer.fleet.plans import fleet_plan_list
from optimizer.number_text import usd_text
from tests import dashboard_helpers as dh
from tests.integration.test_dashboard_pages import frame_with, metric, run_page


def _key(app: AppTest, name: str) -> str:
    """The key of the What-if form input `name` for the plan the page has chosen."""
    return plan_key(name, app.session_state["wi_plan"])


LEVEL = 0.06  # $/h: at 72 % of the m5.large price, 0.87 of an on-demand m5.large every hour


@pytest.fixture
def fresh_seeded(sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Engine:
    dh.seed(sqlite_engine)
    monkeypatch.setenv("BATCHOPT_DATABASE_URL", sqlite_engine.url.render_as_string(hide_password=False))
    return sqlite_engine


def test_with_compute_commitment_replaces_only_compute_savings_plans() -> None:
    problem, _ = dh.fleet_documents()
    ri = {"id": "ri", "type": "RESERVED_INSTANCE", "instance_type": "m5.large", "count": 1}
    sp = {"id": "sp", "type": "COMPUTE_SAVINGS_PLAN", "usd_per_hour": 1.0, "rates": {"m5.large": 0.05}}
    stored = {**problem, "commitments": [ri, sp]}
    assert compute_commitment(stored) == (1.0, pytest.approx(1 - 0.05 / 0.096))
    changed = with_compute_commitment(stored, 0.5, 0.28)
    assert changed["commitments"] == [
        ri,
        {"id": WHAT_IF_ID, "type": "COMPUTE_SAVINGS_PLAN", "usd_per_hour": 0.5, "rates": {"m5.large": 0.05}},
    ]
    assert with_compute_commitment(stored, 0.0, 0.28)["commitments"] == [ri]
    fresh = with_compute_commitment(problem, 0.5, 0.28)["commitments"][0]
    assert fresh["rates"] == {"m5.large": pytest.approx(0.096 * 0.72)}  # on-demand offerings only
    assert "commitments" not in with_compute_commitment(problem, 0.0, 0.28)
    assert stored["commitments"] == [ri, sp]  # the stored document is untouched


def test_a_what_if_level_blends_the_replaced_plans_rates_by_their_dollars() -> None:
    # $1/h at 40 % off m5.large and $3/h at 20 % off: the one plan standing for both buys at
    # (1 x 0.6 + 3 x 0.8) / 4 = 75 % of on-demand, not the deeper plan's 60 %.
    problem, _ = dh.fleet_documents()
    deep = {
        "id": "deep",
        "type": "COMPUTE_SAVINGS_PLAN",
        "usd_per_hour": 1.0,
        "rates": {"m5.large": 0.096 * 0.6},
    }
    shallow = {
        "id": "shallow",
        "type": "COMPUTE_SAVINGS_PLAN",
        "usd_per_hour": 3.0,
        "rates": {"m5.large": 0.096 * 0.8},
    }
    both = {**problem, "commitments": [deep, shallow]}
    assert compute_commitment(both) == (4.0, pytest.approx(0.25))  # the discount the page shows
    changed = with_compute_commitment(both, 2.0, 0.28)
    (plan,) = changed["commitments"]
    assert plan["usd_per_hour"] == 2.0
    assert plan["rates"] == {"m5.large": pytest.approx(0.096 * 0.75)}


def test_what_if_re_solves_at_the_commitment_level_and_replays_with_its_fee(fresh_seeded: Engine) -> None:
    problem, _ = dh.fleet_documents()
    expected = solve_document(with_compute_commitment(problem, LEVEL, 0.28))
    app = run_page("what_if")
    app.number_input(key=_key(app, "wi_sp_level")).set_value(LEVEL)
    app.button[0].click().run()
    assert not app.exception, [e.value for e in app.exception]
    compared = frame_with(app, "measure", "what-if").set_index("measure")
    assert compared.loc["commitment fees (USD)", "what-if"] == usd_text(LEVEL * 2)  # 2 buckets
    assert compared.loc["cost (USD)", "what-if"] == usd_text(expected["cost_usd"])
    shown = metric(app, f"Utilization {WHAT_IF_LABEL}")
    assert shown == percent(expected["commitments"][0]["utilization"])
    # the mix chart's bars are list prices, not the costs the table above compares: its title says so
    [mix] = [json.loads(c.proto.spec) for c in app.get("plotly_chart")]
    assert mix["layout"]["title"]["text"] == "Spend by type (list prices, before commitments)"

    app.toggle(key="wi_replay").set_value(True).run()
    assert not app.exception, [e.value for e in app.exception]
    replayed = frame_with(app, "measure", "current configuration", "what-if plan").set_index("measure")
    fees = [float(v.lstrip("$").replace(",", "")) for v in replayed.loc["commitment fees (USD)"]]
    assert fees[0] == fees[1] > 0  # the same plan is paid for whatever configuration runs


def test_a_re_solve_that_finds_no_plan_says_so_and_is_solved_again(
    fresh_seeded: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A what-if that times out (gpu-training in the demo, under load, at $5/h) once read "$0.00" and
    "0.0%" beside the stored plan, and a second press of Re-solve replayed the cached timeout."""
    import streamlit as st

    from optimizer.dashboard.pages import what_if
    from optimizer.solver.assemble import empty_plan
    from optimizer.solver.plan import plan_to_dict
    from optimizer.solver.problem import problem_from_dict

    st.cache_data.clear()
    limits: list[float] = []

    def times_out_once(document: dict) -> dict:
        limits.append(document["policy"]["time_limit_seconds"])
        if len(limits) > 1:
            return solve_document(document)
        problem = problem_from_dict(document)
        return plan_to_dict(
            empty_plan(problem, "TIMEOUT", "time limit 7.0 s reached", lower_bound=0.5, solve_seconds=7.0)
        )

    monkeypatch.setattr(what_if, "solve_document", times_out_once)
    app = run_page("what_if")
    app.number_input(key=_key(app, "wi_sp_level")).set_value(LEVEL)
    app.number_input(key=_key(app, "wi_time_limit")).set_value(7.0)
    # more demand than the stored plan was laid out for: its fleet is no fallback
    [headroom] = [s for s in app.slider if s.label == "Headroom over historical demand"]
    headroom.set_value(0.5)
    app.button[0].click().run()
    assert not app.exception, [e.value for e in app.exception]
    compared = frame_with(app, "measure", "what-if").set_index("measure")["what-if"]
    for measure in ("cost (USD)", "commitment fees (USD)", "gap"):
        assert compared[measure] == "no plan", measure
    assert compared["lower bound (USD)"] == usd_text(0.5)  # a bound holds without a plan
    assert any("No what-if plan: TIMEOUT" in w.value for w in app.warning)

    app.run()  # another widget's rerun: the timeout is kept for this request, not solved again
    assert limits == [7.0]
    assert (
        frame_with(app, "measure", "what-if").set_index("measure").loc["cost (USD)", "what-if"] == "no plan"
    )
    app.button[0].click().run()  # the same request again: solved again, not the cached timeout
    assert not app.exception, [e.value for e in app.exception]
    assert limits == [7.0, 7.0]
    compared = frame_with(app, "measure", "what-if").set_index("measure")["what-if"]
    assert compared["cost (USD)"].startswith("$")
    assert metric(app, f"Utilization {WHAT_IF_LABEL}").endswith("%")


def test_a_commitment_what_if_without_a_plan_prices_the_stored_fleet(
    fresh_seeded: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the commitment level changed and the re-solve timed out (the demo's gpu-training at
    10 s and at 30 s): the stored fleet under the new level still answers what it costs and how much
    of the commitment it uses, said as such, with no bound claimed."""
    import streamlit as st

    from optimizer.dashboard.pages import what_if
    from optimizer.solver.assemble import empty_plan
    from optimizer.solver.commitments import bill_plan
    from optimizer.solver.plan import plan_from_dict, plan_to_dict
    from optimizer.solver.problem import problem_from_dict

    st.cache_data.clear()
    stored_problem, stored_plan = dh.fleet_documents()
    what_if_problem = problem_from_dict(with_compute_commitment(stored_problem, LEVEL, 0.28))
    expected = bill_plan(what_if_problem, plan_from_dict(stored_plan))

    def times_out(document: dict) -> dict:
        problem = problem_from_dict(document)
        return plan_to_dict(
            empty_plan(problem, "TIMEOUT", "time limit 10.0 s reached", lower_bound=0.5, solve_seconds=10.0)
        )

    monkeypatch.setattr(what_if, "solve_document", times_out)
    app = run_page("what_if")
    app.number_input(key=_key(app, "wi_sp_level")).set_value(LEVEL)
    app.button[0].click().run()
    assert not app.exception, [e.value for e in app.exception]
    assert any("stored plan's fleet priced under the what-if commitments" in w.value for w in app.warning)
    compared = frame_with(app, "measure", "what-if").set_index("measure")["what-if"]
    assert compared["cost (USD)"] == usd_text(expected.cost_usd)
    assert compared["commitment fees (USD)"] == usd_text(LEVEL * 2)  # 2 buckets
    assert compared["lower bound (USD)"] == usd_text(0.0)  # nothing proven
    assert compared["gap"] == "100.0%"
    assert metric(app, f"Utilization {WHAT_IF_LABEL}") == percent(expected.commitments[0]["utilization"])


def test_choosing_another_plan_starts_the_level_from_that_plans_commitments(fresh_seeded: Engine) -> None:
    # A keyed input keeps its value when its default changes: on the demo, What-if opened on the
    # newest plan (mpi-parallel, $0.0315/h) and kept that level when cpu-batch ($0.3534/h) was chosen.
    problem, plan = dh.committed_fleet_documents()
    with fresh_seeded.begin() as conn:
        dh.store_plan(conn, problem, plan, datetime(2026, 11, 10))  # newest: chosen first
    newest, seeded = fleet_plan_list(fresh_seeded)["id"].tolist()
    app = run_page("what_if")
    assert app.number_input(key=_key(app, "wi_sp_level")).value == pytest.approx(0.09)
    # (AppTest's select cannot match the page's formatted labels: choose through the widget's state)
    app.session_state["wi_plan"] = seeded
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    assert app.number_input(key=_key(app, "wi_sp_level")).value == 0.0  # the seeded plan has no commitment
    app.session_state["wi_plan"] = newest
    app.run()
    assert app.number_input(key=_key(app, "wi_sp_level")).value == pytest.approx(0.09)
