"""Collection completeness on the Runs and health page: what each source covered, every gap, and
the event messages kept unread. Reads through `optimizer.store.coverage_read` (the report uses the
same reader and the same sentence for a gap)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from optimizer.dashboard.columns import show_table
from optimizer.dashboard.queries import TTL_SECONDS
from optimizer.dashboard.state import engine_for
from optimizer.store import coverage_read


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def coverage(url: str) -> pd.DataFrame:
    return coverage_read.coverage_frame(engine_for(url))


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def gaps(url: str) -> pd.DataFrame:
    frame = coverage_read.gaps_frame(engine_for(url))
    if frame.empty:
        return frame
    return frame.assign(gap=[coverage_read.gap_sentence(r) for r in frame.to_dict("records")])


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def rejected(url: str) -> int:
    return coverage_read.rejected_count(engine_for(url))


def render_coverage(url: str) -> None:
    """The completeness block: gaps first (never silent), then the covered ranges."""
    st.subheader("Coverage")
    found = gaps(url)
    ranges = coverage(url)
    kept = rejected(url)
    cols = st.columns(3)
    cols[0].metric("Collection gaps", f"{len(found):,}")
    cols[1].metric("Covered ranges", f"{len(ranges):,}")
    cols[2].metric("Unreadable events kept", f"{kept:,}")
    if found.empty:
        st.success("No collection gap recorded.")
    else:
        for sentence in found["gap"]:
            st.warning(sentence)
        show_table(found.drop(columns=["gap"]), "health_gaps")
    if not ranges.empty:
        show_table(ranges, "health_coverage")
