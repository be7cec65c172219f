"""Build a `batchopt.problem/v1` from a region's catalogue and a job history.

Pure: offerings come from the region's `optimizer.catalog.CatalogProvider` (the same prices, spot
prices and hazards the replay and the strategies use), jobs are either in the store's form or the
canonical trace form, so the same code serves `batchopt optimize --queue` / `--dataset`, the
instance-mix strategy and the benchmark on real traces.

Spot offerings: the provider's spot price (collected, else the Spot Advisor estimate) and its hourly
reclaim hazard (`optimizer.catalog.interruptions`), unless the estate measured its own rate
(`spot_rates`, from `optimizer.ml.interruptions`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from optimizer.analysis.demand_profile import DemandProfile, ShapeGrid, demand_profile
from optimizer.analysis.gang_demand import GangProfile, gang_profile, node_rows
from optimizer.catalog.provider import CatalogProvider
from optimizer.errors import InputError
from optimizer.solver.problem import Offering, Policy, Problem, Shape
from optimizer.store.multinode_rows import mnp_columns_from_store


def offerings_from_catalog(
    catalog: CatalogProvider, *, spot: bool = True, spot_rates: Mapping[str, float] | None = None
) -> list[Offering]:
    """On-demand offerings for every priced type, plus spot ones where the catalogue has a spot price."""
    rates = spot_rates or {}
    out: list[Offering] = []
    for row in catalog.table.itertuples(index=False):
        if not row.allocatable_memory_mib > 0:
            continue
        network = getattr(row, "network_bandwidth_mbps", float("nan"))
        # Only a type the catalogue knows supports EFA offers it; unknown (<NA>) hosts no EFA need.
        efa = getattr(row, "efa_supported", None)
        common = {
            "instance_type": str(row.instance_type),
            "vcpus": float(row.vcpus),
            "memory_mib": float(row.allocatable_memory_mib),
            "gpus": int(row.gpus),
            "arch": str(row.arch),
            "network_gbps": None if pd.isna(network) else float(network) / 1000.0,
            "efa": efa is not None and not pd.isna(efa) and bool(efa),
        }
        out.append(Offering(capacity_type="ON_DEMAND", price_per_hour=float(row.ondemand_price), **common))
        if spot and not pd.isna(row.spot_price):
            hazard = rates.get(str(row.instance_type), float(row.spot_hazard_per_hour))
            out.append(
                Offering(
                    capacity_type="SPOT",
                    price_per_hour=float(row.spot_price),
                    interruption_rate=min(hazard, 1.0),
                    **common,
                )
            )
    return out


def _arch(value: object) -> str | None:
    return None if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)


def _gang_network(policy: Policy, efa: bool) -> dict[str, object]:
    """A gang range's `efa` and `min_network_gbps`: what its nodes asked for (EFA devices in the
    history) with the policy's instance requirements for every gang on top, written on the shape so
    the problem document states them."""
    need_efa, gbps = policy.instance_requirements.gang_needs(efa, 0.0)
    return {"efa": need_efa, "min_network_gbps": gbps}


def problem_from_profile(
    profile: DemandProfile, offerings: list[Offering], policy: Policy, gangs: GangProfile | None = None
) -> Problem:
    """The problem of a demand profile, plus the gang shapes of its MNP jobs when `gangs` is given
    (over the same buckets), each asking for the network its history and the policy's instance
    requirements need (`_gang_network`), with the hours its jobs held their nodes per bucket
    (`gang_hours`)."""
    shapes = tuple(
        Shape(
            id=str(r.shape_id),
            vcpus=float(r.vcpus),
            memory_mib=float(r.memory_mib),
            gpus=int(r.gpus),
            arch=_arch(r.arch),
            spot_ok=bool(r.spot_ok),
        )
        for r in profile.shapes.itertuples(index=False)
    )
    demand = profile.counts.astype(np.int64)
    gang_hours: dict[str, np.ndarray] = {}
    if gangs is not None and len(gangs.shapes):
        gang_shapes = tuple(
            Shape(
                id=str(r.shape_id),
                vcpus=float(r.vcpus),
                memory_mib=float(r.memory_mib),
                gpus=int(r.gpus),
                arch=_arch(r.arch),
                spot_ok=False,  # Batch runs MNP jobs only on on-demand compute environments
                nodes=int(r.nodes),
                gang=None if r.gang is None or not isinstance(r.gang, str) else r.gang,
                instance_types=r.instance_types if isinstance(r.instance_types, tuple) else None,
                **_gang_network(policy, bool(r.efa)),
            )
            for r in gangs.shapes.itertuples(index=False)
        )
        shapes += gang_shapes
        demand = np.vstack([demand, gangs.counts.astype(np.int64)])
        # What the gangs' nodes are paid for: the hours their jobs held them, not whole buckets.
        gang_hours = {s.id: gangs.hours[k].astype(float) for k, s in enumerate(gang_shapes)}
    return Problem(profile.bucket_seconds, shapes, demand, tuple(offerings), policy, gang_hours=gang_hours)


def canonical_jobs(jobs: pd.DataFrame) -> pd.DataFrame:
    """Store-form jobs (created_at/started_at/stopped_at datetimes) -> canonical trace columns."""
    if "submit_s" in jobs.columns:
        return jobs
    needed = ("job_id", "created_at", "started_at", "stopped_at", "vcpus", "memory_mib", "gpus")
    missing = [c for c in needed if c not in jobs.columns]
    if missing:
        raise InputError(f"jobs: missing column(s) {', '.join(missing)}")
    # MNP jobs: the node rows are the work (their parent row would count the job twice).
    jobs, parent, node_index, num_nodes = mnp_columns_from_store(jobs)
    jobs = jobs.assign(mnp_parent=parent, node_index=node_index, num_nodes=num_nodes)
    ran = jobs.dropna(subset=["started_at", "stopped_at"])
    origin = pd.Timestamp(ran["created_at"].min()) if len(ran) else pd.Timestamp(0)
    started = pd.to_datetime(ran["started_at"])
    return pd.DataFrame(
        {
            "job_id": ran["job_id"].astype(str),
            "submit_s": (pd.to_datetime(ran["created_at"]) - origin).dt.total_seconds(),
            "start_s": (started - origin).dt.total_seconds(),
            "runtime_s": (pd.to_datetime(ran["stopped_at"]) - started).dt.total_seconds().clip(lower=0),
            "vcpus": ran["vcpus"].astype(float),
            "memory_mib": ran["memory_mib"].astype(float),
            "gpus": ran["gpus"].fillna(0).astype(int),
            "queue": ran.get("queue", pd.Series("", index=ran.index)).astype(str),
            "job_name": ran.get("job_name", pd.Series("", index=ran.index)).astype(str),
            "arch": None,
            "mnp_parent": ran["mnp_parent"],
            "node_index": ran["node_index"],
            # A job that passes EFA devices through needs a host with EFA (unknown: it asked for none).
            "efa": pd.to_numeric(ran.get("efa_devices", pd.Series(0, index=ran.index)), errors="coerce")
            .fillna(0)
            .gt(0),
        }
    )


def build_problem(
    jobs_df: pd.DataFrame,
    catalog: CatalogProvider,
    policy: Policy,
    *,
    spot: bool = True,
    spot_rates: Mapping[str, float] | None = None,
    bucket_seconds: float = 3600.0,
    start_s: float | None = None,
    end_s: float | None = None,
    grid: ShapeGrid | None = None,
    default_arch: str | None = "x86_64",
    on_demand_queues: frozenset[str] = frozenset(),
) -> Problem:
    """The whole pipeline: jobs -> demand profile; catalogue -> offerings; + policy -> Problem.

    Jobs in `on_demand_queues` become shapes with spot_ok = False. The nodes of multi-node parallel
    jobs (rows with `mnp_parent`) become gang demand (`optimizer.analysis.gang_demand`), over the
    same buckets as the other jobs.
    """
    jobs = canonical_jobs(jobs_df)
    if on_demand_queues and "queue" in jobs.columns:
        jobs = jobs.assign(spot_ok=~jobs["queue"].isin(on_demand_queues))
    is_node = node_rows(jobs)
    gangs: GangProfile | None = None
    if is_node.any():
        begin = (jobs["start_s"] if "start_s" in jobs.columns else jobs["submit_s"]).to_numpy(dtype=float)
        finish = begin + jobs["runtime_s"].to_numpy(dtype=float)
        start_s = float(begin.min()) if start_s is None else start_s
        end_s = float(finish.max()) if end_s is None else end_s
        n_buckets = max(1, int(np.ceil((end_s - start_s) / bucket_seconds - 1e-9)))
        gangs = gang_profile(
            jobs[is_node],
            start_s=start_s,
            n_buckets=n_buckets,
            bucket_seconds=bucket_seconds,
            grid=grid,
            default_arch=default_arch,
        )
        jobs = jobs[~is_node]
        end_s = start_s + n_buckets * bucket_seconds
    profile = demand_profile(
        jobs,
        bucket_seconds=bucket_seconds,
        start_s=start_s,
        end_s=end_s,
        grid=grid,
        default_arch=default_arch,
    )
    offerings = offerings_from_catalog(catalog, spot=spot, spot_rates=spot_rates)
    if not offerings:
        raise InputError(f"no priced instance types for region {catalog.region}")
    return problem_from_profile(profile, offerings, policy, gangs)
