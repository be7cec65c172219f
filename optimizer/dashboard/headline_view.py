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
from optimizer.recommend.headline import SavingsHeadline, stored_headline


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def savings_headline_for(url: str) -> SavingsHeadline:
    return stored_headline(engine_for(url))


def clear_cache() -> None:
    savings_headline_for.clear()


def headline_caption(headline: SavingsHeadline) -> str:
    """What is in the figure and what is left out, in one line under it."""
    return headline.describe()
