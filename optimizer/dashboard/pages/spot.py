"""Spot: price history per instance type and AZ, Spot Advisor interruption bands, the reclaims this
estate actually saw, and the work they cost. The chart opens on the series with the most samples,
and every reference feed older than its limit is named in a warning (`spot_feeds.py`); a series
whose last price point is older than the feed's limit stops there, with its date and age, instead
of a flat line to today that would read as a measured, stable price."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

from optimizer.dashboard import queries
from optimizer.dashboard.columns import chart_labels, column_config
from optimizer.dashboard.components import history, money, no_data, store_url
from optimizer.dashboard.spot_feeds import (
    default_instance_type,
    feed_ages,
    last_checked,
    last_collected,
    latest_sample,
    series_age,
    stale_feeds,
)
from optimizer.dashboard.spot_view import extend_steps, reclaim_rates
from optimizer.runtime.clock import utc_now_aware


def render() -> None:
    st.title("Spot")
    url = store_url()
    if url is None:
        return
    _prices(url)
    _reclaims(url, history(url))


def _prices(url: str) -> None:
    st.subheader("Price history")
    keys = queries.spot_series_keys(url)
    if keys.empty:
        no_data("no spot price history collected", "batchopt collect")
        return
    regions = sorted(keys["region"].unique())
    cols = st.columns(2)
    region = cols[0].selectbox("Region", regions, key="spot_region")
    in_region = keys[keys["region"] == region].reset_index(drop=True)
    now = utc_now_aware().replace(tzinfo=None)
    for warning in stale_feeds(feed_ages(url, region), now.date()):
        st.warning(warning)
    types = in_region["instance_type"].tolist()
    instance_type = cols[1].selectbox(
        "Instance type", types, index=default_instance_type(in_region), key="spot_type"
    )
    measured = queries.spot_price_history(url, region, instance_type)
    age = series_age(measured, now, last_collected(url, region), last_checked(url, region, instance_type))
    if age is not None and age.stale:
        # No new point for weeks: a line carried to now would read as a measured, stable price.
        st.warning(age.text(instance_type))
        history = extend_steps(measured)
    else:
        # A spot series lists changes: the last price holds until now while collection runs.
        newest = latest_sample(url, region)
        history = extend_steps(measured, max(now, newest) if newest else now)
        if age is not None:
            st.caption(age.text(instance_type))
    chart = px.line(
        history,
        x="timestamp",
        y="price",
        color="availability_zone",
        line_shape="hv",
        markers=True,
        labels=chart_labels(history),
        title="USD per hour",
    )
    if age is not None:  # the axis runs to now, so a stale series shows the gap where no price is known
        start = min(pd.Timestamp(history["timestamp"].min()), pd.Timestamp(now) - pd.Timedelta(days=1))
        chart.update_xaxes(range=[start, max(pd.Timestamp(now), pd.Timestamp(history["timestamp"].max()))])
    st.plotly_chart(chart, key="spot_history")
    bands = queries.interruption_bands(url, region)
    st.subheader(f"Interruption bands ({region}, Spot Instance Advisor)")
    if bands.empty:
        no_data("no Spot Advisor bands loaded for this region", "batchopt collect")
    else:
        st.dataframe(bands, hide_index=True, key="spot_bands", column_config=column_config(bands))


def _reclaims(url: str, dataset: str) -> None:
    st.subheader("Observed reclaims and work lost")
    lost = queries.reclaimed_work(url, dataset)
    if lost.attempts == 0:
        st.info("No spot reclaim has been recorded in this history's job attempts.")
        return
    reclaims = queries.spot_reclaims(url, dataset)
    cols = st.columns(4)
    cols[0].metric("Reclaimed attempts", f"{lost.attempts:,}")
    cols[1].metric("Run-hours lost", f"{lost.run_hours:,.1f}")
    cols[2].metric(
        "vCPU-hours lost",
        f"{lost.vcpu_hours:,.1f}",
        help="Run-hours x the job's vCPUs: the work the retries redo (the weekly report's figure)",
    )
    span = queries.cost_day_range(url, dataset)
    if span is not None:
        since, until = queries.window_before(span[1], (span[1] - span[0]).days + 1)
        usd = float(queries.cost_summary(url, since, until, dataset=dataset)["spot_reclaim_usd"].sum())
        cols[3].metric("Cost of reclaimed attempts", money(usd), help="All attributed days")
    if reclaims.empty:  # (every reclaim on Fargate Spot or on instances the store does not know)
        st.caption("No reclaimed attempt ran on an instance the store knows: no rate per instance type.")
        return
    rates = reclaim_rates(reclaims, queries.spot_instance_hours(url, dataset))
    st.dataframe(rates, hide_index=True, key="spot_reclaims", column_config=column_config(rates))
