"""Hourly demand series per queue: the resources of the jobs *running* in each hour.

Demand is resource-hours per hour (= the average number of vCPUs, GiB or GPUs held by running jobs
in that hour), the same notion the solver's problem document uses (jobs running per bucket), so a
forecast can stand in for history there. A job runs from its start to its stop; for traces, the
start is submit + wait when the trace records the wait, else submit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from optimizer.analysis.intervals import HOUR_SECONDS, split_by_bucket, to_seconds

METRICS = ("vcpus", "memory_gib", "gpus")
ALL_QUEUES = "(all)"


def hourly_demand(
    start_s: np.ndarray,
    end_s: np.ndarray,
    queue: np.ndarray,
    vcpus: np.ndarray,
    memory_mib: np.ndarray,
    gpus: np.ndarray,
    *,
    with_total: bool = True,
) -> pd.DataFrame:
    """Wide frame: a complete hourly UTC index, columns (queue, metric); `(all)` sums the queues."""
    start_s = np.asarray(start_s, dtype=np.float64)
    end_s = np.asarray(end_s, dtype=np.float64)
    ok = ~(np.isnan(start_s) | np.isnan(end_s))
    start_s, end_s = start_s[ok], np.maximum(end_s[ok], start_s[ok])
    queue = np.asarray(queue, dtype=object)[ok]
    pieces = split_by_bucket(start_s, end_s, HOUR_SECONDS)
    frac = pieces.seconds / HOUR_SECONDS
    src = pieces.source
    long = pd.DataFrame(
        {
            "bucket": pieces.bucket,
            "queue": pd.Categorical(queue[src]),
            "vcpus": np.nan_to_num(np.asarray(vcpus, dtype=np.float64)[ok])[src] * frac,
            "memory_gib": np.nan_to_num(np.asarray(memory_mib, dtype=np.float64)[ok])[src] / 1024.0 * frac,
            "gpus": np.nan_to_num(np.asarray(gpus, dtype=np.float64)[ok])[src] * frac,
        }
    )
    if long.empty:
        return pd.DataFrame(columns=pd.MultiIndex.from_tuples([], names=["queue", "metric"]))
    wide = (
        long.groupby(["bucket", "queue"], observed=True)[list(METRICS)].sum().unstack("queue", fill_value=0.0)
    )
    wide = wide.swaplevel(0, 1, axis=1).sort_index(axis=1)
    wide.columns = wide.columns.set_names(["queue", "metric"])
    full = np.arange(long["bucket"].min(), long["bucket"].max() + 1)
    wide = wide.reindex(full, fill_value=0.0)
    if with_total:
        totals = wide.T.groupby(level="metric").sum().T
        totals.columns = pd.MultiIndex.from_product([[ALL_QUEUES], totals.columns], names=["queue", "metric"])
        wide = pd.concat([wide, totals], axis=1)
    wide.index = pd.to_datetime(wide.index.to_numpy() * HOUR_SECONDS, unit="s")
    wide.index.name = "hour"
    return wide


def demand_from_store_jobs(jobs: pd.DataFrame) -> pd.DataFrame:
    """Demand of store `jobs` rows (started_at -> stopped_at; unfinished jobs are left out)."""
    return hourly_demand(
        to_seconds(jobs["started_at"]),
        to_seconds(jobs["stopped_at"]),
        jobs["queue"].astype(object).fillna("(none)").to_numpy(),
        jobs["vcpus"].to_numpy(dtype=np.float64),
        pd.to_numeric(jobs["memory_mib"], errors="coerce").to_numpy(dtype=np.float64),
        pd.to_numeric(jobs["gpus"], errors="coerce").to_numpy(dtype=np.float64),
    )


def demand_from_trace(trace_jobs: pd.DataFrame, start_time: pd.Timestamp | None = None) -> pd.DataFrame:
    """Demand of a canonical trace frame (`optimizer.traces`): submit (+ wait) -> + runtime."""
    origin = pd.Timestamp(start_time or "1970-01-01").timestamp()
    wait = trace_jobs["wait_s"].fillna(0.0).to_numpy() if "wait_s" in trace_jobs else 0.0
    start = origin + trace_jobs["submit_s"].to_numpy(dtype=np.float64) + wait
    return hourly_demand(
        start,
        start + trace_jobs["runtime_s"].to_numpy(dtype=np.float64),
        trace_jobs["queue"].astype(object).to_numpy(),
        trace_jobs["vcpus"].to_numpy(dtype=np.float64),
        trace_jobs["memory_mib"].to_numpy(dtype=np.float64),
        trace_jobs["gpus"].to_numpy(dtype=np.float64),
    )
