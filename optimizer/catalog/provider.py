"""The catalogue and pricing provider of one region: every part of the product asks it.

One table per region, one row per instance type, with everything a consumer needs to size, price
and risk an instance (karpenter's instance-type and pricing providers are the model):

- specs: vCPUs, memory, allocatable memory (`optimizer.catalog.memory`), GPUs, architecture,
  network bandwidth, and EFA support (`efa_supported`: DescribeInstanceTypes'
  `NetworkInfo.EfaSupported`, `<NA>` where the source does not say; only `True` hosts a job that
  needs EFA);
- what it is (`optimizer.catalog.instance_kinds`): family, generation, category, burstable, bare
  metal, accelerator kind, current generation;
- on-demand price (USD per hour, Linux);
- spot price: the latest collected price per availability zone (DescribeSpotPriceHistory), median
  across zones, with `spot_price_source = "collected"`; where nothing was collected, the Spot Advisor
  estimate on-demand x (1 - savings %), with `spot_price_source = "estimate"`, so every page and
  figure can say it is one;
- spot risk: the Spot Advisor band and the hourly reclaim hazard from the one conversion in
  `optimizer.catalog.interruptions`. A type with a collected price but no band takes the region's
  median band (`spot_band_assumed`).

The zonal series itself stays available (`spot_series`) for the pages that chart it. Sources, in
order: the store (what the collectors read), then the bundled snapshots; `sources` says which one
gave each part. Prices are per region, not per account (list prices are the same for every account;
what an account really pays comes from its bill).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from optimizer.catalog.files import (
    PRICE_SNAPSHOT_REGION,
    load_price_snapshot,
    load_spot_advisor,
    normalise_price_table,
)
from optimizer.catalog.instance_kinds import batch_gpus, instance_kind
from optimizer.catalog.interruptions import band_hourly_hazards
from optimizer.errors import InputError

SERIES_COLUMNS = ("instance_type", "availability_zone", "timestamp", "price")


@dataclass(frozen=True)
class CatalogProvider:
    """The instance types of one region with prices and spot risk (see the module docstring)."""

    region: str
    table: pd.DataFrame
    spot_series: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(SERIES_COLUMNS)))
    sources: Mapping[str, str] = field(default_factory=dict)

    def row(self, instance_type: str) -> pd.Series | None:
        hit = self.table[self.table["instance_type"] == instance_type]
        return None if hit.empty else hit.iloc[0]

    def describe_sources(self) -> str:
        return "; ".join(f"{k}: {v}" for k, v in self.sources.items())


def build_provider(
    prices: pd.DataFrame,
    bands: pd.DataFrame | None = None,
    spot_prices: pd.DataFrame | None = None,
    *,
    region: str,
    sources: Mapping[str, str] | None = None,
    source_name: str = "price table",
) -> CatalogProvider:
    """A provider from frames: `prices` in any spelling `normalise_price_table` reads, `bands` with
    instance_type, band and savings_pct, `spot_prices` with instance_type, availability_zone,
    timestamp and price (a frame with a `spot_price` column per type counts as collected too)."""
    table = normalise_price_table(prices, source_name)
    ok = (table["vcpus"] > 0) & (table["memory_mib"] > 0) & (table["ondemand_price"] > 0)
    table = table[ok.fillna(False)].drop_duplicates("instance_type", keep="last").reset_index(drop=True)
    if table.empty:
        raise InputError(f"{source_name}: no instance type has both a price and its vCPUs and memory")
    table["gpus"] = table["gpus"].fillna(0).astype(int)
    kinds = [instance_kind(t, g) for t, g in zip(table["instance_type"], table["gpus"], strict=True)]
    # (after the kinds: an AMD or Gaudi type stays an accelerated type that CPU jobs do not get)
    models = table["gpu_model"] if "gpu_model" in table.columns else pd.Series(None, index=table.index)
    table["gpus"] = [batch_gpus(g, m) for g, m in zip(table["gpus"], models, strict=True)]
    table["family"] = [k.family for k in kinds]
    table["generation_number"] = pd.array([k.generation for k in kinds], dtype="Int64")
    table["category"] = [k.category for k in kinds]
    table["burstable"] = [k.burstable for k in kinds]
    table["bare_metal"] = [k.bare_metal for k in kinds]
    table["accelerator"] = [k.accelerator for k in kinds]
    table["current_generation"] = [k.current_generation for k in kinds]
    series = _series(spot_prices)
    table = _with_spot(table, bands, series)
    return CatalogProvider(region=region, table=table, spot_series=series, sources=dict(sources or {}))


def _series(spot_prices: pd.DataFrame | None) -> pd.DataFrame:
    if spot_prices is None or spot_prices.empty or "price" not in spot_prices.columns:
        return pd.DataFrame(columns=list(SERIES_COLUMNS))
    frame = spot_prices[[c for c in SERIES_COLUMNS if c in spot_prices.columns]].copy()
    for name in SERIES_COLUMNS:
        if name not in frame.columns:
            frame[name] = None
    return frame[list(SERIES_COLUMNS)].reset_index(drop=True)


def _collected_prices(series: pd.DataFrame) -> pd.Series:
    """Latest price per (type, AZ), median across AZs: what launching in any of the CE's subnets costs."""
    if series.empty:
        return pd.Series(dtype=float)
    latest = series.sort_values("timestamp").groupby(["instance_type", "availability_zone"]).tail(1)
    return latest.groupby("instance_type")["price"].median().astype(float)


