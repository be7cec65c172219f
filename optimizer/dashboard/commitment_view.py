"""Commitments on the Fleet mix and What-if pages: what a plan pays for its Savings Plans and RIs,
how much of each it uses, and the what-if's commitment level.

`with_compute_commitment` (pure) sets a stored problem's Compute Savings Plan level for a re-solve:
the problem's Compute Savings Plans are replaced by one plan of that many dollars an hour (none at
0), at the rates of the plans it replaces or, without any, at `discount` off on-demand for every
on-demand offering. Reserved Instances and EC2 Instance Savings Plans are kept as they are.
"""

from __future__ import annotations

import copy
import statistics
from collections.abc import Mapping
from typing import Any

import pandas as pd
import streamlit as st

from optimizer.dashboard.components import money, percent
from optimizer.dashboard.plan_view import SPLIT_COLUMNS, commitment_fee_usd, cost_split
from optimizer.number_text import commitment_level_text

WHAT_IF_ID = "what-if-compute-savings-plan"
#: The discount offered when the stored problem has no Compute Savings Plan to take rates from
#: (a typical 1-year no-upfront Compute Savings Plan; the page lets the person change it).
DEFAULT_DISCOUNT = 0.28


def compute_commitment(problem: Mapping[str, Any]) -> tuple[float, float | None]:
    """(total $/h of the problem's Compute Savings Plans, their median discount or None)."""
    prices = {
        o["instance_type"]: float(o["price_per_hour"])
        for o in problem.get("offerings", [])
        if o.get("capacity_type") == "ON_DEMAND"
    }
    plans = [c for c in problem.get("commitments", []) if c.get("type") == "COMPUTE_SAVINGS_PLAN"]
    ratios = [float(r) / prices[t] for c in plans for t, r in c.get("rates", {}).items() if prices.get(t)]
    total = sum(float(c["usd_per_hour"]) for c in plans)
    return total, (1.0 - statistics.median(ratios)) if ratios else None


def with_compute_commitment(
    problem: Mapping[str, Any], usd_per_hour: float, discount: float
) -> dict[str, Any]:
    """A copy of `problem` whose Compute Savings Plans are one plan of `usd_per_hour` (see above)."""
    if usd_per_hour < 0:
        raise ValueError("usd_per_hour: must be >= 0")
    if not 0.0 < discount < 1.0:
        raise ValueError("discount: must be between 0 and 1")
    out = copy.deepcopy(dict(problem))
    kept = [c for c in out.get("commitments", []) if c.get("type") != "COMPUTE_SAVINGS_PLAN"]
    replaced = [c for c in out.get("commitments", []) if c.get("type") == "COMPUTE_SAVINGS_PLAN"]
    if usd_per_hour > 0:
        rates: dict[str, float] = {}
        for c in replaced:
            for t, r in c.get("rates", {}).items():
                rates[t] = min(float(r), rates.get(t, float("inf")))
        if not rates:
            rates = {
                o["instance_type"]: float(o["price_per_hour"]) * (1.0 - discount)
                for o in out.get("offerings", [])
                if o.get("capacity_type") == "ON_DEMAND" and float(o["price_per_hour"]) > 0
            }
        kept.append(
            {"id": WHAT_IF_ID, "type": "COMPUTE_SAVINGS_PLAN", "usd_per_hour": usd_per_hour, "rates": rates}
        )
    if kept:
        out["commitments"] = kept
    else:
        out.pop("commitments", None)
    return out


SHARE_NOTE = (
    "A queue's plan sees its share of the account's commitments: the share of their use its instances "
    "had in the imported bill, not each plan's whole $/h (other queues and other usage use the rest). "
    "A Savings Plan's utilization is the share of its fee the plan uses; the on-demand usage it covers "
    "is counted at on-demand prices, so it is more than the fee used by the plan's discount."
)
#: The figures a reader checks against the bill first: the table sits in half the page's width.
COLUMNS = [
    "commitment",
    "utilization",
    "covered on-demand (USD)",
    "fee over the plan (USD)",
    "fee unused (USD)",
    "USD/h in this problem",
    "type",
    "id",
]
#: A Reserved Instance's fee row: the solver charges none (it is paid whether or not this plan runs).
SUNK_FEE = "sunk: $0 in this plan"


