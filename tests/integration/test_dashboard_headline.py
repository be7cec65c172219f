"""Overview and Recommendations show the one savings headline, and the list shows trade-offs first.

Recommendations carry replay evidence as the strategies write it (calibration and trade-offs in
`evidence.replay`): the headline counts open savings once, leaves out what costs money and what is
within the model's error, and every page shows the same figure."""

from __future__ import annotations

import json
from datetime import date, datetime

import pytest
import streamlit as st
from sqlalchemy import Engine, select

from optimizer.billing.discount import DiscountRatio
from optimizer.cli.main import main
from optimizer.dashboard.components import money, partial_day_text
from optimizer.dashboard.pages.overview import signed_money
from optimizer.dashboard.queries import last_full_day
from optimizer.dashboard.recommendation_view import duration
from optimizer.recommend.calibration import Calibration
from optimizer.recommend.headline import stored_headline
from optimizer.recommend.repository import recommendations_frame, save_recommendations, set_status
from optimizer.report.load import OPEN_RECOMMENDATION_COLUMNS
from optimizer.report.savings_headline import with_headline
from optimizer.store.schema import recommendations
from tests import dashboard_helpers as dh
from tests.integration.test_dashboard_pages import frame_with, metric, open_recommendation, run_page

# Replay $1,030 vs measured $1,000 over 15 days: $60/month of model error.
CALIBRATION = Calibration(observed_usd=1000.0, replayed_usd=1030.0, window_days=15.0).to_json()


def _replay(before_s: float, after_s: float) -> dict:
    return {
        "replay": {
            "calibration": CALIBRATION,
            "current_cost_usd": 1030.0,
            "proposed_cost_usd": 780.0,
            "current_summary": {"queue_wait_s": {"gpu": {"p95_s": before_s}}, "spot_reclaims": 0},
            "proposed_summary": {"queue_wait_s": {"gpu": {"p95_s": after_s}}, "spot_reclaims": 6},
            "tradeoffs": {
                "queues": [{"queue": "gpu", "p95_wait_before_s": before_s, "p95_wait_after_s": after_s}],
                "interruptions_per_month": 12.0,
                "failed_jobs_delta": 0,
            },
        }
    }


