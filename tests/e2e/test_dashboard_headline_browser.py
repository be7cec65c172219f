"""The savings headline, the trade-offs list and the apply confirmation in headless Chromium.

One server over a seeded store (three seeded recommendations and one on the emulator's queue `main`,
none with a calibration, so all four are counted: $250 + $40.50 + $12.25 + $999 = $1,301.75). The
Overview is opened by its own link (`/overview`), and Overview and Recommendations must show the same
figure; applying asks for confirmation with the plan's calls before anything changes. Screenshots go
to test-artifacts/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from optimizer.recommend.repository import save_recommendations
from optimizer.store.schema import recommendations
from tests import dashboard_helpers as dh
from tests.apply_helpers import build_estate, make_recommendation
from tests.dashboard_browser import REPO, chromium_page, click_button, dashboard_server, wait_rendered

pytestmark = [pytest.mark.browser, pytest.mark.emulator, pytest.mark.xdist_group("browser")]
ARTIFACTS = REPO / "test-artifacts"
HEADLINE = "$1,301.75"
TITLE = "Put the spot CE first on queue main"


@pytest.fixture
def served(sqlite_engine: Engine, aws_endpoint: str) -> Iterator[tuple[str, str, Engine]]:
    if not Path("/usr/bin/chromium").exists():
        pytest.fail("Chromium is missing: apt-get install -y chromium (CI installs it)")
    estate = build_estate(aws_endpoint)
    dh.seed(sqlite_engine)
    rec = make_recommendation(
        "spot-adoption",
        estate.queue_arn,
        "job-queue",
        {"compute_environment_order": [estate.spot_arn, estate.ondemand_arn]},
        title=TITLE,
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
        yield base, rec.id, sqlite_engine


def _metric(page: object, label: str) -> str:
    box = page.locator('[data-testid="stMetric"]', has_text=label).first  # type: ignore[attr-defined]
    return box.locator('[data-testid="stMetricValue"]').inner_text().strip()


def test_headline_is_one_figure_and_apply_confirms_its_calls(served: tuple[str, str, Engine]) -> None:
    base, rec_id, engine = served
    with chromium_page() as page:
        page.goto(f"{base}/overview")  # a shared link, not only the root
        wait_rendered(page, "Overview")
        assert page.get_by_text("Page not found").count() == 0
        assert page.locator('[data-testid="stException"]').count() == 0
        assert _metric(page, "Identified (open), per month") == HEADLINE
        assert _metric(page, "Applied, per month (estimated)") == "$0.00"
        page.screenshot(path=str(ARTIFACTS / "headline-overview.png"), full_page=True)

        page.goto(f"{base}/recommendations")
        wait_rendered(page, "Recommendations")
        assert _metric(page, "Identified savings, per month") == HEADLINE
        grid = page.locator('[data-testid="stDataFrame"]').first
        grid.wait_for(timeout=30_000)
        page.screenshot(path=str(ARTIFACTS / "headline-recommendations-list.png"), full_page=True)

        page.locator('[data-testid="stSelectbox"]', has_text="Open a recommendation").click()
        page.get_by_role("option", name=TITLE, exact=False).first.click()
        page.get_by_role("heading", name=TITLE).wait_for()
        page.get_by_label("Apply secret").fill("e2e-secret")
        page.get_by_label("Apply secret").press("Enter")
        wait_rendered(page, "Recommendations")
        click_button(page, "Dry run")
        page.get_by_text("Dry run of plan").wait_for(timeout=60_000)
        wait_rendered(page, "Recommendations")

        page.get_by_role("button", name="Apply", exact=True).click()
        confirm = page.get_by_role("button", name="Confirm: make these calls")
        confirm.wait_for(timeout=30_000)
        wait_rendered(page, "Recommendations")
        assert page.get_by_text("Apply makes these 1 call(s)").count() == 1
        calls = page.locator('[data-testid="stDataFrame"]', has_text="batch.update_job_queue")
        calls.first.wait_for(timeout=30_000)
        with engine.connect() as conn:
            status = conn.execute(
                select(recommendations.c.status).where(recommendations.c.id == rec_id)
            ).scalar()
        assert status == "open", "nothing is applied before the confirmation"
        page.screenshot(path=str(ARTIFACTS / "headline-recommendation-confirm.png"), full_page=True)

        confirm.click()
        page.get_by_text("Apply: succeeded").wait_for(timeout=90_000)
        wait_rendered(page, "Recommendations")
        with engine.connect() as conn:
            status = conn.execute(
                select(recommendations.c.status).where(recommendations.c.id == rec_id)
            ).scalar()
        assert status == "applied"
        # Applied: out of the identified figure, into Applied by the headline's rules (no bill, so
        # at list; nothing else applied overlaps it, and no open item prices queue main's CEs).
        page.goto(f"{base}/overview")
        wait_rendered(page, "Overview")
        assert _metric(page, "Identified (open), per month") == "$302.75"
        assert _metric(page, "Applied, per month (estimated)") == "$999.00"
