"""The Spot page opens on a series it can draw and warns about every stale reference feed.

The seeded store holds Spot Advisor bands of 2026-11-01, spot prices up to 2026-11-02 01:00 and an
on-demand snapshot effective 2026-07-01. The page is opened with the clock travelled to 2027-04-01,
so each feed's age is fixed by the test, not by the day it runs."""

from __future__ import annotations

import json
from datetime import date, datetime

import pandas as pd
import pytest
import time_machine
from sqlalchemy import Engine

from optimizer.dashboard.spot_feeds import FeedAge, default_instance_type, stale_feeds
from optimizer.dashboard.spot_view import extend_steps
from optimizer.store.schema import collector_runs
from tests import dashboard_helpers as dh
from tests.integration.test_dashboard_pages import run_page


def test_stale_feeds_are_named_with_their_date_and_age() -> None:
    ages = [
        FeedAge("Spot Advisor interruption bands", date(2025, 6, 28)),
        FeedAge("spot price history", date(2026, 11, 30)),
        FeedAge("on-demand prices", None),
    ]
    warnings = stale_feeds(ages, date(2026, 12, 3))
    assert warnings == [
        "Spot Advisor interruption bands dated 2025-06-28, 17 months old (older than 60 days): figures "
        "that use it may no longer hold; refresh with `batchopt collect`",
        "on-demand prices: none loaded (`batchopt collect` reads it)",
    ]


def test_the_spot_feed_is_as_old_as_its_last_collection_not_its_newest_price_change() -> None:
    """A price that held for a month keeps its month-old point however fresh the answer: a demo
    collected an hour before read "spot price history dated 2026-11-06, 30 days old"."""
    from optimizer.dashboard.spot_feeds import spot_feed_age

    held = spot_feed_age(date(2026, 11, 6), date(2026, 12, 6))
    assert stale_feeds([held], date(2026, 12, 6)) == []
    stopped = spot_feed_age(date(2026, 11, 6), date(2026, 11, 20))
    assert stale_feeds([stopped], date(2026, 12, 6)) == [
        "spot price history (last collected) dated 2026-11-20, 16 days old (older than 7 days): figures"
        " that use it may no longer hold; refresh with `batchopt collect`"
    ]
    # Without a recorded collection (or one older than the points), the newest point is the age.
    assert spot_feed_age(date(2026, 11, 6), None) == FeedAge("spot price history", date(2026, 11, 6))
    assert spot_feed_age(date(2026, 12, 1), date(2026, 11, 6)).newest == date(2026, 12, 1)


def test_default_series_is_the_one_with_most_samples_and_reaches_the_newest_sample() -> None:
    keys = pd.DataFrame({"instance_type": ["a1.large", "m5.xlarge", "p3.2xlarge"], "samples": [1, 9, 2]})
    assert default_instance_type(keys) == 1
    one_point = pd.DataFrame(
        {"availability_zone": ["z"], "timestamp": [pd.Timestamp("2026-11-02")], "price": [0.04]}
    )
    drawn = extend_steps(one_point, until=datetime(2026, 11, 5))
    assert drawn["timestamp"].tolist() == [pd.Timestamp("2026-11-02"), pd.Timestamp("2026-11-05")]
    assert drawn["price"].tolist() == [0.04, 0.04]


