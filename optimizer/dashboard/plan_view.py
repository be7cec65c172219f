"""Reading a stored `batchopt.plan/v1` against its `batchopt.problem/v1`: per bucket and offering, how
many instances run and what they cost (count x held hours x price: a gang bin's own `hours`, else
the whole bucket), so the fleet page draws the plan's cost curve and mix from the plan itself
rather than trusting its summary fields. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from optimizer.dashboard.plan_scope import plan_hours
from optimizer.solver.problem import commitment_from_dict

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


SPLIT_COLUMNS = ["part", "USD", "how"]


def plan_list_cost(problem: Mapping[str, Any], plan: Mapping[str, Any]) -> float:
    """The plan's instance-hours at list prices, before any commitment (what the store's spend is
    measured in: instance-hours x price)."""
    usage = plan_usage(problem, plan)
    return float(usage["cost_usd"].sum()) if not usage.empty else 0.0


def commitment_fee_usd(problem: Mapping[str, Any], commitment_id: Any) -> float | None:
    """One commitment's fee over the plan's hours as the solver charges it (`Commitment.fee_per_hour`:
    a Savings Plan's $/h every hour, 0 for a Reserved Instance, whose fee is sunk); None when the
    problem does not carry it."""
    entries = problem.get("commitments", [])
    index = next((k for k, c in enumerate(entries) if c.get("id") == commitment_id), None)
    if index is None:
        return None
    held = commitment_from_dict(entries[index], "problem", f"commitments[{index}]")
    return held.fee_per_hour * plan_hours(problem)


def cost_split(problem: Mapping[str, Any], plan: Mapping[str, Any]) -> pd.DataFrame:
    """How a plan's cost splits, from its bins and its commitments (rows `SPLIT_COLUMNS`, USD as
    numbers): spot at spot prices, on-demand not covered at on-demand prices, and the commitment fees
    (which pay for the covered on-demand usage and for whatever of the commitment goes unused).

    The rows add up to the plan's `cost_usd` (`solver.commitments.bill_plan`: bins at list price,
    less the on-demand value the commitments cover, plus the fees), so a reader can hold each part
    against the bill; the last row is the plan's own figure, not the sum, so a mismatch would show."""
    usage = plan_usage(problem, plan)
    spend = usage.groupby("capacity_type")["cost_usd"].sum() if not usage.empty else pd.Series(dtype=float)
    spot = float(spend.get("SPOT", 0.0))
    on_demand = float(spend.get("ON_DEMAND", 0.0))
    covered = sum(float(c.get("covered_usd") or 0.0) for c in plan.get("commitments", []))
    fees = float(plan.get("commitment_usd") or 0.0)
    hours = plan_hours(problem)
    rows = [("Spot", spot, "spot price x instance-hours")]
    if plan.get("commitments"):
        rows += [
            (
                "On-demand, not covered",
                on_demand - covered,
                # short enough for the half-page column (65 characters were cut off at 1400 px)
                f"${on_demand:,.2f} at list less ${covered:,.2f} covered",
            ),
            (
                "Commitment fees",
                fees,
                f"${fees / hours if hours else 0.0:,.4f}/h x {hours:,.0f} h, paid whatever is used",
            ),
        ]
    else:
        rows.append(("On-demand", on_demand, "on-demand price x instance-hours"))
    rows.append(("Plan cost", float(plan.get("cost_usd") or 0.0), "the plan's own figure"))
    return pd.DataFrame(rows, columns=SPLIT_COLUMNS)
