"""Read everything the strategies need from the store (the I/O edge of `optimizer.recommend`).

One `RecommendInputs` per (account, region) of the collected estate (CE and queue names are unique
only there). The replay history is the stored dataset's jobs of that account and region (imported
traces, which carry neither, belong to every scope): exactly what `batchopt simulate --dataset NAME
--region R --account A` replays, so every savings figure can be reproduced from its evidence.
Prices come from the region's one catalogue (`optimizer.catalog.from_store.catalog_for_region`),
the same one that command builds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Engine, select

from optimizer.analysis.stored import read_demand_forecasts
from optimizer.catalog.from_store import catalog_for_region
from optimizer.catalog.provider import CatalogProvider
from optimizer.catalog.requirements import InstanceRequirements
from optimizer.config import CommitmentSettings
from optimizer.errors import UserError
from optimizer.fleet.commitment_share import read_commitment_use
from optimizer.fleet.commitments import CommitmentsInForce, commitments_in_force
from optimizer.ml.interruptions import interruption_rates, observed_reclaims
from optimizer.recommend.estate import estate_document
from optimizer.recommend.inputs_model import RecommendInputs
from optimizer.recommend.measured import measured_cost
from optimizer.recommend.savings import ReplayBaseline
from optimizer.simulate import catalog_from_provider
from optimizer.simulate.datasets import load_dataset
from optimizer.simulate.never_started import measured_runtime_s
from optimizer.store.read import attempts_frame, instances_frame, jobs_frame, read_frame
from optimizer.store.schema import COLLECTED_DATASET, compute_environments, job_definitions, job_queues

#: The forecast row that sums every queue (`optimizer.analysis.stored.read_demand_forecasts`).
ALL_QUEUES = "(all)"
log = logging.getLogger(__name__)


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


def estate_commitments(
    engine: Engine,
    configured: Sequence[CommitmentSettings],
    region: str,
    provider: CatalogProvider,
    history: pd.DataFrame,
    start: Any,
    ces: list[dict[str, Any]],
) -> tuple[CommitmentsInForce, CommitmentsInForce, dict[str, float | None]]:
    """(the commitments a replay of the whole Batch estate is priced with, the account's whole in
    force in the region over the history window (bill and configuration), each compute
    environment's share of their use by CE ARN, `commitment_share`). A replay of every queue covers
    the estate's on-demand hours, not the account's other usage, so it gets the estate's share of
    the account's commitments. The recommendation baselines and the demo's plan replays both take
    theirs from here, so their figures are after the same commitments."""
    begin = pd.Timestamp(start).to_pydatetime().replace(tzinfo=None)
    span = float((history["submit_s"] + measured_runtime_s(history)).max()) if not history.empty else 0.0
    until = begin + timedelta(seconds=max(span, 3600.0))
    prices = dict(zip(provider.table["instance_type"], provider.table["ondemand_price"], strict=True))
    whole = commitments_in_force(
        engine, configured, region=region, since=begin, until=until, on_demand_prices=prices
    )
    if not whole.commitments:
        return whole, whole, {}
    arns = [str(ce["computeEnvironmentArn"]) for ce in ces]
    use = read_commitment_use(engine, since=begin, until=until)
    shares = {arn: use.environments([arn]) for arn in arns}
    return whole.shared(use.environments(arns), "the Batch estate"), whole, shares


def estate_replay_commitments(
    engine: Engine,
    configured: Sequence[CommitmentSettings],
    *,
    account: str,
    region: str,
    history: pd.DataFrame,
    start: Any,
) -> CommitmentsInForce:
    """`estate_commitments` for the stored estate of (account, region), read from the store (its
    compute environments and the region's catalogue), for a caller with its own history and
    configuration document to replay (the demo's replay stage)."""
    ces = _items(engine, compute_environments, account, region)
    provider = catalog_for_region(engine, region)
    return estate_commitments(engine, configured, region, provider, history, start, ces)[0]


def load_recommend_inputs(
    engine: Engine,
    *,
    dataset: str = COLLECTED_DATASET,
    seed: int = 0,
    clock: Callable[[], float] = time.monotonic,
    requirements: InstanceRequirements | None = None,
    commitments: Sequence[CommitmentSettings] = (),
) -> list[RecommendInputs]:
    """One snapshot per (account, region) of the estate; regions without prices are left out."""
    out = []
    all_jobs = jobs_frame(engine, dataset=dataset)
    if all_jobs.empty:
        return []
    attempts = attempts_frame(engine, dataset=dataset)
    forecast = read_demand_forecasts(engine, dataset=dataset, queues=[ALL_QUEUES], metric="vcpus")
    forecast = forecast if not forecast.empty else None
    fleet = instances_frame(engine, dataset=dataset)
    for account, region in scopes(engine):
        try:
            provider = catalog_for_region(engine, region)
            history, start = load_dataset(engine, dataset, region=region, account_id=account)
        except UserError as exc:
            log.warning("no recommendations for %s/%s: %s", account, region, exc)
            continue
        catalog = catalog_from_provider(provider)
        ces = _items(engine, compute_environments, account, region)
        queues = _items(engine, job_queues, account, region)
        jobs = all_jobs
        # Imported traces carry no account or region: they are the history of every scope.
        for column, value in (("region", region), ("account_id", account)):
            if column in jobs and jobs[column].notna().any():
                jobs = jobs[jobs[column].isna() | (jobs[column] == value)]
        bands = provider.table[["instance_type", "spot_band"]].rename(columns={"spot_band": "band"})
        bands = bands.dropna().assign(region=region)
        region_attempts = attempts[attempts["job_id"].isin(jobs["job_id"])].reset_index(drop=True)
        region_fleet = fleet[fleet["region"] == region] if "region" in fleet else fleet
        baseline = ReplayBaseline(
            dataset=dataset,
            jobs=history,
            catalog=catalog,
            current_document=estate_document(ces, queues, catalog, seed),
            seed=seed,
            window_start=pd.Timestamp(start).isoformat(),
            account_id=account,
            price_sources=provider.describe_sources(),
        )
        in_force, whole, shares = estate_commitments(
            engine, commitments, region, provider, history, start, ces
        )
        baseline.commitments = in_force.commitments
        baseline.observed_cost_usd = measured_cost(
            engine,
            dataset,
            account_id=account,
            region=region,
            start=pd.Timestamp(start).to_pydatetime(),
            window_days=baseline.window_days,
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
                catalog=provider,
                spot_rates=spot_rates(region_fleet, region_attempts, bands),
                clock=clock,
                account_id=account,
                requirements=requirements or InstanceRequirements(),
                commitments=in_force,
                account_commitments=whole,
                commitment_shares=shares,
                demand_forecast=forecast,
            )
        )
    return out
