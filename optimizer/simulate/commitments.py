"""A replay's bill under Savings Plans and Reserved Instances: the instances' on-demand hours are
covered hour by hour with the solver's billing rule (`optimizer.solver.commitments.bill_bucket`, the
one place commitments are priced), and every plan's fee is charged for every hour of the replay.

So a configuration that moves covered work to spot pays for the commitment it leaves unused, and a
comparison of two replays prices that. Savings Plans also cover Fargate; a replay's Fargate tasks
are billed at list price here (only EC2 instances are covered).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd

from optimizer.solver.commitments import bill_bucket
from optimizer.solver.problem import Commitment

HOUR = 3600.0


def commitment_summary(
    instances: pd.DataFrame, commitments: Sequence[Commitment], horizon_s: float
) -> dict[str, Any]:
    """{"covered_usd", "fees_usd", "commitments": [{"id", "utilization", "covered_usd"}]} for the
    replay's instances (columns of `results._instances_frame`) over [0, horizon_s)."""
    on_demand = instances[instances["capacity_type"] == "ON_DEMAND"]
    prices: dict[str, float] = {}
    usage: dict[int, dict[str, float]] = {}
    for t, price, start, billed in zip(
        on_demand["instance_type"],
        on_demand["price_per_hour"],
        on_demand["launched_at"],
        on_demand["billed_seconds"],
        strict=True,
    ):
        prices[t] = float(price)
        end = float(start) + float(billed)
        h = int(start // HOUR)
        while h * HOUR < end:
            overlap = min(end, (h + 1) * HOUR) - max(float(start), h * HOUR)
            if overlap > 0:
                hour = usage.setdefault(h, {})
                hour[t] = hour.get(t, 0.0) + overlap / HOUR
            h += 1
    hours = max(math.ceil(horizon_s / HOUR), max(usage, default=-1) + 1)
    consumed = {c.id: 0.0 for c in commitments}
    covered = {c.id: 0.0 for c in commitments}
    for hour_usage in usage.values():
        bill = bill_bucket(commitments, hour_usage, prices, 1.0)
        for cid, v in bill.consumed.items():
            consumed[cid] += v
        for cid, v in bill.covered_usd.items():
            covered[cid] += v
    return {
        "covered_usd": sum(covered.values()),
        "fees_usd": sum(c.fee_per_hour for c in commitments) * hours,
        "hours": hours,
        "commitments": [
            {
                "id": c.id,
                "utilization": round(consumed[c.id] / (c.capacity_per_hour * hours), 6) if hours else 0.0,
                "covered_usd": round(covered[c.id], 6),
            }
            for c in commitments
        ],
    }
