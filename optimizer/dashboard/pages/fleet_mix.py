"""Fleet mix: the instance types and capacity types paid for now against the optimizer's plan, the
plan's cost curve, and how close the plan is to its lower bound."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pandas as pd
import plotly.express as px
import streamlit as st

from optimizer.analysis.bucket_length import duration_text
from optimizer.dashboard import plan_scope, queries, queue_scope
from optimizer.dashboard.columns import chart_labels, column_config, show_table
from optimizer.dashboard.commitment_view import render_commitments, render_cost_split
from optimizer.dashboard.components import (
    CAPACITY_ORDER,
    history,
    money,
    no_data,
    partial_day_text,
    percent,
    store_url,
)
from optimizer.dashboard.plan_view import cost_curve, mix_by_offering, plan_list_cost, plan_usage
from optimizer.fleet.plans import problem_bucket_note
from optimizer.recommend.headline import UNCONSTRAINED_BOUND
from optimizer.runtime.clock import utc_now_aware
from optimizer.store.names import COLLECTED_DATASET

HISTORY_DAYS = 28
UNCONSTRAINED_BOUND_NOTE = (
    f"{UNCONSTRAINED_BOUND.capitalize()}: the solver packs jobs onto any offering the policy allows, "
    "without the strategies' risk rules (interruption band, job runtime, retry-ability). The "
    "Recommendations page lists what passes them."
)

#: The plan header's help, in a FinOps reader's words ("Bound on the objective (cost + risk)" named
#: the solver's objective, which the page shows nowhere, and no risk is priced but re-runs).
LOWER_BOUND_HELP = (
    "No plan that meets the policy costs less than this, counting the expected cost of re-running "
    "jobs after spot interruptions (the plan cost plus that expected cost is what the optimizer "
    "minimises)"
)
GAP_HELP = (
    "(plan cost with expected interruption re-runs - lower bound) / the same: at most this share of "
    "the plan's cost could be saved by a better plan that meets the policy. The line below says why "
    "it is not smaller."
)

GANG_HELD_HOURS_NOTE = (
    "This plan runs multi-node parallel jobs: it pays each gang's nodes for the hours the history's "
    "jobs held them (from a job's first node start to its last node stop), not for whole hour "
    "buckets. The spend beside it also pays what the plan leaves out: instances booting before a "
    "node starts, staying up until scale-in after it stops, and the compute environments' idle; "
    "the What-if page replays a plan with them."
)
#: For a plan stored before problems carried `gang_hours`: its gangs were priced by whole buckets.
GANG_WHOLE_HOURS_NOTE = (
    "This plan runs multi-node parallel jobs and was solved before gangs were priced by the hours "
    "they run: it holds every node of a gang for each whole hour bucket the gang runs in, so where "
    "gangs run for less than an hour the plan cost is above what the same fleet costs. Solve the "
    "queue again (batchopt optimize --queue) for a plan priced by the hours its gangs hold."
)


def gang_note(problem: dict[str, Any]) -> str | None:
    """What the page says beside a plan with gangs about how their nodes are priced (None: no gangs)."""
    if not any(shape.get("nodes") for shape in problem.get("shapes", [])):
        return None
    return GANG_HELD_HOURS_NOTE if problem.get("gang_hours") else GANG_WHOLE_HOURS_NOTE


def render() -> None:
    st.title("Fleet mix")
    url = store_url()
    if url is None:
        return
    dataset = history(url)
    left, right = st.columns(2)
    with left:
        _current(url, dataset, utc_now_aware().date())
    with right:
        chosen = _planned(url, dataset)
    if chosen is not None and chosen[1].get("commitments"):
        # Full width: a commitment's row (utilization, coverage, fee, level, id) does not fit beside
        # the current spend, and a reader checks each figure against the bill.
        st.subheader("Commitments in the plan")
        render_commitments(chosen[1], "fleet", chosen[0])
    st.subheader("Compute environments")
    ces = queries.compute_environment_list(url)
    if ces.empty:
        no_data("no compute environments collected", "batchopt collect")
    else:
        ces["instance_types"] = ces["instance_types"].map(lambda v: ", ".join(v or []))
        show_table(ces.drop(columns=["arn"]), "fleet_ces")


def _current(url: str, dataset: str, today: date) -> None:
    st.subheader("Current")
    span = queries.cost_day_range(url, dataset)
    if span is None:
        no_data("costs have not been attributed", "batchopt analyze")
        return
    last_day, partial = queries.last_full_day(span[1], today, queries.cost_data_end(url, dataset))
    since, until = queries.window_before(last_day, HISTORY_DAYS)
    mix = queries.cost_summary(url, since, until, ("instance_type", "capacity_type"), dataset=dataset)
    st.caption(
        f"All queues, the {HISTORY_DAYS} full days through {last_day:%Y-%m-%d} (UTC)"
        + (f"; {partial_day_text(partial, today).lower()} is partial and not included" if partial else "")
        + ". A plan's own queue and window are on the right."
    )
    st.metric(f"Spend, last {HISTORY_DAYS} days", money(float(mix["total_usd"].sum())))
    st.plotly_chart(
        px.bar(
            mix,
            x="instance_type",
            y="total_usd",
            color="capacity_type",
            category_orders=CAPACITY_ORDER,
            labels=chart_labels(mix),
            title="Spend by instance type",
        ),
        key="fleet_current_mix",
    )
    daily = queries.cost_summary(url, since, until, ("capacity_type",), daily=True, dataset=dataset)
    st.plotly_chart(
        px.line(
            daily,
            x="day",
            y="total_usd",
            color="capacity_type",
            category_orders=CAPACITY_ORDER,
            labels=chart_labels(daily),
            title="Cost per day",
        ),
        key="fleet_current_curve",
    )


def _like_for_like(
    url: str, dataset: str, queue: str, created_at: Any, problem: dict[str, Any], plan: dict[str, Any]
) -> None:
    """The plan's queue's spend (its jobs plus the idle of the CEs serving it) over the plan's window,
    set beside the plan at the same prices: the store's spend is instance-hours at list prices, so a
    plan with commitments is compared before them (else the Savings Plan's discount, which today's
    fleet gets too, would read as the plan's saving)."""
    end = queries.queue_last_stop(url, queue, pd.Timestamp(created_at).to_pydatetime(), dataset)
    hours = plan_scope.plan_hours(problem)
    if end is None or hours <= 0:
        st.info(f"No jobs of {queue} in this history: no spend to set beside the plan.")
        return
    since, until = plan_scope.plan_days(end, hours)
    where = (("queue", (queue,)),)
    work = queries.cost_summary(url, since, until, where=where, dataset=dataset)
    serving = queries.queue_compute_environments(url, (queue,), since, until, dataset)
    idle_filter = queue_scope.idle_where(where, serving)
    idle = (
        queries.cost_summary(url, since, until, where=idle_filter, dataset=dataset)
        if idle_filter is not None
        else None
    )
    frame = queue_scope.with_idle(work, idle)
    spend = float(frame["total_usd"].sum()) if not frame.empty else 0.0
    days = (until - since).days
    cols = st.columns(2)
    cols[0].metric(
        f"Spend of {queue}, same window",
        money(spend),
        help="The queue's jobs plus the idle of the compute environments serving it",
    )
    if plan.get("commitments"):
        at_list = plan_list_cost(problem, plan)
        cols[1].metric(
            "Plan at list prices − spend",
            money(at_list - spend),
            help=f"The plan's instance-hours at list prices ({money(at_list)}), before its commitments, "
            "like the spend (instance-hours x price); the plan cost with commitments is split below",
        )
    else:
        cols[1].metric("Plan cost − spend", money(float(plan.get("cost_usd") or 0.0) - spend))
    last = until - timedelta(days=1)
    span = queries.cost_day_range(url, dataset)
    # The last day the data reaches is only as whole as the data: say so rather than call it whole.
    partial = span is not None and pd.Timestamp(span[1]).normalize() == pd.Timestamp(last).normalize()
    st.caption(
        f"Plan window: {hours:,.0f} h of {queue}'s demand ending {end:%Y-%m-%d %H:%M} UTC; spend over the "
        f"{days} UTC day(s) {since:%Y-%m-%d} to {last:%Y-%m-%d}"
        + (f" ({last:%Y-%m-%d} up to the end of the collected data)" if partial else "")
        + f", the queue's jobs plus the idle of "
        f"{', '.join(a.rsplit('/', 1)[-1] for a in serving) or 'no compute environment'}."
    )


def _planned(url: str, dataset: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The chosen stored plan beside its queue's spend; returns its (problem, plan) documents when
    it has instances, for the page's full-width commitments section."""
    st.subheader("Solver plan")
    st.caption(UNCONSTRAINED_BOUND_NOTE)
    plans = queries.fleet_plan_list(url)
    plans = plans[plans["dataset"] == dataset]  # (set beside this dataset's spend)
    if plans.empty:
        if dataset == COLLECTED_DATASET:
            no_data("no fleet-mix plan is stored", "batchopt optimize --queue NAME")
        else:
            no_data(
                f"no fleet-mix plan of {dataset} is stored",
                f"batchopt optimize --dataset {dataset} --queue NAME",
            )
        return None
    labels = {
        int(p.id): f"#{p.id} {p.scope} ({p.status}, {p.created_at:%Y-%m-%d %H:%M})"
        for p in plans.itertuples()
    }
    plan_id = st.selectbox("Plan", list(labels), format_func=labels.get, key="fleet_plan")
    row = plans[plans["id"] == plan_id].iloc[0]
    cols = st.columns(3)
    cols[0].metric(
        "Plan cost",
        money(row["cost_usd"]),
        help="What the plan pays: spot, on-demand not covered by a commitment, and commitment fees",
    )
    cols[1].metric("Lower bound", money(row["lower_bound_usd"]), help=LOWER_BOUND_HELP)
    cols[2].metric("Gap", percent(row["gap"]), help=GAP_HELP)
    documents = queries.fleet_plan_documents(url, plan_id)
    if documents is None:
        return None
    problem, plan = documents
    if plan.get("reason"):  # why the gap is what it is (the demo's cpu-batch: bound $0, gap 100 %)
        st.caption(f"{plan['status']}: {plan['reason']}")
    _like_for_like(url, dataset, str(row["scope"]), row["created_at"], problem, plan)
    for note in problem.get("left_out") or []:  # `fleet.plans.leave_out_unplaceable`
        st.warning(f"Left out: {note}")
    fallback = (plan.get("stats") or {}).get("bucket_fallback")  # `solve_with_bucket_fallback`
    for note in (problem_bucket_note(problem), fallback, gang_note(problem)):
        if note is not None:
            st.caption(note)
    usage = plan_usage(problem, plan)
    if usage.empty:
        st.warning(f"Plan #{plan_id} has no instances ({row['status']}).")
        return None
    st.caption("How the plan cost splits")
    render_cost_split(plan, problem, "fleet")
    at_list = " (list prices, before commitments)" if plan.get("commitments") else ""
    mix = mix_by_offering(usage)
    st.plotly_chart(
        px.bar(
            mix,
            x="instance_type",
            y="cost_usd",
            color="capacity_type",
            category_orders=CAPACITY_ORDER,
            labels=chart_labels(mix),
            title=f"Planned spend by type{at_list}",
        ),
        key="fleet_plan_mix",
    )
    length = duration_text(float(problem.get("bucket_seconds", 3600.0)))
    curve = cost_curve(usage, int(problem.get("buckets", 0)))
    st.plotly_chart(
        px.line(
            curve,
            x="bucket",
            y="cost_usd",
            color="capacity_type",
            category_orders=CAPACITY_ORDER,
            labels=chart_labels(curve),
            title=f"Planned cost per {length} bucket{at_list}",
        ),
        key="fleet_plan_curve",
    )
    show_table(mix, "fleet_plan_table", extra=list_cost_label(mix) if at_list else None)
    return problem, plan


def list_cost_label(mix: pd.DataFrame) -> dict[str, Any]:
    """The plan mix table's cost column relabelled as list prices: with commitments its rows add up
    to the plan's instance-hours before them, not to the Plan cost metric above it (the demo's
    cpu-batch: $837.39 in the table against a $813.44 plan cost), so the label says which."""
    config = dict(column_config(mix)["cost_usd"])
    config["label"] = "Cost at list prices ($)"
    return {"cost_usd": config}
