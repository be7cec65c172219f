"""Commitments in the dashboard, in headless Chromium against `batchopt dashboard`: the Fleet mix page
shows the stored plan's Savings Plan utilization, and the What-if page re-solves at another
commitment level and shows the utilization of the new plan."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from optimizer.dashboard.commitment_view import WHAT_IF_ID, with_compute_commitment
from optimizer.dashboard.components import percent
from optimizer.dashboard.what_if_model import solve_document
from optimizer.fleet.plans import save_fleet_plan
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
    save_fleet_plan(
        sqlite_engine, "q-committed", problem, plan, now=datetime(2026, 11, 10)
    )  # newest: shown first
    env = {
        "BATCHOPT_DATABASE_URL": sqlite_engine.url.render_as_string(hide_password=False),
        "BATCHOPT_REGIONS": "us-east-1",
    }
    with dashboard_server(env) as base:
        yield base, {"utilization": plan.commitments[0]["utilization"], "fees": plan.commitment_usd}


def test_fleet_mix_and_what_if_show_commitment_utilization(served: tuple[str, dict[str, Any]]) -> None:
    base, stored = served
    # What the What-if page must show: the stored problem re-solved at the new level, offline.
    expected = plan_from_dict(
        solve_document(with_compute_commitment(_committed_problem(), WHAT_IF_LEVEL, 0.28))
    )
    [what_if_use] = [c["utilization"] for c in expected.commitments if c["id"] == WHAT_IF_ID]
    assert what_if_use < stored["utilization"]
    with chromium_page() as page:
        page.goto(f"{base}/fleet-mix")
        wait_rendered(page, "Fleet mix")
        assert _metric(page, "Utilization sp-1") == percent(stored["utilization"])
        assert _metric(page, "Commitment fees") == f"${stored['fees']:,.2f}"
        # the level the queue's problem carries (its share of the account's plan), said as such
        page.get_by_text("share of the account's commitments").first.wait_for()
        grid = page.locator('[data-testid="stDataFrame"]', has_text="sp-1").first
        cells = grid.locator('[role="gridcell"]')
        cells.first.wait_for(state="attached", timeout=60_000)
        assert "$0.0900" in cells.all_inner_texts()

        page.goto(f"{base}/what-if")
        wait_rendered(page, "What-if")
        level = page.get_by_label("Compute Savings Plan commitment ($/h, 0 = none)", exact=True)
        assert level.input_value() == "0.0900"  # the stored level, to the fraction of a cent
        level.fill(f"{WHAT_IF_LEVEL}")
        level.press("Enter")
        page.get_by_role("button", name="Re-solve").click()
        shown = _metric(page, f"Utilization {WHAT_IF_ID}")
        wait_rendered(page, "What-if")
        assert shown == percent(what_if_use)
