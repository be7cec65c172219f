"""Replay records in the store's shape, so analysis reads simulated history like collected history.

Times become naive UTC datetimes by adding the seconds to an anchor (the dataset's `start_time`).
Ids are namespaced by the dataset name (`<dataset>:<id>`) because `jobs.job_id` and
`instances.instance_id` are global keys: the same trace replayed on two configurations, or two
traces that both number their jobs from 1, must not overwrite each other.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from optimizer.simulate.results import ReplayResult
from optimizer.store.multinode_rows import with_mnp_store_rows

SIMULATED_ACCOUNT = "simulated"


def namespaced(dataset: str, ids: pd.Series) -> pd.Series:
    """`<dataset>:<id>` for every id (None stays None)."""
    return ids.map(
        lambda v: None if v is None or (isinstance(v, float) and np.isnan(v)) else f"{dataset}:{v}"
    )


def _ints_or_none(values: pd.Series) -> pd.Series:
    """Nullable integers as an object column of int/None (what the store's bulk writer binds)."""
    return pd.Series([None if pd.isna(v) else int(v) for v in values], index=values.index, dtype=object)


def _times(anchor: datetime, seconds: pd.Series) -> pd.Series:
    return pd.Timestamp(anchor) + pd.to_timedelta(seconds.astype(float), unit="s")


def _ce_arn(region: str, names: pd.Series) -> pd.Series:
    return "arn:aws:batch:" + region + ":" + SIMULATED_ACCOUNT + ":compute-environment/" + names.astype(str)


def to_store_frames(
    result: ReplayResult, *, anchor: datetime, dataset: str, region: str = "us-east-1"
) -> dict[str, pd.DataFrame]:
    """Frames for the store's `jobs`, `job_attempts` and `instances` tables (exact column names)."""
    jobs, attempts, instances = result.jobs, result.attempts, result.instances
    last_attempt = attempts.groupby("job_id")["attempt"].max() if len(attempts) else pd.Series(dtype=int)
    final = attempts.merge(last_attempt.rename("last"), left_on="job_id", right_index=True)
    final = final[final["attempt"] == final["last"]].set_index("job_id")
    exit_code = jobs["job_id"].map(final["exit_code"]) if len(final) else pd.Series([None] * len(jobs))
    jobs_out = pd.DataFrame(
        {
            "job_id": namespaced(dataset, jobs["job_id"]),
            "dataset": dataset,
            "account_id": SIMULATED_ACCOUNT,
            "region": region,
            "job_name": jobs["job_name"],
            "queue": jobs["queue"],
            "status": jobs["status"],
            "status_reason": jobs["status_reason"],
            "created_at": _times(anchor, jobs["submitted_at"]),
            "started_at": _times(anchor, jobs["started_at"]),
            "stopped_at": _times(anchor, jobs["ended_at"]),
            "vcpus": jobs["vcpus"].astype(float),
            "memory_mib": np.ceil(jobs["memory_mib"].astype(float)).astype(np.int64),
            "gpus": jobs["gpus"].astype(np.int64),
            "retry_attempts": jobs["retry_attempts"].astype(np.int64),
            "attempt_count": jobs["attempt_count"].astype(np.int64),
            "exit_code": _ints_or_none(pd.Series(exit_code.tolist(), index=jobs.index, dtype=object)),
            "platform": "EC2",
            "is_multinode": False,
        }
    )
    if "share_identifier" in jobs:  # a saved fair-share replay replays with the same shares
        jobs_out["share_identifier"] = jobs["share_identifier"].to_numpy()
    fargate = attempts["instance_id"].isna()
    jobs_out.loc[
        jobs_out["job_id"].isin(namespaced(dataset, attempts.loc[fargate, "job_id"])), "platform"
    ] = "FARGATE"
    attempts_out = pd.DataFrame(
        {
            "job_id": namespaced(dataset, attempts["job_id"]),
            "attempt": attempts["attempt"].astype(np.int64),
            "instance_id": namespaced(dataset, attempts["instance_id"]),
            "compute_environment_arn": _ce_arn(region, attempts["compute_environment"]),
            "started_at": _times(anchor, attempts["started_at"]),
            "stopped_at": _times(anchor, attempts["ended_at"]),
            "exit_code": _ints_or_none(attempts["exit_code"]),
            "reason": attempts["reason"],
            "is_spot_reclaim": attempts["is_spot_reclaim"].astype(bool),
            "is_oom": False,
        }
    )
    launched = _times(anchor, instances["launched_at"])
    instances_out = pd.DataFrame(
        {
            "instance_id": namespaced(dataset, instances["instance_id"]),
            "dataset": dataset,
            "account_id": SIMULATED_ACCOUNT,
            "region": region,
            "compute_environment_arn": _ce_arn(region, instances["compute_environment"]),
            "instance_type": instances["instance_type"],
            "capacity_type": instances["capacity_type"],
            "launch_time": launched,
            "first_seen": _times(anchor, instances["ready_at"]),
            "last_seen": _times(anchor, instances["terminated_at"]),
            "terminated_at": _times(anchor, instances["terminated_at"]),
            "status": "terminated",
        }
    )
    jobs_out = with_mnp_store_rows(jobs_out, jobs, dataset)  # MNP jobs: parent + node jobs
    return {"jobs": jobs_out, "job_attempts": attempts_out, "instances": instances_out}
