"""Cost explorer: slice attributed and idle cost by any dimension, see waste classes and top spenders;
with an imported bill, the billed, effective and modelled cost of the days it covers and the residual."""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
import plotly.express as px
import streamlit as st

from optimizer.analysis.cost import IDLE
from optimizer.dashboard import queries, queue_scope
from optimizer.dashboard.bill_view import bill_commitment_rows
from optimizer.dashboard.columns import chart_labels, human, show_table
from optimizer.dashboard.components import history, money, no_data, percent, store_url
from optimizer.dashboard.explorer import ce_arns_matching, parse_ce_arn, partial_weeks, period_start

DIM_LABELS = {
    "queue": "Queue",
    "compute_environment_arn": "Compute environment",
    "job_definition_name": "Job definition",
    "instance_type": "Instance type",
    "capacity_type": "Capacity type",
}
TOP_N = 10
BILL_VIEWS = {"modelled": "Modelled", "billed": "Billed", "effective": "Effective"}
BILL_SERIES = {  # what the per-day chart of each view shows: the view and what explains it
    "modelled": ("modelled_usd", "residual_usd"),
    "billed": ("billed_usd", "modelled_usd"),
    "effective": ("effective_usd", "modelled_usd"),
}


def render() -> None:
    st.title("Cost explorer")
    url = store_url()
    if url is None:
        return
    dataset = history(url)
    span = queries.cost_day_range(url, dataset)
    if span is None:
        no_data("costs have not been attributed", "batchopt collect` then `batchopt analyze")
        return
    first, last = span
    values = queries.cost_filter_values(url, dataset)
    ces = values.get("compute_environment_arn", [])

    with st.expander("Filters", expanded=True):
        picked = st.date_input(
            "Days (UTC)", value=(first.date(), last.date()), min_value=first.date(), max_value=last.date()
        )
        start, end = (picked[0], picked[-1]) if isinstance(picked, tuple) and picked else (first, last)
        cols = st.columns(3)
        accounts = sorted({parse_ce_arn(a)[1] for a in ces} - {""})
        regions = sorted({parse_ce_arn(a)[0] for a in ces} - {""})
        account_pick = cols[0].multiselect("Account", accounts, key="f_account")
        region_pick = cols[1].multiselect("Region", regions, key="f_region")
        chosen: dict[str, tuple[str, ...]] = {}
        for i, dim in enumerate(queries.COST_DIMS):
            chosen[dim] = tuple(
                cols[(i + 2) % 3].multiselect(DIM_LABELS[dim], values.get(dim, []), key=f"f_{dim}")
            )
        group = st.selectbox("Group by", list(DIM_LABELS), format_func=DIM_LABELS.get, key="group_by")

    ce_filter = ce_arns_matching(ces, chosen["compute_environment_arn"], account_pick, region_pick)
    if ce_filter is not None and not ce_filter:
        st.warning("No compute environment matches the account and region filters.")
        return
    chosen["compute_environment_arn"] = tuple(ce_filter or ())
    where = tuple((dim, vals) for dim, vals in chosen.items())
    since = pd.Timestamp(start).to_pydatetime()
    until = pd.Timestamp(end).to_pydatetime() + timedelta(days=1)

    idle = _serving_idle(url, dataset, since, until, chosen["queue"], where)

    def summary(by: tuple[str, ...], *, per_day: bool = False) -> pd.DataFrame:
        """The selection's costs plus the idle of the CEs serving the selected queues."""
        picked = queries.cost_summary(url, since, until, by, daily=per_day, where=where, dataset=dataset)
        if idle is None:
            return picked
        extra = queries.cost_summary(url, since, until, by, daily=per_day, where=idle, dataset=dataset)
        return queue_scope.with_idle(picked, extra)

    daily = summary(("queue",), per_day=True)
    if daily.empty:
        st.warning("No cost in the selected days and filters.")
        return
    total = float(daily["total_usd"].sum())
    cols = st.columns(3)
    cols[0].metric("Total", money(total))
    cols[1].metric("Attributed to jobs", money(float(daily["attributed_usd"].sum())))
    cols[2].metric("Idle", money(float(daily["idle_usd"].sum())))
    if idle is not None:
        names = ", ".join(a.rsplit("/", 1)[-1] for a in dict(idle)["compute_environment_arn"])
        st.caption(
            f"Idle: the unused capacity of the compute environments serving the selected queues ({names}), "
            "all of it even where an environment also serves other queues."
        )
    mnp = queries.mnp_figures(url, dataset)
    if mnp is not None and mnp[0]:
        jobs, cost, forming = mnp
        st.caption(
            f"Multi-node parallel jobs (latest analysis, whole history): {jobs:,} jobs whose nodes cost"
            f" {money(cost)}; gang-formation idle {money(forming)}, instances in service held empty until a"
            " gang's last node joined, a new instance's boot not counted, as in the replay (part of Idle)."
        )
    if queries.bill_imported(url):
        _bill_vs_model(url, dataset, since, until)

    period = st.radio("Period", ["day", "week"], horizontal=True, key="period")
    partial = partial_weeks(since.date(), (until - timedelta(days=1)).date()) if period == "week" else None
    if partial is not None:
        st.caption(partial)
    per_period = daily.assign(period=period_start(daily["day"], period))
    per_period = per_period.groupby("period", as_index=False)[["attributed_usd", "idle_usd"]].sum()
    stacked = per_period.melt("period", var_name="kind", value_name="usd")
    stacked["kind"] = stacked["kind"].map(human)  # legend entries "Attributed", "Idle"
    st.plotly_chart(
        px.bar(
            stacked,
            x="period",
            y="usd",
            color="kind",
            labels=chart_labels(stacked),
            title=f"Attributed vs idle, per {period}",
        ),
        key="att_idle",
    )

    waste = pd.DataFrame(
        {
            "class": [queries.WASTE_LABELS[c] for c in queries.WASTE_LABELS],
            "usd": [float(daily[c].sum()) for c in queries.WASTE_LABELS],
        }
    )
    left, right = st.columns(2)
    left.plotly_chart(
        px.bar(waste, x="class", y="usd", labels=chart_labels(waste), title="Waste classes"),
        key="waste_classes",
    )
    show_table(waste, "waste_table", where=left)

    by_def = queries.cost_summary(url, since, until, ("job_definition_name",), where=where, dataset=dataset)
    top = by_def[by_def["job_definition_name"] != IDLE].nlargest(TOP_N, "total_usd")
    right.plotly_chart(
        px.bar(
            top,
            x="total_usd",
            y="job_definition_name",
            orientation="h",
            labels=chart_labels(top),
            title="Top job definitions",
        ).update_yaxes(
            # largest at the top, as in the table under it: plotly draws a horizontal bar chart's
            # first row at the bottom, so the demo's $9,715 gpu-training-job sat under $66 etl-task
            categoryorder="total ascending"
        ),
        key="top_defs",
    )
    show_table(
        top[["job_definition_name", "total_usd", "over_requested_usd", "failed_usd", "oom_usd"]],
        "top_defs_table",
        where=right,
    )

    st.subheader(f"By {DIM_LABELS[group].lower()}")
    grouped = summary((group,))
    grouped = grouped.groupby(group, as_index=False, observed=True).sum(numeric_only=True)
    show_table(grouped.sort_values("total_usd", ascending=False), "grouped_table")
    _by_tag(url, dataset, since, until)


