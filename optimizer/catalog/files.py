"""The one reader of price tables and Spot Instance Advisor feeds, bundled or given as files.

Price tables come in three spellings that all mean the same columns: the shared price CSV
(`ec2-ondemand-<region>-<YYYY-MM>.csv`: `vcpu`, `gpu_count`, `gpu_name`,
`ondemand_usd_per_hour_<region>_linux`), the bundled snapshot (the store's names: `vcpus`, `gpus`,
`price_per_hour`) and the catalogue's own (`ondemand_price`). Every one is read into
`PRICE_COLUMNS` here. `efa_supported` (DescribeInstanceTypes' `NetworkInfo.EfaSupported`) is
optional in every spelling: a table or row without it leaves the type's EFA support unknown (`<NA>`),
which hosts nothing that needs EFA. The Spot Advisor feed (`spot_advisor[region][os][type] = {s: savings %, r:
band}`, plain or gzip JSON) and its bundled flattening (one CSV row per region and type) are read into
`BAND_COLUMNS`. The bundled snapshots live in `optimizer/data/` (sources and licences in its README).
"""

from __future__ import annotations

import gzip
import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from optimizer.catalog.instance_kinds import architecture
from optimizer.catalog.interruptions import band_label
from optimizer.catalog.memory import allocatable_memory_mib
from optimizer.errors import InputError

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
PRICE_SNAPSHOT_FILE = DATA_DIR / "ondemand_prices_us-east-1.csv"
SPOT_ADVISOR_FILE = DATA_DIR / "spot_advisor_linux.csv.gz"
#: The only region the bundled on-demand snapshot prices (the Spot Advisor snapshot has every region).
PRICE_SNAPSHOT_REGION = "us-east-1"

PRICE_COLUMNS = (
    "instance_type", "vcpus", "memory_mib", "allocatable_memory_mib", "gpus", "gpu_model",
    "gpu_memory_mib", "arch", "family", "generation", "current_generation", "network_bandwidth_mbps",
    "efa_supported", "ondemand_price",
)  # fmt: skip
BAND_COLUMNS = ("region", "instance_type", "band", "band_label", "savings_pct", "snapshot_date")
#: Architecture spellings in price files -> the names EC2 and Batch use.
ARCH_NAMES = {"amd64": "x86_64", "x86_64": "x86_64", "arm64": "arm64", "aarch64": "arm64"}
_RENAMES = {
    "vcpu": "vcpus",
    "gpu_count": "gpus",
    "gpu_name": "gpu_model",
    "price_per_hour": "ondemand_price",
    "network_performance": "network_bandwidth_mbps",
}
_REQUIRED = ("instance_type", "vcpus", "memory_mib", "ondemand_price")
#: How a boolean cell may be written in a price CSV or a store frame; anything else is unknown.
_TRUE, _FALSE = frozenset({"true", "1", "yes"}), frozenset({"false", "0", "no"})


def efa_column(values: pd.Series | None, index: pd.Index) -> pd.Series:
    """`efa_supported` as a nullable boolean: True, False, or <NA> where not known."""
    if values is None:
        return pd.Series(pd.array([pd.NA] * len(index), dtype="boolean"), index=index)

    def one(v: object) -> bool | None:
        if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
            return None
        if isinstance(v, bool | np.bool_):
            return bool(v)
        text = str(v).strip().lower()
        return True if text in _TRUE else False if text in _FALSE else None

    return pd.Series(pd.array([one(v) for v in values], dtype="boolean"), index=index)


