"""Bundled reference data: an on-demand price + instance spec snapshot and the Spot Advisor bands.

The solver and simulator need a catalog even when the store is empty (a demo, a first run before
any collection, a region the Price List API cannot be reached from), so these snapshots ship with
the package. The loaders are pure reads of package files; see README.md here for sources, licences
and `python -m optimizer.data.build_snapshots` to regenerate them.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pandas as pd

DATA_DIR = Path(__file__).resolve().parent
PRICE_SNAPSHOT_FILE = DATA_DIR / "ondemand_prices_us-east-1.csv"
SPOT_ADVISOR_FILE = DATA_DIR / "spot_advisor_linux.csv.gz"
PRICE_SNAPSHOT_REGION = "us-east-1"

_PRICE_DTYPES = {
    "instance_type": "string",
    "region": "string",
    "price_per_hour": "float64",
    "vcpus": "Int64",
    "memory_mib": "Int64",
    "allocatable_memory_mib": "Int64",
    "gpus": "Int64",
    "gpu_model": "string",
    "gpu_memory_mib": "Int64",
    "arch": "string",
    "family": "string",
    "generation": "string",
    "network_bandwidth_mbps": "Int64",
}


@lru_cache(maxsize=1)
def _price_snapshot() -> pd.DataFrame:
    frame = pd.read_csv(PRICE_SNAPSHOT_FILE, dtype=_PRICE_DTYPES, parse_dates=["effective_date"])
    return frame


def load_price_snapshot() -> pd.DataFrame:
    """On-demand Linux prices (USD/hour, us-east-1) with specs, one row per instance type.

    Columns: instance_type, region, price_per_hour (NaN where AWS lists no price), effective_date,
    vcpus, memory_mib, allocatable_memory_mib, gpus, gpu_model, gpu_memory_mib, arch, family,
    generation, network_bandwidth_mbps. A fresh copy each call, so callers may modify it.
    """
    return _price_snapshot().copy()


@lru_cache(maxsize=1)
def _spot_advisor() -> pd.DataFrame:
    return pd.read_csv(
        SPOT_ADVISOR_FILE,
        dtype={"region": "string", "instance_type": "string", "band": "int64", "band_label": "string"},
        parse_dates=["snapshot_date"],
    )


def load_spot_advisor(region: str | None = None) -> pd.DataFrame:
    """Spot Instance Advisor bands for Linux: region, instance_type, band (0 "<5%" .. 4 ">20%"
    interruptions per month), band_label, savings_pct (vs on-demand), snapshot_date."""
    frame = _spot_advisor()
    if region is not None:
        frame = frame[frame["region"] == region]
    return frame.reset_index(drop=True).copy()


BAND_MONTHLY_RATE = {0: 0.025, 1: 0.075, 2: 0.125, 3: 0.175, 4: 0.25}
"""A monthly interruption probability per band: the midpoint of each band's range, and 25% for the
open-ended ">20%" band. A documented convention for callers that need one number per band."""

__all__ = [
    "BAND_MONTHLY_RATE",
    "PRICE_SNAPSHOT_REGION",
    "load_price_snapshot",
    "load_spot_advisor",
]
