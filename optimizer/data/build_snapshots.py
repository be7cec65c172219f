"""Regenerate the bundled snapshots from the project's shared reference data (or newer files).

    python -m optimizer.data.build_snapshots /path/to/shared/data --effective-date 2026-07-20
    python -m optimizer.data.build_snapshots --prices FILE.csv --spot-advisor FILE.json

The outputs are normalised copies (store column names, Linux only for the Spot Advisor feed); the
README next to them says what changed. Run it when AWS prices or the advisor feed are refreshed.

EFA support (`efa_supported`) is not in the price file: it comes from a recorded DescribeInstanceTypes
output (`--instance-types`, a response `{"InstanceTypes": [...]}` or a mapping type -> item, plain or
gzip JSON), by default the one moto ships (`moto/ec2/resources/instance_types.json.gz`) when moto is
installed. A type the recording lacks, or whose item lacks `EfaSupported`, stays unknown (empty).
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
from collections.abc import Mapping
from importlib.util import find_spec
from pathlib import Path

import pandas as pd

from optimizer.catalog.files import (
    PRICE_SNAPSHOT_FILE,
    PRICE_SNAPSHOT_REGION,
    SPOT_ADVISOR_FILE,
    read_price_file,
    read_spot_advisor_feed,
)
from optimizer.catalog.network import efa_supported

PRICE_SNAPSHOT = PRICE_SNAPSHOT_FILE
SPOT_ADVISOR_SNAPSHOT = SPOT_ADVISOR_FILE
PRICE_FILE_PATTERN = "prices/ec2-ondemand-*.csv"
SPOT_ADVISOR_PATTERN = "spot-advisor/spot-advisor-data_*.json"
#: The snapshot's columns: the store's names (`ondemand_prices` + `instance_types`).
SNAPSHOT_COLUMNS = (
    "instance_type", "region", "price_per_hour", "effective_date", "vcpus", "memory_mib", "gpus", "gpu_model",
    "gpu_memory_mib", "arch", "family", "generation", "network_bandwidth_mbps", "allocatable_memory_mib",
    "efa_supported",
)  # fmt: skip


def moto_instance_types() -> Path | None:
    """moto's recorded DescribeInstanceTypes output, where moto is installed."""
    spec = find_spec("moto")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "ec2" / "resources" / "instance_types.json.gz"
    return path if path.exists() else None


def read_efa_support(path: Path) -> dict[str, bool | None]:
    """Instance type -> `NetworkInfo.EfaSupported` from a recorded DescribeInstanceTypes output (the
    collector's rule, `optimizer.catalog.network.efa_supported`: absent is None, unknown)."""
    raw = path.read_bytes()
    data = json.loads(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)
    if isinstance(data, Mapping) and "InstanceTypes" in data:
        described = list(data["InstanceTypes"])
    elif isinstance(data, Mapping):
        described = [{"InstanceType": name, **item} for name, item in data.items()]
    else:
        raise ValueError(f"{path}: expected a DescribeInstanceTypes response or a mapping type -> item")
    return {str(item["InstanceType"]): efa_supported(item) for item in described}


def build_price_snapshot(
    source: Path,
    out: Path = PRICE_SNAPSHOT,
    effective_date: str | None = None,
    efa: Mapping[str, bool | None] | None = None,
) -> pd.DataFrame:
    """The price CSV with specs (read by `optimizer.catalog.files`), in the store's column names plus
    region and effective date, and `efa_supported` from `efa` (`read_efa_support`; empty without it).

    The region and date come from the file name (`ec2-ondemand-<region>-<YYYY-MM>.csv`) because the
    CSV has one price column named after its region; without `effective_date` the prices are dated
    the first of the file's month.
    """
    match = re.search(r"ec2-ondemand-([a-z]{2}(?:-[a-z]+)+-\d)-(\d{4}-\d{2})", source.name)
    if not match:
        raise ValueError(f"{source.name}: expected a name like ec2-ondemand-us-east-1-2026-07.csv")
    region, month = match.groups()
    if region != PRICE_SNAPSHOT_REGION:
        # (the snapshot is served as us-east-1's prices: another region's would be used as them)
        raise ValueError(f"{source.name}: prices {region}; the bundled snapshot is {PRICE_SNAPSHOT_REGION}'s")
    table = read_price_file(source)
    has_specs = table["vcpus"].notna()
    frame = pd.DataFrame(
        {
            "instance_type": table["instance_type"],
            "region": region,
            "price_per_hour": table["ondemand_price"],
            "effective_date": effective_date or f"{month}-01",
            "vcpus": table["vcpus"].astype("Int64"),
            "memory_mib": table["memory_mib"].astype("Int64"),
            "gpus": table["gpus"],
            "gpu_model": table["gpu_model"],
            "gpu_memory_mib": table["gpu_memory_mib"].astype("Int64"),
            "arch": table["arch"].where(has_specs | table["arch"].ne("x86_64")),
            "family": table["family"],
            "generation": pd.to_numeric(table["generation"], errors="coerce")
            .astype("Int64")
            .astype("string"),
            "network_bandwidth_mbps": table["network_bandwidth_mbps"].astype("Int64"),
            "allocatable_memory_mib": table["allocatable_memory_mib"].astype("Int64"),
            "efa_supported": pd.array(
                [(efa or {}).get(name) for name in table["instance_type"]], dtype="boolean"
            ),
        }
    )
    frame = frame[list(SNAPSHOT_COLUMNS)].sort_values("instance_type").reset_index(drop=True)
    frame.to_csv(out, index=False)
    return frame


