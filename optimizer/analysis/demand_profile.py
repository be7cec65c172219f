"""Demand profile: jobs -> shapes (requests rounded up to a grid) x time buckets -> jobs running.

Input is the canonical jobs frame (`job_id, submit_s, runtime_s, vcpus, memory_mib, gpus, queue,
job_name, arch`; optional `start_s` and `spot_ok`). A job runs over [start, start + runtime), with
start = `start_s` when present, else `submit_s` (the demand an elastic fleet would have served
without queueing). The count for (shape, bucket) is the PEAK number of that shape's jobs running at
once during the bucket, since capacity held for a bucket must host its busiest moment.

Vectorised: one lexsort of 2N start/end events, a cumulative sum, and a group-by; a million jobs
take a few seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from optimizer.errors import InputError

REQUIRED_COLUMNS = ("job_id", "submit_s", "runtime_s", "vcpus", "memory_mib", "gpus", "arch")
#: The architecture a job that does not state one is planned on: Batch's job records do not say
#: which architecture ran a job, and an image is x86_64-only unless built otherwise.
DEFAULT_JOB_ARCH = "x86_64"


@dataclass(frozen=True)
class ShapeGrid:
    """Allowed request values; a request is rounded up to the next one (beyond the last: kept, ceiled)."""

    vcpus: Sequence[float] = (1, 2, 4, 8, 16, 32, 48, 64, 96, 128, 192)
    memory_mib: Sequence[float] = (
        1024,
        2048,
        4096,
        8192,
        16384,
        32768,
        65536,
        131072,
        262144,
        524288,
        1048576,
    )


def round_up_to_grid(values: np.ndarray, grid: Sequence[float]) -> np.ndarray:
    points = np.asarray(sorted(grid), dtype=float)
    idx = np.searchsorted(points, values - 1e-9, side="left")
    beyond = idx >= len(points)
    out = points[np.minimum(idx, len(points) - 1)]
    return np.where(beyond, np.ceil(values), out)


@dataclass(frozen=True)
class DemandProfile:
    shapes: pd.DataFrame  # shape_id, vcpus, memory_mib, gpus, arch, spot_ok, jobs, job_hours
    counts: np.ndarray  # (S, T) int64, peak concurrent jobs of each shape per bucket
    bucket_seconds: float
    start_s: float

    @property
    def n_buckets(self) -> int:
        return int(self.counts.shape[1])


def _check(jobs: pd.DataFrame) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in jobs.columns]
    if missing:
        raise InputError(f"jobs: missing column(s) {', '.join(missing)}")
    for col in ("submit_s", "runtime_s", "vcpus", "memory_mib", "gpus"):
        values = pd.to_numeric(jobs[col], errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(values) | (values < 0)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise InputError(
                f"jobs row {row} (job {jobs['job_id'].iloc[row]}): field {col!r}: not a number >= 0"
            )


def shape_id(vcpus: float, memory_mib: float, gpus: int, arch: str | None, spot_ok: bool) -> str:
    v = f"{vcpus:g}"
    return f"v{v}-m{int(memory_mib)}-g{int(gpus)}-{arch or 'any'}" + ("" if spot_ok else "-od")


def assign_shapes(
    jobs: pd.DataFrame, grid: ShapeGrid = ShapeGrid(), default_arch: str | None = DEFAULT_JOB_ARCH
) -> pd.DataFrame:
    """The jobs with `shape_vcpus, shape_memory_mib, shape_gpus, shape_arch, shape_spot_ok, shape_id`."""
    _check(jobs)
    grid = grid or ShapeGrid()
    out = jobs.copy()
    vcpus = np.maximum(out["vcpus"].to_numpy(dtype=float), 1e-9)
    out["shape_vcpus"] = round_up_to_grid(vcpus, grid.vcpus)
    out["shape_memory_mib"] = round_up_to_grid(
        np.maximum(out["memory_mib"].to_numpy(dtype=float), 1.0), grid.memory_mib
    )
    out["shape_gpus"] = np.ceil(out["gpus"].to_numpy(dtype=float)).astype(np.int64)
    arch = out["arch"].astype(object).where(out["arch"].notna(), default_arch)
    out["shape_arch"] = arch
    out["shape_spot_ok"] = out["spot_ok"].astype(bool) if "spot_ok" in out.columns else True
    key_cols = ["shape_vcpus", "shape_memory_mib", "shape_gpus", "shape_arch", "shape_spot_ok"]
    keyed = out[key_cols].assign(shape_arch=out["shape_arch"].fillna("any"))
    groups = keyed.groupby(key_cols, sort=False)
    codes = groups.ngroup().to_numpy()
    keys = groups.size().index
    names = [shape_id(v, m, g, None if a == "any" else a, bool(ok)) for v, m, g, a, ok in keys]
    out["shape_id"] = np.array(names, dtype=object)[codes]
    return out


def overlap_hours(
    a: np.ndarray,
    b: np.ndarray,
    code: np.ndarray,
    n_shapes: int,
    *,
    w0: float,
    n_buckets: int,
    bucket_seconds: float,
) -> np.ndarray:
    """(n_shapes, n_buckets) hours the intervals [a, b) of each code run inside each bucket starting
    at `w0`, summed over the intervals: a 20-minute interval adds 1/3 to its bucket. Never above
    `peak_counts` x bucket hours, since at no instant more intervals than the peak run."""
    out = np.zeros((n_shapes, n_buckets), dtype=float)
    a = np.asarray(a, dtype=float)
    b = np.maximum(np.asarray(b, dtype=float), a)
    live = b > a
    a, b, code = a[live], b[live], np.asarray(code)[live]
    if not len(a):
        return out
    first = np.clip(np.floor((a - w0) / bucket_seconds).astype(np.int64), 0, n_buckets - 1)
    last = np.clip(np.ceil((b - w0) / bucket_seconds).astype(np.int64) - 1, first, n_buckets - 1)
    pieces = last - first + 1
    source = np.repeat(np.arange(len(a)), pieces)
    bucket = first[source] + (np.arange(len(source)) - np.repeat(np.cumsum(pieces) - pieces, pieces))
    start = np.maximum(a[source], w0 + bucket * bucket_seconds)
    end = np.minimum(b[source], w0 + (bucket + 1) * bucket_seconds)
    np.add.at(out, (code[source], bucket), np.maximum(end - start, 0.0) / 3600.0)
    return out


def peak_counts(
    a: np.ndarray,
    b: np.ndarray,
    code: np.ndarray,
    n_shapes: int,
    *,
    w0: float,
    n_buckets: int,
    bucket_seconds: float,
) -> np.ndarray:
    """(n_shapes, n_buckets) peak number of intervals [a, b) of each code running at once per bucket
    starting at `w0`; the one counting rule the demand profile and the gang profile share."""
    counts = np.zeros((n_shapes, n_buckets), dtype=np.int64)
    if not len(a):
        return counts
    times = np.concatenate([a, b])
    delta = np.concatenate([np.ones(len(a), dtype=np.int64), -np.ones(len(b), dtype=np.int64)])
    shape = np.concatenate([code, code])
    order = np.lexsort((delta, times, shape))  # per shape, by time, ends before starts on ties
    times, delta, shape = times[order], delta[order], shape[order]
    level = np.cumsum(delta)  # each shape's deltas sum to 0, so the running sum is per shape
    # Only the level after the last event at an instant is real (jobs ending then are gone).
    final = np.r_[(shape[1:] != shape[:-1]) | (times[1:] != times[:-1]), True]
    times, shape, level = times[final], shape[final], level[final]
    bucket = np.minimum(((times - w0) // bucket_seconds).astype(np.int64), n_buckets)
    at_start = np.abs(times - (w0 + bucket * bucket_seconds)) < 1e-9
    frame = pd.DataFrame({"s": shape, "t": bucket, "level": level, "at_start": at_start})
    groups = frame.groupby(["s", "t"], sort=True)
    peak = groups["level"].max()
    last = groups["level"].last()
    starts_with_event = groups["at_start"].any()
    s_idx = peak.index.get_level_values(0).to_numpy()
    t_idx = peak.index.get_level_values(1).to_numpy()
    inside = t_idx < n_buckets
    dense_peak = np.zeros((n_shapes, n_buckets + 1), dtype=np.int64)
    dense_peak[s_idx[inside], t_idx[inside]] = peak.to_numpy()[inside]
    # Level carried into a bucket = level after the last event of an earlier bucket.
    carried = np.full((n_shapes, n_buckets + 1), np.nan)
    carried[last.index.get_level_values(0), last.index.get_level_values(1) + 0] = last.to_numpy()
    carried = pd.DataFrame(carried).T.ffill().T.to_numpy()  # forward fill along buckets
    start_level = np.zeros((n_shapes, n_buckets + 1))
    start_level[:, 1:] = np.nan_to_num(carried[:, :-1], nan=0.0)
    # Events at the very start of a bucket replace the carried level at that instant (a job
    # ending exactly at the boundary does not run in the next bucket); their levels are in `peak`.
    hit = starts_with_event.to_numpy()
    start_level[s_idx[hit], t_idx[hit]] = 0
    counts = np.maximum(dense_peak, start_level.astype(np.int64))[:, :n_buckets]
    return counts


def demand_profile(
    jobs: pd.DataFrame,
    *,
    bucket_seconds: float = 3600.0,
    start_s: float | None = None,
    end_s: float | None = None,
    grid: ShapeGrid | None = None,
    default_arch: str | None = DEFAULT_JOB_ARCH,
) -> DemandProfile:
    """Peak running jobs per shape and bucket over [start_s, end_s) (default: the jobs' span)."""
    if bucket_seconds <= 0:
        raise InputError("bucket_seconds: must be > 0")
    shaped = assign_shapes(jobs, grid, default_arch)
    begin = (shaped["start_s"] if "start_s" in shaped.columns else shaped["submit_s"]).to_numpy(dtype=float)
    finish = begin + shaped["runtime_s"].to_numpy(dtype=float)
    w0 = float(begin.min()) if start_s is None and len(begin) else float(start_s or 0.0)
    w1 = float(finish.max()) if end_s is None and len(finish) else float(end_s if end_s is not None else w0)
    n_buckets = max(1, int(np.ceil((w1 - w0) / bucket_seconds - 1e-9)))
    w1 = w0 + n_buckets * bucket_seconds
    a = np.clip(begin, w0, w1)
    b = np.clip(finish, w0, w1)
    live = b > a
    # Only shapes with a job running in the window: others would be all-zero rows.
    shaped = shaped.loc[live]
    a, b = a[live], b[live]
    code, uniques = pd.factorize(shaped["shape_id"], sort=True)
    n_shapes = len(uniques)
    counts = peak_counts(a, b, code, n_shapes, w0=w0, n_buckets=n_buckets, bucket_seconds=bucket_seconds)
    hours = (b - a) / 3600.0
    first = shaped.groupby("shape_id", sort=True).first()
    shapes = pd.DataFrame(
        {
            "shape_id": list(uniques),
            "vcpus": first.loc[list(uniques), "shape_vcpus"].to_numpy(dtype=float),
            "memory_mib": first.loc[list(uniques), "shape_memory_mib"].to_numpy(dtype=float),
            "gpus": first.loc[list(uniques), "shape_gpus"].to_numpy(dtype=np.int64),
            "arch": first.loc[list(uniques), "shape_arch"].to_numpy(dtype=object),
            "spot_ok": first.loc[list(uniques), "shape_spot_ok"].to_numpy(dtype=bool),
            "jobs": np.bincount(code, minlength=n_shapes),
            "job_hours": np.bincount(code, weights=hours, minlength=n_shapes),
        }
    )
    return DemandProfile(shapes=shapes, counts=counts, bucket_seconds=float(bucket_seconds), start_s=w0)
