"""A collection gap is never silent: the Runs and health page shows it (and the covered ranges), and
the weekly report's coverage notes carry the same sentence for the week it falls in."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

from optimizer.collectors import coverage
from optimizer.report.build import build_weekly_report
from optimizer.report.load import load_report_inputs
from optimizer.report.render_markdown import render_markdown
from optimizer.report.weeks import parse_week
from optimizer.store.coverage_read import gap_sentence, gaps_frame


def run_page(module: str) -> AppTest:
    app = AppTest.from_string(
        f"from optimizer.dashboard.pages import {module}\n{module}.render()\n", default_timeout=60
    )
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def metric(app: AppTest, label: str) -> str:
    found = [m.value for m in app.metric if m.label == label]
    assert found, f"no metric {label!r}; have {[m.label for m in app.metric]}"
    return found[0]


QUEUE = "arn:aws:batch:us-east-1:123456789012:job-queue/genomics"
LAST = datetime(2026, 11, 2, 6)  # the last listing before the outage
BACK = datetime(2026, 11, 19, 6)  # the first one after it: 17 days later, Batch lists 7
RETENTION = timedelta(days=7)


def _outage(engine: Engine) -> None:
    for when in (LAST, BACK):
        with engine.begin() as conn:
            coverage.extend(
                conn,
                target="prod",
                region="us-east-1",
                source="jobs",
                scope=QUEUE,
                start=when - RETENTION,
                end=when,
                now=when,
                gap_reason="outage",
            )


@pytest.fixture
def gapped(sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Engine:
    _outage(sqlite_engine)
    monkeypatch.setenv("BATCHOPT_DATABASE_URL", sqlite_engine.url.render_as_string(hide_password=False))
    return sqlite_engine


def test_the_gap_is_stored_once_with_its_bounds(gapped: Engine) -> None:
    _outage(gapped)  # the same runs recorded again: no second gap
    [gap] = gaps_frame(gapped).to_dict("records")
    assert (gap["gap_from"], gap["gap_to"]) == (LAST, BACK - RETENTION)
    assert gap_sentence(gap) == (
        "Collection gap (jobs, prod/us-east-1, queue genomics) "
        "2026-11-02 06:00 to 2026-11-12 06:00 UTC: outage."
    )


def test_runs_and_health_shows_the_gap(gapped: Engine) -> None:
    from optimizer.collectors.runs import finish_run, start_run

    run_id = start_run(
        gapped, target="prod", account_id="123456789012", region="us-east-1", source="jobs", started_at=BACK,
        watermark_before=None,
    )  # fmt: skip
    with gapped.begin() as conn:
        finish_run(conn, run_id, status="succeeded", finished_at=BACK)
    app = run_page("health")
    assert metric(app, "Collection gaps") == "1"
    assert metric(app, "Covered ranges") == "1"
    [gap] = gaps_frame(gapped).to_dict("records")
    assert [w.value for w in app.warning] == [gap_sentence(gap)]


def test_weekly_report_coverage_names_the_gap(gapped: Engine) -> None:
    week = parse_week("2026-W46")  # 9-15 Nov: the gap runs into it
    report = build_weekly_report(load_report_inputs(gapped, week), week, generated_at=datetime(2026, 11, 20))
    [gap] = gaps_frame(gapped).to_dict("records")
    assert gap_sentence(gap) in report.coverage.notes
    assert gap_sentence(gap) in render_markdown(report)
    later = parse_week("2026-W48")  # after the gap: not in that week's notes
    clean = build_weekly_report(load_report_inputs(gapped, later), later, generated_at=datetime(2026, 12, 1))
    assert not [n for n in clean.coverage.notes if n.startswith("Collection gap")]


def test_a_gap_with_no_length_is_not_shown_or_counted(
    sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The demo's first run (no event intake) opened the intake's gap at its own instant, start ==
    # end: the page said "Collection gaps 1" for a gap of no time. The next run grows it into one.
    monkeypatch.setenv("BATCHOPT_DATABASE_URL", sqlite_engine.url.render_as_string(hide_password=False))
    from optimizer.collectors.runs import finish_run, start_run

    run_id = start_run(
        sqlite_engine, target="default", account_id="123456789012", region="us-east-1", source="jobs",
        started_at=LAST, watermark_before=None,
    )  # fmt: skip
    with sqlite_engine.begin() as conn:
        coverage.note_events_missing(conn, "default", "us-east-1", LAST)
        finish_run(conn, run_id, status="succeeded", finished_at=LAST)
    assert gaps_frame(sqlite_engine).empty
    app = run_page("health")
    assert metric(app, "Collection gaps") == "0"
    assert not app.warning
    with sqlite_engine.begin() as conn:
        coverage.note_events_missing(conn, "default", "us-east-1", BACK)
    [gap] = gaps_frame(sqlite_engine).to_dict("records")
    assert (gap["gap_from"], gap["gap_to"]) == (LAST, BACK)