def normalise_price_table(raw: pd.DataFrame, source: str) -> pd.DataFrame:
    """Any accepted spelling -> `PRICE_COLUMNS` (rows without a price or specs keep NaN there)."""
    # A store frame has both EC2's text `network_performance` and the number: the number wins.
    renames = {k: v for k, v in _RENAMES.items() if k in raw.columns and v not in raw.columns}
    frame = raw.drop(columns=[k for k in _RENAMES if k in raw.columns and _RENAMES[k] in raw.columns])
    frame = frame.rename(columns=renames)
    if "ondemand_price" not in frame.columns:
        price_column = _price_column(frame, source)
        if price_column is not None:
            frame = frame.rename(columns={price_column: "ondemand_price"})
    missing = [c for c in _REQUIRED if c not in frame.columns]
    if missing:
        raise InputError(f"{source} line 1: missing column(s) {', '.join(missing)}")
    out = pd.DataFrame(index=frame.index)
    out["instance_type"] = frame["instance_type"].astype(str)
    for name in ("vcpus", "memory_mib", "ondemand_price"):
        out[name] = _numbers(frame[name], name, source)
    has_specs = out["vcpus"].notna()
    gpus = pd.to_numeric(frame.get("gpus", pd.Series(np.nan, index=frame.index)), errors="coerce")
    # No GPU count on a row with specs means no GPU; a row without specs stays unknown.
    out["gpus"] = gpus.where(~has_specs, gpus.fillna(0)).astype("Int64")
    if "allocatable_memory_mib" in frame.columns:
        out["allocatable_memory_mib"] = pd.to_numeric(frame["allocatable_memory_mib"], errors="coerce")
    else:
        out["allocatable_memory_mib"] = np.nan
    computed = [np.nan if pd.isna(m) else float(allocatable_memory_mib(float(m))) for m in out["memory_mib"]]
    out["allocatable_memory_mib"] = out["allocatable_memory_mib"].fillna(pd.Series(computed, index=out.index))
    # Without an arch column (or cell), the architecture the type's name says (Graviton's `g`).
    by_name = out["instance_type"].map(architecture)
    arch = frame["arch"].fillna(by_name) if "arch" in frame.columns else by_name
    out["arch"] = arch.astype(str).str.lower().map(lambda a: ARCH_NAMES.get(a, a))
    families = out["instance_type"].str.split(".", n=1).str[0]
    out["family"] = frame["family"].fillna(families).astype(str) if "family" in frame else families
    for name in ("gpu_model", "generation", "current_generation"):
        out[name] = frame[name] if name in frame.columns else None
    for name in ("gpu_memory_mib", "network_bandwidth_mbps"):
        out[name] = pd.to_numeric(frame[name], errors="coerce") if name in frame.columns else np.nan
    out["efa_supported"] = efa_column(frame.get("efa_supported"), frame.index)
    return out[list(PRICE_COLUMNS)].reset_index(drop=True)


def _price_column(frame: pd.DataFrame, source: str) -> str | None:
    """The `ondemand_usd_per_hour*` column to read: the only one, or the only Linux one among several
    (an extract with one column per operating system); more is ambiguous and refused, since taking
    the first would price Linux jobs at, say, Windows rates."""
    columns = [str(c) for c in frame.columns if str(c).startswith("ondemand_usd_per_hour")]
    if len(columns) <= 1:
        return columns[0] if columns else None
    linux = [c for c in columns if "linux" in c.lower()]
    if len(linux) == 1:
        return linux[0]
    raise InputError(
        f"{source} line 1: several price columns ({', '.join(columns)}): keep the one with the Linux"
        " on-demand price of the region, or name it ondemand_price"
    )


def _numbers(values: pd.Series, name: str, source: str) -> pd.Series:
    """A numeric column; a cell that holds text which is not a number is an error naming its line
    (a file that writes "8,192" or "$0.096" once lost every such type without a word)."""
    parsed = pd.to_numeric(values, errors="coerce").astype(float)
    text = values.astype(str).str.strip()
    bad = parsed.isna() & values.notna() & (text != "")
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(f"{source} line {row + 2}: column {name}: {values.iloc[row]!r} is not a number")
    return parsed


def read_price_file(path: str | Path) -> pd.DataFrame:
    """A price CSV on disk -> `PRICE_COLUMNS`; a bad file is one line naming it. A type listed twice
    is refused: an export with several rows per type (operating systems, tenancies, capacity
    reservations) has one Linux on-demand price among them, and keeping the last row took a
    Capacity Block's price for m5.large."""
    p = Path(path)
    try:
        raw = pd.read_csv(p)
    except (OSError, ValueError) as exc:
        raise InputError(f"{p}: cannot read the price table: {exc}") from None
    table = normalise_price_table(raw, str(p))
    repeated = table["instance_type"].duplicated(keep=False)
    if repeated.any():
        name = table.loc[repeated, "instance_type"].iloc[0]
        lines = [str(i + 2) for i in np.flatnonzero((table["instance_type"] == name).to_numpy())[:3]]
        raise InputError(
            f"{p} lines {', '.join(lines)}: instance type {name} listed more than once: keep its Linux,"
            " shared-tenancy, on-demand row"
        )
    return table


