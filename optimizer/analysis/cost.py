"""Cost attribution: what each instance cost, which job attempts used it, and what sat idle.

Public API (used by `batchopt analyze`, the dashboard and the weekly report)::

    result = attribute_costs(instances, attempts, jobs, instance_types, ondemand, spot_prices)
    result.instances   # one row per instance: lifetime, total/attributed/idle USD, price source
    result.attempts    # one row per job attempt: share, cost, outcome, over-requested USD, dims
    result.lines       # the books: one row per (attempt, UTC day) and per (instance, UTC day) of idle

All inputs are DataFrames with the store's column names (`instances`, `job_attempts`, `jobs`,
`instance_types`, `ondemand_prices` or `catalog_frame`, `spot_prices`).

Rules, stated once:

- Lifetime: from `launch_time` (else `first_seen`) to `terminated_at` (else `last_seen`), clipped
  to the optional [since, until) window. Cost = the integral of the instance's price function over
  it (see `pricing.py` for spot series and the flagged fallbacks).
- Weighting: an attempt's share of its instance is the weighted mean of its requested fractions
  of the instance's vCPUs, allocatable memory and GPUs: `(wv*v/V + wm*m/M + wg*g/G) / (wv+wm+wg)`,
  the GPU term only on GPU instances. Default weights vCPU 1, memory 1, GPU 8: on a CPU instance
  vCPU and memory split the price evenly; on a GPU instance the GPUs carry 80% of it, close to
  the GPU premium in EC2 prices (a p3.2xlarge costs ~8x an m5.2xlarge with the same vCPUs).
  Requests above capacity are clipped to it.
- An attempt pays share x the instance's cost over the time it ran on it (its own spot prices).
  A multi-node parallel node attempt's share is 1: Batch gives each node an instance of its own
  (`multinode.py` also rolls node costs up to the MNP job).
- Books balance per instance and UTC day: if concurrent requests exceed the instance (bad data,
  clock skew), that day's attempt costs are scaled down to the instance's cost for the day;
  idle = instance cost - attributed cost, so attributed + idle = total exactly, to the cent.
- Outcomes and waste classes (no USD is counted in two classes):
  `spot_reclaim` (is_spot_reclaim) > `oom` (is_oom) > `failed` (stopped with a non-zero or no
  exit code) > `succeeded` (exit code 0) / `running` (not stopped). An attempt that did not
  succeed wastes its whole cost in its class; a succeeded or running one wastes the part of its
  cost paying for requested-but-unused resources (`over_requested_usd`, from peak usage, the
  same weights; 0 when usage is unknown). Idle cost is its own class.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from optimizer.analysis.intervals import DAY_SECONDS, bucket_to_datetime, split_by_bucket, to_seconds
from optimizer.analysis.multinode import whole_instance_shares
from optimizer.analysis.pricing import build_rate_book

IDLE = "(idle)"
NONE = "(none)"
OUTCOMES = ("succeeded", "running", "failed", "oom", "spot_reclaim")
WASTE_COLUMNS = ("idle_usd", "over_requested_usd", "spot_reclaim_usd", "failed_usd", "oom_usd")
#: How every page, report and chart names each waste class: the dashboard said "idle capacity" and
#: "over-requested" where the weekly report said "Idle instances" and "Requested but unused".
WASTE_LABELS: dict[str, str] = {
    "idle_usd": "Idle instances",
    "over_requested_usd": "Requested but unused",
    "spot_reclaim_usd": "Lost to spot reclaims",
    "failed_usd": "Failed attempts",
    "oom_usd": "Out-of-memory attempts",
}
MONEY_COLUMNS = ("total_usd", "attributed_usd", *WASTE_COLUMNS)
INSTANCE_DIMS = (
    "instance_id",
    "account_id",
    "region",
    "availability_zone",
    "compute_environment_arn",
    "instance_type",
    "capacity_type",
)
JOB_DIMS = ("queue", "job_definition_name", "job_name")


@dataclass(frozen=True)
class CostWeights:
    """Relative weight of each resource in an instance's price (see the module docstring)."""

    vcpu: float = 1.0
    memory: float = 1.0
    gpu: float = 8.0