@pytest.fixture
def seeded(sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Engine:
    dh.seed(sqlite_engine)
    monkeypatch.setenv("BATCHOPT_DATABASE_URL", sqlite_engine.url.render_as_string(hide_password=False))
    return sqlite_engine


def test_spot_page_warns_about_each_stale_feed(seeded: Engine) -> None:
    with time_machine.travel(datetime(2027, 4, 1, 12, 0), tick=False):
        app = run_page("spot")
    warnings = [w.value for w in app.warning]
    assert any(
        w.startswith("Spot Advisor interruption bands dated 2026-11-01, 5 months old") for w in warnings
    )
    # (the feed's age is its last successful collection's, 9 Nov: the newest price change, 2 Nov, is
    # the series', below)
    assert any(
        w.startswith("spot price history (last collected) dated 2026-11-09, 5 months old") for w in warnings
    )
    assert any(w.startswith("on-demand prices (snapshot) dated 2026-07-01, 9 months old") for w in warnings)
    assert app.selectbox(key="spot_type").value == "m5.xlarge"
    # The charted series itself: its last point and age, and no line carried over the 5 months
    assert (
        "No spot price for m5.xlarge since 2026-11-02 01:00 UTC (5 months old, more than 7 days): the chart "
        "stops at the last price point. The price since then is not known; refresh with `batchopt collect`."
    ) in warnings
    ends = {pd.Timestamp(max(trace["x"])) for trace in _figure(app)["data"]}
    assert ends == {pd.Timestamp("2026-11-02 01:00")}, "each AZ ends at the series' last price point"
    assert pd.Timestamp(_figure(app)["layout"]["xaxis"]["range"][1]) == pd.Timestamp("2027-04-01 12:00")


def _figure(app: object) -> dict:
    [chart] = app.get("plotly_chart")  # type: ignore[attr-defined]
    return dict(json.loads(chart.proto.spec))


def test_a_fresh_spot_series_is_carried_to_now_and_its_last_point_named(seeded: Engine) -> None:
    with time_machine.travel(datetime(2026, 11, 3, 13, 0), tick=False):
        app = run_page("spot")
    assert not [w.value for w in app.warning if "spot price" in w.value]
    assert "Last price change 2026-11-02 01:00 UTC (1 day ago)." in " ".join(c.value for c in app.caption)
    ends = {pd.Timestamp(max(trace["x"])) for trace in _figure(app)["data"]}
    assert ends == {pd.Timestamp("2026-11-03 13:00")}, "each AZ's last price is drawn until the page's now"


def test_a_stale_series_the_collection_just_read_is_not_sent_back_to_collect(seeded: Engine) -> None:
    """The spot price collection succeeded a day ago and DescribeSpotPriceHistory still gave nothing
    after 2 Nov for this type: asking to run `batchopt collect` again would not help."""
    with seeded.begin() as conn:
        conn.execute(
            collector_runs.insert().values(
                target="default",
                region="us-east-1",
                source="spot_prices",
                started_at=datetime(2027, 3, 31, 11, 55),
                finished_at=datetime(2027, 3, 31, 12, 0),
                status="succeeded",
            )
        )
    with time_machine.travel(datetime(2027, 4, 1, 12, 0), tick=False):
        app = run_page("spot")
    warnings = [w.value for w in app.warning]
    assert (
        "No spot price for m5.xlarge since 2026-11-02 01:00 UTC (5 months old, more than 7 days): the chart "
        "stops at the last price point. The price since then is not known: the spot price collection last "
        "succeeded 2027-03-31 12:00 UTC and returned no newer point for this type."
    ) in warnings


def test_a_price_the_collection_found_still_in_effect_is_carried_to_now(seeded: Engine) -> None:
    """A series lists price changes: m5.xlarge's last change is 2 Nov, and the collection of 31 Mar
    found that price still in effect (`spot_price_checks`). The page warned "No spot price for
    m5.xlarge since 2026-11-02 ... The price since then is not known" (every type of a fresh demo)."""
    from optimizer.store.tables.catalog import spot_price_checks

    with seeded.begin() as conn:
        conn.execute(
            spot_price_checks.insert().values(
                region="us-east-1",
                availability_zone="us-east-1a",
                instance_type="m5.xlarge",
                checked_at=datetime(2027, 3, 31, 12, 0),
                price=0.04,
            )
        )
    with time_machine.travel(datetime(2027, 4, 1, 12, 0), tick=False):
        app = run_page("spot")
    assert not [w.value for w in app.warning if "m5.xlarge" in w.value]
    assert (
        "Last price change 2026-11-02 01:00 UTC (5 months ago); the collection of 2027-03-31 12:00 UTC"
        " found it still in effect."
    ) in " ".join(c.value for c in app.caption)
    ends = {pd.Timestamp(max(trace["x"])) for trace in _figure(app)["data"]}
    assert ends == {pd.Timestamp("2027-04-01 12:00")}, "the price that held is drawn until now"
