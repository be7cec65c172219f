"""What DescribeInstanceTypes says of a type's network: EFA support and sustained bandwidth.

Read by the catalogue collector (`collectors/catalog.py`) and by the bundled snapshot's builder
(`data/build_snapshots.py`, from a recorded response), so both read a response the same way.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any


def efa_supported(item: Mapping[str, Any]) -> bool | None:
    """DescribeInstanceTypes' `NetworkInfo.EfaSupported`, or None where the response leaves it out
    (older recordings do): unknown is not "no", but nothing that needs EFA is placed on it."""
    value = (item.get("NetworkInfo") or {}).get("EfaSupported")
    return None if value is None else bool(value)


#: A `NetworkPerformance` that states a fixed figure: "25 Gigabit", "4x 100 Gigabit" (not "Up to ...",
#: "High", "Moderate").
_STATED_BANDWIDTH = re.compile(r"^(?:(\d+)x\s*)?(\d+(?:\.\d+)?)\s*Gigabit$")


def baseline_bandwidth_mbps(item: Mapping[str, Any]) -> int | None:
    """The type's baseline (sustained) network bandwidth in Mbit/s, or None when not described.

    DescribeInstanceTypes gives each network card a `BaselineBandwidthInGbps`; their sum is the
    instance's, except that some multi-card types (c6in.32xlarge: two 200 Gbit/s cards, "200
    Gigabit") cannot use every card at its baseline at once, so a fixed `NetworkPerformance` figure
    caps it. A burst figure ("Up to 12.5 Gigabit") is not sustained bandwidth and caps nothing. On
    the recorded output moto ships this agrees with the bundled price list's bandwidth for 1,302 of
    the 1,315 types both have."""
    network = item.get("NetworkInfo") or {}
    cards = [c.get("BaselineBandwidthInGbps") for c in network.get("NetworkCards") or ()]
    known = [float(c) for c in cards if c is not None]
    total = sum(known) if known else None
    stated = _STATED_BANDWIDTH.match(str(network.get("NetworkPerformance") or "").strip())
    if stated:
        figure = float(stated.group(2)) * (int(stated.group(1)) if stated.group(1) else 1)
        total = figure if total is None else min(total, figure)
    return None if total is None else round(total * 1000)