@pytest.fixture
def store(sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Engine:
    monkeypatch.setenv("BATCHOPT_DATABASE_URL", sqlite_engine.url.render_as_string(hide_password=False))
    recs = [
        dh.recommendation("ce-spot", 500.0, evidence=_replay(3240.0, 38520.0), title="Spot for gpu"),
        dh.recommendation(
            "ce-spot", 300.0, id="rec-overlap", evidence=_replay(3240.0, 3240.0), title="Other mix"
        ),
        dh.recommendation("ce-od", 50.0, evidence=_replay(60.0, 60.0), title="Small one"),
        dh.recommendation("gpu-fast", -538.10, evidence=_replay(3266.0, 180.0), title="Faster gpu queue"),
        dh.recommendation("old", 900.0, evidence=_replay(10.0, 10.0), title="Rolled back one"),
    ]
    save_recommendations(sqlite_engine, recs, now=datetime(2026, 11, 9))
    with sqlite_engine.begin() as conn:
        set_status(conn, "rec-old", "rolled-back", now=datetime(2026, 11, 10))
    return sqlite_engine


def test_overview_and_recommendations_show_the_same_headline(store: Engine) -> None:
    assert stored_headline(store).total_usd_per_month == 500.0  # overlap, error, cost, rolled back out
    overview = run_page("overview")
    assert metric(overview, "Identified (open), per month") == money(500.0)
    captions = " ".join(c.value for c in overview.caption)
    assert "1 within the model's error" in captions and "1 overlapping a larger one" in captions
    assert "faster but costing $538.10/month" in captions
    assert "replay +3.0% vs the collected instance-hours at their prices (±$60/month)" in captions

    page = run_page("recommendations")
    assert metric(page, "Identified savings, per month") == money(500.0)
    listing = frame_with(page, "Title", "Saving / month", "In headline", "Status").set_index("Title")
    assert listing.index.tolist() == [
        "Rolled back one",
        "Spot for gpu",
        "Other mix",
        "Small one",
        "Faster gpu queue",
    ]
    assert listing.loc["Rolled back one", "Status"] == "rolled-back"  # stays visible
    assert listing.loc["Spot for gpu", "In headline"] == "counted"
    assert listing.loc["Spot for gpu", "Queue p95 wait (now → proposed)"] == "gpu: 54 min → 10.7 h"
    assert listing.loc["Spot for gpu", "Interruptions / month"] == "12.0"
    assert listing.loc["Other mix", "In headline"] == "overlaps rec-ce-spot (counted once)"
    assert listing.loc["Spot for gpu", "ID"] == "rec-ce-spot"  # the item it names is findable
    assert listing.loc["Small one", "In headline"] == "within model error (±$60/month): not counted"
    assert listing.loc["Faster gpu queue", "In headline"] == "faster, costs $538.10/month"
    assert listing.loc["Faster gpu queue", "Saving / month"] == "-$538.10"

    open_recommendation(page, "rec-ce-spot")
    evidence = frame_with(page, "Measure", "Current", "Proposed").set_index("Measure")
    assert evidence.loc["p95 wait, gpu"].tolist() == ["54 min", "10.7 h"]
    assert evidence.loc["Replayed cost over the window"].tolist() == ["$1,030.00", "$780.00"]
    assert evidence.loc["Spot interruptions"].tolist() == ["0", "6"]


def test_apply_asks_for_confirmation_first(store: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BATCHOPT_APPLY__ENABLED", "true")
    monkeypatch.setenv("BATCHOPT_APPLY__SHARED_SECRET", "s")
    page = open_recommendation(run_page("recommendations"), "rec-ce-spot")
    page.text_input(key="apply_secret_input").input("s").run()
    labels = [b.label for b in page.button]
    assert "Apply" in labels and "Confirm: make these calls" not in labels
    page.button(key="btn_apply").click().run()
    assert not page.exception
    warnings = " ".join(w.value for w in page.warning)
    assert "run a dry run first" in warnings  # no plan yet: nothing is applied without its calls
    with store.connect() as conn:
        status = conn.execute(
            select(recommendations.c.status).where(recommendations.c.id == "rec-ce-spot")
        ).scalar()
    assert status == "open"


def test_overview_deltas_have_their_sign_first_and_days_are_full() -> None:
    assert signed_money(-343.59) == "-$343.59" and signed_money(12.0) == "+$12.00"
    today = date(2026, 12, 3)
    assert last_full_day(datetime(2026, 12, 3), today) == (datetime(2026, 12, 2), datetime(2026, 12, 3))
    assert last_full_day(datetime(2026, 12, 1), today) == (datetime(2026, 12, 1), None)
    # Opened the next day with no collection since: the last data day stops at 13:15, so it is
    # partial although it is not today (it was counted as full, a false drop in spend).
    stopped = datetime(2026, 12, 2, 13, 15)
    assert last_full_day(datetime(2026, 12, 2), today, stopped) == (
        datetime(2026, 12, 1),
        datetime(2026, 12, 2),
    )
    assert last_full_day(datetime(2026, 12, 2), today, datetime(2026, 12, 3, 0, 5)) == (
        datetime(2026, 12, 2),
        None,
    )
    assert partial_day_text(datetime(2026, 12, 2), today) == "2026-12-02 (the data stops before its end)"
    assert partial_day_text(datetime(2026, 12, 3), today) == "Today (2026-12-03)"
    assert [duration(s) for s in (45, 3240, 38520, 200000)] == ["45 s", "54 min", "10.7 h", "2.3 d"]


def test_fleet_mix_labels_the_solver_plan_an_unconstrained_bound(
    sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    dh.seed(sqlite_engine)
    monkeypatch.setenv("BATCHOPT_DATABASE_URL", sqlite_engine.url.render_as_string(hide_password=False))
    app = run_page("fleet_mix")
    captions = " ".join(c.value for c in app.caption)
    assert "Unconstrained bound: not a recommendation" in captions
    assert "Recommended" not in [h.value for h in app.subheader]


def test_every_surface_prints_an_items_saving_after_the_bills_discounts(
    store: Engine, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """With a bill that pays 50 % of list for the window (stood in for here), "Spot for gpu" saves
    $250/month, not its $500 at list: the dashboard's list and detail, `batchopt recommend` and the
    weekly report's table all print $250 (the demo summary reads the same headline method)."""
    half = DiscountRatio(ratio=0.5, effective_usd=500.0, list_usd=1000.0)
    window = (datetime(2026, 10, 25), datetime(2026, 11, 9))
    monkeypatch.setattr("optimizer.recommend.headline.evidence_window", lambda _recs: window)
    monkeypatch.setattr("optimizer.recommend.headline.discount_ratio", lambda *_a, **_k: half)
    st.cache_data.clear()
    assert stored_headline(store).monthly_savings_of("rec-ce-spot", 500.0) == 250.0
    page = run_page("recommendations")
    listing = frame_with(page, "Title", "Saving / month").set_index("Title")
    assert listing.loc["Spot for gpu", "Saving / month"] == "$250.00"
    assert listing.loc["Rolled back one", "Saving / month"] == "$450.00"  # held by the headline, not open
    assert metric(open_recommendation(page, "rec-ce-spot"), "Saving / month") == "$250.00"
    capsys.readouterr()
    assert main(["recommend"]) == 0
    printed = {line.split()[0]: line.split()[1] for line in capsys.readouterr().out.splitlines()[3:]}
    assert printed["rec-ce-spot"] == "250.00"
    recs, _, _ = with_headline(
        store, recommendations_frame(store, OPEN_RECOMMENDATION_COLUMNS, statuses=("open",))
    )
    assert recs.set_index("id").loc["rec-ce-spot", "monthly_savings_usd"] == 250.0
    st.cache_data.clear()


def test_applied_follows_the_headlines_rules_on_every_surface(
    store: Engine, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """ "Spot for gpu" ($500 at list) and an earlier mix for the same CE ($200) were applied; "Other
    mix", still open, prices the same CE's dollars. The Overview's Applied read $700 (the raw sum of
    the applied rows at list) beside an Identified that still held $300 of the same CE: now Applied
    is $250 (after the bill's 50 %, the two changes to one CE once) and "Other mix" is out of
    Identified, which keeps the open gpu CE's $200 on the Overview, the Recommendations page,
    `batchopt recommend --json` and the weekly report alike."""
    save_recommendations(
        store,
        [
            dh.recommendation(
                "ce-spot", 200.0, id="rec-earlier", evidence=_replay(60.0, 60.0), title="Earlier"
            ),
            dh.recommendation("ce-gpu", 400.0, evidence=_replay(60.0, 60.0), title="Gpu mix"),
        ],
        now=datetime(2026, 11, 9),
    )
    with store.begin() as conn:
        for rec_id in ("rec-ce-spot", "rec-earlier"):
            set_status(conn, rec_id, "applied", now=datetime(2026, 11, 10))
    half = DiscountRatio(ratio=0.5, effective_usd=500.0, list_usd=1000.0)
    window = (datetime(2026, 10, 25), datetime(2026, 11, 9))
    monkeypatch.setattr("optimizer.recommend.headline.evidence_window", lambda _recs: window)
    monkeypatch.setattr("optimizer.recommend.headline.discount_ratio", lambda *_a, **_k: half)
    st.cache_data.clear()
    overview = run_page("overview")
    assert metric(overview, "Applied, per month (estimated)") == money(250.0)
    assert metric(overview, "Identified (open), per month") == money(200.0)
    captions = " ".join(c.value for c in overview.caption)
    assert "1 overlapping an applied one (its dollars are in Applied)" in captions
    assert (
        "Applied: 1 applied recommendation(s) counted once, after the bill's discounts (50.0% of list);"
        " not counted: 1 overlapping a larger applied one" in captions
    )
    page = run_page("recommendations")
    assert metric(page, "Identified savings, per month") == money(200.0)
    listing = frame_with(page, "Title", "In headline").set_index("Title")
    assert listing.loc["Spot for gpu", "In headline"] == "counted in Applied"
    assert listing.loc["Earlier", "In headline"] == "overlaps rec-ce-spot (counted once)"
    assert (
        listing.loc["Other mix", "In headline"]
        == "overlaps applied rec-ce-spot: its dollars are in Applied, not counted"
    )
    capsys.readouterr()
    assert main(["recommend", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["identified_savings_usd_per_month"], shown["applied_savings_usd_per_month"]) == (
        200.0,
        250.0,
    )
    _, report_total, _ = with_headline(
        store, recommendations_frame(store, OPEN_RECOMMENDATION_COLUMNS, statuses=("open",))
    )
    assert report_total == 200.0
    st.cache_data.clear()


@pytest.mark.parametrize(
    ("commitments", "after_discount"),
    [
        # The replays cover on-demand hours with the Savings Plan and charge its fee: only the bill's
        # on-demand usage, paid at list here, is left to discount.
        (True, 500.0),
        # Replays at list for every on-demand hour: the bill's on-demand and Savings Plan usage,
        # $1,300 effective of $1,400 at list (a ratio the headline keeps to 4 places).
        (False, 500.0 * round(1300.0 / 1400.0, 4)),
    ],
)
def test_the_headline_discounts_only_the_usage_its_replays_price_at_list(
    sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch, commitments: bool, after_discount: float
) -> None:
    """The demo's headline showed $4,747 for $5,429 of replayed savings: it took 87.4 % of each, the
    bill's effective/list over all EC2 usage, spot included (the bill's spot "list" is on demand, the
    replay's spot is at spot prices) and the Savings Plan's discount the replays already charged."""
    from optimizer.store.tables.billing import bill_daily
    from optimizer.store.upsert import bulk_upsert

    monkeypatch.setenv("BATCHOPT_DATABASE_URL", sqlite_engine.url.render_as_string(hide_password=False))
    evidence = _replay(3240.0, 3240.0)
    evidence["replay"].update(window_start="2026-11-02T00:00:00", window_days=7.0)
    if commitments:
        evidence["replay"]["commitments"] = [{"id": "sp-1", "type": "COMPUTE_SAVINGS_PLAN"}]
    rec = dh.recommendation("ce-od", 500.0, evidence=evidence, title="Scale in")
    save_recommendations(sqlite_engine, [rec], now=datetime(2026, 11, 9))
    paid = {"ec2_on_demand": (1000.0, 1000.0), "ec2_savings_plan": (300.0, 400.0), "ec2_spot": (150.0, 500.0)}
    rows = [
        {
            "billing_period": datetime(2026, 11, 1), "day": datetime(2026, 11, 3), "account_id": dh.ACCOUNT,
            "region": "us-east-1", "service": "AmazonEC2", "usage_kind": kind, "billed_usd": effective,
            "effective_usd": effective, "list_usd": list_usd, "usage_amount": 1.0, "line_items": 1,
        }
        for kind, (effective, list_usd) in paid.items()
    ]  # fmt: skip
    with sqlite_engine.begin() as conn:
        bulk_upsert(conn, bill_daily, rows)
    st.cache_data.clear()
    assert stored_headline(sqlite_engine).total_usd_per_month == pytest.approx(after_discount, abs=0.01)
    assert metric(run_page("overview"), "Identified (open), per month") == money(after_discount)


def test_evidence_shows_the_replay_at_list_beside_one_with_commitments(
    sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo's evidence read "Replayed cost over the window $19,758.07" under "replay -1.3% vs
    measured": that error is the replay at list ($20,948.22) against the measured $21,226.10, while
    $19,758.07 has the Savings Plan applied (-6.9 % against the same measure)."""
    monkeypatch.setenv("BATCHOPT_DATABASE_URL", sqlite_engine.url.render_as_string(hide_password=False))
    evidence = _replay(60.0, 60.0)
    replayed = evidence["replay"]
    replayed["commitments"] = [{"id": "sp-1", "type": "COMPUTE_SAVINGS_PLAN"}]
    replayed["current_summary"]["list_cost_usd"] = 1100.0
    replayed["proposed_summary"]["list_cost_usd"] = 850.0
    save_recommendations(
        sqlite_engine, [dh.recommendation("ce-od", 250.0, evidence=evidence)], now=datetime(2026, 11, 9)
    )
    st.cache_data.clear()
    page = open_recommendation(run_page("recommendations"), "rec-ce-od")
    table = frame_with(page, "Measure", "Current", "Proposed").set_index("Measure")
    assert table.loc["Replayed cost over the window, Savings Plans and RIs applied"].tolist() == [
        "$1,030.00",
        "$780.00",
    ]
    assert table.loc["Replayed cost at list (what the model error is measured on)"].tolist() == [
        "$1,100.00",
        "$850.00",
    ]
