"""What-if: change the policy (spot share, instance-type cap, diversification, headroom) of a stored
fleet problem, re-solve it, and compare with the stored plan."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

from optimizer.dashboard import queries
from optimizer.dashboard.components import no_data, store_url
from optimizer.dashboard.plan_view import mix_by_offering, plan_usage
from optimizer.dashboard.what_if_model import compare, solver_entry, with_policy


@st.cache_data(show_spinner="Solving...", max_entries=16)
def _solve(problem: dict) -> dict:
    solve = solver_entry()
    assert solve is not None
    return solve(problem)


def render() -> None:
    st.title("What-if")
    url = store_url()
    if url is None:
        return
    plans = queries.fleet_plan_list(url)
    if plans.empty:
        no_data("no fleet problem has been solved", "batchopt recommend")
        return
    labels = {int(p.id): f"#{p.id} {p.scope} ({p.created_at:%Y-%m-%d %H:%M})" for p in plans.itertuples()}
    plan_id = st.selectbox("Start from plan", list(labels), format_func=labels.get, key="wi_plan")
    documents = queries.fleet_plan_documents(url, plan_id)
    if documents is None:
        return
    problem, plan = documents
    policy = problem.get("policy", {})
    n_offer = max(1, len({o["instance_type"] for o in problem.get("offerings", [])}))

    with st.form("what_if"):
        cols = st.columns(2)
        spot_share = cols[0].slider(
            "Max spot share of vCPU-hours", 0.0, 1.0, float(policy.get("max_spot_share", 1.0)), 0.05
        )
        max_types = cols[1].number_input(
            "Max instance types (0 = no cap)", 0, n_offer, int(policy.get("max_instance_types") or 0)
        )
        min_spot = cols[0].number_input(
            "Min spot instance types (diversification)",
            0,
            n_offer,
            int(policy.get("min_spot_instance_types", 0)),
        )
        factor = cols[1].number_input(
            "Interruption cost factor", 0.0, 10.0, float(policy.get("interruption_cost_factor", 1.0)), 0.1
        )
        headroom = st.slider("Headroom over historical demand", 0.0, 1.0, 0.0, 0.05)
        submitted = st.form_submit_button("Re-solve")

    solve = solver_entry()
    if solve is None:
        st.warning("This build has no fleet-mix solver (optimizer.solver), so a what-if cannot be solved.")
        return
    if not submitted:
        st.caption("Set a policy and press Re-solve.")
        return
    overrides = {
        "max_spot_share": spot_share,
        "max_instance_types": int(max_types) or None,
        "min_spot_instance_types": int(min_spot),
        "interruption_cost_factor": factor,
    }
    proposed = _solve(with_policy(problem, overrides, headroom))
    st.dataframe(pd.DataFrame(compare(plan, proposed)).astype(str), hide_index=True, key="wi_compare")
    bucket_seconds = float(problem.get("bucket_seconds", 3600))
    mixes = []
    for name, doc in (("stored plan", plan), ("what-if", proposed)):
        mix = mix_by_offering(plan_usage(problem, doc), bucket_seconds)
        mixes.append(mix.assign(plan=name))
    both = pd.concat(mixes, ignore_index=True)
    st.plotly_chart(
        px.bar(
            both,
            x="instance_type",
            y="cost_usd",
            color="capacity_type",
            facet_col="plan",
            title="Spend by type",
        ),
        key="wi_mix",
    )
