"""The savings headline as the pages show it: `optimizer.recommend.headline` read from the store.

Overview and Recommendations both call `savings_headline_for`, so they show the figure the demo
summary, the weekly report and `batchopt recommend --json` print. Cached like `queries.py`, and
cleared by the Recommendations page's actions (`clear_cache`), so a dismissed or rolled-back item
moves out of the headline at once.
"""

from __future__ import annotations

import streamlit as st

from optimizer.dashboard.queries import TTL_SECONDS
from optimizer.dashboard.state import engine_for
from optimizer.recommend.calibration import describe
from optimizer.recommend.headline import SavingsHeadline, stored_headline


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def savings_headline_for(url: str) -> SavingsHeadline:
    return stored_headline(engine_for(url))


def clear_cache() -> None:
    savings_headline_for.clear()


def headline_caption(headline: SavingsHeadline) -> str:
    """What is in the figure and what is left out, in one line under it."""
    left_out = []
    within = headline.by_verdict("within model error")
    overlapping = headline.by_verdict("overlaps")
    costs = headline.by_verdict("costs money")
    if within:
        left_out.append(f"{len(within)} within the model's error")
    if overlapping:
        left_out.append(f"{len(overlapping)} overlapping a larger one")
    if costs:
        left_out.append(f"{len(costs)} faster but costing {_usd(headline.costs_money_usd_per_month)}/month")
    calibrated = next((i.calibration for i in headline.items if i.calibration is not None), None)
    text = f"{len(headline.by_verdict('counted'))} open recommendation(s) counted once"
    if left_out:
        text += "; not counted: " + ", ".join(left_out)
    return text + f". Model: {describe(calibrated)}."


def _usd(value: float) -> str:
    return f"${value:,.2f}"
