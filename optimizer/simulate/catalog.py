"""The instance types, prices and interruption hazards a replay launches from (pure).

The replay never prices anything itself: it reads the region's `optimizer.catalog.CatalogProvider`
(the same table the solver and every strategy use), so a replay and a plan agree on every price and
hazard. `build_catalog` wraps the provider's `build_provider` for callers holding plain frames.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import pandas as pd

from optimizer.catalog.interruptions import hazard_from_monthly_probability
from optimizer.catalog.provider import CatalogProvider, build_provider


@dataclass(frozen=True)
class InstanceSpec:
    """One instance type as a replay sees it: capacity after overhead, prices, spot risk.

    `spot_hazard_per_hour` is the catalogue's reclaim hazard (0 when the type has no spot price; it is
    then not offered on spot); `spot_price_estimated` says the spot price is the Spot Advisor estimate.
    """

    instance_type: str
    family: str
    vcpus: float
    memory_mib: float
    allocatable_memory_mib: float
    gpus: int
    arch: str
    ondemand_price: float
    spot_price: float | None = None
    spot_band: int | None = None
    spot_hazard_per_hour: float = 0.0
    spot_price_estimated: bool = False


@dataclass(frozen=True)
class FargatePricing:
    """Per-second Fargate prices (USD per hour of a vCPU and of a GiB), 1-minute minimum.

    Defaults: Linux/x86 in us-east-1 ($0.04048 per vCPU-hour, $0.004445 per GB-hour, AWS Fargate
    pricing page 2026); Fargate Spot "up to 70%" off, taken as exactly 70%; Fargate Spot publishes
    no interruption frequency, so the "<5%" advisor band's midpoint is assumed.
    """

    vcpu_hour: float = 0.04048
    gib_hour: float = 0.004445
    spot_discount: float = 0.70
    spot_interruption_rate: float = 0.025
    minimum_seconds: float = 60.0

    @property
    def spot_hazard_per_hour(self) -> float:
        return hazard_from_monthly_probability(self.spot_interruption_rate)


@dataclass(frozen=True)
class Catalog:
    """Instance types by name plus Fargate prices; the region is informational."""

    types: Mapping[str, InstanceSpec]
    fargate: FargatePricing = field(default_factory=FargatePricing)
    region: str = "us-east-1"

    def families(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for spec in self.types.values():
            out.setdefault(spec.family, []).append(spec.instance_type)
        return out


def catalog_from_provider(provider: CatalogProvider, fargate: FargatePricing | None = None) -> Catalog:
    """The replay's view of a region's catalogue (the provider's table, row for row)."""
    types: dict[str, InstanceSpec] = {}
    for row in provider.table.itertuples(index=False):
        spot = None if pd.isna(row.spot_price) else float(row.spot_price)
        types[str(row.instance_type)] = InstanceSpec(
            instance_type=str(row.instance_type),
            family=str(row.family),
            vcpus=float(row.vcpus),
            memory_mib=float(row.memory_mib),
            allocatable_memory_mib=float(row.allocatable_memory_mib),
            gpus=int(row.gpus),
            arch=str(row.arch),
            ondemand_price=float(row.ondemand_price),
            spot_price=spot,
            spot_band=None if spot is None or pd.isna(row.spot_band) else int(row.spot_band),
            spot_hazard_per_hour=float(row.spot_hazard_per_hour) if spot is not None else 0.0,
            spot_price_estimated=row.spot_price_source == "estimate",
        )
    return Catalog(types=types, fargate=fargate or FargatePricing(), region=provider.region)


def build_catalog(
    prices: pd.DataFrame,
    spot: pd.DataFrame | None = None,
    *,
    fargate: FargatePricing | None = None,
    region: str = "us-east-1",
) -> Catalog:
    """Catalog from a price frame and an optional spot frame (instance_type, band, savings_pct and/or
    spot_price), through the catalogue provider so the rules are the provider's."""
    return catalog_from_provider(build_provider(prices, spot, region=region), fargate)


def specs_named(catalog: Catalog, names: Iterable[str]) -> list[InstanceSpec]:
    """Specs in catalog order for the given names (unknown names are the caller's to report)."""
    wanted = set(names)
    return [spec for name, spec in catalog.types.items() if name in wanted]
