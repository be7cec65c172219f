"""What-if: change the policy (spot share, instance-type cap, diversification, instance requirements,
headroom) of a stored fleet problem, re-solve it, and compare with the stored plan; replayed, the
plan's spot share and the replay's are shown side by side (the replay runs the plan's compute
environments, spot CE capped to the plan's share: `replay_compare.what_if_replay`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
import plotly.express as px
import streamlit as st

from optimizer.analysis.rollup import SPOT_SHARE_NAMES, SPOT_SHARES
from optimizer.catalog.requirements import ACCELERATOR_RULES
from optimizer.dashboard import queries, state
from optimizer.dashboard.columns import chart_labels
from optimizer.dashboard.commitment_view import (
    DEFAULT_DISCOUNT,
    compute_commitment,
    render_commitments,
    render_cost_split,
    with_compute_commitment,
)
from optimizer.dashboard.components import CAPACITY_ORDER, money, no_data, percent, store_url
from optimizer.dashboard.plan_scope import plan_label, plan_window_note
from optimizer.dashboard.plan_view import mix_by_offering, plan_usage
from optimizer.dashboard.replay_compare import (
    WhatIfReplay,
    load_replay_inputs,
    replay_note,
    summary_rows,
    what_if_replay,
)
from optimizer.dashboard.state import engine_for
from optimizer.dashboard.what_if_model import (
    COMMITMENT_COST_NOTE,
    cheaper_stored_plan,
    compare,
    has_solution,
    no_plan_advice,
    offering_rows,
    recommended_environments,
    solve_document,
    stored_plan_priced,
    with_policy,
)
from optimizer.errors import UserError
from optimizer.solver.problem import commitments_from_list

REQUEST_KEY = "what_if_request"
UNSOLVED_KEY = "what_if_unsolved"

ACCELERATOR_LABELS = {
    "when_requested": "only for jobs that ask for one",
    "any": "any job may use them",
    "none": "never",
}
DEFAULT_REGION = "us-east-1"
NO_SPOT_FITS = (
    "One spot instance of the plan's spot types at a time already runs more than the plan's spot share "
    "of this history, so the replayed spot CE has maxvCpus 0 and runs nothing: a share in between "
    "needs smaller spot types than the plan chose."
)


def plan_key(name: str, plan_id: int) -> str:
    """The key of a form input whose default is the chosen plan's (its policy, time limit and
    commitment level), one per plan: a keyed input keeps the value it was first given in the browser
    whatever default it is given later, so one key for every plan once offered cpu-batch, on the
    demo, the $0.0315/h level of the plan shown first (mpi-parallel) instead of its own $0.3534/h."""
    return f"{name}@{plan_id}"


class _Unsolved(Exception):
    """Raised inside the cached solve to keep a plan without a solution out of the cache: a TIMEOUT
    depends on the machine's load, so pressing Re-solve again must solve again, not replay it."""

    def __init__(self, plan: dict) -> None:
        super().__init__(plan.get("status"))
        self.plan = plan


@st.cache_data(show_spinner=False, max_entries=16)
def _cached_solve(problem: dict) -> dict:
    plan = solve_document(problem)
    if not has_solution(plan):
        raise _Unsolved(plan)
    return plan


def _solve(problem: dict, request: tuple, submitted: bool) -> dict:
    """The re-solved plan. Plans with a solution are cached (see `_Unsolved`); one without is kept
    for this session's `request` until Re-solve is pressed again, so the page's other widgets (the
    replay toggle) do not pay the solve's whole time limit again on every rerun."""
    held = st.session_state.get(UNSOLVED_KEY)
    if not submitted and held is not None and held[0] == request:
        return dict(held[1])
    limit = float((problem.get("policy") or {}).get("time_limit_seconds", 30.0))
    with st.spinner(f"Solving (time limit {limit:,.0f} s)..."):
        try:
            return _cached_solve(problem)
        except _Unsolved as unsolved:
            st.session_state[UNSOLVED_KEY] = (request, unsolved.plan)
            return unsolved.plan


def _compare_table(
    plan: Mapping[str, Any],
    proposed: Mapping[str, Any],
    problems: tuple[Mapping[str, Any], Mapping[str, Any]],
) -> None:
    """The stored plan beside the what-if one (`what_if_model.compare`), one table whatever the
    re-solve found."""
    st.dataframe(
        pd.DataFrame(compare(plan, proposed, problems)).astype(str), hide_index=True, key="wi_compare"
    )


