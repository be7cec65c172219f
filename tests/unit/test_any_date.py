"""The suite passes on any date: the clock travels, product code reads it only at its edges.

- The `any_date` machinery really travels (tests/conftest.py): a marked test runs on the real clock
  and on each of `ANY_DATES`, and sees that date.
- Only `optimizer/runtime/clock.py` reads the wall clock, and only the edges (CLI commands, scheduled jobs,
  the demo, and the store writers' defaults) call it; everything else gets `now`/`clock` passed in.
  A new `datetime.now()` deep in the code would make some result depend on the day the suite runs.
- The edges that default to the real clock use the travelled one (collection windows, the weekly
  report's week), so what they compute follows the date they run on.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

import optimizer
from optimizer.collectors.base import CollectContext, Collected, Source
from optimizer.collectors.runner import collect
from optimizer.config import Settings
from optimizer.report.run import scheduled_weekly_report
from optimizer.report.weeks import last_complete_week
from optimizer.runtime.clock import utc_now, utc_now_aware
from tests.clock import ANY_DATES, CLOCK_ENV
from tests.collect_helpers import fixed_plan

PACKAGE = Path(optimizer.__file__).parent

WALL_CLOCK = {
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("datetime", "today"),
    ("date", "today"),
    ("time", "time"),
    ("time", "time_ns"),
    ("time", "localtime"),
    ("time", "gmtime"),
    ("Timestamp", "now"),
    ("Timestamp", "utcnow"),
    ("Timestamp", "today"),
}
"""(object, attribute) calls that read the wall clock (`time.monotonic` is a duration, not a date)."""

CLOCK_READERS = {"utc_now", "utc_now_aware", "utcnow"}

EDGES = (
    "cli/",  # commands: a person runs them now
    "scheduled.py",  # each area's periodic job
    "demo/pipeline.py",  # the demo's run
    "report/run.py",  # scheduled_weekly_report: the report job's default `now`
    "recommend/generate.py",  # one stamp per generate_recommendations run, when none is given
    "recommend/repository.py",  # row stamps when a caller passes no `now`
    "apply/records.py",  # plan and audit stamps when a caller passes no `now`
    "dashboard/pages/overview.py",  # "this month" is the month a person opens the page in
    "dashboard/pages/spot.py",  # a reference feed's age is its age when a person opens the page
    "dashboard/pages/fleet_mix.py",  # "the full days through yesterday": the day the page opens
)
"""Where calling the clock is allowed. Anything else takes `now` or a `clock` argument."""


def _calls(tree: ast.AST) -> list[tuple[str, str, int]]:
    """(object name, attribute or function name, line) for each call in `tree`."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Attribute):
            owner = func.value
            name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
            found.append((name, func.attr, node.lineno))
            if (
                name in ("Timestamp", "pd")
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and str(node.args[0].value).lower() in ("now", "today")
            ):
                found.append(("Timestamp", "now", node.lineno))
        elif isinstance(func, ast.Name):
            found.append(("", func.id, node.lineno))
    return found


@pytest.mark.any_date
def test_the_clock_travels_for_any_date_tests(request: pytest.FixtureRequest) -> None:
    destination = request.node.callspec.params["_test_clock"]
    now = datetime.now(UTC)
    if destination == "real-clock":
        assert now.year >= 2026
        return
    target = datetime.fromisoformat(destination)
    assert target <= now < target + timedelta(minutes=5)
    assert abs(utc_now() - target.replace(tzinfo=None)) < timedelta(minutes=5)
    assert len(ANY_DATES) >= 1 and CLOCK_ENV == "BATCHOPT_TEST_CLOCK"


def test_only_the_edges_read_the_wall_clock() -> None:
    direct, deep = [], []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=rel)
        for owner, name, line in _calls(tree):
            if (owner, name) in WALL_CLOCK and rel != "runtime/clock.py":
                direct.append(f"{rel}:{line} {owner}.{name}()")
            elif owner == "" and name in CLOCK_READERS and not any(e in rel for e in EDGES):
                deep.append(f"{rel}:{line} {name}()")
    assert direct == [], "read the clock through optimizer.runtime.clock, at an edge: " + ", ".join(direct)
    assert deep == [], "take `now` or a `clock` argument instead: " + ", ".join(deep)


def test_the_guard_sees_a_wall_clock_read() -> None:
    tree = ast.parse("import pandas as pd\nx = datetime.now(UTC)\ny = pd.Timestamp('now')\nz = utc_now()\n")
    calls = {(owner, name) for owner, name, _ in _calls(tree)}
    assert {("datetime", "now"), ("Timestamp", "now"), ("", "utc_now")} <= calls


@pytest.mark.any_date
def test_collection_windows_follow_the_date_it_runs_on(sqlite_engine: Engine) -> None:
    """`collect()` on its default clock: the run's `now` and the first read's lookback are today's."""
    seen: list[CollectContext] = []

    def extract(ctx: CollectContext, engine: Engine, marks: Mapping[str, str]) -> Collected:
        seen.append(ctx)
        return Collected(0, {}, {})

    before = utc_now()
    [result] = collect(sqlite_engine, [fixed_plan("prod", {})], [Source("probe", extract, lambda *a: 0, "t")])
    assert result.status == "succeeded", result
    [ctx] = seen
    assert before <= ctx.now <= utc_now()
    assert ctx.start_from(None) == ctx.now - timedelta(days=30)


@pytest.mark.any_date
def test_the_weekly_report_job_reports_the_last_week_before_today(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    """The job's default `now` is today's: it reports the ISO week (UTC) that ended last."""
    settings = Settings(
        store={"database_url": sqlite_engine.url.render_as_string(hide_password=False)},
        report={"out_dir": str(tmp_path / "weekly")},
    )
    run = scheduled_weekly_report(settings)
    week = run.rendered.report.week
    assert week == last_complete_week(utc_now_aware(), "UTC")
    assert timedelta(0) <= utc_now() - week.end < timedelta(days=7)
    assert (tmp_path / "weekly" / f"batchopt-report-{week.label}.html").is_file()