def commitment_label(commitment_id: Any) -> str:
    """A commitment's name short enough for a metric label and a half-page table: an ARN's resource
    with its id cut to 8 characters (`savingsplan/20b803b6`; the full ARN, 90 characters, pushed the
    plan's figures out of the Fleet mix column), any other id as it is."""
    text = str(commitment_id)
    if not text.startswith("arn:"):
        return text
    resource = text.rsplit(":", 1)[-1]
    kind, _, rest = resource.rpartition("/")
    return f"{kind}/{rest[:8]}" if kind else resource


def commitment_rows(plan: Mapping[str, Any], problem: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """One row per commitment of the plan; its $/h (a Savings Plan) or reservation count (an RI) as
    the problem carries it, when given, since that is the queue's share, not the account's plan, and
    the fee it adds to the plan's cost over the plan's hours (the rows' fees sum to the plan's
    `commitment_usd`: a FinOps reader checks each against the bill's recurring fee), and the part of
    that fee left unused (utilization x fee is the part used: the covered on-demand column is at
    on-demand prices, not the fee's)."""
    held = {c.get("id"): c for c in (problem or {}).get("commitments", [])}

    def level(cid: Any) -> str:
        c = held.get(cid)
        if c is None:
            return "n/a"
        return commitment_level_text(
            str(c.get("type")), c.get("usd_per_hour"), c.get("count"), c.get("instance_type")
        )

    def fees(c: Mapping[str, Any]) -> tuple[str, str]:
        """(the fee over the plan, the part of it the plan leaves unused: fee x (1 - utilization),
        the figure a FinOps reader holds against the bill's unused commitment); an RI's is sunk,
        not this plan's."""
        if c.get("type") == "RESERVED_INSTANCE":
            return SUNK_FEE, SUNK_FEE
        usd = commitment_fee_usd(problem or {}, c.get("id"))
        used = c.get("utilization")
        unused = "n/a" if usd is None or used is None else money(usd * (1.0 - float(used)))
        return ("n/a" if usd is None else money(usd)), unused

    rows = [
        {
            "commitment": commitment_label(c.get("id")),
            "type": c.get("type"),
            "USD/h in this problem": level(c.get("id")),
            "utilization": percent(c.get("utilization")),
            "covered on-demand (USD)": money(c.get("covered_usd")),
            "fee over the plan (USD)": fee,
            "fee unused (USD)": unused,
            "id": c.get("id"),
        }
        for c in plan.get("commitments", [])
        for fee, unused in [fees(c)]
    ]
    return pd.DataFrame(rows, columns=COLUMNS)


def render_commitments(plan: Mapping[str, Any], key: str, problem: Mapping[str, Any] | None = None) -> None:
    """Fees and utilization of the plan's commitments; nothing when it has none."""
    usage = plan.get("commitments") or []
    if not usage:
        return
    cols = st.columns(1 + len(usage))
    cols[0].metric("Commitment fees", money(plan.get("commitment_usd")), help="Paid whatever the plan runs")
    for col, c in zip(cols[1:], usage, strict=True):
        col.metric(
            f"Utilization {commitment_label(c.get('id'))}",
            percent(c.get("utilization")),
            help="Capacity used over capacity paid for, every bucket of the plan",
        )
    st.caption(SHARE_NOTE)
    st.dataframe(commitment_rows(plan, problem), hide_index=True, key=f"{key}_commitments")


def render_cost_split(plan: Mapping[str, Any], problem: Mapping[str, Any], key: str) -> None:
    """The plan's cost as spot, uncovered on-demand and commitment fees (`plan_view.cost_split`)."""
    split = cost_split(problem, plan)
    split["USD"] = split["USD"].map(money)
    st.dataframe(split[SPLIT_COLUMNS], hide_index=True, key=f"{key}_cost_split")
