"""How old each reference feed behind the Spot page is, and which series to chart first.

Reference feeds (the Spot Instance Advisor's interruption bands, the spot price history, the
on-demand price list) are snapshots: a figure computed from a 17-month-old Spot Advisor file reads
as current unless the page says otherwise. `feed_ages` gives each feed's newest date in a region
and `stale_feeds` the ones older than their limit, worded for a warning.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import pandas as pd
import streamlit as st
from sqlalchemy import func, select

from optimizer.dashboard.queries import TTL_SECONDS
from optimizer.dashboard.state import engine_for
from optimizer.store.runs_read import last_successes
from optimizer.store.schema import ondemand_prices, spot_prices
from optimizer.store.schema import spot_interruption_bands as interruption_bands
from optimizer.store.tables.catalog import spot_price_checks

#: The collector source that reads DescribeSpotPriceHistory (`collectors.spot_prices.SPOT_PRICES`).
SPOT_PRICES_SOURCE = "spot_prices"
# How old a feed may be before the page warns: bands are published about monthly, spot prices
# change hourly (a week without a sample means collection stopped), on-demand lists change rarely.
STALE_AFTER_DAYS = {"Spot Advisor interruption bands": 60, "spot price history": 7, "on-demand prices": 120}


@dataclass(frozen=True)
class FeedAge:
    feed: str
    newest: date | None
    source: str = ""

    def age_days(self, today: date) -> int | None:
        return None if self.newest is None else (today - self.newest).days


def stale_feeds(ages: list[FeedAge], today: date) -> list[str]:
    """One sentence per feed older than its limit (or missing)."""
    out = []
    for age in ages:
        days = age.age_days(today)
        limit = STALE_AFTER_DAYS[age.feed]
        if days is None:
            out.append(f"{age.feed}: none loaded (`batchopt collect` reads it)")
        elif days > limit:
            out.append(
                f"{age.feed} {age.source}dated {age.newest:%Y-%m-%d}, {age_text(days)} old (older than "
                f"{limit} days): figures that use it may no longer hold; refresh with `batchopt collect`"
            )
    return out


def age_text(days: int) -> str:
    """An age as a person says it: "3 days", "17 months"."""
    months = days / 30.4
    return f"{months:.0f} months" if months >= 2 else f"{days} day{'' if days == 1 else 's'}"


@dataclass(frozen=True)
class SeriesAge:
    """How old the newest price point of the charted series (one type, every AZ) is at `now`."""

    last_point: datetime
    now: datetime
    #: When the spot price collection last succeeded in the region (None: never, or unknown).
    collected_at: datetime | None = None
    #: When a collection last found a price of this type in effect (`spot_price_checks`; None:
    #: never checked). A series lists changes: a price that held has no newer point than its change.
    checked_at: datetime | None = None

    @property
    def known_until(self) -> datetime:
        """Until when the series' last price is known to hold: its change, or a later check."""
        if self.checked_at is not None and self.checked_at > self.last_point:
            return self.checked_at
        return self.last_point

    @property
    def days(self) -> int:
        return (self.now - self.known_until).days

    @property
    def stale(self) -> bool:
        """Not known to hold for longer than the spot price feed's limit: collection of this series
        stopped (or never ran again), so the last price cannot be carried to now as if it had held."""
        return self.days > STALE_AFTER_DAYS["spot price history"]

    def text(self, instance_type: str) -> str:
        when = f"{self.last_point:%Y-%m-%d %H:%M} UTC"
        checked = self.known_until != self.last_point
        if self.stale:
            since = f"{self.known_until:%Y-%m-%d %H:%M} UTC"
            head = (
                f"No spot price for {instance_type} since {since} ({age_text(self.days)} old, more than "
                f"{STALE_AFTER_DAYS['spot price history']} days): the chart stops at the last price point. "
                "The price since then is not known"
            )
            collected = self.collected_at
            if (
                collected is not None
                and collected > self.known_until
                and (self.now - collected).days <= STALE_AFTER_DAYS["spot price history"]
            ):
                # (asking again would not help: the collection ran and DescribeSpotPriceHistory
                # gave no newer point, which it does for a type no zone of the region sells as spot)
                return (
                    f"{head}: the spot price collection last succeeded {collected:%Y-%m-%d %H:%M} "
                    "UTC and returned no newer point for this type."
                )
            return f"{head}; refresh with `batchopt collect`."
        hours = (self.now - self.last_point).total_seconds() / 3600.0
        days = (self.now - self.last_point).days
        ago = age_text(days) if days >= 1 else f"{max(hours, 0.0):.0f} h"
        held = (
            f"; the collection of {self.known_until:%Y-%m-%d %H:%M} UTC found it still in effect"
            if checked
            else ""
        )
        return (
            f"Last price change {when} ({ago} ago){held}. A spot series lists price changes, so each "
            "price is drawn until the next change, and the last one until now."
        )


