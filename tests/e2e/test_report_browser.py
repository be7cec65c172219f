"""The HTML report as a reader sees it: charts are embedded PNG data URIs, the tables are there, no
scripts or external resources, and headless Chromium renders it to a PNG in test-artifacts/."""

from __future__ import annotations

import base64
import re
from datetime import datetime
from html.parser import HTMLParser

import pytest
from sqlalchemy import Engine

from optimizer.report.build import build_weekly_report
from optimizer.report.load import load_report_inputs
from optimizer.report.render import render_all
from optimizer.report.weeks import parse_week
from optimizer.runtime.browser import CHROMIUM_ARGS, DEBIAN_CHROMIUM
from tests.data_paths import REPO_ROOT
from tests.report_helpers import seed_estate

ARTIFACTS = REPO_ROOT / "test-artifacts"
CHROMIUM = DEBIAN_CHROMIUM


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _html(engine: Engine, week: str) -> str:
    iso = parse_week(week)
    report = build_weekly_report(load_report_inputs(engine, iso), iso, generated_at=datetime(2026, 11, 23, 8))
    return render_all(report).html


def test_html_is_self_contained_with_charts_and_tables(sqlite_engine: Engine) -> None:
    seed_estate(sqlite_engine)
    html = _html(sqlite_engine, "2026-W47")
    parser = _Tags()
    parser.feed(html)
    tags = [t for t, _ in parser.tags]
    images = [a for t, a in parser.tags if t == "img"]
    assert len(images) == 4
    for attrs in images:
        src = attrs["src"] or ""
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
        assert attrs["alt"]
    assert "script" not in tags and "link" not in tags and "style" not in tags  # inline styles only
    assert not re.search(r'(src|href)="https?://', html)  # nothing fetched from outside
    for heading in (
        "Summary",
        "Spend by job queue",
        "Spend by compute environment",
        "Top waste",
        "Top open recommendations",
        "Changes applied this week",
        "Data coverage and freshness",
    ):
        assert re.search(f">{re.escape(heading)}(: [^<]+)?</h", html), heading
    assert tags.count("table") >= 10
    assert "$8.54" in html and "Partial data" in html


@pytest.mark.browser
@pytest.mark.xdist_group("browser")
def test_chromium_renders_the_report_to_a_png(sqlite_engine: Engine) -> None:
    from playwright.sync_api import sync_playwright

    seed_estate(sqlite_engine)
    ARTIFACTS.mkdir(exist_ok=True)
    pages = {"2026-W47": _html(sqlite_engine, "2026-W47"), "2026-W30": _html(sqlite_engine, "2026-W30")}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 800, "height": 1000})
            for week, html in pages.items():
                page.set_content(html, wait_until="load")
                loaded = page.eval_on_selector_all(
                    "img", "imgs => imgs.map(i => i.complete && i.naturalWidth > 0)"
                )
                if week == "2026-W47":
                    assert loaded == [True] * 4  # every chart decoded and drawn
                    assert page.locator("h2", has_text="Spend by job queue").is_visible()
                else:
                    assert loaded == []
                    assert page.get_by_text("No data.").is_visible()
                shot = ARTIFACTS / f"report-{week}.png"
                page.screenshot(path=str(shot), full_page=True)
                assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
                assert shot.stat().st_size > 20_000
        finally:
            browser.close()


@pytest.mark.browser
@pytest.mark.xdist_group("browser")
def test_optional_pdf_is_printed_from_the_same_html(sqlite_engine: Engine) -> None:
    seed_estate(sqlite_engine)
    week = parse_week("2026-W47")
    report = build_weekly_report(
        load_report_inputs(sqlite_engine, week), week, generated_at=datetime(2026, 11, 23, 8)
    )
    rendered = render_all(report, pdf=True, chromium_path=CHROMIUM)
    pdf = rendered.files["batchopt-report-2026-W47.pdf"]
    assert pdf.startswith(b"%PDF-") and len(pdf) > 20_000
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "report-2026-W47.pdf").write_bytes(pdf)
    assert "batchopt-report-2026-W47.pdf" not in render_all(report).files  # only when asked for
