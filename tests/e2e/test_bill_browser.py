"""The bill beside the model in headless Chromium against `batchopt dashboard`: the Cost explorer shows
billed, effective and modelled cost with the residual, commitment utilization and coverage, and where
the residual comes from; its switch between billed, effective and modelled changes the chart, not
the figures. The store is tests/integration/test_dashboard_bill's (the report tests' estate, analysed,
with a hand-made legacy CUR imported); the expected figures are that module's independent sums."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from optimizer.dashboard.components import money, percent
from tests.dashboard_browser import REPO, chromium_page, dashboard_server, wait_rendered
from tests.integration.test_billing_views import SP
from tests.integration.test_dashboard_bill import EXPLORER_DAYS, _store, _sums

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def _cells(page: Any, text: str) -> list[str]:
    """The cells of the first table that shows `text`."""
    grid = page.locator('[data-testid="stDataFrame"]', has_text=text).first
    cells = grid.locator('[role="gridcell"]')
    cells.first.wait_for(state="attached", timeout=60_000)
    return [c.strip() for c in cells.all_inner_texts()]


def _metric(page: Any, label: str) -> str:
    metric = page.locator('[data-testid="stMetric"]', has_text=label).first
    metric.wait_for(state="visible", timeout=60_000)
    return str(metric.locator('[data-testid="stMetricValue"]').inner_text()).strip()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    if not Path("/usr/bin/chromium").exists():
        pytest.fail("Chromium is missing: apt-get install -y chromium (CI installs it)")
    env = {"BATCHOPT_DATABASE_URL": _store(tmp_path, with_bill=True), "BATCHOPT_REGIONS": "us-east-1"}
    with dashboard_server(env) as base:
        yield base


def test_cost_explorer_shows_the_bill_beside_the_model(served: str) -> None:
    billed, effective, modelled = _sums(EXPLORER_DAYS)
    with chromium_page() as page:
        page.goto(f"{served}/cost-explorer")
        wait_rendered(page, "Cost explorer")
        page.get_by_role("heading", name="Bill vs model").wait_for()
        assert _metric(page, "Billed") == money(billed)
        assert _metric(page, "Effective") == money(effective)
        assert _metric(page, "Modelled") == money(modelled)
        assert _metric(page, "Residual (billed - modelled)") == money(billed - modelled)
        # the plan's fee row (1 Nov) is outside the days: used, never idle; covered i-od2 is a third
        # of the eligible instance usage (i-prev, i-od1 on demand, i-od2 covered: 2.304 each)
        assert _metric(page, "Commitment utilization") == percent(1.0)
        assert _metric(page, "EC2 commitment coverage") == percent(1 / 3)
        assert _metric(page, "Unused commitment") == money(0.0)
        # the plan's row: its short name, kind, utilization and unused commitment over the days first
        # (the full ARN is last, off the grid's width), and no "None" where the legacy CUR has no
        # term or hourly commitment (the table showed the ARN first, "None" in those columns and
        # the kind under the heading "Cost")
        short = f"savingsplan/{SP.rsplit('/', 1)[-1][:8]}"
        cells = _cells(page, short)  # (the residual's causes also name the Savings Plan)
        assert cells[:4] == [short, "savings plan", "n/a", percent(1.0)]
        assert cells[5] == money(0.0)
        assert "None" not in cells and SP not in cells[:8]
        assert page.get_by_text("Where the residual comes from").is_visible()
        for view in ("Effective", "Modelled", "Billed"):
            page.locator('[data-testid="stRadio"]').get_by_text(view, exact=True).click()
            wait_rendered(page, "Cost explorer")
            assert page.locator('[data-testid="stException"]').count() == 0
            assert _metric(page, "Billed") == money(billed)
        page.screenshot(path=str(REPO / "test-artifacts" / "dashboard-bill.png"), full_page=True)
