"""Overview: last week's spend and its trend, savings found and applied, utilization, data freshness;
what was billed this month when an imported bill covers it."""

from __future__ import annotations

from datetime import date

import plotly.express as px
import streamlit as st

from optimizer.analysis.rollup import SPOT_SHARE_DEFINITIONS, SPOT_SHARE_NAMES, idle_share, spot_share
from optimizer.dashboard import queries
from optimizer.dashboard.columns import chart_labels, column_config
from optimizer.dashboard.components import (
    CAPACITY_ORDER,
    history,
    money,
    no_data,
    partial_day_text,
    percent,
    store_url,
)
from optimizer.dashboard.headline_view import headline_caption, savings_headline_for
from optimizer.runtime.clock import utc_now_aware

WEEK_DAYS = 7


def render() -> None:
    st.title("Overview")
    url = store_url()
    if url is None:
        return
    dataset = history(url)
    _spend(url, dataset, utc_now_aware().date())
    _billed_this_month(url, dataset, utc_now_aware().date())
    _savings(url, dataset, utc_now_aware().date())
    st.subheader("Data freshness")
    freshness = queries.data_freshness(url)
    if freshness.empty:
        no_data("no collector has run against this store", "batchopt collect")
    else:
        st.dataframe(
            freshness, hide_index=True, key="freshness_table", column_config=column_config(freshness)
        )


def signed_money(value: float) -> str:
    """A delta as Streamlit reads it: the sign first ("-$343.59"), so a drop shows as a drop."""
    return ("-" if value < 0 else "+") + money(abs(value))


def _spend(url: str, dataset: str, today: date) -> None:
    span = queries.cost_day_range(url, dataset)
    if span is None:
        no_data("costs have not been attributed", "batchopt collect` then `batchopt analyze")
        return
    last_day, partial = queries.last_full_day(span[1], today, queries.cost_data_end(url, dataset))
    since, until = queries.window_before(last_day, WEEK_DAYS)
    prior_since, prior_until = queries.prior_window(since, WEEK_DAYS)
    by_day = queries.cost_summary(url, since, until, ("queue", "capacity_type"), daily=True, dataset=dataset)
    prior = queries.cost_summary(url, prior_since, prior_until, dataset=dataset)
    spend = float(by_day["total_usd"].sum())
    prior_spend = float(prior["total_usd"].sum()) if not prior.empty else 0.0
    idle = float(by_day["idle_usd"].sum())
    caption = f"The {WEEK_DAYS} full days through {last_day:%Y-%m-%d} (UTC), against the 7 days before."
    if partial is not None:
        caption += f" {partial_day_text(partial, today)} is partial and not included."
    st.caption(caption)
    cols = st.columns(4)
    delta = signed_money(spend - prior_spend) if prior_spend > 0 else None
    cols[0].metric("Spend, last 7 days", money(spend), delta=delta, delta_color="inverse")
    cols[1].metric("Idle capacity", money(idle), help="Paid-for instance time no job requested")
    cols[2].metric("Idle share", percent(idle_share(by_day)))
    cols[3].metric(
        "vCPU allocation",
        percent(queries.allocated_share(by_day)),
        help="vCPU-hours requested by running jobs / vCPU-hours of the instances paid for",
    )
    used = queries.utilization_totals(url, since, until, dataset)
    if used is not None and used["allocated_known_vcpu_hours"] > 0:
        cols = st.columns(4)
        cols[0].metric(
            "vCPU used / requested",
            percent(used["vcpu_used_per_requested"]),
            help="Of jobs with usage samples",
        )
        if used["allocated_known_memory_gib_hours"] > 0:
            cols[1].metric(
                "Memory used / requested",
                percent(used["memory_used_per_requested"]),
            )
        if used["capacity_memory_gib_hours"] > 0:
            cols[2].metric(
                "Memory allocation",
                percent(used["memory_allocation"]),
            )
    cols = st.columns(3)
    for col, measure in zip(cols, ("spend", "instance_vcpu_hours", "job_vcpu_hours"), strict=True):
        share = percent(spot_share(by_day, measure))
        col.metric(SPOT_SHARE_NAMES[measure], share, help=SPOT_SHARE_DEFINITIONS[measure])
    left, right = st.columns(2)
    by_capacity = by_day.groupby(["day", "capacity_type"], as_index=False)["total_usd"].sum()
    left.plotly_chart(
        px.bar(
            by_capacity,
            x="day",
            y="total_usd",
            color="capacity_type",
            category_orders=CAPACITY_ORDER,
            labels=chart_labels(by_capacity),
            title="Spend by day and capacity",
        ),
        key="spend_by_capacity",
    )
    by_queue = by_day.groupby(["day", "queue"], as_index=False)["total_usd"].sum()
    right.plotly_chart(
        px.bar(
            by_queue,
            x="day",
            y="total_usd",
            color="queue",
            labels=chart_labels(by_queue),
            title="Spend by day and queue",
        ),
        key="spend_by_queue",
    )


def _billed_this_month(url: str, dataset: str, today: date) -> None:
    """Billed and effective cost of the current month so far, beside the model: only with a bill."""
    if not queries.bill_imported(url):
        return
    bill = queries.bill_month_to_date(url, today, dataset)
    if bill is None:
        return
    last = bill.covered_days[-1]
    # (the spend above leaves today out as partial; the bill's today is partial too, and kept
    # here because it is what the invoice holds so far)
    partial = "; today's rows are partial" if last >= today else ""
    st.caption(
        f"This month from the imported bill: the {len(bill.days)} day(s) through "
        f"{last:%Y-%m-%d} (UTC) it covers, against the model of the same days{partial}."
    )
    cols = st.columns(4)
    cols[0].metric(
        "Billed this month", money(bill.billed_usd), help="Unblended cost, as the invoice shows it"
    )
    cols[1].metric("Effective this month", money(bill.effective_usd), help="Amortised (Savings Plans, RIs)")
    cols[2].metric("Modelled, same days", money(bill.modelled_usd))
    cols[3].metric("Residual (billed - modelled)", money(bill.residual_usd))


def _savings(url: str, dataset: str, today: date) -> None:
    st.subheader("Savings")
    headline = savings_headline_for(url)
    if not headline.items:
        no_data("no recommendations have been made", "batchopt recommend")
        return
    realized = queries.realized_savings(url, dataset, today)
    cols = st.columns(3)
    cols[0].metric(
        "Identified (open), per month",
        money(headline.total_usd_per_month),
        help="Open recommendations, each saving counted once; items that cost money and savings "
        "within the replay's calibration error are not counted, nor one priced before an applied one "
        "that it overlaps (its dollars are in Applied)",
    )
    cols[1].metric(
        "Applied, per month (estimated)",
        money(headline.applied_usd_per_month),
        help="Applied recommendations by Identified's rules: after the bill's discounts, each saving "
        "counted once (two changes to one resource, or to a queue and a CE it dispatches to, price "
        "the same dollars); items that cost money, savings within the replay's calibration error and "
        "commitment advice are not counted. An open recommendation priced before the apply that "
        "overlaps an applied one is not also in Identified. Estimated from the replay; Realized is "
        "measured",
    )
    cols[2].metric(
        "Realized, per month (measured)",
        money(realized.monthly_usd) if realized.changes else "n/a",
        help=realized.explanation,
    )
    st.caption(headline_caption(headline))
    if any(item.status == "applied" for item in headline.items):
        st.caption(headline.describe_applied())
