"""The What-if page in headless Chromium against `batchopt dashboard`: re-solved under a spot share and
replayed, it shows the plan's spot share and the replay's side by side, the replay running the plan's
compute environments with the spot CE capped (before the cap, a plan at 0.2 replayed at ~97 % spot),
next to the what-if commitment's utilization."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from optimizer.catalog.from_store import catalog_for_region
from optimizer.config import OptimizationSettings
from optimizer.dashboard.commitment_view import (
    WHAT_IF_ID,
    WHAT_IF_LABEL,
    compute_commitment,
    with_compute_commitment,
)
from optimizer.dashboard.components import percent
from optimizer.dashboard.replay_compare import load_replay_inputs, what_if_replay
from optimizer.dashboard.what_if_model import solve_document, with_policy
from optimizer.fleet.plans import save_fleet_plan
from optimizer.simulate.datasets import import_trace
from optimizer.solver.build import build_problem
from optimizer.solver.policy import Policy
from optimizer.solver.problem import commitments_from_list, problem_from_dict, problem_to_dict
from optimizer.solver.solve import solve
from optimizer.traces.schema import Trace, TraceMapping
from tests import dashboard_helpers as dh
from tests.dashboard_browser import REPO, chromium_page, dashboard_server, wait_rendered
from tests.simulate_helpers import under_peak_jobs

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]
ARTIFACTS = REPO / "test-artifacts"
SCOPE = "dataset:under-peak"
START = datetime(2026, 11, 1)
SHARE = 0.5
#: $/h of Compute Savings Plan the stored problem carries (the page keeps it for the re-solve).
SAVINGS_PLAN = {
    "id": "sp-1",
    "type": "COMPUTE_SAVINGS_PLAN",
    "usd_per_hour": 0.05,
    "rates": {"m5.large": 0.06, "m5.xlarge": 0.12},
}
#: What the page's form sends for this stored problem with the slider moved to SHARE.
OVERRIDES = {
    "max_spot_share": SHARE,
    "max_instance_types": None,
    "min_spot_instance_types": 0,
    "interruption_cost_factor": 1.0,
    "instance_requirements": {
        "generations": "current",
        "burstable": False,
        "bare_metal": False,
        "accelerators": "when_requested",
        "excluded_families": [],
    },
}


def _metric(page: Any, label: str) -> str:
    metric = page.locator('[data-testid="stMetric"]', has_text=label).first
    metric.wait_for(state="visible", timeout=120_000)
    return str(metric.locator('[data-testid="stMetricValue"]').inner_text()).strip()


@pytest.fixture
def served(sqlite_engine: Engine) -> Iterator[tuple[str, dict[str, Any]]]:
    if not Path("/usr/bin/chromium").exists():
        pytest.fail("Chromium is missing: apt-get install -y chromium (CI installs it)")
    dh.seed(sqlite_engine)  # the region's prices: m5.large, m5.xlarge (spot too)
    jobs = under_peak_jobs(12, 4)
    trace = Trace(format="csv", source="under-peak.csv", jobs=jobs, mapping=TraceMapping())
    import_trace(sqlite_engine, trace, "under-peak", imported_at=START, start=START)
    provider = catalog_for_region(sqlite_engine, "us-east-1")
    built = build_problem(jobs, provider, Policy(time_limit_seconds=10))
    stored = {**problem_to_dict(built), "commitments": [SAVINGS_PLAN]}
    problem = problem_from_dict(stored)
    plan_saved = datetime(2026, 11, 20)  # newer than the seeded q-spot plan: the page shows it first
    save_fleet_plan(sqlite_engine, SCOPE, problem, solve(problem, clock=time.perf_counter), now=plan_saved)

    # What the page must show, computed offline with the functions it calls.
    level, discount = compute_commitment(stored)
    what_if = with_compute_commitment(with_policy(stored, OVERRIDES), level, discount or 0.28)
    plan = solve_document(what_if)
    inputs = load_replay_inputs(sqlite_engine, SCOPE, OptimizationSettings().history_days, "us-east-1")
    committed = commitments_from_list(what_if["commitments"], "what-if")
    replayed = what_if_replay(inputs, what_if, plan, SCOPE, commitments=committed)
    [use] = [c["utilization"] for c in plan["commitments"] if c["id"] == WHAT_IF_ID]
    expected = {
        "plan": replayed.plan_spot_share,
        "replay": replayed.summaries["what-if plan"]["spot_job_vcpu_share"],
        "cap": replayed.spot_cap_fitted,
        "utilization": use,
    }
    env = {
        "BATCHOPT_DATABASE_URL": sqlite_engine.url.render_as_string(hide_password=False),
        "BATCHOPT_REGIONS": "us-east-1",
    }
    ARTIFACTS.mkdir(exist_ok=True)
    with dashboard_server(env) as base:
        yield base, expected


def test_what_if_shows_the_plans_spot_share_and_its_replays_side_by_side(
    served: tuple[str, dict[str, Any]],
) -> None:
    base, expected = served
    # The replay runs the capped document: at most the plan's share, and some spot still.
    assert expected["plan"] == pytest.approx(SHARE)
    assert 0.0 < expected["replay"] <= expected["plan"]
    assert expected["cap"] is not None and expected["cap"] > 0
    with chromium_page() as page:
        page.goto(f"{base}/what-if")
        wait_rendered(page, "What-if")
        slider = page.locator('[data-testid="stSlider"]', has_text="Max spot share").get_by_role("slider")
        slider.focus()
        slider.press("Home")
        for _ in range(round(SHARE / 0.05)):  # the slider's step
            slider.press("ArrowRight")
        page.get_by_role("button", name="Re-solve").click()
        assert _metric(page, f"Utilization {WHAT_IF_LABEL}") == percent(expected["utilization"])
        wait_rendered(page, "What-if")
        page.get_by_text("Replay the recent jobs on the current configuration").click()
        shown_plan = _metric(page, "Spot share, what-if plan")
        wait_rendered(page, "What-if")
        assert page.locator('[data-testid="stException"]').count() == 0
        assert shown_plan == percent(expected["plan"])
        assert _metric(page, "Spot share, replayed") == percent(expected["replay"])
        assert _metric(page, "Max spot share (policy)") == percent(SHARE)
        assert _metric(page, "Spot CE maxvCpus") == f"{expected['cap']:,}"
        # the commitment's utilization is still shown with the shares
        assert _metric(page, f"Utilization {WHAT_IF_LABEL}") == percent(expected["utilization"])
        page.screenshot(path=str(ARTIFACTS / "dashboard-what-if-spot-share.png"), full_page=True)