def _with_spot(table: pd.DataFrame, bands: pd.DataFrame | None, series: pd.DataFrame) -> pd.DataFrame:
    by_type = (
        bands.drop_duplicates("instance_type", keep="last").set_index("instance_type")
        if bands is not None and not bands.empty
        else pd.DataFrame(columns=["band", "savings_pct", "spot_price"])
    )
    collected = _collected_prices(series)
    if "spot_price" in by_type.columns:  # a per-type price frame (files, tests) counts as collected
        given = pd.to_numeric(by_type["spot_price"], errors="coerce").dropna()
        collected = pd.concat([given[~given.index.isin(collected.index)], collected])
    names = table["instance_type"]
    band = pd.to_numeric(names.map(by_type["band"]) if "band" in by_type else np.nan, errors="coerce")
    savings = pd.to_numeric(
        names.map(by_type["savings_pct"]) if "savings_pct" in by_type else np.nan, errors="coerce"
    )
    observed = names.map(collected).astype(float)
    estimate = table["ondemand_price"] * (1.0 - savings / 100.0)
    table["spot_price"] = observed.where(observed.notna(), estimate)
    table["spot_price_source"] = np.where(
        observed.notna(), "collected", np.where(estimate.notna(), "estimate", None)
    )
    known = band.dropna()
    median_band = float(np.round(known.median())) if len(known) else 2.0
    has_spot = table["spot_price"].notna()
    table["spot_band_assumed"] = has_spot & band.isna()
    table["spot_band"] = band.where(~table["spot_band_assumed"], median_band).where(has_spot).astype("Int64")
    table["savings_pct"] = savings
    hazards = band_hourly_hazards(table["spot_band"].astype(float).to_numpy())
    table["spot_hazard_per_hour"] = np.where(has_spot, hazards, 0.0)
    return table


def bundled_prices(region: str) -> tuple[pd.DataFrame, str]:
    """The bundled on-demand price table and its label; it prices us-east-1 only."""
    if region != PRICE_SNAPSHOT_REGION:
        raise InputError(
            f"no on-demand prices for region {region}: collect them (`batchopt collect` reads the Price "
            f"List API; `batchopt simulate` also takes --prices FILE); the bundled snapshot prices "
            f"{PRICE_SNAPSHOT_REGION} only"
        )
    prices = load_price_snapshot()
    return prices, f"bundled price list of {str(prices['effective_date'].iloc[0])[:10]}"


def advisor_sources(bands: pd.DataFrame, label: str) -> dict[str, str]:
    """How the interruption bands (and, without collected prices, spot prices) were sourced."""
    dates = sorted({str(d)[:10] for d in bands.get("snapshot_date", pd.Series(dtype=str)).dropna()})
    return {"interruption bands": f"{label} {dates[-1]}" if dates else "none"}


def bundled_catalog(region: str) -> CatalogProvider:
    """The bundled snapshots for `region`: on-demand prices exist for us-east-1 only."""
    prices, label = bundled_prices(region)
    bands = load_spot_advisor(region)
    sources = {"on-demand": label, **advisor_sources(bands, "Spot Advisor")}
    sources["spot"] = "Spot Advisor estimate (no spot prices collected)"
    return build_provider(prices, bands, region=region, sources=sources, source_name="bundled price snapshot")
