"""Runs and health: collector runs and failures, collection coverage and gaps, model cards with their
backtest metrics, and the scheduled jobs with their next run times."""

from __future__ import annotations

import streamlit as st

from optimizer.dashboard import queries
from optimizer.dashboard.columns import column_config
from optimizer.dashboard.components import no_data, store_url
from optimizer.dashboard.coverage_view import render_coverage
from optimizer.dashboard.health_view import load_model_cards, model_card_rows

RECENT_RUNS = 200


def render() -> None:
    st.title("Runs and health")
    url = store_url()
    if url is None:
        return
    st.subheader("Collection")
    freshness = queries.data_freshness(url)
    if freshness.empty:
        no_data("no collector has run against this store", "batchopt collect")
    else:
        failed = int(freshness["failed_runs"].sum())
        cols = st.columns(3)
        cols[0].metric("Sources", f"{len(freshness):,}")
        cols[1].metric("Runs", f"{int(freshness['runs'].sum()):,}")
        cols[2].metric("Failed runs", f"{failed:,}")
        st.dataframe(
            freshness, hide_index=True, key="health_freshness", column_config=column_config(freshness)
        )
        failures = queries.recent_runs(url, RECENT_RUNS, only_failed=True)
        st.markdown("**Recent failures**")
        if failures.empty:
            st.success("No failed collector run.")
        else:
            st.dataframe(
                failures, hide_index=True, key="health_failures", column_config=column_config(failures)
            )
        with st.expander("Recent runs"):
            runs = queries.recent_runs(url, RECENT_RUNS)
            st.dataframe(runs, hide_index=True, key="health_runs", column_config=column_config(runs))
        render_coverage(url)

    st.subheader("Models")
    cards = load_model_cards()
    if not cards:
        no_data("no trained model in `models/`", "batchopt train")
    else:
        st.dataframe(model_card_rows(cards), hide_index=True, key="health_models")
        for card in cards:
            with st.expander(f"Model card: {card.get('name', card['_file'])}"):
                st.json({k: v for k, v in card.items() if not k.startswith("_")})

    st.subheader("Schedule")
    jobs = queries.scheduled_jobs(url)
    if jobs is None:
        no_data("no scheduler has used this store", "batchopt scheduler")
    elif jobs.empty:
        st.info("The scheduler's job store is empty.")
    else:
        st.dataframe(jobs, hide_index=True, key="health_schedule")
