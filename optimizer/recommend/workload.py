"""Workload measurements strategies share (pure pandas/numpy): concurrency, runtimes, retry tolerance."""

from __future__ import annotations

import fnmatch
from typing import Any

import numpy as np
import pandas as pd

from optimizer.catalog.interruptions import HOURS_PER_MONTH

__all__ = ["HOURS_PER_MONTH"]


def ran(jobs: pd.DataFrame) -> pd.DataFrame:
    """Jobs that started and stopped (the ones with a measured runtime)."""
    if jobs.empty:
        return jobs
    return jobs[jobs["started_at"].notna() & jobs["stopped_at"].notna()]


def runtimes_s(jobs: pd.DataFrame) -> np.ndarray:
    done = ran(jobs)
    if done.empty:
        return np.zeros(0)
    delta = pd.to_datetime(done["stopped_at"]) - pd.to_datetime(done["started_at"])
    return delta.dt.total_seconds().clip(lower=0).to_numpy(np.float64)


def concurrency_steps(jobs: pd.DataFrame, column: str = "vcpus") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The step function of `column` summed over running jobs: (start s, duration s, level) of each
    step, seconds counted from the first start."""
    done = ran(jobs)
    if done.empty:
        return np.zeros(0), np.zeros(0), np.zeros(0)
    origin = pd.Timestamp(pd.to_datetime(done["started_at"]).min())
    start = (pd.to_datetime(done["started_at"]) - origin).dt.total_seconds().to_numpy(np.float64)
    stop = (pd.to_datetime(done["stopped_at"]) - origin).dt.total_seconds().to_numpy(np.float64)
    amount = pd.to_numeric(done[column], errors="coerce").fillna(0).to_numpy(np.float64)
    times = np.concatenate([start, stop])
    deltas = np.concatenate([amount, -amount])
    order = np.lexsort((deltas, times))  # ends before starts at the same instant
    times, deltas = times[order], deltas[order]
    levels = np.cumsum(deltas)[:-1]
    durations = np.diff(times)
    keep = durations > 0
    return times[:-1][keep], durations[keep], np.maximum(levels[keep], 0.0)


def concurrency(jobs: pd.DataFrame, column: str = "vcpus") -> tuple[np.ndarray, np.ndarray]:
    """(durations s, levels) of the step function (see `concurrency_steps`)."""
    _, durations, levels = concurrency_steps(jobs, column)
    return durations, levels


def bucket_means(
    starts: np.ndarray, durations: np.ndarray, levels: np.ndarray, *, max_points: int = 744
) -> dict[str, Any]:
    """Chart data: the time-weighted mean level per hour (per day when that makes too many points)."""
    if len(levels) == 0:
        return {"bucket_seconds": 3600, "mean": []}
    end = float(starts[-1] + durations[-1])
    bucket = 3600.0 if end / 3600.0 <= max_points else 86400.0
    # Steps are contiguous from 0, so the area under them is piecewise linear between step ends:
    # interpolate it at the bucket edges and difference.
    x = np.concatenate([[0.0], starts + durations])
    y = np.concatenate([[0.0], np.cumsum(durations * levels)])
    edges = np.arange(0.0, end + bucket, bucket)
    means = np.diff(np.interp(edges, x, y)) / bucket
    return {"bucket_seconds": int(bucket), "mean": [round(float(v), 3) for v in means[:max_points]]}


def histogram(values: np.ndarray, bins: int = 20) -> dict[str, list[float]]:
    """Chart data: counts per equal-width bin."""
    clean = values[np.isfinite(values)]
    if len(clean) == 0:
        return {"edges": [], "counts": []}
    counts, edges = np.histogram(clean, bins=bins)
    return {"edges": [round(float(e), 3) for e in edges], "counts": [int(c) for c in counts]}


def time_weighted_quantile(durations: np.ndarray, levels: np.ndarray, q: float) -> float:
    """The level the step function stays at or below for a share `q` of the time."""
    if len(levels) == 0:
        return 0.0
    order = np.argsort(levels, kind="stable")
    cum = np.cumsum(durations[order])
    k = int(np.searchsorted(cum, q * cum[-1], side="left"))
    return float(levels[order][min(k, len(levels) - 1)])


def _retry_attempts(strategy: Any) -> int:
    if isinstance(strategy, dict):
        try:
            return int(strategy.get("attempts") or 1)
        except (TypeError, ValueError):
            return 1
    return 1


def retries_host_loss(strategy: Any) -> bool:
    """True when a retry strategy re-runs a job whose host was reclaimed ("Host EC2*").

    With `evaluateOnExit`, Batch retries only on a matching RETRY rule (the first matching rule
    wins); without it, any attempt count above one retries everything, reclaims included.
    """
    attempts = _retry_attempts(strategy)
    if attempts <= 1:
        return False
    rules = strategy.get("evaluateOnExit") if isinstance(strategy, dict) else None
    if not rules:
        return True
    sample = "Host EC2 (instance i-0123456789abcdef0) terminated."
    for rule in rules:
        pattern = rule.get("onStatusReason")
        if pattern is None and (rule.get("onReason") or rule.get("onExitCode")):
            continue  # a rule on exit codes or container reasons does not see a host loss
        if pattern is None or fnmatch.fnmatchcase(sample, pattern):
            return str(rule.get("action", "")).upper() == "RETRY"
    return False


def tolerant_share(jobs: pd.DataFrame) -> float:
    """The share of jobs whose retry strategy re-runs them after a spot reclaim."""
    if jobs.empty:
        return 0.0
    column = jobs["retry_strategy"] if "retry_strategy" in jobs else pd.Series([None] * len(jobs))
    return float(np.mean([retries_host_loss(s) for s in column]))


def has_multinode(jobs: pd.DataFrame) -> bool:
    if jobs.empty:
        return False
    flags = jobs["is_multinode"] if "is_multinode" in jobs else pd.Series(False, index=jobs.index)
    nodes = pd.to_numeric(jobs["node_count"], errors="coerce") if "node_count" in jobs else None
    return bool(flags.fillna(False).astype(bool).any() or (nodes is not None and (nodes > 1).any()))


def expected_lost_share(runtimes: np.ndarray, hourly_rate: float) -> float:
    """Expected share of work re-run on spot: a reclaim during a job loses on average half of it.

    Per job, P(reclaim) ~ 1 - exp(-rate x runtime) and the loss is runtime / 2, so the share is
    sum(p x runtime / 2) / sum(runtime). Long jobs dominate, which is what makes them unsuited.
    """
    total = float(runtimes.sum())
    if total <= 0:
        return 0.0
    hours = runtimes / 3600.0
    p = 1.0 - np.exp(-hourly_rate * hours)
    return float((p * runtimes / 2.0).sum() / total)
