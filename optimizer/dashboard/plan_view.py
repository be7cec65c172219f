"""Reading a stored `batchopt.plan/v1` against its `batchopt.problem/v1`: per bucket and offering, how
many instances run and what they cost (count x held hours x price: a gang bin's own `hours`, else
the whole bucket), so the fleet page draws the plan's cost curve and mix from the plan itself
rather than trusting its summary fields. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

USAGE_COLUMNS = [
    "bucket", "offering", "instance_type", "capacity_type", "instances", "instance_hours", "cost_usd"
]  # fmt: skip


def offering_prices(problem: Mapping[str, Any]) -> dict[str, float]:
    """Offering key (`<type>/<capacity>`) -> price per hour, from the problem's offerings."""
    out = {}
    for item in problem.get("offerings", []):
        out[f"{item['instance_type']}/{item['capacity_type']}"] = float(item["price_per_hour"])
    return out


def plan_usage(problem: Mapping[str, Any], plan: Mapping[str, Any]) -> pd.DataFrame:
    """One row per (bucket, offering): instances running at once, the instance-hours they are held
    (a gang bin's instances only for its `hours`) and their cost in that bucket."""
    bucket_hours = float(problem.get("bucket_seconds", 3600)) / 3600.0
    prices = offering_prices(problem)
    rows = []
    for index, bins in enumerate(plan.get("buckets", [])):
        for item in bins:
            key = str(item["offering"])
            count = int(item.get("count", 0))
            held = item.get("hours")
            instance_hours = count * (bucket_hours if held is None else float(held))
            instance_type, _, capacity = key.partition("/")
            price = prices.get(key, float("nan"))
            rows.append((index, key, instance_type, capacity, count, instance_hours, instance_hours * price))
    frame = pd.DataFrame(rows, columns=USAGE_COLUMNS)
    if frame.empty:
        return frame
    return frame.groupby(USAGE_COLUMNS[:4], as_index=False)[USAGE_COLUMNS[4:]].sum()


def mix_by_offering(usage: pd.DataFrame) -> pd.DataFrame:
    """Instance-hours and cost per offering over the whole plan, largest cost first."""
    columns = ["instance_type", "capacity_type", "instance_hours", "cost_usd"]
    if usage.empty:
        return pd.DataFrame(columns=columns)
    out = usage.groupby(columns[:2], as_index=False)[columns[2:]].sum()
    return out.sort_values("cost_usd", ascending=False).reset_index(drop=True)


def cost_curve(usage: pd.DataFrame, n_buckets: int) -> pd.DataFrame:
    """Planned cost per bucket and capacity type over all `n_buckets` of the plan, $0 where the plan
    runs none of that capacity: `plan_usage` has rows only where instances run, and a line drawn
    through those alone slopes across the buckets the plan leaves empty as if they cost money."""
    columns = ["bucket", "capacity_type", "cost_usd"]
    if usage.empty:
        return pd.DataFrame(columns=columns)
    summed = usage.groupby(["bucket", "capacity_type"])["cost_usd"].sum()
    every = pd.MultiIndex.from_product(
        [range(max(n_buckets, int(usage["bucket"].max()) + 1)), sorted(usage["capacity_type"].unique())],
        names=["bucket", "capacity_type"],
    )
    return summed.reindex(every, fill_value=0.0).reset_index()[columns]
