"""Build a `batchopt.problem/v1` from frames: jobs, instance catalogue, prices, spot bands, policy.

Pure: the frames follow the store's column contract (`instance_types`, `ondemand_prices`,
`spot_interruption_bands`, and `jobs` either in the store's form or the canonical trace form), so
the same code serves `batchopt optimize --queue` and the benchmark on real traces.

Spot offerings: price = on-demand x (1 - savings_pct/100) (the Spot Advisor estimate); interruption
rate per instance-hour = the middle of the band's monthly frequency / 730 h, with ">20%" taken as
25%: 2.5%, 7.5%, 12.5%, 17.5%, 25% a month.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from optimizer.analysis.demand_profile import DemandProfile, ShapeGrid, demand_profile
from optimizer.errors import InputError
from optimizer.solver.problem import Offering, Policy, Problem, Shape

BAND_MONTHLY_INTERRUPTION = (0.025, 0.075, 0.125, 0.175, 0.25)
HOURS_PER_MONTH = 730.0


def hourly_interruption_rate(band: int) -> float:
    if not 0 <= band < len(BAND_MONTHLY_INTERRUPTION):
        raise InputError(f"spot interruption band {band}: must be 0-4")
    return BAND_MONTHLY_INTERRUPTION[band] / HOURS_PER_MONTH


def offerings_from_frames(
    instance_types: pd.DataFrame,
    prices: pd.DataFrame,
    bands: pd.DataFrame | None,
    *,
    region: str,
    spot: bool = True,
) -> list[Offering]:
    """On-demand offerings for every priced type, plus spot ones where the Spot Advisor has a band."""
    types = instance_types[instance_types["region"] == region]
    latest = (
        prices[prices["region"] == region]
        .sort_values("effective_date")
        .drop_duplicates("instance_type", keep="last")
        .set_index("instance_type")["price_per_hour"]
    )
    band_rows = (
        bands[bands["region"] == region].set_index("instance_type")
        if bands is not None and len(bands)
        else None
    )
    out: list[Offering] = []
    for row in types.itertuples(index=False):
        price = latest.get(row.instance_type)
        if price is None or not np.isfinite(price) or row.allocatable_memory_mib <= 0:
            continue
        common = {
            "instance_type": row.instance_type,
            "vcpus": float(row.vcpus),
            "memory_mib": float(row.allocatable_memory_mib),
            "gpus": int(row.gpus or 0),
            "arch": str(row.arch),
        }
        out.append(Offering(capacity_type="ON_DEMAND", price_per_hour=float(price), **common))
        if spot and band_rows is not None and row.instance_type in band_rows.index:
            b = band_rows.loc[row.instance_type]
            out.append(
                Offering(
                    capacity_type="SPOT",
                    price_per_hour=float(price) * (1.0 - float(b["savings_pct"]) / 100.0),
                    interruption_rate=hourly_interruption_rate(int(b["band"])),
                    **common,
                )
            )
    return out


def problem_from_profile(profile: DemandProfile, offerings: list[Offering], policy: Policy) -> Problem:
    shapes = tuple(
        Shape(
            id=str(r.shape_id),
            vcpus=float(r.vcpus),
            memory_mib=float(r.memory_mib),
            gpus=int(r.gpus),
            arch=None if r.arch is None or (isinstance(r.arch, float) and np.isnan(r.arch)) else str(r.arch),
            spot_ok=bool(r.spot_ok),
        )
        for r in profile.shapes.itertuples(index=False)
    )
    return Problem(profile.bucket_seconds, shapes, profile.counts.astype(np.int64), tuple(offerings), policy)


def canonical_jobs(jobs: pd.DataFrame) -> pd.DataFrame:
    """Store-form jobs (created_at/started_at/stopped_at datetimes) -> canonical trace columns."""
    if "submit_s" in jobs.columns:
        return jobs
    needed = ("job_id", "created_at", "started_at", "stopped_at", "vcpus", "memory_mib", "gpus")
    missing = [c for c in needed if c not in jobs.columns]
    if missing:
        raise InputError(f"jobs: missing column(s) {', '.join(missing)}")
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
        }
    )


def build_problem_from_frames(
    jobs_df: pd.DataFrame,
    instance_types_df: pd.DataFrame,
    prices_df: pd.DataFrame,
    bands_df: pd.DataFrame | None,
    policy: Policy,
    *,
    region: str = "us-east-1",
    bucket_seconds: float = 3600.0,
    start_s: float | None = None,
    end_s: float | None = None,
    grid: ShapeGrid | None = None,
    default_arch: str | None = "x86_64",
    on_demand_queues: frozenset[str] = frozenset(),
) -> Problem:
    """The whole pipeline: jobs -> demand profile; catalogue -> offerings; + policy -> Problem.

    Jobs in `on_demand_queues` become shapes with spot_ok = False.
    """
    jobs = canonical_jobs(jobs_df)
    if on_demand_queues and "queue" in jobs.columns:
        jobs = jobs.assign(spot_ok=~jobs["queue"].isin(on_demand_queues))
    profile = demand_profile(
        jobs,
        bucket_seconds=bucket_seconds,
        start_s=start_s,
        end_s=end_s,
        grid=grid,
        default_arch=default_arch,
    )
    offerings = offerings_from_frames(instance_types_df, prices_df, bands_df, region=region)
    if not offerings:
        raise InputError(f"no priced instance types for region {region}")
    return problem_from_profile(profile, offerings, policy)
