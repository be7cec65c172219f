"""The dashboard beside an imported bill (Streamlit AppTest): the Cost explorer shows billed, effective
and modelled cost of the days the bill covers with the residual and switches between them; the
Overview shows what was billed this month; without a bill neither page shows anything new.

The store is tests/report_helpers' estate, analysed, with tests/integration/test_billing_views' hand-made
legacy CUR imported through the real import path; expected figures are that module's independent sums.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import time_machine

from optimizer.analysis.stored import run_analysis
from optimizer.billing.intake import import_bill
from optimizer.dashboard.components import money, percent
from optimizer.store.engine import create_store_engine, upgrade
from tests.integration.test_billing_views import SP, bill_file, expected_bill, expected_model
from tests.integration.test_dashboard_pages import frame_with, metric, run_page
from tests.report_helpers import seed_estate

# The analysis covers 3-22 Nov (the estate's days); the bill covers 1-20 Nov.
EXPLORER_DAYS = [date(2026, 11, d) for d in range(3, 21)]
MONTH_DAYS = [date(2026, 11, d) for d in range(1, 21)]


def _store(path: Path, with_bill: bool) -> str:
    url = f"sqlite:///{path / 'store.db'}"
    engine = create_store_engine(url)
    upgrade(engine)
    seed_estate(engine, with_changes=False)
    run_analysis(
        engine, computed_at=datetime(2026, 11, 23), since=datetime(2026, 11, 1), until=datetime(2026, 12, 1)
    )
    if with_bill:
        import_bill(
            engine,
            [bill_file(path)],
            "cur-legacy",
            data_dir=path / "bill",
            imported_at=datetime(2026, 11, 21),
        )
    engine.dispose()
    return url


@pytest.fixture(scope="module")
def billed_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield _store(tmp_path_factory.mktemp("billed"), with_bill=True)


@pytest.fixture
def billed(billed_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("BATCHOPT_DATABASE_URL", billed_url)
    return billed_url


def _sums(days: list[date]) -> tuple[float, float, float]:
    return (
        sum(expected_bill(d)[0] for d in days),
        sum(expected_bill(d)[1] for d in days),
        sum(expected_model(d) for d in days),
    )


def test_cost_explorer_shows_billed_effective_modelled_and_the_residual(billed: str) -> None:
    app = run_page("cost_explorer")
    billed_usd, effective_usd, modelled_usd = _sums(EXPLORER_DAYS)
    assert billed_usd == pytest.approx(2.304 + 2.304 + 0.064 + 1.68 + 0.14 + 0.9)  # no tax, no fee (1 Nov)
    assert metric(app, "Billed") == money(billed_usd)
    assert metric(app, "Effective") == money(effective_usd)
    assert metric(app, "Modelled") == money(modelled_usd)
    assert metric(app, "Residual (billed - modelled)") == money(billed_usd - modelled_usd)
    # the model's own total stays on the page: the bill is shown beside it, never instead of it
    assert metric(app, "Total") == money(sum(expected_model(d) for d in [*EXPLORER_DAYS, date(2026, 11, 22)]))
    table = frame_with(app, "billed_usd", "residual_usd")
    assert [d.date() for d in table["day"]] == EXPLORER_DAYS
    assert table["billed_usd"].sum() == pytest.approx(billed_usd)
    assert table["residual_usd"].sum() == pytest.approx(billed_usd - modelled_usd, abs=1e-6)
    assert list(frame_with(app, "arn", "kind")["arn"]) == [SP]
    # the plan's fee row is on 1 Nov (not picked): used on 18 Nov, never idle in these days; covered
    # i-od2 (2.304 at on-demand) of i-prev, i-od1 and i-od2 on demand or covered (2.304 each)
    assert metric(app, "Commitment utilization") == percent(1.0)
    assert metric(app, "EC2 commitment coverage") == percent(1 / 3)
    causes = frame_with(app, "cause", "usd").set_index("cause")["usd"]
    assert causes.sum() == pytest.approx(billed_usd - modelled_usd, abs=1e-6)
    assert causes["EBS"] == pytest.approx(0.064) and causes["data transfer"] == pytest.approx(0.9)
    for view in ("billed", "effective", "modelled"):
        app.radio(key="cost_view").set_value(view).run()
        assert not app.exception
        assert metric(app, "Billed") == money(billed_usd), "the switch changes the chart, not the figures"
    # a narrower pick: only the days the bill covers count (21 and 22 Nov are not in it)
    app.date_input[0].set_value((date(2026, 11, 19), date(2026, 11, 22))).run()
    billed_usd, _, modelled_usd = _sums([date(2026, 11, 19), date(2026, 11, 20)])
    assert metric(app, "Billed") == money(billed_usd)
    assert metric(app, "Residual (billed - modelled)") == money(billed_usd - modelled_usd)


def test_overview_shows_billed_this_month_only_when_the_bill_covers_it(billed: str) -> None:
    with time_machine.travel(datetime(2026, 11, 21, 12, tzinfo=UTC), tick=False):
        app = run_page("overview")
    billed_usd, effective_usd, modelled_usd = _sums(MONTH_DAYS)
    assert metric(app, "Billed this month") == money(billed_usd)
    assert metric(app, "Effective this month") == money(effective_usd)
    assert metric(app, "Modelled, same days") == money(modelled_usd)
    assert metric(app, "Residual (billed - modelled)") == money(billed_usd - modelled_usd)
    captions = " ".join(c.value for c in app.caption)
    assert "through 2026-11-20 (UTC)" in captions and "partial" not in captions.split("imported bill")[1]
    # On the bill's last day, its rows for that day are the day so far, and the caption says so
    # (the spend above leaves today out as partial).
    with time_machine.travel(datetime(2026, 11, 20, 12, tzinfo=UTC), tick=False):
        app = run_page("overview")
    assert "today's rows are partial" in " ".join(c.value for c in app.caption)
    with time_machine.travel(datetime(2026, 12, 3, 12, tzinfo=UTC), tick=False):
        app = run_page("overview")
    assert not [m for m in app.metric if m.label == "Billed this month"]


def test_without_a_bill_the_pages_show_nothing_new(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BATCHOPT_DATABASE_URL", _store(tmp_path, with_bill=False))
    explorer = run_page("cost_explorer")
    assert "Bill vs model" not in [h.value for h in explorer.subheader]
    assert not [m for m in explorer.metric if m.label in ("Billed", "Effective", "Modelled")]
    assert "cost_view" not in [r.key for r in explorer.radio]
    with time_machine.travel(datetime(2026, 11, 21, 12, tzinfo=UTC), tick=False):
        overview = run_page("overview")
    assert not [m for m in overview.metric if "this month" in m.label]
