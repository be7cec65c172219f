"""The dashboard end to end in headless Chromium against `batchopt dashboard` (one server for all):
every page renders (screenshots in test-artifacts/), and a recommendation on a queue in the local AWS
emulator is opened and dry-run through the same apply workflow as the CLI, showing its plan."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from optimizer.dashboard.router import PAGES
from optimizer.recommend.repository import save_recommendations
from tests import dashboard_helpers as dh
from tests.apply_helpers import build_estate, make_recommendation
from tests.dashboard_browser import REPO, chromium_page, click_button, dashboard_server, wait_rendered

pytestmark = [pytest.mark.browser, pytest.mark.emulator, pytest.mark.xdist_group("browser")]
ARTIFACTS = REPO / "test-artifacts"


@pytest.fixture
def served(sqlite_engine: Engine, aws_endpoint: str) -> Iterator[tuple[str, str]]:
    """The dashboard over a seeded store with one recommendation on the emulator's queue `main`."""
    if not Path("/usr/bin/chromium").exists():
        pytest.fail("Chromium is missing: apt-get install -y chromium (CI installs it)")
    estate = build_estate(aws_endpoint)
    dh.seed(sqlite_engine)
    rec = make_recommendation(
        "spot-adoption",
        estate.queue_arn,
        "job-queue",
        {"compute_environment_order": [estate.spot_arn, estate.ondemand_arn]},
        title="Put the spot CE first on queue main",
        monthly_savings_usd=999.0,
        target_name="main",
    )
    save_recommendations(sqlite_engine, [rec])
    ARTIFACTS.mkdir(exist_ok=True)
    env = {
        "BATCHOPT_DATABASE_URL": sqlite_engine.url.render_as_string(hide_password=False),
        "BATCHOPT_AWS_ENDPOINT_URL": aws_endpoint,
        "BATCHOPT_REGIONS": "us-east-1",
        "BATCHOPT_APPLY__ENABLED": "true",
        "BATCHOPT_APPLY__ALLOW_LIST": "main",
        "BATCHOPT_APPLY__SHARED_SECRET": "e2e-secret",
    }
    with dashboard_server(env) as base:
        yield base, rec.id


def test_pages_render_and_a_recommendation_dry_runs_to_its_plan(served: tuple[str, str]) -> None:
    base, rec_id = served
    with chromium_page() as page:
        for index, spec in enumerate(PAGES):
            page.goto(base if index == 0 else f"{base}/{spec.url_path}")  # the default page is "/"
            wait_rendered(page, spec.title)
            assert page.locator('[data-testid="stException"]').count() == 0, spec.title
            assert page.get_by_text("Page not found").count() == 0, spec.url_path
            page.screenshot(path=str(ARTIFACTS / f"dashboard-{spec.url_path}.png"), full_page=True)

        page.goto(base)
        wait_rendered(page, "Overview")
        assert page.get_by_text("Spend, last 7 days").is_visible()
        page.get_by_role("link", name="Recommendations").click()
        wait_rendered(page, "Recommendations")

        page.locator('[data-testid="stSelectbox"]', has_text="Open a recommendation").click()
        page.get_by_role("option", name="Put the spot CE first on queue main").click()
        page.get_by_role("heading", name="Put the spot CE first on queue main").wait_for()
        click_button(page, "Dry run")
        result = page.get_by_text("Dry run of plan")
        result.wait_for(timeout=60_000)
        wait_rendered(page, "Recommendations")
        plan = page.locator('[data-testid="stCode"]', has_text="batch.update_job_queue")
        assert plan.count() == 1, "the dry run shows the plan's calls"
        text = plan.first.inner_text()
        assert "spot-ce" in text and "batch:UpdateJobQueue" in text
        assert "checks passed" in text, "enabled, allow-listed and unchanged: an execute would go ahead"
        # the next step is the page's button, not the CLI's flag (it read "add --execute to apply")
        assert "press Apply, then confirm the calls" in text and "--execute" not in text
        assert page.get_by_text("Not planned yet").count() == 0, "the stored plan is shown after the dry run"
        assert page.get_by_text("e2e-secret").count() == 0
        page.screenshot(path=str(ARTIFACTS / "dashboard-recommendation-dry-run.png"), full_page=True)
    assert rec_id


def test_what_if_resolves_with_changed_limits_and_requirements(served: tuple[str, str]) -> None:
    """The stored fleet plan (demand 4 then 2 jobs of 2 vCPU / 4 GiB; m5.xlarge spot and m5.large
    on-demand offered) re-solved from the page: the figures shown are the solver's."""
    base, _ = served
    with chromium_page() as page:
        page.goto(f"{base}/what-if")
        wait_rendered(page, "What-if")
        assert page.locator('[data-testid="stException"]').count() == 0

        # No spot at all: six m5.large on-demand instance-hours at $0.096 = $0.576.
        slider = page.locator('[data-testid="stSlider"]', has_text="Max spot share").get_by_role("slider")
        slider.focus()
        slider.press("Home")
        page.get_by_role("button", name="Re-solve").click()
        cells = page.locator('[data-testid="stDataFrame"]').first.locator('[role="gridcell"]')
        cells.first.wait_for(state="attached", timeout=60_000)
        wait_rendered(page, "What-if")
        rows = cells.all_inner_texts()  # measure, stored plan, what-if: row by row
        table = {rows[k]: rows[k + 1 : k + 3] for k in range(0, len(rows) - 2, 3)}
        assert table["status"][1] == "OPTIMAL"
        assert table["cost (USD)"][1] == "$0.58", "6 on-demand m5.large hours x $0.096, as money (was 0.576)"
        assert table["instance types"][1] == "1 (listed below)"
        offerings = page.locator('[data-testid="stDataFrame"]', has_text="offering").first
        listed = [c.strip() for c in offerings.locator('[role="gridcell"]').all_inner_texts()]
        assert "m5.large/ON_DEMAND" in listed and listed[listed.index("m5.large/ON_DEMAND") + 2] == "yes"

        # Excluding the m5 family leaves no allowed offering: the solver says why.
        page.get_by_label("Excluded families (comma-separated, wildcards: m5*, t*)").fill("m5")
        page.get_by_role("button", name="Re-solve").click()
        page.get_by_text("fits no offering allowed by the instance requirements").wait_for(timeout=60_000)
        assert "excluded_families=m5" in page.locator('[data-testid="stMain"]').inner_text()
        page.screenshot(path=str(ARTIFACTS / "dashboard-what-if-resolved.png"), full_page=True)