def price_table_to_store(
    table: pd.DataFrame, region: str, effective_date: str, source: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A price table -> the store's (`instance_types`, `ondemand_prices`) frames for `region`."""
    priced = table.dropna(subset=["vcpus", "memory_mib", "ondemand_price"])
    current = priced["current_generation"]
    types = pd.DataFrame(
        {
            "region": region,
            "instance_type": priced["instance_type"].astype(str),
            "vcpus": priced["vcpus"].astype(float),
            "memory_mib": priced["memory_mib"].astype(np.int64),
            "allocatable_memory_mib": priced["allocatable_memory_mib"].astype(np.int64),
            "gpus": priced["gpus"].fillna(0).astype(int),
            "gpu_model": priced["gpu_model"],
            "gpu_memory_mib": priced["gpu_memory_mib"],
            "arch": priced["arch"],
            "family": priced["family"],
            "generation": priced["generation"].astype("string")
            if priced["generation"].notna().any()
            else None,
            "network_bandwidth_mbps": priced["network_bandwidth_mbps"].round().astype("Int64"),
            "current_generation": current.where(current.notna(), None),
            "efa_supported": priced["efa_supported"],
        }
    ).reset_index(drop=True)
    prices = pd.DataFrame(
        {
            "region": region,
            "instance_type": priced["instance_type"].astype(str).to_numpy(),
            "effective_date": effective_date,
            "price_per_hour": priced["ondemand_price"].to_numpy(),
            "source": source,
        }
    )
    return types, prices


def read_spot_advisor_feed(raw: bytes, source: str, os_name: str = "Linux") -> pd.DataFrame:
    """The advisor's JSON feed (plain or gzip bytes) -> `BAND_COLUMNS` for every region."""
    try:
        data = json.loads(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)
        regions = data["spot_advisor"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{source}: cannot read Spot Advisor data: {exc}") from None
    snapshot = Path(source).stem.rsplit("_", 1)[-1].removesuffix(".json")
    rows = [
        {
            "region": region,
            "instance_type": name,
            "band": int(v["r"]),
            "band_label": band_label(int(v["r"])),
            "savings_pct": float(v["s"]),
            "snapshot_date": snapshot,
        }
        for region, by_os in regions.items()
        if isinstance(by_os, dict)
        for name, v in (by_os.get(os_name) or {}).items()
        if isinstance(v, dict) and "s" in v and "r" in v
    ]
    return pd.DataFrame(rows, columns=list(BAND_COLUMNS))


def read_spot_advisor(path: str | Path, region: str, os_name: str = "Linux") -> pd.DataFrame:
    """The feed file -> `BAND_COLUMNS` of one region; a region the file lacks is an error."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise InputError(f"{p}: cannot read Spot Advisor data: {exc.strerror or exc}") from None
    frame = read_spot_advisor_feed(raw, str(p), os_name)
    here = frame[frame["region"] == region].reset_index(drop=True)
    if here.empty:
        raise InputError(f"{p}: spot_advisor.{region}.{os_name}: not in the file")
    return here


@lru_cache(maxsize=1)
def _price_snapshot() -> pd.DataFrame:
    raw = pd.read_csv(PRICE_SNAPSHOT_FILE, dtype={"generation": "string"})
    table = normalise_price_table(raw, str(PRICE_SNAPSHOT_FILE))
    table["effective_date"] = pd.to_datetime(raw["effective_date"])
    table["region"] = raw["region"].astype(str)
    return table


def load_price_snapshot() -> pd.DataFrame:
    """The bundled us-east-1 price table (`PRICE_COLUMNS` + `effective_date`, `region`); a fresh copy."""
    return _price_snapshot().copy()


@lru_cache(maxsize=1)
def _spot_advisor() -> pd.DataFrame:
    return pd.read_csv(
        SPOT_ADVISOR_FILE,
        dtype={"region": "string", "instance_type": "string", "band": "int64", "band_label": "string"},
    ).astype({"region": object, "instance_type": object, "band_label": object, "snapshot_date": str})


def load_spot_advisor(region: str | None = None) -> pd.DataFrame:
    """The bundled Spot Advisor bands (`BAND_COLUMNS`, Linux), of one region or all; a fresh copy."""
    frame = _spot_advisor()
    if region is not None:
        frame = frame[frame["region"] == region]
    return frame.reset_index(drop=True).copy()
