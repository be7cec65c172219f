"""The run time a never-started multi-node parallel job is replayed for, estimated from the history.

A gang that never started (`never_started.py`: stuck on a queue that reaches only Spot, where
Batch runs no MNP job) has no measured run time, yet the `mnp-on-demand` recommendation prices
running it on an on-demand compute environment. Replaying it for 0 s would leave its hours out of
that cost; this module estimates them once, for the replay and every text that quotes them.

The estimate is the median run time (robust to the odd hung or crashed run) of the completed runs
most like the gang, taking the first level that has any:

1. `definition-and-nodes`: MNP jobs of the same job definition (its name: every revision of the
   family) with the same node count;
2. `definition`: MNP jobs of the same job definition, any node count;
3. `queue-and-nodes`: MNP jobs of the same queue with the same node count;
4. `none`: no run to learn from; the gang keeps 0 s and the text says its run time is unknown.

A completed run is an MNP parent that SUCCEEDED (the replay runs a never-started gang as one that
would succeed), measured as its last attempt ran (`datasets.load_dataset`). The job's own
`timeout.attemptDurationSeconds` caps the estimate: Batch ends an MNP job's attempt there (the
timeout applies to the whole job, not to each node), so no run of it can be longer.

Pure: data in, data out.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any

import pandas as pd

BASIS_DEFINITION_AND_NODES = "definition-and-nodes"
BASIS_DEFINITION = "definition"
BASIS_QUEUE_AND_NODES = "queue-and-nodes"
BASIS_NONE = "none"
BASES = (BASIS_DEFINITION_AND_NODES, BASIS_DEFINITION, BASIS_QUEUE_AND_NODES, BASIS_NONE)
"""The levels, most alike first (the module docstring says what each pools)."""

RUN_COLUMNS = ("job_definition_name", "node_count", "queue", "runtime_s")
"""One row per completed MNP run (`completed_gang_runs`)."""
GANG_COLUMNS = ("job_id", "job_definition_name", "node_count", "queue", "timeout_s")
"""One row per never-started MNP parent to estimate."""
ESTIMATE_COLUMNS = (
    "runtime_s",
    "basis",
    "samples",
    "median_s",
    "cap_s",
    "capped",
    "job_definition_name",
    "node_count",
    "queue",
)
"""What `estimate_gang_runtimes` returns per gang (indexed by its job id)."""


def completed_gang_runs(rows: pd.DataFrame, runtime_s: pd.Series) -> pd.DataFrame:
    """The completed MNP runs among store `jobs` rows: parents (no `array_parent_id`, a node count)
    that SUCCEEDED with a start and a stop, each with its run time `runtime_s` (aligned to `rows`)."""
    if rows.empty or "is_multinode" not in rows:
        return pd.DataFrame(columns=list(RUN_COLUMNS))
    nodes = pd.to_numeric(rows["node_count"], errors="coerce") if "node_count" in rows else None
    parent = rows["is_multinode"].fillna(False).astype(bool) & rows["array_parent_id"].isna()
    done = (rows["status"] == "SUCCEEDED") & rows["started_at"].notna() & rows["stopped_at"].notna()
    mask = parent & done & runtime_s.notna()
    mask &= nodes.fillna(0) > 0 if nodes is not None else False
    chosen = rows[mask]
    return pd.DataFrame(
        {
            "job_definition_name": chosen["job_definition_name"].to_numpy(dtype=object),
            "node_count": nodes[mask].astype(int).to_numpy() if nodes is not None else [],
            "queue": chosen["queue"].to_numpy(dtype=object),
            "runtime_s": runtime_s[mask].astype(float).to_numpy(),
        }
    )


def _key(value: Any) -> Any:
    """A grouping key of one field: None for a missing value (so it never matches)."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return None if math.isnan(float(value)) else int(value)
    return str(value)


def _medians(runs: pd.DataFrame, fields: tuple[str, ...]) -> dict[tuple[Any, ...], tuple[float, int]]:
    """(field values) -> (median run time, runs) over the runs whose fields are all known."""
    keyed = runs.assign(**{f: runs[f].map(_key).astype(object) for f in fields}).dropna(subset=list(fields))
    if keyed.empty:
        return {}
    stats = keyed.groupby(list(fields), sort=False)["runtime_s"].agg(["median", "size"])
    keys = [k if isinstance(k, tuple) else (k,) for k in stats.index]
    return {k: (float(m), int(n)) for k, m, n in zip(keys, stats["median"], stats["size"], strict=True)}


def _cap(value: Any) -> float | None:
    """A timeout in seconds, None when absent or not positive."""
    if value is None or pd.isna(value):
        return None
    seconds = float(value)
    return seconds if seconds > 0 else None


