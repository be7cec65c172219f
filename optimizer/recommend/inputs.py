"""Read everything the strategies need from the store (the I/O edge of `optimizer.recommend`).

One `RecommendInputs` per (account, region) of the collected estate (CE and queue names are unique
only there). The replay history is the whole stored
dataset (`load_dataset`), which is exactly what `batchopt simulate --dataset NAME` replays, so every
savings figure can be reproduced from its evidence. Prices follow the same rule as that command:
the store's catalogue and Spot Advisor bands when collected, else the bundled snapshots.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pandas as pd
from sqlalchemy import Engine, select

from optimizer.data import PRICE_SNAPSHOT_REGION, load_price_snapshot
from optimizer.datasets import load_dataset
from optimizer.ml.interruptions import interruption_rates, observed_reclaims
from optimizer.pricing_files import bundled_price_table, bundled_spot_advisor
from optimizer.recommend.estate import estate_document
from optimizer.recommend.inputs_model import RecommendInputs
from optimizer.recommend.savings import ReplayBaseline
from optimizer.simulate import Catalog, build_catalog
from optimizer.store.read import (
    attempts_frame,
    catalog_frame,
    instances_frame,
    interruption_bands_frame,
    jobs_frame,
    read_frame,
)
from optimizer.store.schema import (
    COLLECTED_DATASET,
    compute_environments,
    instance_types,
    job_definitions,
    job_queues,
    ondemand_prices,
)


def replay_catalog(engine: Engine, region: str) -> Catalog | None:
    """The price catalogue `batchopt simulate --region R` uses: store first, bundled fallback."""
    prices = catalog_frame(engine, region)
    prices = prices[prices["price_per_hour"].notna()] if "price_per_hour" in prices else prices.iloc[0:0]
    if prices.empty:
        if region != PRICE_SNAPSHOT_REGION:
            return None
        prices = bundled_price_table()
    else:
        prices = prices.rename(columns={"price_per_hour": "ondemand_price"})
    bands = interruption_bands_frame(engine, region)
    if bands.empty:
        bundled = bundled_spot_advisor(region)
        spot = bundled if not bundled.empty else None
    else:
        spot = bands[["instance_type", "savings_pct", "band"]]
    return build_catalog(prices, spot, region=region)


def solver_frames(engine: Engine, region: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(instance types, on-demand prices, interruption bands) for the solver, bundled when uncollected."""
    types = read_frame(engine, select(instance_types).where(instance_types.c.region == region))
    prices = read_frame(engine, select(ondemand_prices).where(ondemand_prices.c.region == region))
    bands = interruption_bands_frame(engine, region)
    if types.empty or prices.empty:
        snap_types, snap_prices, snap_bands = solver_frames_from_snapshot(region)
        types, prices = snap_types, snap_prices
        bands = bands if not bands.empty else snap_bands
    if bands.empty:
        bands = solver_frames_from_snapshot(region)[2]
    return types, prices, bands


def solver_frames_from_snapshot(region: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The bundled snapshots in the store's column names (empty frames for other regions' prices)."""
    bundled = bundled_spot_advisor(region)
    bands = bundled.assign(region=region) if not bundled.empty else pd.DataFrame()
    if region != PRICE_SNAPSHOT_REGION:
        return pd.DataFrame(), pd.DataFrame(), bands
    snapshot = load_price_snapshot().dropna(subset=["price_per_hour", "vcpus", "memory_mib"])
    types = snapshot[
        ["region", "instance_type", "vcpus", "memory_mib", "allocatable_memory_mib", "gpus", "arch"]
    ].assign(gpus=lambda f: f["gpus"].fillna(0).astype(int))
    prices = snapshot[["region", "instance_type", "effective_date", "price_per_hour"]]
    return types, prices, bands


def spot_rates(instances: pd.DataFrame, attempts: pd.DataFrame, bands: pd.DataFrame) -> dict[str, float]:
    """Hourly reclaim rate per instance type from the estate's own spot instances, shrunk to the
    Spot Advisor band (`optimizer.ml.interruptions`); the worst AZ counts, since Batch may launch in
    any of the CE's subnets."""
    if instances.empty or bands.empty or "capacity_type" not in instances:
        return {}
    observed = observed_reclaims(instances, attempts)
    if observed.empty:
        return {}
    rates = interruption_rates(observed, bands)
    return {str(k): float(v) for k, v in rates.groupby("instance_type")["rate"].max().items()}


