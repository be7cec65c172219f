"""Utilization per compute environment and hour, and fragmentation.

Public API::

    hourly_utilization(instances, attempts, jobs, instance_types)  # one row per (hour, CE)
    fragmentation(instances, attempts, jobs, instance_types)       # one row per (hour, CE)

Definitions (hour buckets are UTC):
- capacity: instance-hours x the type's vCPUs / allocatable memory / GPUs, over each instance's life.
- allocated: attempt-hours x the job's requests (clipped to its instance's capacity).
- used: attempt-hours x the attempt's *peak* vCPUs and memory (`job_attempts.peak_*`), counted only
  for attempts whose usage is known; `allocated_known_*` is the matching allocation, so
  used/requested is `used / allocated_known` and never mixes known and unknown attempts. Peak is an
  upper bound of average usage, so used/requested is an upper bound too: right-sizing reads it as
  "at most this much was needed".
- fragmentation: free capacity (capacity - allocated, averaged over the hour on each instance) on
  instances where, in that hour, jobs of the queues served by the CE were waiting (created, not yet
  started) and not one of them fitted in the instance's free vCPUs, memory and GPUs at once. Free capacity
  while nothing waited is plain idle, not fragmentation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from optimizer.analysis.cost import NONE, attempts_with_jobs, capacity_of, instance_lifetimes
from optimizer.analysis.intervals import HOUR_SECONDS, bucket_to_datetime, split_by_bucket, to_seconds

UTILIZATION_COLUMNS = (
    "instance_hours",
    "capacity_vcpu_hours",
    "allocated_vcpu_hours",
    "allocated_known_vcpu_hours",
    "used_vcpu_hours",
    "capacity_memory_gib_hours",
    "allocated_memory_gib_hours",
    "allocated_known_memory_gib_hours",
    "used_memory_gib_hours",
    "capacity_gpu_hours",
    "allocated_gpu_hours",
)


def _placed_attempts(
    instances: pd.DataFrame, attempts: pd.DataFrame, jobs: pd.DataFrame, instance_types: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray, np.ndarray]:
    """Instances with lifetimes and capacity, and attempts placed on them with clipped intervals."""
    inst = instances.reset_index(drop=True).copy()
    start, end = instance_lifetimes(inst)
    cap = capacity_of(inst, instance_types).fillna(0.0)
    inst = pd.concat([inst, cap], axis=1)
    att = attempts_with_jobs(attempts, jobs)
    index = pd.Series(np.arange(len(inst)), index=inst["instance_id"].astype(object))
    index = index[~index.index.duplicated(keep="last")]
    pos = att["instance_id"].astype(object).map(index).to_numpy(dtype=np.float64)
    a_start = to_seconds(att["started_at"])
    keep = ~np.isnan(pos) & ~np.isnan(a_start)
    att = att[keep].reset_index(drop=True)
    pos = pos[keep].astype(np.int64)
    a_start = np.maximum(a_start[keep], start[pos])
    a_stop = to_seconds(att["stopped_at"])
    a_end = np.where(np.isnan(a_stop), end[pos], np.minimum(a_stop, end[pos]))
    att["instance_row"] = pos
    att["instance_ce"] = inst["compute_environment_arn"].astype(object).fillna(NONE).to_numpy()[pos]
    att["a_start"] = a_start
    att["a_end"] = np.maximum(a_end, a_start)
    inst["i_start"] = start
    inst["i_end"] = end
    return inst, att, start, end


def _attempt_hour_pieces(inst: pd.DataFrame, att: pd.DataFrame) -> pd.DataFrame:
    pieces = split_by_bucket(att["a_start"].to_numpy(), att["a_end"].to_numpy(), HOUR_SECONDS)
    hours = pieces.seconds / 3600.0
    src = pieces.source
    row = att["instance_row"].to_numpy()[src]
    v = np.minimum(np.nan_to_num(att["vcpus"].to_numpy(np.float64)[src]), inst["cap_vcpus"].to_numpy()[row])
    m = np.minimum(
        np.nan_to_num(att["memory_mib"].to_numpy(np.float64)[src]), inst["cap_memory_mib"].to_numpy()[row]
    )
    g = np.minimum(np.nan_to_num(att["gpus"].to_numpy(np.float64)[src]), inst["cap_gpus"].to_numpy()[row])
    uv = att["peak_vcpus"].to_numpy(np.float64)[src]
    um = att["peak_memory_mib"].to_numpy(np.float64)[src]
    known = ~(np.isnan(uv) | np.isnan(um))
    return pd.DataFrame(
        {
            "bucket": pieces.bucket,
            "instance_row": row,
            "allocated_vcpu_hours": v * hours,
            "allocated_memory_gib_hours": m / 1024.0 * hours,
            "allocated_gpu_hours": g * hours,
            "allocated_known_vcpu_hours": np.where(known, v * hours, 0.0),
            "allocated_known_memory_gib_hours": np.where(known, m / 1024.0 * hours, 0.0),
            "used_vcpu_hours": np.where(known, np.minimum(np.nan_to_num(uv), v) * hours, 0.0),
            "used_memory_gib_hours": np.where(known, np.minimum(np.nan_to_num(um), m) / 1024.0 * hours, 0.0),
        }
    )


def _instance_hour_pieces(inst: pd.DataFrame) -> pd.DataFrame:
    pieces = split_by_bucket(inst["i_start"].to_numpy(), inst["i_end"].to_numpy(), HOUR_SECONDS)
    hours = pieces.seconds / 3600.0
    src = pieces.source
    return pd.DataFrame(
        {
            "bucket": pieces.bucket,
            "instance_row": src,
            "instance_hours": hours,
            "capacity_vcpu_hours": inst["cap_vcpus"].to_numpy()[src] * hours,
            "capacity_memory_gib_hours": inst["cap_memory_mib"].to_numpy()[src] / 1024.0 * hours,
            "capacity_gpu_hours": inst["cap_gpus"].to_numpy()[src] * hours,
        }
    )


def _per_instance_hour(inst: pd.DataFrame, att: pd.DataFrame) -> pd.DataFrame:
    """Capacity and allocation per (instance, hour)."""
    cap = _instance_hour_pieces(inst)
    alloc = _attempt_hour_pieces(inst, att)
    keys = ["bucket", "instance_row"]
    alloc_sum = alloc.groupby(keys, sort=False).sum().reset_index()
    merged = cap.merge(alloc_sum, on=keys, how="left")
    return merged.fillna(0.0)


def hourly_utilization(
    instances: pd.DataFrame, attempts: pd.DataFrame, jobs: pd.DataFrame, instance_types: pd.DataFrame
) -> pd.DataFrame:
    """Capacity, allocated and used resource-hours per (hour, compute environment), with ratios."""
    inst, att, _, _ = _placed_attempts(instances, attempts, jobs, instance_types)
    per = _per_instance_hour(inst, att)
    ce = inst["compute_environment_arn"].astype(object).fillna(NONE).to_numpy()
    per["compute_environment_arn"] = ce[per["instance_row"].to_numpy(dtype=np.int64)]
    out = per.groupby(["bucket", "compute_environment_arn"], sort=True)[list(UTILIZATION_COLUMNS)].sum()
    out = out.reset_index()
    out.insert(0, "hour", bucket_to_datetime(out.pop("bucket").to_numpy(), HOUR_SECONDS))
    return add_ratios(out)


def add_ratios(frame: pd.DataFrame) -> pd.DataFrame:
    """allocated/capacity and used/requested ratios (NaN where the denominator is 0)."""
    out = frame.copy()

    def ratio(num: str, den: str) -> np.ndarray:
        d = out[den].to_numpy(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(d > 0, out[num].to_numpy(np.float64) / d, np.nan)

    out["vcpu_allocation"] = ratio("allocated_vcpu_hours", "capacity_vcpu_hours")
    out["memory_allocation"] = ratio("allocated_memory_gib_hours", "capacity_memory_gib_hours")
    out["vcpu_used_per_requested"] = ratio("used_vcpu_hours", "allocated_known_vcpu_hours")
    out["memory_used_per_requested"] = ratio("used_memory_gib_hours", "allocated_known_memory_gib_hours")
    return out


def fragmentation(
    instances: pd.DataFrame, attempts: pd.DataFrame, jobs: pd.DataFrame, instance_types: pd.DataFrame
) -> pd.DataFrame:
    """Free vCPU- and GiB-hours per (hour, CE) that waiting jobs could not use (see module doc)."""
    inst, att, _, _ = _placed_attempts(instances, attempts, jobs, instance_types)
    per = _per_instance_hour(inst, att)
    cols = ["hour", "compute_environment_arn", "free_vcpu_hours", "fragmented_vcpu_hours"]
    cols += ["free_memory_gib_hours", "fragmented_memory_gib_hours", "waiting_jobs"]
    if per.empty:
        return pd.DataFrame(columns=cols)
    ce = inst["compute_environment_arn"].astype(object).fillna(NONE).to_numpy()
    per["ce"] = ce[per["instance_row"].to_numpy(dtype=np.int64)]
    with np.errstate(divide="ignore", invalid="ignore"):
        hours = per["instance_hours"].to_numpy()
        per["free_vcpu"] = np.where(
            hours > 0, (per["capacity_vcpu_hours"] - per["allocated_vcpu_hours"]) / hours, 0.0
        )
        per["free_mem_gib"] = np.where(
            hours > 0, (per["capacity_memory_gib_hours"] - per["allocated_memory_gib_hours"]) / hours, 0.0
        )
        per["free_gpu"] = np.where(
            hours > 0, (per["capacity_gpu_hours"] - per["allocated_gpu_hours"]) / hours, 0.0
        )
    per["free_vcpu_hours"] = np.clip(per["free_vcpu"], 0, None) * hours
    per["free_memory_gib_hours"] = np.clip(per["free_mem_gib"], 0, None) * hours

    waiting = _waiting_per_ce_hour(att, jobs)
    per["fragmented"] = False
    per["waiting_jobs"] = 0
    for (bucket, ce_arn), group in per.groupby(["bucket", "ce"], sort=False):
        shapes = waiting.get((int(bucket), ce_arn))
        if shapes is None:
            continue
        fv = group["free_vcpu"].to_numpy()[:, None]
        fm = group["free_mem_gib"].to_numpy()[:, None]
        fg = group["free_gpu"].to_numpy()[:, None]
        fits = (
            (shapes[None, :, 0] <= fv + 1e-9)
            & (shapes[None, :, 1] / 1024.0 <= fm + 1e-9)
            & (shapes[None, :, 2] <= fg + 1e-9)
        ).any(axis=1)
        per.loc[group.index, "fragmented"] = ~fits
        per.loc[group.index, "waiting_jobs"] = len(shapes)
    per["fragmented_vcpu_hours"] = np.where(per["fragmented"], per["free_vcpu_hours"], 0.0)
    per["fragmented_memory_gib_hours"] = np.where(per["fragmented"], per["free_memory_gib_hours"], 0.0)
    out = (
        per.groupby(["bucket", "ce"], sort=True)
        .agg(
            free_vcpu_hours=("free_vcpu_hours", "sum"),
            fragmented_vcpu_hours=("fragmented_vcpu_hours", "sum"),
            free_memory_gib_hours=("free_memory_gib_hours", "sum"),
            fragmented_memory_gib_hours=("fragmented_memory_gib_hours", "sum"),
            waiting_jobs=("waiting_jobs", "max"),
        )
        .reset_index()
        .rename(columns={"ce": "compute_environment_arn"})
    )
    out.insert(0, "hour", bucket_to_datetime(out.pop("bucket").to_numpy(), HOUR_SECONDS))
    return out[cols]


def _waiting_per_ce_hour(att: pd.DataFrame, jobs: pd.DataFrame) -> dict[tuple[int, str], np.ndarray]:
    """(hour bucket, CE) -> array of (vcpus, memory_mib, gpus) of jobs waiting in that hour.

    A job waits from `created_at` to the start of its first attempt; it waits for the CEs its
    queue's attempts ran on (the queue -> CE mapping seen in the data).
    """
    if att.empty or "created_at" not in jobs.columns:
        return {}
    first = att.sort_values("a_start").drop_duplicates("job_id")
    j = first.merge(jobs[["job_id", "created_at"]].drop_duplicates("job_id"), on="job_id", how="left")
    created = to_seconds(j["created_at"])
    ok = ~np.isnan(created) & (created < j["a_start"].to_numpy())
    j = j[ok]
    if j.empty:
        return {}
    pieces = split_by_bucket(created[ok], j["a_start"].to_numpy(), HOUR_SECONDS)
    frame = pd.DataFrame(
        {
            "bucket": pieces.bucket,
            "queue": j["queue"].to_numpy(dtype=object)[pieces.source],
            "vcpus": np.nan_to_num(j["vcpus"].to_numpy(np.float64))[pieces.source],
            "memory_mib": np.nan_to_num(j["memory_mib"].to_numpy(np.float64))[pieces.source],
            "gpus": np.nan_to_num(j["gpus"].to_numpy(np.float64))[pieces.source],
        }
    )
    return _map_to_ces(frame, att)


def _map_to_ces(frame: pd.DataFrame, att: pd.DataFrame) -> dict[tuple[int, str], np.ndarray]:
    pairs = pd.DataFrame({"queue": att["queue"].astype(object), "ce": att["instance_ce"]}).drop_duplicates()
    merged = frame.merge(pairs, on="queue", how="inner")
    out: dict[tuple[int, str], np.ndarray] = {}
    for (bucket, ce), group in merged.groupby(["bucket", "ce"], sort=False):
        out[(int(bucket), str(ce))] = group[["vcpus", "memory_mib", "gpus"]].to_numpy(np.float64)
    return out
