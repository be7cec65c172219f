"""The EC2 instance-type catalog of a region and where each type is offered (per AZ).

Allocatable memory comes from the one documented rule (`optimizer.catalog.memory`), so the solver,
the simulator and the catalog agree on what fits on an instance.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine

from optimizer.aws.calls import items
from optimizer.aws.permissions import declare
from optimizer.catalog.instance_kinds import instance_kind
from optimizer.catalog.memory import allocatable_memory_mib
from optimizer.catalog.network import baseline_bandwidth_mbps, efa_supported
from optimizer.collectors.base import CollectContext, Collected, Source
from optimizer.store.schema import instance_type_offerings, instance_types
from optimizer.store.upsert import bulk_upsert

declare("collector", "ec2:DescribeInstanceTypes", "ec2:DescribeInstanceTypeOfferings")

COLUMNS = [
    "region", "instance_type", "vcpus", "memory_mib", "allocatable_memory_mib", "gpus", "gpu_model",
    "gpu_memory_mib", "arch", "family", "generation", "network_performance", "current_generation",
    "accelerator", "accelerator_count", "efa_supported", "network_bandwidth_mbps",
]  # fmt: skip
#: DescribeInstanceTypes' non-GPU accelerator fields -> the list of devices in each.
_ACCELERATOR_INFO = {
    "NeuronInfo": "NeuronDevices",
    "InferenceAcceleratorInfo": "Accelerators",
    "FpgaInfo": "Fpgas",
    "MediaAcceleratorInfo": "Accelerators",
}


def accelerator_of(item: Mapping[str, Any], gpus: int) -> tuple[str | None, int | None]:
    """(kind, device count) of a type's non-GPU accelerators: the kind is the catalogue's
    (`instance_kinds`: inferentia, trainium, fpga, media, other), the count DescribeInstanceTypes'."""
    counts = {
        info: sum(int(device.get("Count", 0)) for device in (item.get(info) or {}).get(devices) or ())
        for info, devices in _ACCELERATOR_INFO.items()
    }
    # Inferentia types describe the same devices twice, in NeuronInfo and the older
    # InferenceAcceleratorInfo (inf2.xlarge: 1 and 1): counted once, the Neuron view first.
    if counts["NeuronInfo"]:
        counts["InferenceAcceleratorInfo"] = 0
    count = sum(counts.values())
    kind = instance_kind(item["InstanceType"], gpus).accelerator
    if kind in (None, "gpu"):
        return (None, None) if not count else ("other", count)
    return kind, count or None


_GENERATION = re.compile(r"^[a-z]+(\d+)")


def get_instance_types(ctx: CollectContext) -> list[dict[str, Any]]:
    ec2 = ctx.client("ec2")
    return list(items(ec2, "describe_instance_types", "InstanceTypes", token_in="NextToken", sleep=ctx.sleep))


def get_offerings(ctx: CollectContext) -> list[dict[str, Any]]:
    ec2 = ctx.client("ec2")
    return list(
        items(
            ec2,
            "describe_instance_type_offerings",
            "InstanceTypeOfferings",
            token_in="NextToken",
            sleep=ctx.sleep,
            LocationType="availability-zone",
        )
    )


def _arch(architectures: Iterable[str]) -> str:
    supported = set(architectures)
    if "x86_64" in supported:
        return "x86_64"
    if "arm64" in supported:
        return "arm64"
    return sorted(supported)[0] if supported else "x86_64"


def transform_instance_types(described: Iterable[Mapping[str, Any]], region: str) -> pd.DataFrame:
    rows = []
    for item in described:
        name = item["InstanceType"]
        memory = int((item.get("MemoryInfo") or {}).get("SizeInMiB", 0))
        gpu_info = item.get("GpuInfo") or {}
        gpus = gpu_info.get("Gpus") or []
        family = name.split(".", 1)[0]
        generation = _GENERATION.match(family)
        gpu_count = sum(int(g.get("Count", 0)) for g in gpus)
        accelerator, accelerator_count = accelerator_of(item, gpu_count)
        rows.append(
            {
                "region": region,
                "instance_type": name,
                "vcpus": int((item.get("VCpuInfo") or {}).get("DefaultVCpus", 0)),
                "memory_mib": memory,
                "allocatable_memory_mib": allocatable_memory_mib(memory),
                "gpus": gpu_count,
                "gpu_model": " ".join(filter(None, (gpus[0].get("Manufacturer"), gpus[0].get("Name"))))
                if gpus
                else None,
                "gpu_memory_mib": gpu_info.get("TotalGpuMemoryInMiB"),
                "arch": _arch((item.get("ProcessorInfo") or {}).get("SupportedArchitectures") or ()),
                "family": family,
                "generation": generation.group(1) if generation else None,
                "network_performance": (item.get("NetworkInfo") or {}).get("NetworkPerformance"),
                "current_generation": item.get("CurrentGeneration"),
                "accelerator": accelerator,
                "accelerator_count": accelerator_count,
                "efa_supported": efa_supported(item),
                "network_bandwidth_mbps": baseline_bandwidth_mbps(item),
            }
        )
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame["gpu_memory_mib"] = frame["gpu_memory_mib"].astype("Int64")
    frame["accelerator_count"] = frame["accelerator_count"].astype("Int64")
    frame["efa_supported"] = frame["efa_supported"].astype("boolean")
    frame["network_bandwidth_mbps"] = frame["network_bandwidth_mbps"].astype("Int64")
    return frame


def transform_offerings(offerings: Iterable[Mapping[str, Any]], region: str) -> pd.DataFrame:
    rows = [
        {"region": region, "availability_zone": o["Location"], "instance_type": o["InstanceType"]}
        for o in offerings
        if o.get("LocationType", "availability-zone") == "availability-zone"
    ]
    return pd.DataFrame(rows, columns=["region", "availability_zone", "instance_type"])


def _collect(ctx: CollectContext, engine: Engine, watermarks: Mapping[str, str]) -> Collected:
    described = get_instance_types(ctx)
    offerings = get_offerings(ctx)
    frames = {
        "instance_types": transform_instance_types(described, ctx.region),
        "instance_type_offerings": transform_offerings(offerings, ctx.region),
    }
    return Collected(len(described) + len(offerings), frames)


def _load(conn: Connection, ctx: CollectContext, collected: Collected) -> int:
    written = bulk_upsert(conn, instance_types, collected.frames["instance_types"])
    return written + bulk_upsert(conn, instance_type_offerings, collected.frames["instance_type_offerings"])


CATALOG = Source("catalog", _collect, _load, "EC2 instance types and their offerings per AZ")
