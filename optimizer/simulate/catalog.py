"""The instance types, prices and interruption rates a replay launches from (pure; built from frames).

The simulator never reads price files itself: the CLI (or the store) hands it a frame of types
and prices, which keeps the replay reproducible and testable with a handful of rows.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import pandas as pd

from optimizer.catalog_rules import allocatable_memory_mib
from optimizer.data import BAND_MONTHLY_RATE
from optimizer.errors import InputError

SECONDS_PER_MONTH = 30 * 24 * 3600.0

# Spot Instance Advisor bands are monthly interruption frequencies ("<5%", "5-10%", ...). The replay
# uses the project's one convention (`optimizer.data.BAND_MONTHLY_RATE`: each band's midpoint, 25%
# for ">20%") as the monthly probability that an instance is reclaimed; the hazard rate follows as
# -ln(1 - p) per month (memoryless reclaims).


def hazard_per_second(monthly_rate: float) -> float:
    """Per-second reclaim hazard of an exponential lifetime with this monthly probability."""
    if monthly_rate <= 0:
        return 0.0
    return -math.log(1.0 - min(monthly_rate, 0.999)) / SECONDS_PER_MONTH


@dataclass(frozen=True)
class InstanceSpec:
    """One instance type as a replay sees it: capacity after overhead, prices, spot risk."""

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

    @property
    def spot_interruption_rate(self) -> float:
        """Monthly reclaim probability; 0 when the type has no spot data (it is then not offered)."""
        return BAND_MONTHLY_RATE.get(self.spot_band, 0.0) if self.spot_band is not None else 0.0


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


_REQUIRED = ("instance_type", "vcpus", "memory_mib", "ondemand_price")
# Price lists say amd64/aarch64 where the Batch and EC2 APIs say x86_64/arm64.
_ARCH_NAMES = {"amd64": "x86_64", "x86_64": "x86_64", "arm64": "arm64", "aarch64": "arm64"}


def build_catalog(
    prices: pd.DataFrame,
    spot: pd.DataFrame | None = None,
    *,
    fargate: FargatePricing | None = None,
    region: str = "us-east-1",
) -> Catalog:
    """Catalog from a prices frame and an optional spot frame.

    `prices` columns: instance_type, vcpus, memory_mib, ondemand_price, and optionally gpus, arch,
    family, allocatable_memory_mib (computed by `allocatable_memory_mib` when absent).
    `spot` columns: instance_type, and spot_price and/or savings_pct (Spot Advisor `s`), band (0-4).
    Rows without a price or a vCPU count are left out (a type that cannot be priced cannot be
    replayed honestly).
    """
    missing = [c for c in _REQUIRED if c not in prices.columns]
    if missing:
        raise InputError(f"price table: missing column(s) {', '.join(missing)}")
    spot_rows: dict[str, tuple[float | None, float | None, int | None]] = {}
    if spot is not None:
        for row in spot.to_dict("records"):
            band = row.get("band")
            spot_rows[str(row["instance_type"])] = (
                _num(row.get("spot_price")),
                _num(row.get("savings_pct")),
                int(band) if _num(band) is not None else None,
            )
    types: dict[str, InstanceSpec] = {}
    for row in prices.to_dict("records"):
        name = str(row["instance_type"])
        vcpus, memory, price = _num(row["vcpus"]), _num(row["memory_mib"]), _num(row["ondemand_price"])
        if vcpus is None or memory is None or price is None or vcpus <= 0 or memory <= 0 or price <= 0:
            continue
        allocatable = _num(row.get("allocatable_memory_mib"))
        spot_price, savings, band = spot_rows.get(name, (None, None, None))
        if spot_price is None and savings is not None:
            spot_price = price * (1.0 - savings / 100.0)
        types[name] = InstanceSpec(
            instance_type=name,
            family=str(row.get("family") or name.split(".")[0]),
            vcpus=vcpus,
            memory_mib=memory,
            allocatable_memory_mib=allocatable if allocatable is not None else allocatable_memory_mib(memory),
            gpus=int(_num(row.get("gpus")) or 0),
            arch=_ARCH_NAMES.get(str(row.get("arch") or "x86_64").lower(), str(row.get("arch"))),
            ondemand_price=price,
            spot_price=spot_price,
            spot_band=band if spot_price is not None else None,
        )
    if not types:
        raise InputError("price table: no instance type has both a price and its vCPUs and memory")
    return Catalog(types=types, fargate=fargate or FargatePricing(), region=region)


def _num(value: object) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def specs_named(catalog: Catalog, names: Iterable[str]) -> list[InstanceSpec]:
    """Specs in catalog order for the given names (unknown names are the caller's to report)."""
    wanted = set(names)
    return [spec for name, spec in catalog.types.items() if name in wanted]
