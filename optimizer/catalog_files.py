"""Readers for the bundled catalogue files, into the store's column contract (this module does I/O).

- Price CSV (`ec2-ondemand-<region>-<date>.csv`, columns `instance_type, ondemand_usd_per_hour_<region
  with underscores>_linux, vcpu, memory_mib, arch, family, generation, gpu_count, gpu_name,
  gpu_memory_mib, network_bandwidth_mbps, ...`) -> `instance_types` and `ondemand_prices` frames.
- Spot Instance Advisor JSON (`spot_advisor[region][os][type] = {s: savings %, r: band}`) ->
  `spot_interruption_bands` frame.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd

from optimizer.catalog_rules import allocatable_memory_mib
from optimizer.errors import InputError

SPOT_BAND_COLUMNS = ("region", "instance_type", "band", "band_label", "savings_pct", "snapshot_date")
BAND_LABELS = ("<5%", "5-10%", "10-15%", "15-20%", ">20%")
#: Architecture spellings in price files -> the names EC2 and Batch use.
ARCH_NAMES = {"amd64": "x86_64", "x86_64": "x86_64", "arm64": "arm64", "aarch64": "arm64"}


def read_price_csv(
    path: str | Path, region: str, effective_date: str = ""
) -> tuple[pd.DataFrame, pd.DataFrame]:
    p = Path(path)
    try:
        raw = pd.read_csv(p)
    except (OSError, pd.errors.ParserError) as exc:
        raise InputError(f"{p}: cannot read price CSV: {exc}") from None
    price_cols = [c for c in raw.columns if c.startswith("ondemand_usd_per_hour")]
    needed = ["instance_type", "vcpu", "memory_mib", "arch"]
    missing = [c for c in needed if c not in raw.columns] + (
        [] if price_cols else ["ondemand_usd_per_hour_*"]
    )
    if missing:
        raise InputError(f"{p}: missing column(s) {', '.join(missing)}")
    raw = raw.dropna(subset=[price_cols[0], "vcpu", "memory_mib", "arch"])
    memory = raw["memory_mib"].astype(float)
    gpus = raw["gpu_count"].fillna(0).astype(int) if "gpu_count" in raw.columns else 0
    types = pd.DataFrame(
        {
            "region": region,
            "instance_type": raw["instance_type"].astype(str),
            "vcpus": raw["vcpu"].astype(float),
            "memory_mib": memory.astype(np.int64),
            "allocatable_memory_mib": [allocatable_memory_mib(m) for m in memory],
            "gpus": gpus,
            "gpu_model": raw.get("gpu_name"),
            "gpu_memory_mib": raw.get("gpu_memory_mib"),
            "arch": raw["arch"].astype(str).map(lambda a: ARCH_NAMES.get(a, a)),
            "family": raw.get("family"),
            "generation": raw.get("generation"),
            "network_performance": raw.get("network_bandwidth_mbps"),
            "current_generation": True,
        }
    ).reset_index(drop=True)
    prices = pd.DataFrame(
        {
            "region": region,
            "instance_type": raw["instance_type"].astype(str).to_numpy(),
            "effective_date": effective_date or p.stem,
            "price_per_hour": raw[price_cols[0]].astype(float).to_numpy(),
            "source": p.name,
        }
    )
    return types, prices


def read_spot_advisor(path: str | Path, region: str, os_name: str = "Linux") -> pd.DataFrame:
    """The feed (plain or gzip) -> `spot_interruption_bands` rows for one region and OS."""
    p = Path(path)
    try:
        raw = p.read_bytes()
        data = json.loads(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)
        entries = data["spot_advisor"][region][os_name]
    except (OSError, ValueError) as exc:
        raise InputError(f"{p}: cannot read Spot Advisor data: {exc}") from None
    except (KeyError, TypeError):
        raise InputError(f"{p}: spot_advisor.{region}.{os_name}: not in the file") from None
    rows = [
        {
            "region": region,
            "instance_type": name,
            "band": int(v["r"]),
            "band_label": BAND_LABELS[int(v["r"])] if 0 <= int(v["r"]) < len(BAND_LABELS) else str(v["r"]),
            "savings_pct": float(v["s"]),
            "snapshot_date": p.stem.rsplit("_", 1)[-1],
        }
        for name, v in entries.items()
        if isinstance(v, dict) and "s" in v and "r" in v
    ]
    return pd.DataFrame(rows, columns=list(SPOT_BAND_COLUMNS))