def _items(engine: Engine, table: Any, account: str, region: str) -> list[dict[str, Any]]:
    query = select(table.c.raw).where(table.c.region == region, table.c.account_id == account)
    if "deleted_at" in table.c:
        query = query.where(table.c.deleted_at.is_(None))
    frame = read_frame(engine, query)
    return [raw for raw in frame["raw"] if isinstance(raw, dict)]


def _latest_definitions(engine: Engine, account: str, region: str) -> list[dict[str, Any]]:
    frame = read_frame(
        engine,
        select(job_definitions.c.name, job_definitions.c.revision, job_definitions.c.raw).where(
            job_definitions.c.region == region,
            job_definitions.c.account_id == account,
            (job_definitions.c.status == "ACTIVE") | job_definitions.c.status.is_(None),
        ),
    )
    if frame.empty:
        return []
    latest = frame.sort_values(["name", "revision"]).drop_duplicates("name", keep="last")
    return [raw for raw in latest["raw"] if isinstance(raw, dict)]


def scopes(engine: Engine) -> list[tuple[str, str]]:
    """(account, region) pairs that have compute environments."""
    frame = read_frame(
        engine,
        select(compute_environments.c.account_id, compute_environments.c.region).where(
            compute_environments.c.deleted_at.is_(None)
        ),
    )
    return sorted(set(zip(frame["account_id"], frame["region"], strict=True)))


def load_inputs(
    engine: Engine,
    *,
    dataset: str = COLLECTED_DATASET,
    seed: int = 0,
    clock: Callable[[], float] = time.monotonic,
) -> list[RecommendInputs]:
    """One snapshot per (account, region) of the estate; regions without prices are left out."""
    out = []
    all_jobs = jobs_frame(engine, dataset=dataset)
    if all_jobs.empty:
        return []
    attempts = attempts_frame(engine, dataset=dataset)
    history, start = load_dataset(engine, dataset)
    fleet = instances_frame(engine, dataset=dataset)
    for account, region in scopes(engine):
        catalog = replay_catalog(engine, region)
        if catalog is None:
            continue
        ces = _items(engine, compute_environments, account, region)
        queues = _items(engine, job_queues, account, region)
        jobs = all_jobs
        # Imported traces carry no account or region: they are the history of every scope.
        for column, value in (("region", region), ("account_id", account)):
            if column in jobs and jobs[column].notna().any():
                jobs = jobs[jobs[column].isna() | (jobs[column] == value)]
        types, prices, bands = solver_frames(engine, region)
        region_attempts = attempts[attempts["job_id"].isin(jobs["job_id"])].reset_index(drop=True)
        region_fleet = fleet[fleet["region"] == region] if "region" in fleet else fleet
        baseline = ReplayBaseline(
            dataset=dataset,
            jobs=history,
            catalog=catalog,
            current_document=estate_document(ces, queues, catalog, seed),
            seed=seed,
            window_start=pd.Timestamp(start).isoformat(),
        )
        out.append(
            RecommendInputs(
                region=region,
                dataset=dataset,
                compute_environments=ces,
                job_queues=queues,
                job_definitions=_latest_definitions(engine, account, region),
                jobs=jobs.reset_index(drop=True),
                attempts=region_attempts,
                baseline=baseline,
                instance_types=types,
                ondemand_prices=prices,
                interruption_bands=bands,
                spot_rates=spot_rates(region_fleet, region_attempts, bands),
                clock=clock,
                account_id=account,
            )
        )
    return out
