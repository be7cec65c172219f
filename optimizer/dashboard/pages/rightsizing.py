"""Right-sizing: per job definition, what jobs request against what they use, OOM kills, and the
recommended request with its risk (from the right-sizing recommendations)."""

from __future__ import annotations

import json

import pandas as pd
import plotly.express as px
import streamlit as st

from optimizer.dashboard import queries, state
from optimizer.dashboard.columns import chart_labels, show_table
from optimizer.dashboard.components import no_data, percent, store_url
from optimizer.solver.policy import policy_from_settings
from optimizer.store.schema import COLLECTED_DATASET

EVIDENCE_COLUMNS = [
    "name_pattern",
    "attempts",
    "attempts_with_usage",
    "requested_memory_mib",
    "peak_memory_mib_p50",
    "peak_memory_mib_p95",
    "peak_memory_mib_p99",
    "peak_memory_mib_max",
    "requested_vcpus",
    "peak_vcpus_p50",
    "peak_vcpus_p95",
    "oom_kills",
    "oom_rate",
    "cliff_type",
    "cliff_allocatable_mib",
    "cliff_fits_p99",
]

#: The evidence's requests are each pattern's median (`analysis.rightsizing`); the summary above
#: shows means, so each table names its statistic.
MEDIAN_REQUESTS = {
    "requested_memory_mib": "median_requested_memory_mib",
    "requested_vcpus": "median_requested_vcpus",
}


def render() -> None:
    st.title("Right-sizing")
    url = store_url()
    if url is None:
        return
    datasets = queries.job_datasets(url)
    if not datasets:
        no_data("no jobs are stored", "batchopt collect")
        return
    default = datasets.index(COLLECTED_DATASET) if COLLECTED_DATASET in datasets else 0
    dataset = st.selectbox("Job history", datasets, index=default, key="rs_dataset")
    days = state.settings().optimization.history_days
    window = queries.recent_window(url, dataset, days)
    if window is None:
        no_data("no jobs are stored for this history", "batchopt collect")
        return
    since, last = window
    st.caption(
        f"Jobs created in the {days} days up to {last:%Y-%m-%d %H:%M} UTC (optimization.history_days)."
    )
    summary = queries.rightsizing_summary(url, dataset, since)
    if summary.empty:
        no_data("no job attempts are stored for this history", "batchopt collect")
        return
    show_table(summary, "rs_summary")

    names = [str(n) for n in summary["job_definition_name"].dropna()]
    if not names:
        return
    name = st.selectbox("Job definition", names, key="rs_definition")
    requirements = policy_from_settings(state.settings().optimization).instance_requirements
    evidence = queries.definition_evidence(url, dataset, name, since, requirements)
    if evidence.empty:
        no_data("no attempts of this definition", "batchopt collect")
        return
    overall = evidence[evidence["name_pattern"] == "*"].iloc[0]
    cols = st.columns(4)
    cols[0].metric("Attempts", f"{int(overall['attempts']):,}")
    cols[1].metric("Out-of-memory kills", f"{int(overall['oom_kills']):,}")
    per_attempt = (
        "p95 over attempts of each attempt's peak divided by its own request; the table's p95 peak "
        "over the median request mixes jobs that ask for different sizes"
    )
    cols[2].metric(
        "Memory peak / request, p95", percent(overall["memory_p95_per_requested"]), help=per_attempt
    )
    cols[3].metric("vCPU peak / request, p95", percent(overall["vcpu_p95_per_requested"]), help=per_attempt)
    if isinstance(overall["cliff_type"], str):
        fits = "the observed p99 peak fits under it" if overall["cliff_fits_p99"] else "p99 peak does not fit"
        st.caption(
            f"The median request sits just above what a {overall['cliff_type']} can allocate "
            f"({overall['cliff_allocatable_mib']:,.0f} MiB); {fits}. Only types the policy's instance"
            f" requirements let these jobs use are named ({requirements.describe()})."
        )
    shown = [c for c in EVIDENCE_COLUMNS if c in evidence.columns]
    show_table(evidence[shown].rename(columns=MEDIAN_REQUESTS), "rs_evidence")

    histogram = queries.usage_ratio_histogram(url, dataset, name, since)
    if histogram.empty:
        st.info("No usage samples for this definition: the distributions need Container Insights data.")
    else:
        chart = px.bar(
            histogram,
            x="ratio_from",
            y="attempts",
            facet_col="resource",
            labels=chart_labels(histogram),
            title="Peak use as a fraction of the request (2.0 = twice the request or more)",
        )
        st.plotly_chart(chart, key="rs_histogram")

    st.subheader("Recommended request")
    recs = queries.recommendations_for_target_kind(url, "job-definition")
    mine = recs[recs["target_name"] == name] if not recs.empty else recs
    if mine.empty:
        if queries.stored_recommendations(url):
            st.info(
                "`batchopt recommend` proposes no new request for this definition. It keeps one only "
                "when replaying the history with the new request saves at least the strategy's "
                "minimum per month, unblocks jobs no instance type could host, or raises memory "
                "after out-of-memory kills, and when the cut is at least the strategy's smallest "
                "(`[recommend.job-definition-rightsizing]` settings); the evidence above is what it "
                "weighed."
            )
        else:
            no_data("no right-sizing recommendation for this definition", "batchopt recommend")
        return
    for rec in mine.itertuples(index=False):
        st.markdown(f"**{rec.title}** ({rec.status}; risk {rec.risk_level}, confidence {rec.confidence:.0%})")
        table = pd.DataFrame({"current": pd.Series(rec.current), "proposed": pd.Series(rec.proposed)})
        st.dataframe(table.astype(str), key=f"rs_rec_{rec.id}")
        st.caption("Risk: " + json.dumps(rec.risk, sort_keys=True, default=str))
