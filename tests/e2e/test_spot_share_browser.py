"""The spot shares in headless Chromium against `batchopt dashboard`: the Overview shows the report's
three spot shares under the report's names, each the figure the analysis computes on the same rows,
and the What-if page names its spot limit's measure (job vCPU-hours)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from optimizer.analysis.cost import IDLE
from optimizer.analysis.rollup import SPOT_SHARE_NAMES
from tests import dashboard_helpers as dh
from tests.dashboard_browser import chromium_page, dashboard_server, wait_rendered

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


@pytest.fixture
def served(sqlite_engine: Engine) -> Iterator[str]:
    if not Path("/usr/bin/chromium").exists():
        pytest.fail("Chromium is missing: apt-get install -y chromium (CI installs it)")
    dh.seed(sqlite_engine)
    env = {
        "BATCHOPT_DATABASE_URL": sqlite_engine.url.render_as_string(hide_password=False),
        "BATCHOPT_REGIONS": "us-east-1",
    }
    with dashboard_server(env) as base:
        yield base


def _metric(page: Any, label: str) -> str:
    metric = page.locator('[data-testid="stMetric"]', has_text=label).first
    metric.wait_for(state="visible", timeout=60_000)
    return str(metric.locator('[data-testid="stMetricValue"]').inner_text()).strip()


def _expected_shares() -> dict[str, str]:
    """Worked out from the seeded cost lines here, not by `spot_share`: spot over spot + on-demand
    of spend, of all instance vCPU-hours, and of the vCPU-hours jobs requested (idle rows out)."""
    lines = dh.expected().lines
    lines = lines.assign(cap=lines["capacity_type"].astype(str).str.upper())
    known = lines[lines["cap"].isin(["SPOT", "ON_DEMAND"])]
    work = known[known["queue"] != IDLE]
    out = {}
    for measure, rows, column in (
        ("spend", known, "total_usd"),
        ("instance_vcpu_hours", known, "vcpu_hours"),
        ("job_vcpu_hours", work, "vcpu_hours"),
    ):
        share = rows.loc[rows["cap"] == "SPOT", column].sum() / rows[column].sum()
        out[SPOT_SHARE_NAMES[measure]] = f"{share:.1%}"
    return out


def test_overview_shows_the_three_spot_shares_by_name_and_what_if_names_its_limit(served: str) -> None:
    expected = _expected_shares()
    assert len(set(expected.values())) == 3, "the seed tells the three measures apart"
    with chromium_page() as page:
        page.goto(f"{served}/overview")
        wait_rendered(page, "Overview")
        shown = {name: _metric(page, name) for name in expected}
        assert shown == expected
        page.goto(f"{served}/what-if")
        wait_rendered(page, "What-if")
        page.locator('[data-testid="stSlider"]', has_text="Max spot share of job vCPU-hours").wait_for()
