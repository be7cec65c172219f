"""Recommendations: the list with savings, risk and confidence; a detail view with the evidence, the
exact proposed change (current vs proposed) and its change plan; dry-run, apply and roll back through
the same workflow as the CLI; dismiss with a reason."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import streamlit as st

from optimizer.config import Settings
from optimizer.dashboard import actions, queries, state
from optimizer.dashboard.auth import apply_disabled_reason, apply_gate
from optimizer.dashboard.components import money, no_data, percent, store_url
from optimizer.dashboard.diff import field_changes, unified_diff

STATUSES = ("open", "applied", "dismissed", "rolled-back")
OUTCOME_KEY = "rec_action_outcome"


def render() -> None:
    st.title("Recommendations")
    url = store_url()
    if url is None:
        return
    statuses = st.multiselect("Status", STATUSES, default=["open", "applied"], key="rec_status")
    listing = queries.recommendation_list(url, tuple(statuses))
    if listing.empty:
        saved = st.session_state.get(OUTCOME_KEY)
        if saved:
            _show_outcome(saved[0])
        no_data("no recommendation with these statuses", "batchopt recommend")
        return
    st.dataframe(
        listing.drop(columns=["id"]),
        hide_index=True,
        key="rec_table",
        column_config={
            "monthly_savings_usd": st.column_config.NumberColumn("Saving / month", format="dollar"),
            "confidence": st.column_config.ProgressColumn("Confidence", min_value=0.0, max_value=1.0),
        },
    )
    ids = listing["id"].tolist()
    saved = st.session_state.get(OUTCOME_KEY)
    if saved and saved[0] not in ids:  # e.g. just dismissed, and dismissed ones are filtered out
        _show_outcome(saved[0])
    labels = {r.id: f"{r.title} ({money(r.monthly_savings_usd)}/month)" for r in listing.itertuples()}
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
    cols[0].metric("Saving / month", money(rec["monthly_savings_usd"]))
    cols[1].metric("Risk", rec["risk_level"])
    cols[2].metric("Confidence", percent(rec["confidence"]))
    cols[3].metric("Update", rec["update_kind"])
    cols[4].metric("Status", rec["status"])
    st.caption(
        f"{rec['target_kind']} `{rec['target_arn']}` · strategy {rec['strategy']} · effort {rec['effort']}"
    )
    if rec.get("status_reason"):
        st.caption(f"Status reason: {rec['status_reason']}")

    st.subheader("Evidence")
    prices = ((rec["evidence"] or {}).get("replay") or {}).get("prices")
    if prices:
        estimated = "estimate" in prices
        (st.warning if estimated else st.caption)(
            f"Prices: {prices}"
            + (" (spot prices partly estimated from the Spot Advisor)" if estimated else "")
        )
    st.json(rec["evidence"] or {}, expanded=True)
    with st.expander("Risk detail"):
        st.json(rec["risk"] or {})

    st.subheader("Proposed change")
    changes = pd.DataFrame([c.__dict__ for c in field_changes(rec["current"], rec["proposed"])])
    st.dataframe(changes, hide_index=True, key="rec_changes")
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

    _actions(url, rec)
    history = queries.recommendation_history(url, rec_id)
    if not history.empty:
        st.subheader("History")
        st.dataframe(history, hide_index=True, key="rec_history")


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
    cols = st.columns(3)
    rec_id, status = rec["id"], rec["status"]
    cols[0].button(
        "Dry run",
        key="btn_dry_run",
        disabled=bool(disabled),
        help="Plan against the live resource and check; changes nothing",
        on_click=_act,
        args=(actions.dry_run, url, settings, rec_id, actor),
    )
    cols[1].button(
        "Apply",
        key="btn_apply",
        type="primary",
        disabled=not can_change or status != "open",
        on_click=_act,
        args=(actions.apply, url, settings, rec_id, actor),
    )
    cols[2].button(
        "Roll back",
        key="btn_rollback",
        disabled=not can_change or status != "applied",
        on_click=_act,
        args=(actions.rollback, url, settings, rec_id, actor),
    )
    _show_outcome(rec["id"])

    with st.form("dismiss_form", clear_on_submit=True):
        reason = st.text_input("Reason for dismissing", key="dismiss_reason")
        if st.form_submit_button("Dismiss", disabled=rec["status"] not in ("open", "rolled-back")):
            _remember(actions.dismiss(url, rec["id"], reason), rec["id"])
            st.rerun()


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
