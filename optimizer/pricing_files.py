"""Reading price and Spot Advisor files into the frames `simulate.build_catalog` takes.

Kept apart from `optimizer.simulate` so that the replay stays pure; the CLI and the benchmark
read files here, the store-backed path builds the same frames from the price tables.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from optimizer.catalog_files import read_spot_advisor as read_bands
from optimizer.errors import InputError

# Column names of the price snapshot in ../shared/data/prices (and optimizer/data/).
_PRICE_COLUMNS = {
    "instance_type": "instance_type",
    "ondemand_usd_per_hour_us_east_1_linux": "ondemand_price",
    "vcpu": "vcpus",
    "memory_mib": "memory_mib",
    "gpu_count": "gpus",
    "arch": "arch",
    "family": "family",
}


def read_price_table(path: str | Path) -> pd.DataFrame:
    """The EC2 price/spec CSV -> instance_type, ondemand_price, vcpus, memory_mib, gpus, arch, family.

    Accepts the snapshot's own column names or the catalog's (`ondemand_price`, `vcpus`).
    """
    path = Path(path)
    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read the price table: {exc}") from None
    frame = frame.rename(columns={k: v for k, v in _PRICE_COLUMNS.items() if k in frame.columns})
    missing = [
        c for c in ("instance_type", "ondemand_price", "vcpus", "memory_mib") if c not in frame.columns
    ]
    if missing:
        raise InputError(f"{path} line 1: missing column(s) {', '.join(missing)}")
    if "gpus" in frame:
        frame["gpus"] = frame["gpus"].fillna(0).astype(int)
    keep = [
        c
        for c in ("instance_type", "ondemand_price", "vcpus", "memory_mib", "gpus", "arch", "family")
        if c in frame
    ]
    return frame[keep]


def read_spot_advisor(path: str | Path, region: str, os_name: str = "Linux") -> pd.DataFrame:
    """Spot Instance Advisor feed -> instance_type, savings_pct, band for one region and OS."""
    return read_bands(path, region, os_name)[["instance_type", "savings_pct", "band"]]


def bundled_price_table() -> pd.DataFrame:
    """The packaged us-east-1 snapshot (`optimizer.data`) in `read_price_table`'s columns."""
    from optimizer.data import load_price_snapshot

    frame = load_price_snapshot().rename(columns={"price_per_hour": "ondemand_price"})
    frame = frame.dropna(subset=["ondemand_price", "vcpus", "memory_mib"])
    frame["gpus"] = frame["gpus"].fillna(0).astype(int)
    frame["vcpus"] = frame["vcpus"].astype(int)
    frame["memory_mib"] = frame["memory_mib"].astype(int)
    keep = ["instance_type", "ondemand_price", "vcpus", "memory_mib", "gpus", "arch", "family"]
    return (
        frame[keep].astype({"instance_type": object, "arch": object, "family": object}).reset_index(drop=True)
    )


def bundled_spot_advisor(region: str) -> pd.DataFrame:
    """The packaged Spot Advisor snapshot for `region` in `read_spot_advisor`'s columns."""
    from optimizer.data import load_spot_advisor

    frame = load_spot_advisor(region)
    out = frame[["instance_type", "savings_pct", "band"]].astype({"instance_type": object})
    return out.reset_index(drop=True)