def _serving_idle(
    url: str,
    dataset: str,
    since: datetime,
    until: datetime,
    queues: tuple[str, ...],
    where: queue_scope.Where,
) -> queue_scope.Where | None:
    """Filters for the idle rows a queue selection owns (`queue_scope`), None when it owns none."""
    if not queue_scope.needs_idle(queues):
        return None
    serving = queries.queue_compute_environments(url, queues, since, until, dataset)
    return queue_scope.idle_where(where, serving)


def _bill_vs_model(url: str, dataset: str, since: datetime, until: datetime) -> None:
    st.subheader("Bill vs model")
    bill = queries.bill_window(url, since, until, dataset)
    if bill is None:
        st.info("The imported bill covers none of the selected days (`batchopt import-bill` adds months).")
        return
    first, last = bill.covered_days[0], bill.covered_days[-1]
    st.caption(
        f"The {len(bill.days)} of {bill.window_days} selected days the imported bill covers "
        f"({first:%Y-%m-%d} to {last:%Y-%m-%d}, UTC), whole bill against the whole model: "
        "the filters above do not apply here."
    )
    view = str(
        st.radio("Cost", list(BILL_VIEWS), format_func=BILL_VIEWS.get, horizontal=True, key="cost_view")
    )
    cols = st.columns(4)
    cols[0].metric("Billed", money(bill.billed_usd), help="Unblended cost, as the invoice shows it")
    cols[1].metric(
        "Effective",
        money(bill.effective_usd),
        help="Amortised: Savings Plans and RIs at their effective rates",
    )
    cols[2].metric(
        "Modelled", money(bill.modelled_usd), help="Instance lifetimes x prices, as attributed above"
    )
    cols[3].metric(
        "Residual (billed - modelled)",
        money(bill.residual_usd),
        help="EBS, data transfer, discounts, commitments, instances the collectors missed",
    )
    if bill.causes:
        st.caption("Where the residual comes from (the causes add up to it)")
        causes = pd.DataFrame([(c.cause, c.usd) for c in bill.causes], columns=["cause", "usd"])
        show_table(causes, "bill_causes")
    frame = bill.frame()
    shown = frame.melt("day", list(BILL_SERIES[view]), var_name="figure", value_name="usd")
    shown["figure"] = shown["figure"].map(human)  # legend entries "Modelled", "Residual", ...
    st.plotly_chart(
        px.bar(
            shown,
            x="day",
            y="usd",
            color="figure",
            barmode="group",
            labels=chart_labels(shown),
            title=f"{BILL_VIEWS[view]} cost per day",
        ),
        key="bill_chart",
    )
    show_table(frame, "bill_table", extra={"day": st.column_config.DateColumn("Day", format="YYYY-MM-DD")})
    if bill.commitments:
        use = st.columns(3)
        use[0].metric(
            "Commitment utilization",
            percent(bill.commitment_utilization),
            help="Used / (used + unused) commitment over these days",
        )
        use[1].metric(
            "Unused commitment",
            money(bill.unused_commitment_usd),
            help="Commitment paid for and not used over these days (part of Effective), as the "
            "weekly report gives it",
        )
        use[2].metric(
            "EC2 commitment coverage",
            percent(bill.commitment_coverage),
            help="SP/RI-covered EC2 instance usage / all eligible (covered + on demand), at on-demand value",
        )
        st.caption(
            "Savings Plans and Reserved Instances the bill names in these days: utilization, used and "
            "unused over the selected days the bill covers, billed and effective over every imported month"
        )
        st.dataframe(bill_commitment_rows(bill.commitments), hide_index=True, key="bill_commitments")


def _by_tag(url: str, dataset: str, since: datetime, until: datetime) -> None:
    keys = queries.tag_keys(url, dataset)
    if not keys:
        return
    st.subheader("By job tag")
    key = st.selectbox("Tag key", keys, key="tag_key")
    st.caption("Tag totals follow the days picked above; the other filters do not apply to them.")
    frame = queries.cost_by_tag(url, key, since, until, dataset)
    show_table(frame, "tag_table")
