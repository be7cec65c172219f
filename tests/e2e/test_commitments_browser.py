"""Commitments in the dashboard, in headless Chromium against `batchopt dashboard`: the Fleet mix page
shows the stored plan document's Savings Plan utilization, coverage and fee and how its cost splits,
and the What-if page re-solves at another commitment level and shows the utilization of the new plan."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from optimizer.dashboard.commitment_view import (
    WHAT_IF_ID,
    WHAT_IF_LABEL,
    utilization_label,
    with_compute_commitment,
)
from optimizer.dashboard.components import percent
from optimizer.dashboard.what_if_model import solve_document
from optimizer.fleet.plans import fleet_plan_documents, save_fleet_plan
from optimizer.solver.plan import plan_from_dict
from optimizer.solver.problem import problem_from_dict
from optimizer.solver.solve import solve
from optimizer.solver.validate import validate_plan
from tests import dashboard_helpers as dh
from tests.dashboard_browser import chromium_page, dashboard_server, wait_rendered

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

#: $0.09/h at the m5.large plan rate $0.06 covers 1.5 on-demand m5.large instances an hour.
SAVINGS_PLAN = {
    "id": "sp-1",
    "type": "COMPUTE_SAVINGS_PLAN",
    "usd_per_hour": 0.09,
    "rates": {"m5.large": 0.06},
}
WHAT_IF_LEVEL = 0.3  # $/h: more than the two buckets' jobs can use, so part of it is stranded


def _committed_problem() -> dict[str, Any]:
    problem, _ = dh.fleet_documents()
    return {**problem, "commitments": [SAVINGS_PLAN]}


def _metric(page: Any, label: str) -> str:
    metric = page.locator('[data-testid="stMetric"]', has_text=label).first
    metric.wait_for(state="visible", timeout=60_000)
    return str(metric.locator('[data-testid="stMetricValue"]').inner_text()).strip()


@pytest.fixture
def served(sqlite_engine: Engine) -> Iterator[tuple[str, dict[str, Any]]]:
    if not Path("/usr/bin/chromium").exists():
        pytest.fail("Chromium is missing: apt-get install -y chromium (CI installs it)")
    dh.seed(sqlite_engine)
    problem = problem_from_dict(_committed_problem())
    plan = solve(problem, clock=time.perf_counter)
    assert validate_plan(problem, plan) == []
    plan_id = save_fleet_plan(
        sqlite_engine, "q-committed", problem, plan, now=datetime(2026, 11, 10)
    )  # newest: shown first
    documents = fleet_plan_documents(sqlite_engine, plan_id)
    assert documents is not None
    env = {
        "BATCHOPT_DATABASE_URL": sqlite_engine.url.render_as_string(hide_password=False),
        "BATCHOPT_REGIONS": "us-east-1",
    }
    with dashboard_server(env) as base:
        yield base, documents[1]  # the page must show the stored document, not the solver's objects


def _cells(page: Any, text: str) -> list[str]:
    """The cells of the first table that shows `text`."""
    grid = page.locator('[data-testid="stDataFrame"]', has_text=text).first
    cells = grid.locator('[role="gridcell"]')
    cells.first.wait_for(state="attached", timeout=60_000)
    return [c.strip() for c in cells.all_inner_texts()]


def test_fleet_mix_and_what_if_show_commitment_utilization(served: tuple[str, dict[str, Any]]) -> None:
    base, document = served
    [used] = document["commitments"]
    stored = {"utilization": used["utilization"], "fees": document["commitment_usd"]}
    assert stored["fees"] > 0 and 0 < stored["utilization"] <= 1
    # What the What-if page must show: the stored problem re-solved at the new level, offline.
    expected = plan_from_dict(
        solve_document(with_compute_commitment(_committed_problem(), WHAT_IF_LEVEL, 0.28))
    )
    [what_if_use] = [c["utilization"] for c in expected.commitments if c["id"] == WHAT_IF_ID]
    assert what_if_use < stored["utilization"]
    with chromium_page() as page:
        page.goto(f"{base}/fleet-mix")
        wait_rendered(page, "Fleet mix")
        # (of the queue's share of the account's plan, and labelled so)
        assert _metric(page, utilization_label("sp-1")) == percent(stored["utilization"])
        assert _metric(page, "Commitment fees") == f"${stored['fees']:,.2f}"
        # the level the queue's problem carries (its share of the account's plan), said as such
        page.get_by_text("share of the account's commitments").first.wait_for()
        row = _cells(page, "sp-1")
        assert "$0.0900" in row  # $/h, the level
        assert percent(used["utilization"]) in row
        assert f"${used['covered_usd']:,.2f}" in row  # covered on-demand, at on-demand prices
        assert f"${stored['fees']:,.2f}" in row  # its fee over the plan: the plan's commitment_usd
        unused = stored["fees"] * (1.0 - used["utilization"])
        assert f"${unused:,.2f}" in row  # the fee left unused: fee x (1 - utilization)
        # how the plan's cost splits: the parts the page shows add up to the stored plan's cost
        split = _cells(page, "Commitment fees")
        parts = dict(zip(split[0::3], split[1::3], strict=True))
        assert parts["Commitment fees"] == f"${stored['fees']:,.2f}"
        assert parts["Plan cost"] == f"${document['cost_usd']:,.2f}"
        amounts = [float(parts[k].lstrip("$").replace(",", "")) for k in parts if k != "Plan cost"]
        assert sum(amounts) == pytest.approx(document["cost_usd"], abs=0.015)

        page.goto(f"{base}/what-if")
        wait_rendered(page, "What-if")
        level = page.get_by_label("Compute Savings Plan commitment ($/h, 0 = none)", exact=True)
        assert level.input_value() == "0.0900"  # the stored level, to the fraction of a cent
        # Another plan starts from its own level (the browser once kept the first plan's), and back.
        for scope, shown in (("q-spot", "0.0000"), ("q-committed", "0.0900")):
            page.locator('[data-testid="stSelectbox"]').first.click()
            page.get_by_role("option").filter(has_text=scope).first.click()
            # One field with the plan's level: while Streamlit reruns, the previous plan's
            # field can stay in the page beside the new one until the script finishes.
            page.wait_for_function(
                "([label, value]) => { const f = [...document.querySelectorAll('input')]"
                ".filter(i => i.getAttribute('aria-label') === label);"
                " return f.length === 1 && f[0].value === value; }",
                arg=["Compute Savings Plan commitment ($/h, 0 = none)", shown],
                timeout=60_000,
            )
        level.fill(f"{WHAT_IF_LEVEL}")
        level.press("Enter")
        page.get_by_role("button", name="Re-solve").click()
        shown = _metric(page, f"Utilization {WHAT_IF_LABEL}")
        wait_rendered(page, "What-if")
        assert shown == percent(what_if_use)