def render() -> None:
    st.title("What-if")
    url = store_url()
    if url is None:
        return
    plans = queries.fleet_plan_list(url)
    if plans.empty:
        no_data("no fleet-mix plan is stored", "batchopt optimize --queue NAME")
        return
    labels = {
        int(p.id): f"#{p.id} {plan_label(p.scope, p.dataset)} ({p.created_at:%Y-%m-%d %H:%M})"
        for p in plans.itertuples()
    }
    plan_id = st.selectbox("Start from plan", list(labels), format_func=labels.get, key="wi_plan")
    documents = queries.fleet_plan_documents(url, plan_id)
    if documents is None:
        return
    problem, plan = documents
    policy = problem.get("policy", {})
    stored_share = policy.get("max_spot_share")
    requirements = policy.get("instance_requirements") or {}
    n_offer = max(1, len({o["instance_type"] for o in problem.get("offerings", [])}))

    with st.form("what_if"):
        cols = st.columns(2)
        spot_share = cols[0].slider(
            "Max " + SPOT_SHARE_NAMES["job_vcpu_hours"][0].lower() + SPOT_SHARE_NAMES["job_vcpu_hours"][1:],
            0.0,
            1.0,
            1.0 if stored_share is None else float(stored_share),
            0.05,
            help=SPOT_SHARES["job_vcpu_hours"],
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
        st.caption("Instance requirements")
        req_cols = st.columns(4)
        previous = req_cols[0].checkbox(
            "Previous generations",
            requirements.get("generations") == "any",
            key=plan_key("wi_req_previous", plan_id),
        )
        burstable = req_cols[1].checkbox(
            "Burstable (T)", bool(requirements.get("burstable")), key=plan_key("wi_req_t", plan_id)
        )
        metal = req_cols[2].checkbox(
            "Bare metal", bool(requirements.get("bare_metal")), key=plan_key("wi_req_metal", plan_id)
        )
        accelerators = req_cols[3].selectbox(
            "Accelerators",
            ACCELERATOR_RULES,
            ACCELERATOR_RULES.index(requirements.get("accelerators", "when_requested")),
            format_func=ACCELERATOR_LABELS.get,
            key=plan_key("wi_req_acc", plan_id),
        )
        excluded = st.text_input(
            "Excluded families (comma-separated, wildcards: m5*, t*)",
            ", ".join(requirements.get("excluded_families") or []),
            key=plan_key("wi_req_excluded", plan_id),
        )
        headroom = st.slider("Headroom over historical demand", 0.0, 1.0, 0.0, 0.05)
        time_limit = st.number_input(
            "Solver time limit (s)",
            1.0,
            600.0,
            float(policy.get("time_limit_seconds", 30.0)),
            5.0,
            format="%.0f",
            key=plan_key("wi_time_limit", plan_id),
            help="The re-solve stops here with the best plan found; a plan under a type cap, spot "
            "diversification and a commitment can need more than the stored plan's limit",
        )
        committed, stored_discount = compute_commitment(problem)
        sp_cols = st.columns(2)
        commitment = sp_cols[0].number_input(
            "Compute Savings Plan commitment ($/h, 0 = none)",
            0.0,
            None,
            float(committed),
            0.1,
            # four decimals: a queue's share of an account's plan can be a fraction of a cent an hour
            format="%.4f",
            key=plan_key("wi_sp_level", plan_id),
            help="The stored problem's level is this queue's share of the account's Compute Savings Plans "
            "(its instances' share of their use in the bill), not the plans' whole $/h",
        )
        discount = sp_cols[1].number_input(
            "Plan discount off on-demand" + (" (from the stored plan's rates)" if stored_discount else ""),
            0.01,
            0.99,
            round(stored_discount or DEFAULT_DISCOUNT, 4),
            0.01,
            key=plan_key("wi_sp_discount", plan_id),
            disabled=stored_discount is not None,
        )
        submitted = st.form_submit_button("Re-solve")

    if submitted:
        st.session_state[REQUEST_KEY] = (
            plan_id,
            {
                "max_spot_share": spot_share,
                "max_instance_types": int(max_types) or None,
                "min_spot_instance_types": int(min_spot),
                "interruption_cost_factor": factor,
                "time_limit_seconds": float(time_limit),
                "instance_requirements": {
                    "generations": "any" if previous else "current",
                    "burstable": burstable,
                    "bare_metal": metal,
                    "accelerators": accelerators,
                    "excluded_families": [f.strip() for f in excluded.split(",") if f.strip()],
                },
            },
            headroom,
            (float(commitment), float(discount)),
        )
    request = st.session_state.get(REQUEST_KEY)
    if request is None or request[0] != plan_id:
        st.caption("Set a policy and press Re-solve.")
        return
    _, overrides, headroom, (level, discount) = request
    try:
        what_if_problem = with_compute_commitment(with_policy(problem, overrides, headroom), level, discount)
        proposed = _solve(what_if_problem, request, submitted)
    except UserError as exc:
        st.error(f"Cannot re-solve this problem: {exc}")
        return
    if not has_solution(proposed):
        priced = stored_plan_priced(problem, plan, what_if_problem, proposed)
        if priced is None:
            st.warning(
                f"No what-if plan: {proposed['status']}, {proposed.get('reason') or 'no reason given'}. "
                + no_plan_advice(proposed["status"])
            )
            _compare_table(plan, proposed, (problem, what_if_problem))
            return
        st.warning(
            f"The re-solve found no plan ({proposed['status']}): the what-if column is the stored plan's "
            "fleet priced under the what-if commitments. " + no_plan_advice(proposed["status"])
        )
        proposed = priced
    else:
        cheaper = cheaper_stored_plan(problem, plan, what_if_problem, proposed)
        if cheaper is not None:
            st.warning(
                f"The re-solve's best plan within its time limit costs {money(proposed['cost_usd'])}, "
                f"more than the stored plan's fleet under the what-if commitments "
                f"({money(cheaper['cost_usd'])}): the what-if column is that fleet. Raise the solver "
                "time limit and press Re-solve for a better plan."
            )
            proposed = cheaper
    if proposed.get("reason"):
        st.caption(f"{proposed['status']}: {proposed['reason']}")
    st.caption(plan_window_note(problem))
    _compare_table(plan, proposed, (problem, what_if_problem))
    if plan.get("commitments") or proposed.get("commitments"):
        st.caption(COMMITMENT_COST_NOTE)
    st.dataframe(offering_rows(plan, proposed), hide_index=True, key="wi_offerings")
    render_commitments(proposed, "wi", what_if_problem)
    st.caption("How the what-if plan's cost splits")
    render_cost_split(proposed, what_if_problem, "wi")
    mixes = []
    for name, doc in (("stored plan", plan), ("what-if", proposed)):
        mix = mix_by_offering(plan_usage(problem, doc))
        mixes.append(mix.assign(plan=name))
    both = pd.concat(mixes, ignore_index=True)
    st.plotly_chart(
        px.bar(
            both,
            x="instance_type",
            y="cost_usd",
            color="capacity_type",
            category_orders=CAPACITY_ORDER,
            facet_col="plan",
            labels=chart_labels(both),
            # the bars are instance-hours x list price: with commitments neither plan's cost above
            title="Spend by type"
            + (
                " (list prices, before commitments)"
                if plan.get("commitments") or proposed.get("commitments")
                else ""
            ),
        ),
        key="wi_mix",
    )
    chosen = plans.loc[plans["id"] == plan_id].iloc[0]
    scope, dataset = str(chosen["scope"]), str(chosen["dataset"])
    environments = recommended_environments(what_if_problem, proposed, scope)
    if not environments.get("computeEnvironments"):
        return
    st.subheader("Replayed on recent history")
    replayed: WhatIfReplay | None = None
    if st.toggle(
        "Replay the recent jobs on the current configuration and on the what-if plan", key="wi_replay"
    ):
        try:
            settings = state.settings()
            region = (settings.aws.regions or [DEFAULT_REGION])[0]
            days = settings.optimization.history_days
            replayed = _replay(url, scope, dataset, days, region, what_if_problem, proposed)
        except UserError as exc:
            st.error(f"Cannot replay: {exc}")
    if replayed is not None:
        _render_spot_shares(replayed, what_if_problem.get("policy", {}).get("max_spot_share"))
        if "current configuration" not in replayed.summaries:
            st.caption("The current configuration of this scope is not in the store: the what-if plan only.")
        st.caption(replay_note(scope, state.settings().optimization.history_days, replayed.summaries))
        st.dataframe(summary_rows(replayed.summaries).astype(str), hide_index=True, key="wi_replay_table")
        environments = replayed.document
    title = "Compute environments for the what-if plan (CreateComputeEnvironment bodies)"
    with st.expander(
        title
        + (", spot cap fitted by the replay" if replayed and replayed.spot_cap_fitted is not None else "")
    ):
        st.json(environments)


def _render_spot_shares(replayed: WhatIfReplay, policy_share: float | None) -> None:
    """The plan's spot share of job vCPU-hours next to its replay's, and the spot CE's cap."""
    cols = st.columns(4)
    cols[0].metric(
        "Spot share, what-if plan", percent(replayed.plan_spot_share), help="Job vCPU-hours on spot"
    )
    cols[1].metric(
        "Spot share, replayed",
        percent(replayed.summaries["what-if plan"].get("spot_job_vcpu_share")),
        help="Job vCPU-hours the replay ran on spot, on the compute environments below",
    )
    cols[2].metric(
        "Max spot share (policy)", "none" if policy_share is None else percent(float(policy_share))
    )
    cap = replayed.spot_cap_fitted
    if cap == 0 and (replayed.plan_spot_share or 0.0) > 0.0:
        st.caption(NO_SPOT_FITS)
    cols[3].metric(
        "Spot CE maxvCpus",
        "no spot CE" if not replayed.has_spot_ce else "not capped" if cap is None else f"{cap:,}",
        help="Fitted by replay: the largest cap whose replay runs at most the plan's spot share "
        f"(estimated from the plan's hourly peaks: {replayed.spot_cap_estimated})",
    )


@st.cache_data(show_spinner="Replaying...", max_entries=8, ttl=3600)
def _replay(
    url: str, scope: str, dataset: str, days: int, region: str, problem: dict, plan: dict
) -> WhatIfReplay:
    """The what-if replay on the plan's own dataset; `region` prices it when the scope's queue is
    not in the store; the problem's commitments (the what-if level) cover both replays' on-demand
    hours and charge fees."""
    inputs = load_replay_inputs(engine_for(url), scope, days, default_region=region, dataset=dataset)
    committed = commitments_from_list(problem.get("commitments", []), "what-if problem")
    return what_if_replay(inputs, problem, plan, scope, commitments=committed)