def series_age(
    history: pd.DataFrame,
    now: datetime,
    collected_at: datetime | None = None,
    checked_at: datetime | None = None,
) -> SeriesAge | None:
    """The age of the series' newest point (any AZ); None for an empty series."""
    if history.empty:
        return None
    return SeriesAge(pd.Timestamp(history["timestamp"].max()).to_pydatetime(), now, collected_at, checked_at)


def last_checked(url: str, region: str, instance_type: str) -> datetime | None:
    """When a collection last found a spot price of `instance_type` in effect (any AZ)."""
    with engine_for(url).connect() as conn:
        value = conn.execute(
            select(func.max(spot_price_checks.c.checked_at)).where(
                spot_price_checks.c.region == region, spot_price_checks.c.instance_type == instance_type
            )
        ).scalar()
    return None if value is None else pd.Timestamp(value).to_pydatetime()


def last_collected(url: str, region: str) -> datetime | None:
    """When the spot price collection last succeeded in `region` (any target), None when never."""
    found = last_successes(engine_for(url), ("region",), sources=(SPOT_PRICES_SOURCE,))
    found = found[found["region"] == region] if not found.empty else found
    if found.empty or pd.isna(found["last_success"].iat[0]):
        return None
    return pd.Timestamp(found["last_success"].iat[0]).to_pydatetime().replace(tzinfo=None)


def _day(value: object) -> date | None:
    if value is None or pd.isna(value):
        return None
    return pd.Timestamp(value).date()


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def feed_ages(url: str, region: str) -> list[FeedAge]:
    engine = engine_for(url)
    with engine.connect() as conn:
        bands = conn.execute(
            select(func.max(interruption_bands.c.snapshot_date)).where(interruption_bands.c.region == region)
        ).scalar()
        spot = conn.execute(
            select(func.max(spot_prices.c.timestamp)).where(spot_prices.c.region == region)
        ).scalar()
        ondemand = conn.execute(
            select(func.max(ondemand_prices.c.effective_date), func.min(ondemand_prices.c.source)).where(
                ondemand_prices.c.region == region
            )
        ).one()
    source = f"({ondemand[1]}) " if ondemand[1] else ""
    return [
        FeedAge("Spot Advisor interruption bands", _day(bands)),
        spot_feed_age(_day(spot), _day(last_collected(url, region))),
        FeedAge("on-demand prices", _day(ondemand[0]), source),
    ]


def spot_feed_age(newest_point: date | None, collected: date | None) -> FeedAge:
    """The spot price feed is as old as its last successful collection, not as its newest point: a
    series lists price CHANGES, and DescribeSpotPriceHistory answers a window with the last change
    before it, so a price that held for a month keeps its month-old point however fresh the answer
    (a fresh demo read "spot price history dated 2026-11-06, 30 days old"). Without a recorded
    collection, the newest point is all there is."""
    if collected is None or (newest_point is not None and newest_point >= collected):
        return FeedAge("spot price history", newest_point)
    return FeedAge("spot price history", collected, "(last collected) ")


def default_instance_type(keys: pd.DataFrame) -> int:
    """Index of the series to chart first: the one with the most samples (a line, not one point)."""
    if keys.empty:
        return 0
    return int(keys["samples"].reset_index(drop=True).idxmax())


def latest_sample(url: str, region: str) -> datetime | None:
    """The newest spot price sample of any type in the region: every series is drawn up to it."""
    with engine_for(url).connect() as conn:
        value = conn.execute(
            select(func.max(spot_prices.c.timestamp)).where(spot_prices.c.region == region)
        ).scalar()
    return None if value is None else pd.Timestamp(value).to_pydatetime()