def build_spot_advisor_snapshot(source: Path, out: Path = SPOT_ADVISOR_SNAPSHOT) -> pd.DataFrame:
    """Linux rows of the Spot Instance Advisor feed as (region, type, band, label, savings, date)."""
    if not re.search(r"(\d{4}-\d{2}-\d{2})", source.name):
        raise ValueError(f"{source.name}: expected the snapshot date (YYYY-MM-DD) in the file name")
    frame = read_spot_advisor_feed(source.read_bytes(), str(source))
    frame = frame.sort_values(["region", "instance_type"]).reset_index(drop=True)
    # mtime=0 keeps the gzip bytes identical when the content is, so regeneration diffs cleanly.
    with out.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as packed:
        packed.write(frame.to_csv(index=False).encode("utf-8"))
    return frame


def _latest(root: Path, pattern: str) -> Path:
    """The newest file matching `pattern` by the date in its name (for prices, of the snapshot's
    region only): sorting whole names put ec2-ondemand-us-west-2-2026-07 after us-east-1-2027-01."""
    found = [
        p for p in root.glob(pattern) if "ondemand" not in p.name or f"-{PRICE_SNAPSHOT_REGION}-" in p.name
    ]
    if not found:
        raise SystemExit(f"no file matching {pattern} under {root}")
    return max(found, key=lambda p: (re.findall(r"\d{4}-\d{2}(?:-\d{2})?", p.name) or [""])[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("shared_data", nargs="?", type=Path, help="the shared/data folder")
    parser.add_argument("--prices", type=Path, help="an ec2-ondemand-<region>-<YYYY-MM>.csv file")
    parser.add_argument("--spot-advisor", type=Path, help="a spot-advisor-data_<YYYY-MM-DD>.json file")
    parser.add_argument("--effective-date", help="date the prices were published (YYYY-MM-DD)")
    parser.add_argument(
        "--instance-types", type=Path, help="a recorded DescribeInstanceTypes output (default: moto's)"
    )
    args = parser.parse_args(argv)
    if not (args.shared_data or args.prices or args.spot_advisor):
        parser.error("give the shared data folder or --prices/--spot-advisor files")
    prices = args.prices or (_latest(args.shared_data, PRICE_FILE_PATTERN) if args.shared_data else None)
    advisor = args.spot_advisor or (
        _latest(args.shared_data, SPOT_ADVISOR_PATTERN) if args.shared_data else None
    )
    if prices:
        recording = args.instance_types or moto_instance_types()
        efa = read_efa_support(recording) if recording else None
        frame = build_price_snapshot(prices, effective_date=args.effective_date, efa=efa)
        known, with_efa = int(frame["efa_supported"].notna().sum()), int(frame["efa_supported"].sum())
        print(f"{PRICE_SNAPSHOT.name}: {len(frame)} instance types from {prices.name}")
        print(f"  EFA support known for {known} ({with_efa} with EFA) from {recording}")
    if advisor:
        frame = build_spot_advisor_snapshot(advisor)
        print(f"{SPOT_ADVISOR_SNAPSHOT.name}: {len(frame)} rows from {advisor.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
