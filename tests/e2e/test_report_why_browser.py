"""The report's "why" table as a reader sees it in Chromium, on the hand-made estate of report_helpers.

W46: 48 vCPU-h of m5.large on-demand for $2.304. W47: work 224 vCPU-h for $7.58 (every cell that ran
in both weeks kept $0.048/vCPU-h, so price moved nothing), idle $0.96. Two-factor split of the work:
volume = (224 - 48) x (0.048 + 7.58/224) / 2 = $7.2019, mix = (7.58 - 2.304) - volume = -$1.9259.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import Engine

from optimizer.report.build import build_weekly_report
from optimizer.report.load import load_report_inputs
from optimizer.report.render import render_all
from optimizer.report.weeks import parse_week
from optimizer.runtime.browser import CHROMIUM_ARGS, DEBIAN_CHROMIUM
from tests.report_helpers import seed_estate


@pytest.mark.browser
@pytest.mark.xdist_group("browser")
def test_chromium_shows_the_parts_of_the_change_adding_up(sqlite_engine: Engine) -> None:
    from playwright.sync_api import sync_playwright

    seed_estate(sqlite_engine)
    week = parse_week("2026-W47")
    report = build_weekly_report(
        load_report_inputs(sqlite_engine, week), week, generated_at=datetime(2026, 11, 23, 8)
    )
    html = render_all(report).html
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=DEBIAN_CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 800, "height": 1000})
            page.set_content(html, wait_until="load")
            heading = page.locator("h2", has_text="Why spend changed vs the previous week")
            assert heading.is_visible()
            table = page.locator("h2:has-text('Why spend changed') + table")
            rows = table.locator("tbody tr").all_inner_texts()
            cells = [r.split("\t")[:2] for r in rows]
            assert cells == [
                ["Job volume", "$7.20"],
                ["Price", "$0.00"],
                ["Mix (instance types, spot share)", "-$1.93"],
                ["Idle capacity", "$0.96"],
                ["Total change", "$6.24"],
            ]
            assert "$2.30 → $8.54" in rows[-1]
            summary = page.locator("h2:has-text('Summary') + table").inner_text()
            assert "over 1 full week: 2026-W46" in summary  # W45 began on a Tuesday: left out
        finally:
            browser.close()