@dataclass(frozen=True)
class CostAttribution:
    instances: pd.DataFrame
    attempts: pd.DataFrame
    lines: pd.DataFrame


def instance_lifetimes(
    instances: pd.DataFrame, since: datetime | None = None, until: datetime | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(start, end) seconds of each instance's billed life, clipped to [since, until)."""
    missing = pd.Series(pd.NaT, index=instances.index)
    start = to_seconds(instances.get("launch_time", missing))
    start = np.where(np.isnan(start), to_seconds(instances["first_seen"]), start)
    end = to_seconds(instances.get("terminated_at", missing))
    end = np.where(np.isnan(end), to_seconds(instances["last_seen"]), end)
    if since is not None:
        lo = pd.Timestamp(since).timestamp()
        start = np.maximum(start, lo)
    if until is not None:
        hi = pd.Timestamp(until).timestamp()
        end = np.minimum(end, hi)
    end = np.maximum(end, start)
    return start, end


def capacity_of(instances: pd.DataFrame, instance_types: pd.DataFrame) -> pd.DataFrame:
    """vCPUs, allocatable memory and GPUs of each instance's type (NaN when the type is unknown)."""
    types = instance_types.copy()
    if "allocatable_memory_mib" not in types.columns:
        types["allocatable_memory_mib"] = types["memory_mib"]
    if "gpus" not in types.columns:
        types["gpus"] = 0
    keys = ["region", "instance_type"] if "region" in types.columns else ["instance_type"]
    types = types.drop_duplicates(keys, keep="last")[[*keys, "vcpus", "allocatable_memory_mib", "gpus"]]
    types = types.rename(
        columns={"vcpus": "cap_vcpus", "allocatable_memory_mib": "cap_memory_mib", "gpus": "cap_gpus"}
    )
    left = instances[keys].astype(object)
    merged = left.merge(types.astype({k: object for k in keys}), on=keys, how="left")
    return merged[["cap_vcpus", "cap_memory_mib", "cap_gpus"]].astype(np.float64).reset_index(drop=True)


def _fraction(request: np.ndarray, capacity: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(capacity > 0, np.nan_to_num(request, nan=0.0) / capacity, 0.0)
    return np.clip(frac, 0.0, 1.0)


def attempt_shares(
    req: pd.DataFrame, used: pd.DataFrame, cap: pd.DataFrame, weights: CostWeights
) -> tuple[np.ndarray, np.ndarray]:
    """(share of the instance, share of it paid for unused resources) per attempt.

    `req`/`used` have vcpus, memory_mib, gpus; `cap` has cap_vcpus, cap_memory_mib, cap_gpus.
    Used GPUs are taken as requested (no per-GPU usage is collected).
    """
    cap_v = cap["cap_vcpus"].to_numpy(np.float64)
    cap_m = cap["cap_memory_mib"].to_numpy(np.float64)
    cap_g = np.nan_to_num(cap["cap_gpus"].to_numpy(np.float64), nan=0.0)
    has_gpu = cap_g > 0
    denom = weights.vcpu + weights.memory + np.where(has_gpu, weights.gpu, 0.0)
    fv = _fraction(req["vcpus"].to_numpy(np.float64), cap_v)
    fm = _fraction(req["memory_mib"].to_numpy(np.float64), cap_m)
    fg = np.where(has_gpu, _fraction(req["gpus"].to_numpy(np.float64), cap_g), 0.0)
    share = (weights.vcpu * fv + weights.memory * fm + weights.gpu * fg) / denom
    known = ~(np.isnan(cap_v) | np.isnan(cap_m))
    share = np.where(known, share, 0.0)

    uv = used["vcpus"].to_numpy(np.float64)
    um = used["memory_mib"].to_numpy(np.float64)
    usage_known = ~(np.isnan(uv) | np.isnan(um)) & known
    unused_v = np.clip(fv - _fraction(uv, cap_v), 0.0, None)
    unused_m = np.clip(fm - _fraction(um, cap_m), 0.0, None)
    unused = np.where(usage_known, (weights.vcpu * unused_v + weights.memory * unused_m) / denom, 0.0)
    return share, np.minimum(unused, share)


def classify_outcomes(attempts: pd.DataFrame) -> np.ndarray:
    """The outcome of each attempt (see the module docstring for the precedence)."""
    n = len(attempts)
    missing = pd.Series(np.nan, index=attempts.index)
    reclaim = attempts.get("is_spot_reclaim", missing).fillna(False).astype(bool)
    oom = attempts.get("is_oom", missing).fillna(False).astype(bool)
    exit_code = pd.to_numeric(attempts.get("exit_code", missing), errors="coerce")
    stopped = attempts.get("stopped_at", missing).notna()
    out = np.full(n, "failed", dtype=object)
    out[(exit_code == 0).to_numpy()] = "succeeded"
    out[(~stopped).to_numpy()] = "running"
    out[oom.to_numpy()] = "oom"
    out[reclaim.to_numpy()] = "spot_reclaim"
    return out


def attribute_costs(
    instances: pd.DataFrame,
    attempts: pd.DataFrame,
    jobs: pd.DataFrame,
    instance_types: pd.DataFrame,
    ondemand: pd.DataFrame,
    spot_prices: pd.DataFrame,
    *,
    weights: CostWeights | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> CostAttribution:
    """Attribute every instance's cost to the attempts that ran on it, by UTC day (see module doc)."""
    weights = weights or CostWeights()
    inst = instances.reset_index(drop=True).copy()
    for col in INSTANCE_DIMS:
        if col not in inst.columns:
            inst[col] = None
    # an AZ name is its region plus one letter: recover a missing region from it
    from_az = inst["availability_zone"].astype(object).str[:-1]
    inst["region"] = inst["region"].astype(object).where(inst["region"].notna(), from_az)
    i_start, i_end = instance_lifetimes(inst, since, until)
    book = build_rate_book(inst, i_start, ondemand, spot_prices)
    cap = capacity_of(inst, instance_types)

    # --- instance-days: the total that must be split -------------------------------------------
    ip = split_by_bucket(i_start, i_end, DAY_SECONDS)
    ip_cost = book.cost(ip.source, ip.start, ip.end)
    ip_hours = ip.seconds / 3600.0
    n_days_key = np.int64(1) << np.int64(24)
    ip_key = ip.source.astype(np.int64) * n_days_key + ip.bucket

    # --- attempts on known instances ------------------------------------------------------------
    att = attempts_with_jobs(attempts, jobs)
    inst_index = pd.Series(np.arange(len(inst)), index=inst["instance_id"].astype(object))
    inst_index = inst_index[~inst_index.index.duplicated(keep="last")]
    a_inst = att["instance_id"].astype(object).map(inst_index).to_numpy(dtype=np.float64)
    on_known = ~np.isnan(a_inst)
    a_inst_i = np.where(on_known, a_inst, 0).astype(np.int64)
    a_start = to_seconds(att["started_at"])
    a_stop = to_seconds(att["stopped_at"])
    ran = on_known & ~np.isnan(a_start)
    a_start = np.where(ran, np.maximum(a_start, i_start[a_inst_i]), 0.0)
    a_end = np.where(np.isnan(a_stop), i_end[a_inst_i], np.minimum(a_stop, i_end[a_inst_i]))
    a_end = np.where(ran, np.maximum(a_end, a_start), 0.0)

    a_cap = cap.iloc[a_inst_i].reset_index(drop=True)
    share, unused_share = attempt_shares(
        att[["vcpus", "memory_mib", "gpus"]],
        pd.DataFrame({"vcpus": att["peak_vcpus"], "memory_mib": att["peak_memory_mib"]}),
        a_cap,
        weights,
    )
    share = whole_instance_shares(att["job_id"], jobs, share)  # an MNP node holds its instance
    share = np.where(ran, share, 0.0)
    outcome = classify_outcomes(att)

    # --- attempt-days, priced on their instance's own price function ----------------------------
    rows = np.flatnonzero(ran)
    ap = split_by_bucket(a_start[rows], a_end[rows], DAY_SECONDS)
    a_row = rows[ap.source]
    a_piece_inst = a_inst_i[a_row]
    raw_cost = share[a_row] * book.cost(a_piece_inst, ap.start, ap.end)
    a_key = a_piece_inst.astype(np.int64) * n_days_key + ap.bucket

    # --- balance each instance-day: scale over-subscribed days, remainder is idle ---------------
    ip_pos = pd.Index(ip_key).get_indexer(a_key)
    orphan = ip_pos < 0  # zero-length pieces at the very end of a lifetime
    ip_pos = np.where(orphan, 0, ip_pos)
    raw_cost = np.where(orphan, 0.0, raw_cost)
    attributed_raw = np.bincount(ip_pos, weights=raw_cost, minlength=len(ip_key))
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(attributed_raw > ip_cost, ip_cost / attributed_raw, 1.0)
    scale = np.nan_to_num(scale, nan=0.0)
    a_cost = raw_cost * scale[ip_pos]
    attributed = np.bincount(ip_pos, weights=a_cost, minlength=len(ip_key))
    idle = ip_cost - attributed

    a_hours = ap.seconds / 3600.0
    req_v = np.nan_to_num(att["vcpus"].to_numpy(np.float64), nan=0.0)
    cap_v = np.nan_to_num(cap["cap_vcpus"].to_numpy(np.float64), nan=0.0)
    a_vcpu_h = np.where(orphan, 0.0, np.minimum(req_v[a_row], cap_v[a_piece_inst]) * a_hours)
    alloc_vcpu_h = np.bincount(ip_pos, weights=a_vcpu_h, minlength=len(ip_key))
    idle_vcpu_h = np.clip(cap_v[ip.source] * ip_hours - alloc_vcpu_h, 0.0, None)

    a_outcome = outcome[a_row]
    with np.errstate(divide="ignore", invalid="ignore"):
        unused_frac = np.where(share[a_row] > 0, unused_share[a_row] / share[a_row], 0.0)
    keeps_result = (a_outcome == "succeeded") | (a_outcome == "running")
    attempt_lines = pd.DataFrame(
        {
            "day": bucket_to_datetime(ap.bucket, DAY_SECONDS),
            "kind": "attempt",
            "attempt_row": a_row,
            "instance_row": a_piece_inst,
            "outcome": a_outcome,
            "total_usd": a_cost,
            "attributed_usd": a_cost,
            "idle_usd": 0.0,
            "over_requested_usd": np.where(keeps_result, a_cost * unused_frac, 0.0),
            "spot_reclaim_usd": np.where(a_outcome == "spot_reclaim", a_cost, 0.0),
            "failed_usd": np.where(a_outcome == "failed", a_cost, 0.0),
            "oom_usd": np.where(a_outcome == "oom", a_cost, 0.0),
            "hours": a_hours,
            "vcpu_hours": a_vcpu_h,
        }
    )
    idle_lines = pd.DataFrame(
        {
            "day": bucket_to_datetime(ip.bucket, DAY_SECONDS),
            "kind": "idle",
            "attempt_row": -1,
            "instance_row": ip.source,
            "outcome": IDLE,
            "total_usd": idle,
            "attributed_usd": 0.0,
            "idle_usd": idle,
            "over_requested_usd": 0.0,
            "spot_reclaim_usd": 0.0,
            "failed_usd": 0.0,
            "oom_usd": 0.0,
            "hours": ip_hours,
            "vcpu_hours": idle_vcpu_h,
        }
    )
    lines = pd.concat([attempt_lines, idle_lines], ignore_index=True)
    lines = _with_dims(lines, inst, att)

    # --- per-instance and per-attempt summaries -------------------------------------------------
    n_inst = len(inst)
    inst_out = inst[list(INSTANCE_DIMS)].copy()
    inst_out["start"] = pd.to_datetime(i_start, unit="s")
    inst_out["end"] = pd.to_datetime(i_end, unit="s")
    inst_out["hours"] = (i_end - i_start) / 3600.0
    inst_out["price_source"] = book.source
    inst_out["total_usd"] = np.bincount(ip.source, weights=ip_cost, minlength=n_inst)
    inst_out["attributed_usd"] = np.bincount(ip.source, weights=attributed, minlength=n_inst)
    inst_out["idle_usd"] = np.bincount(ip.source, weights=idle, minlength=n_inst)
    inst_out["capacity_known"] = ~np.isnan(cap["cap_vcpus"].to_numpy())
    scaled_days = np.bincount(ip.source, weights=(scale < 1.0).astype(float), minlength=n_inst)
    inst_out["oversubscribed"] = scaled_days > 0

    n_att = len(att)
    att_out = att[["job_id", "attempt", "instance_id", *JOB_DIMS, "vcpus", "memory_mib", "gpus"]].copy()
    att_out["on_known_instance"] = on_known
    att_out["outcome"] = outcome
    att_out["share"] = share
    att_out["hours"] = np.where(ran, (a_end - a_start) / 3600.0, 0.0)
    att_out["cost_usd"] = np.bincount(a_row, weights=a_cost, minlength=n_att)
    att_out["over_requested_usd"] = np.bincount(
        a_row, weights=attempt_lines["over_requested_usd"].to_numpy(), minlength=n_att
    )
    for col in ("compute_environment_arn", "instance_type", "capacity_type"):
        att_out[col] = np.where(on_known, inst[col].to_numpy(dtype=object)[a_inst_i], None)
    if "tags" in att.columns:
        att_out["tags"] = att["tags"].to_numpy()
    return CostAttribution(instances=inst_out, attempts=att_out, lines=lines)


def attempts_with_jobs(attempts: pd.DataFrame, jobs: pd.DataFrame) -> pd.DataFrame:
    """Attempts joined with their job's requests and dimensions (missing jobs give NaN/None)."""
    att = attempts.reset_index(drop=True)
    for col in ("instance_id", "started_at", "stopped_at", "peak_vcpus", "peak_memory_mib"):
        if col not in att.columns:
            att[col] = None if col == "instance_id" else np.nan
    wanted = ["job_id", *JOB_DIMS, "vcpus", "memory_mib", "gpus", "tags"]
    job_cols = [c for c in wanted if c in jobs.columns]
    job_part = jobs[job_cols].drop_duplicates("job_id")
    merged = att.merge(job_part, on="job_id", how="left", suffixes=("", "_job"))
    for col in ("vcpus", "memory_mib", "gpus"):
        if col not in merged.columns:
            merged[col] = np.nan
        merged[col] = pd.to_numeric(merged[col], errors="coerce").astype(np.float64)
    merged["gpus"] = merged["gpus"].fillna(0.0)
    for col in JOB_DIMS:
        if col not in merged.columns:
            merged[col] = None
    merged["peak_vcpus"] = pd.to_numeric(merged["peak_vcpus"], errors="coerce").astype(np.float64)
    merged["peak_memory_mib"] = pd.to_numeric(merged["peak_memory_mib"], errors="coerce").astype(np.float64)
    return merged


def _with_dims(lines: pd.DataFrame, inst: pd.DataFrame, att: pd.DataFrame) -> pd.DataFrame:
    """Add the roll-up dimensions to each line as categoricals (fast group-bys at a million rows)."""
    irow = lines["instance_row"].to_numpy()
    for col in INSTANCE_DIMS:
        values = pd.Categorical(inst[col].astype(object).fillna(NONE))
        lines[col] = pd.Categorical.from_codes(values.codes[irow], categories=values.categories)
    arow = lines["attempt_row"].to_numpy()
    is_idle = arow < 0
    for col in JOB_DIMS:
        values = pd.Categorical(att[col].astype(object).fillna(NONE))
        cats = values.categories
        if IDLE not in cats:
            cats = cats.append(pd.Index([IDLE]))
        codes = np.where(is_idle, cats.get_loc(IDLE), 0)
        codes[~is_idle] = values.codes[arow[~is_idle]]
        lines[col] = pd.Categorical.from_codes(codes, categories=cats)
    return lines