def estimate_gang_runtimes(runs: pd.DataFrame, gangs: pd.DataFrame) -> pd.DataFrame:
    """Each never-started gang's run time (`ESTIMATE_COLUMNS`, indexed by the gang's job id).

    `runs` has `RUN_COLUMNS` (`completed_gang_runs`), `gangs` has `GANG_COLUMNS` (`timeout_s` may be
    missing or empty: no cap). `median_s` is the level's median before the cap, `runtime_s` the
    figure the replay uses (0 with basis `none`), `capped` whether the timeout lowered it.
    """
    levels = (
        (BASIS_DEFINITION_AND_NODES, ("job_definition_name", "node_count")),
        (BASIS_DEFINITION, ("job_definition_name",)),
        (BASIS_QUEUE_AND_NODES, ("queue", "node_count")),
    )
    tables = {basis: _medians(runs, fields) for basis, fields in levels}
    timeouts = (
        gangs["timeout_s"] if "timeout_s" in gangs else pd.Series(None, index=gangs.index, dtype=object)
    )
    rows: list[dict[str, Any]] = []
    for definition, nodes, queue, timeout in zip(
        gangs["job_definition_name"], gangs["node_count"], gangs["queue"], timeouts, strict=True
    ):
        own = {"job_definition_name": _key(definition), "node_count": _key(nodes), "queue": _key(queue)}
        basis, median, samples = BASIS_NONE, None, 0
        for level, fields in levels:
            found = tables[level].get(tuple(own[f] for f in fields))
            if found is not None:
                basis, (median, samples) = level, found
                break
        cap = _cap(timeout)
        runtime = 0.0 if median is None else median if cap is None else min(median, cap)
        rows.append(
            {
                "runtime_s": runtime,
                "basis": basis,
                "samples": samples,
                "median_s": median,
                "cap_s": cap,
                "capped": median is not None and cap is not None and median > cap,
                **own,
            }
        )
    out = pd.DataFrame(rows, columns=list(ESTIMATE_COLUMNS), index=pd.Index(gangs["job_id"], name="job_id"))
    out["samples"] = out["samples"].astype(int)
    return out


def _hours(seconds: float) -> str:
    return f"{seconds / 3600.0:,.1f} h" if seconds >= 3600.0 else f"{seconds / 60.0:,.0f} min"


def describe_estimate(estimate: Mapping[str, Any]) -> str:
    """The one wording of an estimate (a row of `estimate_gang_runtimes`), e.g. "run time 2.0 h
    estimated from 5 completed runs of mpi-solver with 4 nodes (median)"."""
    basis = estimate["basis"]
    definition, nodes, queue = (estimate.get(k) for k in ("job_definition_name", "node_count", "queue"))
    if basis == BASIS_NONE:
        return (
            f"run time unknown (no completed run of job definition {definition or '(none)'}, nor of a"
            f" {nodes}-node job in queue {queue or '(none)'}): replayed for 0 s"
        )
    samples = int(estimate["samples"])
    runs = f"{samples} completed run{'s' if samples != 1 else ''}"
    source = {
        BASIS_DEFINITION_AND_NODES: f"{runs} of {definition} with {nodes} nodes",
        BASIS_DEFINITION: f"{runs} of {definition} (any node count; none with {nodes})",
        BASIS_QUEUE_AND_NODES: f"{runs} of {nodes}-node jobs in queue {queue} (none of {definition})",
    }[basis]
    text = f"run time {_hours(float(estimate['runtime_s']))} estimated from {source} (median"
    if estimate.get("capped"):
        text += f" {_hours(float(estimate['median_s']))}, capped at the job's attemptDurationSeconds"
    return text + ")"


def never_started_run_times(jobs: pd.DataFrame) -> dict[str, Any]:
    """What a replay runs the never-started gangs among canonical `jobs` for (`load_dataset`'s
    `never_started` and `runtime_estimate` on their node rows): how many have an estimate and how
    many none, one entry per distinct estimate (its record, how many gangs, its `describe_estimate`
    sentence), and one text that every page and command quoting them prints."""
    if jobs.empty or "mnp_parent" not in jobs or "never_started" not in jobs:
        return {"mnp_jobs": 0, "estimated": 0, "unknown": 0, "estimates": [], "text": ""}
    never = jobs["never_started"].fillna(False).astype(bool) & jobs["mnp_parent"].notna()
    gangs = jobs[never].drop_duplicates("mnp_parent")
    records = gangs["runtime_estimate"] if "runtime_estimate" in gangs else pd.Series(None, index=gangs.index)
    groups: dict[str, dict[str, Any]] = {}
    for record in records:
        if not isinstance(record, dict):  # a history read before estimates existed: 0 s, unknown
            record = {"basis": BASIS_NONE, "runtime_s": 0.0, "samples": 0}
        text = describe_estimate(record)
        entry = groups.setdefault(text, {**record, "mnp_jobs": 0, "text": text})
        entry["mnp_jobs"] += 1
    estimates = sorted(groups.values(), key=lambda e: (-e["mnp_jobs"], e["text"]))
    unknown = sum(e["mnp_jobs"] for e in estimates if e["basis"] == BASIS_NONE)
    parts = [f"{e['mnp_jobs']} never started: {e['text']}" for e in estimates]
    text = f"{len(gangs)} of the MNP jobs never started in the history; " + "; ".join(parts)
    if unknown:
        text += f". The cost leaves out the hours of the {unknown} whose run time is unknown"
    return {
        "mnp_jobs": len(gangs),
        "estimated": len(gangs) - unknown,
        "unknown": unknown,
        "estimates": estimates,
        "text": text,
    }
