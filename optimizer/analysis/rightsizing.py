"""Right-sizing evidence per job definition, and per job-name pattern where one definition runs very
different jobs.

Public API::

    rightsizing_evidence(jobs, attempts, instance_types) -> DataFrame

One row per job definition (`name_pattern` = "*") plus, for definitions whose name patterns differ
in peak memory by more than `heterogeneity_ratio`, one row per (definition, pattern). Columns:

- attempts, attempts_with_usage; requested vCPUs / memory (median); peak memory and vCPU quantiles
  (p50, p90, p95, p99, max) and `memory_p95_per_requested`, `vcpu_p95_per_requested` (the p95 of
  each attempt's peak / its own request);
- oom_kills and oom_rate (of attempts);
- the memory cliff: `cliff_type` / `cliff_allocatable_mib` is the largest instance type whose
  allocatable memory is below the median request but within `cliff_margin` (10%) of it. Such a
  request "sits just above" that type and forces the next larger one; `cliff_fits_p99` says whether
  the observed p99 peak would still fit under it, i.e. whether trimming the request is safe by the
  evidence. Only a type the policy's instance requirements let the definition's jobs run on can be
  named (`InstanceRequirements.hosts_job_on`, the rule plans obey: current generation, GPUs enough
  for a GPU job, no accelerated type for a CPU job), else the hint would send a trimmed request to
  a type no plan may choose (an m4, or a p3 for a CPU job), and only one of an architecture the
  definition's jobs ran on (`architectures`: from the instance type of each attempt, when
  `attempts` has an `instance_type` column; else x86_64, the architecture the plans assume for a
  job that does not state one, `demand_profile.DEFAULT_JOB_ARCH`): a Graviton type is no place for
  an x86_64 image (moving to arm64 is the Graviton advice's, not a request trim's).

Name patterns replace digits, hex ids and UUIDs in job names with "#" ("align-sample-0042" ->
"align-sample-#"), which groups array children and dated runs without a configured rule.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from optimizer.analysis.cost import NONE
from optimizer.analysis.demand_profile import DEFAULT_JOB_ARCH
from optimizer.catalog.instance_kinds import architecture
from optimizer.catalog.requirements import InstanceRequirements

QUANTILES = (0.5, 0.9, 0.95, 0.99)
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
_HEX = re.compile(r"(?<![0-9a-z])(?=[0-9a-f]*\d)[0-9a-f]{7,}(?![0-9a-z])", re.IGNORECASE)
_DIGITS = re.compile(r"\d+")


def name_pattern(name: object) -> str:
    """A job name with its variable parts (UUIDs, long hex ids, numbers) replaced by '#'."""
    if not isinstance(name, str) or not name:
        return NONE
    text = _UUID.sub("#", name)
    text = _HEX.sub("#", text)
    return _DIGITS.sub("#", text)


def _quantile_columns(values: pd.Series, prefix: str) -> dict[str, float]:
    clean = values.dropna()
    out = {f"{prefix}_p{int(q * 100)}": float(clean.quantile(q)) if len(clean) else np.nan for q in QUANTILES}
    out[f"{prefix}_max"] = float(clean.max()) if len(clean) else np.nan
    return out


def _architectures(group: pd.DataFrame) -> str:
    """The architectures the attempts ran on (their instance types'), comma-separated; the default
    job architecture when no attempt names its instance type."""
    ran = group["instance_type"].dropna() if "instance_type" in group else pd.Series(dtype=object)
    return ",".join(sorted({architecture(str(t)) for t in ran if str(t)})) or DEFAULT_JOB_ARCH


def _evidence(group: pd.DataFrame) -> dict[str, float | str]:
    usage = group.dropna(subset=["peak_memory_mib"])
    row: dict[str, float | str] = {
        "attempts": float(len(group)),
        "attempts_with_usage": float(len(usage)),
        "requested_vcpus": float(group["vcpus"].median()),
        "requested_memory_mib": float(group["memory_mib"].median()),
        "requested_gpus": float(np.nan_to_num(group["gpus"].median())),
        "oom_kills": float(group["is_oom"].sum()),
        "oom_rate": float(group["is_oom"].mean()) if len(group) else np.nan,
        "architectures": _architectures(group),
    }
    row.update(_quantile_columns(group["peak_memory_mib"], "peak_memory_mib"))
    row.update(_quantile_columns(group["peak_vcpus"], "peak_vcpus"))
    row["memory_p95_per_requested"] = _p95_of_ratios(group["peak_memory_mib"], group["memory_mib"])
    row["vcpu_p95_per_requested"] = _p95_of_ratios(group["peak_vcpus"], group["vcpus"])
    return row


def _p95_of_ratios(peak: pd.Series, requested: pd.Series) -> float:
    """p95 over attempts of each attempt's peak divided by *its own* request. Dividing the p95
    peak by the median request mixes jobs: in a definition whose requests vary (a GPU job asking
    60 GiB next to one asking 480 GiB) it read 800 % while every job used about half of its ask."""
    peak_v = pd.to_numeric(peak, errors="coerce").to_numpy(np.float64)
    req_v = pd.to_numeric(requested, errors="coerce").to_numpy(np.float64)
    ok = ~np.isnan(peak_v) & (req_v > 0)
    return float(np.quantile(peak_v[ok] / req_v[ok], 0.95)) if ok.any() else np.nan


def _cliffs(
    evidence: pd.DataFrame, instance_types: pd.DataFrame, margin: float, requirements: InstanceRequirements
) -> pd.DataFrame:
    types = instance_types.copy()
    if "allocatable_memory_mib" not in types.columns:
        types["allocatable_memory_mib"] = types["memory_mib"]
    if "gpus" not in types.columns:
        types["gpus"] = 0
    types = types.drop_duplicates("instance_type").sort_values("allocatable_memory_mib")
    alloc = types["allocatable_memory_mib"].to_numpy(np.float64)
    vcpus = types["vcpus"].to_numpy(np.float64)
    names = types["instance_type"].to_numpy(dtype=object)
    type_gpus = pd.to_numeric(types["gpus"], errors="coerce").fillna(0).astype(int).to_numpy()
    cliff_type, cliff_alloc = [], []
    type_arch = np.array([architecture(str(n)) for n in names], dtype=object)
    for req_m, req_v, req_g, ran_on in zip(
        evidence["requested_memory_mib"],
        evidence["requested_vcpus"],
        evidence["requested_gpus"],
        evidence["architectures"],
        strict=True,
    ):
        hosts = np.array(
            [
                requirements.hosts_job_on(str(n), int(g), float(req_g))
                for n, g in zip(names, type_gpus, strict=True)
            ],
            dtype=bool,
        ) & np.isin(type_arch, str(ran_on).split(","))
        below = hosts & (alloc < req_m) & (alloc >= req_m / (1 + margin)) & (vcpus >= np.nan_to_num(req_v))
        if np.isnan(req_m) or not below.any():
            cliff_type.append(None)
            cliff_alloc.append(np.nan)
            continue
        k = np.flatnonzero(below)[-1]
        cliff_type.append(names[k])
        cliff_alloc.append(alloc[k])
    out = evidence.copy()
    out["cliff_type"] = cliff_type
    out["cliff_allocatable_mib"] = cliff_alloc
    out["cliff_fits_p99"] = out["peak_memory_mib_p99"] <= out["cliff_allocatable_mib"]
    return out


def rightsizing_evidence(
    jobs: pd.DataFrame,
    attempts: pd.DataFrame,
    instance_types: pd.DataFrame,
    *,
    requirements: InstanceRequirements | None = None,
    heterogeneity_ratio: float = 2.0,
    cliff_margin: float = 0.10,
    min_pattern_attempts: int = 20,
) -> pd.DataFrame:
    """Usage versus requests per job definition (and pattern); see the module docstring.

    `requirements`: the policy's instance requirements (default: their defaults), which bound the
    types a memory cliff may name."""
    job_cols = [
        c for c in ("job_id", "job_definition_name", "job_name", "vcpus", "memory_mib", "gpus") if c in jobs
    ]
    frame = attempts.merge(jobs[job_cols].drop_duplicates("job_id"), on="job_id", how="inner")
    if frame.empty:
        return pd.DataFrame()
    frame["job_definition_name"] = frame["job_definition_name"].astype(object).fillna(NONE)
    frame["name_pattern"] = frame.get("job_name", pd.Series(NONE, index=frame.index)).map(name_pattern)
    for col in ("peak_memory_mib", "peak_vcpus", "vcpus", "memory_mib", "gpus"):
        frame[col] = pd.to_numeric(
            frame.get(col, pd.Series(np.nan, index=frame.index)), errors="coerce"
        ).astype(np.float64)
    frame["is_oom"] = frame.get("is_oom", pd.Series(False, index=frame.index)).fillna(False).astype(bool)

    rows = []
    for definition, group in frame.groupby("job_definition_name", sort=True):
        rows.append({"job_definition_name": definition, "name_pattern": "*", **_evidence(group)})
        per_pattern = [
            (pattern, _evidence(sub))
            for pattern, sub in group.groupby("name_pattern", sort=True)
            if len(sub) >= min_pattern_attempts
        ]
        p95 = [ev["peak_memory_mib_p95"] for _, ev in per_pattern if not np.isnan(ev["peak_memory_mib_p95"])]
        heterogeneous = len(p95) > 1 and min(p95) > 0 and max(p95) / min(p95) > heterogeneity_ratio
        rows[-1]["heterogeneous"] = heterogeneous
        if heterogeneous:
            for pattern, ev in per_pattern:
                rows.append(
                    {"job_definition_name": definition, "name_pattern": pattern, **ev, "heterogeneous": True}
                )
    evidence = pd.DataFrame(rows)
    evidence["heterogeneous"] = evidence["heterogeneous"].astype(bool)
    return _cliffs(evidence, instance_types, cliff_margin, requirements or InstanceRequirements())
