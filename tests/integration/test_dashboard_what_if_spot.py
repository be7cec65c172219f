"""The What-if page's spot shares (Streamlit AppTest on the seeded store): when one spot instance of
the plan's types already passes the plan's share of the queue's history, the replayed spot CE is
capped at 0 and the page says why, rather than replaying a fleet that breaks the share."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from optimizer.dashboard.components import percent
from optimizer.dashboard.pages.what_if import NO_SPOT_FITS
from optimizer.number_text import measure_text
from tests import dashboard_helpers as dh
from tests.integration.test_dashboard_pages import frame_with, metric, run_page


@pytest.fixture
def fresh_seeded(sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Engine:
    dh.seed(sqlite_engine)
    monkeypatch.setenv("BATCHOPT_DATABASE_URL", sqlite_engine.url.render_as_string(hide_password=False))
    return sqlite_engine


def test_a_share_no_spot_instance_fits_replays_without_spot_and_says_why(fresh_seeded: Engine) -> None:
    app = run_page("what_if")
    [share] = [s for s in app.slider if s.label == "Max spot share of job vCPU-hours"]
    share.set_value(0.5)
    app.button[0].click().run()
    app.toggle(key="wi_replay").set_value(True).run()
    assert not app.exception, [e.value for e in app.exception]
    # q-spot's history: a 2-vCPU and a 4-vCPU job at once; any m5.xlarge spot instance holds
    # one of them, at least a third of the work, and the 4-vCPU one first: 2/3 > the plan's 1/2.
    assert metric(app, "Spot share, what-if plan") == percent(0.5)
    assert metric(app, "Spot share, replayed") == percent(0.0)
    assert metric(app, "Spot CE maxvCpus") == "0"
    assert any(c.value == NO_SPOT_FITS for c in app.caption)
    replayed = frame_with(app, "measure", "what-if plan").set_index("measure")
    assert replayed.loc["spot share of job vCPU-hours", "what-if plan"] == measure_text(0.0, "percent")


def test_a_plan_without_spot_says_there_is_no_spot_ce(fresh_seeded: Engine) -> None:
    # The walk's What-if showed "Spot CE maxvCpus: not capped" for a plan with no spot at all.
    app = run_page("what_if")
    [share] = [s for s in app.slider if s.label == "Max spot share of job vCPU-hours"]
    share.set_value(0.0)
    app.button[0].click().run()
    app.toggle(key="wi_replay").set_value(True).run()
    assert not app.exception, [e.value for e in app.exception]
    assert metric(app, "Spot share, what-if plan") == percent(0.0)
    assert metric(app, "Spot CE maxvCpus") == "no spot CE"
