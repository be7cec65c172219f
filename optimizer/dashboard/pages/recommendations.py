"""Recommendations: trade-offs first. The savings headline (the Overview's figure), then the list
sorted by saving with what each costs besides money (p95 wait of each affected queue, interruptions
per month, risk, effort) and whether it is in the headline; every status stays visible. The detail
puts the act buttons first (apply asks for confirmation showing the calls), then the evidence as a
before/after table with the model's calibration error (the JSON behind a toggle), the proposed
change and its change plan; dismiss with a reason, or reopen, behind the apply gate."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pandas as pd
import streamlit as st

from optimizer.config import Settings
from optimizer.dashboard import actions, queries, state
from optimizer.dashboard.auth import apply_disabled_reason, apply_gate
from optimizer.dashboard.columns import column_config, show_table
from optimizer.dashboard.components import money, no_data, percent, store_url
from optimizer.dashboard.diff import field_changes, unified_diff
from optimizer.dashboard.headline_view import headline_caption, savings_headline_for
from optimizer.dashboard.recommendation_view import (
    before_after_table,
    calibration_line,
    list_table,
    saving_basis,
)
from optimizer.domain import UpdateKind
from optimizer.recommend.repository import get_recommendation, list_recommendations

STATUSES = ("open", "applied", "dismissed", "rolled-back")
OUTCOME_KEY = "rec_action_outcome"
CONFIRM_KEY = "rec_confirm_apply"

#: Why commitment advice and the Fleet mix plans can disagree (a walk through the demo found the
#: advice buying more Savings Plan while every fleet plan left its share of today's one underused).
FLEET_PLANS_NOT_SIZED = (
    "The Fleet mix plans are not counted here: they are an unconstrained bound, not a"
    " recommendation; where they move more work to spot than the counted recommendations, applied"
    " they would leave even today's commitments partly unused (each plan's utilization is on the"
    " Fleet mix page)."
)


def render() -> None:
    st.title("Recommendations")
    url = store_url()
    if url is None:
        return
    headline = savings_headline_for(url)
    if headline.items:
        st.metric(
            "Identified savings, per month",
            money(headline.total_usd_per_month),
            help="The Overview's figure: open recommendations, each saving counted once, and not one "
            "overlapping an applied recommendation (its dollars are in the Overview's Applied)",
        )
        st.caption(headline_caption(headline))
    statuses = st.multiselect("Status", STATUSES, default=list(STATUSES), key="rec_status")
    stored = list_recommendations(state.engine_for(url), list(statuses)) if statuses else []
    listing = list_table(stored, headline)
    if listing.empty:
        saved = st.session_state.get(OUTCOME_KEY)
        if saved:
            _show_outcome(saved[0])
        stored_any = queries.stored_recommendations(url)
        if stored_any:
            st.info(
                f"None of the {stored_any:,} stored recommendations has the statuses chosen "
                f"({', '.join(statuses) or 'none'}): add a status above to see them."
            )
        else:
            no_data("no recommendation is stored", "batchopt recommend")
        return
    st.dataframe(
        listing.drop(columns=["id"]),
        hide_index=True,
        key="rec_table",
        column_config={"Title": st.column_config.TextColumn("Title", width="medium")},
    )
    ids = listing["id"].tolist()
    saved = st.session_state.get(OUTCOME_KEY)
    if saved and saved[0] not in ids:  # e.g. just dismissed, and dismissed ones are filtered out
        _show_outcome(saved[0])
    labels = {
        row["id"]: f"{row['Title']} ({row['Saving / month']}/month, {row['Status']})"
        for row in listing.to_dict("records")
    }
    wanted = st.query_params.get("id")
    index = ids.index(wanted) if wanted in ids else None
    rec_id = st.selectbox(
        "Open a recommendation",
        ids,
        index=index,
        format_func=labels.get,
        key="rec_open",
        placeholder="Choose",
    )
    if rec_id is None:
        return
    st.query_params["id"] = rec_id
    _detail(url, rec_id)


def _detail(url: str, rec_id: str) -> None:
    rec = queries.recommendation_row(url, rec_id)
    if rec is None:
        st.warning(f"Recommendation {rec_id} no longer exists.")
        return
    st.header(rec["title"])
    cols = st.columns(5)
    headline = savings_headline_for(url)
    verdict = headline.item(rec_id)
    shown = headline.monthly_savings_of(rec_id, rec["monthly_savings_usd"])
    cols[0].metric(
        "Saving / month",
        money(shown),
        help=saving_basis(rec["monthly_savings_usd"], shown, rec["evidence"]),
    )
    cols[1].metric("Risk", rec["risk_level"])
    cols[2].metric("Confidence", percent(rec["confidence"]))
    cols[3].metric("Update", rec["update_kind"])
    cols[4].metric("Status", rec["status"])
    st.caption(
        f"{rec['target_kind']} `{rec['target_arn']}` · strategy {rec['strategy']} · effort {rec['effort']}"
    )
    if rec.get("status_reason"):
        st.caption(f"Status reason: {rec['status_reason']}")
    stored = get_recommendation(state.engine_for(url), rec_id)
    st.caption(
        f"In the headline: {verdict.label() if verdict else rec['status']}. "
        f"Model error: {calibration_line(stored.recommendation)}."
    )
    _actions(url, rec)

    st.subheader("Evidence")
    sized_on = (rec["evidence"] or {}).get("sized_on")
    if sized_on:  # commitment advice: which on-demand usage the purchase is sized on
        st.info(f"Sized on {sized_on}. {FLEET_PLANS_NOT_SIZED}")
    table = before_after_table(rec["evidence"])
    if not table.empty:
        show_table(table, "rec_evidence_table")
    prices = ((rec["evidence"] or {}).get("replay") or {}).get("prices")
    if prices:
        estimated = "estimate" in prices
        (st.warning if estimated else st.caption)(
            f"Prices: {prices}"
            + (" (spot prices partly estimated from the Spot Advisor)" if estimated else "")
        )
    if st.toggle("Show the evidence as JSON", key="rec_evidence_json"):
        st.json(rec["evidence"] or {}, expanded=True)
    with st.expander("Risk detail"):
        st.json(rec["risk"] or {})

    st.subheader("Proposed change")
    changes = pd.DataFrame([c.__dict__ for c in field_changes(rec["current"], rec["proposed"])])
    st.dataframe(changes, hide_index=True, key="rec_changes", column_config=column_config(changes))
    st.code(unified_diff(rec["current"], rec["proposed"]) or "(no difference)", language="diff")

    st.subheader("Change plan")
    plan = queries.latest_change_plan(url, rec_id)
    if plan is None:
        st.caption("Not planned yet: a dry run plans it against the resource as Batch reports it now.")
    else:
        st.caption(
            f"Plan {plan['id']} ({plan['update_kind']}), planned {plan['created_at']:%Y-%m-%d %H:%M} UTC"
        )
        st.json({"calls": plan["calls"], "permissions": plan["permissions"]}, expanded=False)

    history = queries.recommendation_history(url, rec_id)
    if not history.empty:
        st.subheader("History")
        st.dataframe(history, hide_index=True, key="rec_history", column_config=column_config(history))


def _actions(url: str, rec: dict) -> None:
    st.subheader("Act")
    settings = state.settings()
    disabled = apply_disabled_reason(settings)
    if disabled:
        st.info(disabled)
    gate = apply_gate(settings) if not disabled else None
    if gate is not None and not gate.allowed:
        st.caption(gate.reason)
    actor = gate.actor if gate is not None else "dashboard"
    can_change = gate is not None and gate.allowed
    # Advice (a commitment to buy, an unmanaged CE's fleet) has no call to plan or apply.
    advice = rec["update_kind"] == UpdateKind.ADVICE.value
    if advice:
        st.caption("Advice only: nothing here is applied to AWS (a purchase or a change you make yourself).")
    cols = st.columns(3)
    rec_id, status = rec["id"], rec["status"]
    cols[0].button(
        "Dry run",
        key="btn_dry_run",
        disabled=bool(disabled) or advice,
        help="Plan against the live resource and check; changes nothing",
        on_click=_act,
        args=(actions.dry_run, url, settings, rec_id, actor),
    )
    cols[1].button(
        "Apply",
        key="btn_apply",
        type="primary",
        disabled=not can_change or status != "open" or advice,
        help="Shows the calls to confirm first",
        on_click=_ask_confirmation,
        args=(rec_id,),
    )
    cols[2].button(
        "Roll back",
        key="btn_rollback",
        disabled=not can_change or status != "applied" or advice,
        on_click=_act,
        args=(actions.rollback, url, settings, rec_id, actor),
    )
    if can_change and status == "open" and not advice and st.session_state.get(CONFIRM_KEY) == rec_id:
        _confirmation(url, settings, rec_id, actor)
    _show_outcome(rec["id"])

    # Dismissing and reopening are writes like an apply: the same gate, the same audit log.
    if status == "dismissed":
        st.button(
            "Reopen",
            key="btn_reopen",
            disabled=not can_change,
            help="Undo the dismissal; the audit log keeps both",
            on_click=_act,
            args=(actions.reopen, url, settings, rec_id, actor),
        )
        return
    with st.form("dismiss_form", clear_on_submit=True):
        reason = st.text_input("Reason for dismissing", key="dismiss_reason")
        if st.form_submit_button("Dismiss", disabled=not can_change or status not in ("open", "rolled-back")):
            _remember(actions.dismiss(url, settings, rec_id, reason, actor), rec_id)
            st.rerun()


def _ask_confirmation(rec_id: str) -> None:
    st.session_state[CONFIRM_KEY] = rec_id


def _cancel_confirmation() -> None:
    st.session_state.pop(CONFIRM_KEY, None)


def _confirmation(url: str, settings: Settings, rec_id: str, actor: str) -> None:
    """The calls an apply would make (the latest dry run's plan), and the button that makes them."""
    plan = queries.latest_change_plan(url, rec_id)
    box = st.container(border=True)
    if plan is None:
        box.warning("No plan yet: run a dry run first, then apply shows the calls it will make.")
        box.button("Cancel", key="btn_apply_cancel", on_click=_cancel_confirmation)
        return
    box.warning(f"Apply makes these {len(plan['calls'] or [])} call(s) to AWS, re-checked before each:")
    calls = pd.DataFrame(
        [
            {
                "Call": f"{c.get('service', '')}.{c.get('operation', '')}",
                "Parameters": json.dumps(c.get("params"), sort_keys=True, default=str),
            }
            for c in (plan["calls"] or [])
            if isinstance(c, dict)
        ]
    )
    box.dataframe(calls, hide_index=True, key="rec_confirm_calls")
    left, right = box.columns(2)
    left.button(
        "Confirm: make these calls",
        key="btn_apply_confirm",
        type="primary",
        on_click=_confirm_apply,
        args=(url, settings, rec_id, actor),
    )
    right.button("Cancel", key="btn_apply_cancel", on_click=_cancel_confirmation)


def _confirm_apply(url: str, settings: Settings, rec_id: str, actor: str) -> None:
    _cancel_confirmation()
    _remember(actions.apply(url, settings, rec_id, actor))


def _act(action: Callable[[str, Settings, str, str], actions.Outcome], *args: Any) -> None:
    """Button callback: runs before the page re-renders, so the plan and status shown are the new ones."""
    _remember(action(*args))


def _remember(outcome: actions.Outcome, rec_id: str | None = None) -> None:
    st.session_state[OUTCOME_KEY] = (rec_id or st.query_params.get("id"), outcome)
    st.cache_data.clear()


def _show_outcome(rec_id: str) -> None:
    saved = st.session_state.get(OUTCOME_KEY)
    if not saved or saved[0] != rec_id:
        return
    outcome = saved[1]
    (st.success if outcome.ok else st.error)(outcome.summary)
    if outcome.detail:
        st.code(outcome.detail, language="text")
