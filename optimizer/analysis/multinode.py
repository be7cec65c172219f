"""Multi-node parallel (MNP) jobs in cost attribution: per-node cost, rolled up to the MNP job.

Batch gives each node of an MNP job an instance of its own (the replay models the same,
`simulate/gangs.py`), so a node attempt pays for its whole instance while it runs, whatever it
requested: `whole_instance_shares` sets its share to 1 (the rest of `cost.py`'s rules apply
unchanged, so the books still balance). `mnp_job_costs` adds the node attempts up per MNP job
(the parent, `array_parent_id` of the node jobs, as the collector and `import-trace` store them)
and estimates the gang-formation idle: the time each node's instance sat in service, held and
empty, waiting for the gang's other nodes, up to the moment the gang started (all nodes start
together). An instance already in service is held from the later of the MNP job's creation and
its previous attempt's end; one launched for the gang only from when it joined the cluster
(launch + the attempt's join delay, `_join_delay`), because its boot is not formation idle: a
single job on a new instance waits as long, and the replay (`simulate/gangs.py`) counts a new
instance's held time from its joining too, so the two figures measure the same thing. That idle
is part of the instances' `idle_usd` already; the column says how much of it the gang's forming
explains, priced at the instance's mean rate over its lifetime (`total_usd / hours`), and never
more than the instance's idle.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from optimizer.analysis.intervals import to_seconds

WASTE_BY_OUTCOME = {"spot_reclaim": "spot_reclaim_usd", "failed": "failed_usd", "oom": "oom_usd"}


def node_job_ids(jobs: pd.DataFrame) -> pd.Series:
    """Each MNP node job's parent, indexed by the node job's id (empty when there are none)."""
    if "is_multinode" not in jobs or "array_parent_id" not in jobs:
        return pd.Series(dtype=object)
    nodes = jobs[jobs["is_multinode"].fillna(False).astype(bool) & jobs["array_parent_id"].notna()]
    return pd.Series(nodes["array_parent_id"].to_numpy(dtype=object), index=nodes["job_id"].to_numpy())


def whole_instance_shares(job_ids: pd.Series, jobs: pd.DataFrame, share: np.ndarray) -> np.ndarray:
    """Attempt shares with every MNP node attempt holding its instance whole (share 1)."""
    parents = node_job_ids(jobs)
    if parents.empty:
        return share
    return np.where(job_ids.isin(parents.index).to_numpy(), 1.0, share)


def mnp_job_costs(
    attributed_attempts: pd.DataFrame,
    attributed_instances: pd.DataFrame,
    attempts: pd.DataFrame,
    instances: pd.DataFrame,
    jobs: pd.DataFrame,
) -> pd.DataFrame:
    """One row per MNP job: nodes, node attempts, cost and waste by outcome, gang-formation idle.

    `attributed_*` are `attribute_costs(...).attempts / .instances`; `attempts`, `instances` and
    `jobs` are the store frames it was given (for times the attribution does not carry).
    """
    columns = [
        "job_id", "queue", "nodes", "node_attempts", "cost_usd", "spot_reclaim_usd", "failed_usd",
        "oom_usd", "over_requested_usd", "gang_formation_idle_hours", "gang_formation_idle_usd",
    ]  # fmt: skip
    parents = node_job_ids(jobs)
    if parents.empty:
        return pd.DataFrame(columns=columns)
    mine = attributed_attempts[attributed_attempts["job_id"].isin(parents.index)].copy()
    mine["parent"] = mine["job_id"].map(parents)
    for outcome, column in WASTE_BY_OUTCOME.items():
        mine[column] = np.where(mine["outcome"] == outcome, mine["cost_usd"], 0.0)
    rolled = mine.groupby("parent").agg(
        node_attempts=("job_id", "size"),
        cost_usd=("cost_usd", "sum"),
        spot_reclaim_usd=("spot_reclaim_usd", "sum"),
        failed_usd=("failed_usd", "sum"),
        oom_usd=("oom_usd", "sum"),
        over_requested_usd=("over_requested_usd", "sum"),
    )
    nodes = parents.groupby(parents.to_numpy()).size()
    formation = _formation_idle(parents, attempts, instances, attributed_instances, jobs)
    out = pd.DataFrame(index=pd.Index(sorted(set(parents)), name="job_id"))
    out["nodes"] = nodes.reindex(out.index).astype(np.int64)
    out = out.join(rolled).join(formation)
    out = out.fillna({c: 0.0 for c in columns if c.endswith(("_usd", "_hours"))} | {"node_attempts": 0})
    out["node_attempts"] = out["node_attempts"].astype(np.int64)
    queue = jobs.drop_duplicates("job_id").set_index("job_id")["queue"] if "queue" in jobs else None
    out["queue"] = out.index.map(queue) if queue is not None else None
    return out.reset_index()[columns]


def _formation_idle(
    parents: pd.Series,
    attempts: pd.DataFrame,
    instances: pd.DataFrame,
    attributed_instances: pd.DataFrame,
    jobs: pd.DataFrame,
) -> pd.DataFrame:
    """Per MNP job: hours and USD of its nodes' instances held empty before each gang start."""
    att = attempts[attempts["instance_id"].notna() & attempts["started_at"].notna()].copy()
    att["start_s"] = to_seconds(att["started_at"])
    att["stop_s"] = to_seconds(att["stopped_at"])
    att["parent"] = att["job_id"].map(parents)
    gang = att[att["parent"].notna()]
    if gang.empty:
        return pd.DataFrame(columns=["gang_formation_idle_hours", "gang_formation_idle_usd"])
    launch = instances.set_index("instance_id")
    launched = launch["launch_time"].where(launch["launch_time"].notna(), launch.get("first_seen"))
    launched_s = pd.Series(to_seconds(launched), index=launch.index)
    created = jobs.drop_duplicates("job_id").set_index("job_id")["created_at"]
    created_s = pd.Series(to_seconds(created), index=created.index)
    money = attributed_instances.set_index("instance_id")
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = (money["total_usd"] / money["hours"]).replace([np.inf, -np.inf], np.nan).fillna(0.0)
    idle_cap = money["idle_usd"]
    # The end of the latest earlier attempt on the same instance (vectorized: one sort, a cummax).
    hosting = att[att["instance_id"].isin(set(gang["instance_id"]))].sort_values(["instance_id", "start_s"])
    stops = hosting["stop_s"].fillna(-np.inf)
    previous_end = stops.groupby(hosting["instance_id"]).cummax().groupby(hosting["instance_id"]).shift(1)
    starts = gang.groupby(["parent", "attempt"])["start_s"].transform("min").to_numpy()
    launch = gang["instance_id"].map(launched_s).fillna(np.inf).to_numpy()
    in_service_from = np.maximum(
        gang["parent"].map(created_s).fillna(-np.inf).to_numpy(),
        previous_end.reindex(gang.index).fillna(-np.inf).to_numpy(),
    )
    # Launched for this gang (its launch is the latest of the three): not in service before it joins.
    fresh = launch >= in_service_from
    join = _join_delay(gang, np.where(fresh & np.isfinite(launch), launch, -np.inf), starts)
    ready = np.where(fresh, launch + join, in_service_from)
    seconds = np.clip(starts - ready, 0.0, None)
    usd = seconds / 3600.0 * gang["instance_id"].map(rate).fillna(0.0).to_numpy()
    per_instance = pd.Series(usd, index=gang["instance_id"].to_numpy()).groupby(level=0).transform("sum")
    cap = gang["instance_id"].map(idle_cap).fillna(0.0).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(per_instance.to_numpy() > cap, cap / per_instance.to_numpy(), 1.0)
    frame = pd.DataFrame(
        {
            "parent": gang["parent"].to_numpy(),
            "gang_formation_idle_hours": seconds / 3600.0,
            "gang_formation_idle_usd": np.nan_to_num(usd * scale),
        }
    )
    return frame.groupby("parent").sum()


def _join_delay(gang: pd.DataFrame, fresh_launch: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Per node row, its gang attempt's join delay: from the launch of the attempt's last new
    instance to the gang's start (0 when it launched none).

    The gang starts when its last node's instance has joined the cluster, so when that is a new
    instance, start - its launch is how long a new instance took to boot and register, and the
    attempt's other new instances are taken to have taken as long (the history records launches,
    not when an instance joined). An attempt whose start waited for an instance already in service
    (its previous job ending) counts that wait as join delay too: its new instances' idle is then
    a floor."""
    latest = (
        pd.Series(fresh_launch, index=gang.index).groupby([gang["parent"], gang["attempt"]]).transform("max")
    )
    latest_s = latest.to_numpy()
    return np.where(np.isfinite(latest_s), np.clip(starts - latest_s, 0.0, None), 0.0)
