"""Commitments on the Fleet mix and What-if pages: what a plan pays for its Savings Plans and RIs,
how much of each it uses, and the what-if's commitment level.

`with_compute_commitment` (pure) sets a stored problem's Compute Savings Plan level for a re-solve:
the problem's Compute Savings Plans are replaced by one plan of that many dollars an hour (none at
0), at the rates of the plans it replaces (weighted by their $/h, `_blended_rates`) or, without any,
at `discount` off on-demand for every on-demand offering. Reserved Instances and EC2 Instance
Savings Plans are kept as they are.
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
    """(total $/h of the problem's Compute Savings Plans, the median discount of their blended rates
    or None)."""
    prices = {
        o["instance_type"]: float(o["price_per_hour"])
        for o in problem.get("offerings", [])
        if o.get("capacity_type") == "ON_DEMAND"
    }
    plans = [c for c in problem.get("commitments", []) if c.get("type") == "COMPUTE_SAVINGS_PLAN"]
    # The rates a what-if level buys at (`with_compute_commitment`), so the discount shown is its own.
    ratios = [r / prices[t] for t, r in _blended_rates(plans).items() if prices.get(t)]
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
        rates = _blended_rates(replaced)
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


def _blended_rates(plans: list[Mapping[str, Any]]) -> dict[str, float]:
    """Per instance type, the rates of the Compute Savings Plans that list it weighted by their $/h:
    the one plan that stands for them all buys what they buy together. The lowest rate, used
    before, made a $1/h plan at 40 % off and a $3/h one at 20 % off read as $4/h at 40 % off, so a
    what-if overstated every saving of a level; a plan of no $/h counts once."""
    paid: dict[str, float] = {}
    weight: dict[str, float] = {}
    for c in plans:
        w = max(float(c.get("usd_per_hour") or 0.0), 1e-9)
        for t, r in c.get("rates", {}).items():
            paid[t] = paid.get(t, 0.0) + w * float(r)
            weight[t] = weight.get(t, 0.0) + w
    return {t: paid[t] / weight[t] for t in paid}


SHARE_NOTE = (
    "A queue's plan sees its share of the account's commitments: the share of their use its instances "
    "had in the imported bill, not each Savings Plan's whole $/h (other queues and other usage use the "
    "rest). The columns are Cost Explorer's: total commitment = $/h x the plan window's hours, paid "
    "whatever is used; used commitment = the covered usage at Savings Plan rates (utilization = used / "
    "total); on-demand equivalent = the same usage at on-demand prices; net savings = on-demand "
    "equivalent - total commitment (below zero: the commitment costs this plan more than it saves). "
    "A Reserved Instance's fee is already paid and not in this plan."
)
#: The figures a reader checks against Cost Explorer's Savings Plans utilization report, in its
#: terms ("fee over the plan" read as the Savings Plan's own fee, and nothing said whether the
#: commitment paid for itself: the demo's cpu-short covers $216.29 of on-demand with a $667.42 share).
LEVEL = "$/h (this queue's share)"
#: The level second, as Cost Explorer lists a Savings Plan's $/h commitment first: eighth of ten
#: columns it was past the right edge of a 1400 px page, where the grid does not draw it.
COLUMNS = [
    "commitment",
    LEVEL,
    "utilization",
    "total commitment (USD)",
    "used commitment (USD)",
    "unused commitment (USD)",
    "on-demand equivalent (USD)",
    "net savings (USD)",
    "type",
    "id",
]
#: A Reserved Instance's dollar columns: the solver charges no fee (it is paid whether or not this
#: plan runs), so there is no commitment in dollars to use, leave unused or save against.
SUNK_FEE = "sunk: $0 in this plan"
#: The utilization metric's help ("Capacity used over capacity paid for, every bucket of the plan"
#: named the solver's time buckets).
UTILIZATION_HELP = (
    "Used commitment over total commitment across the plan window's hours, as Cost Explorer reports "
    "it (a Reserved Instance: reserved instance-hours used over reserved); an hour's unused "
    "commitment does not carry over to the next"
)
#: How the What-if's own Compute Savings Plan (`WHAT_IF_ID`) reads on the page.
WHAT_IF_LABEL = "Compute Savings Plan (what-if)"


def commitment_label(commitment_id: Any) -> str:
    """A commitment's name short enough for a metric label and a half-page table: an ARN's resource
    with its id cut to 8 characters (`savingsplan/20b803b6`; the full ARN, 90 characters, pushed the
    plan's figures out of the Fleet mix column), the What-if's level as what it is (its id,
    `what-if-compute-savings-plan`, is a key, not a name), any other id as it is."""
    text = str(commitment_id)
    if text == WHAT_IF_ID:
        return WHAT_IF_LABEL
    if not text.startswith("arn:"):
        return text
    resource = text.rsplit(":", 1)[-1]
    kind, _, rest = resource.rpartition("/")
    return f"{kind}/{rest[:8]}" if kind else resource


def commitment_dollars(problem: Mapping[str, Any], used: Mapping[str, Any]) -> dict[str, float] | None:
    """Cost Explorer's figures for one of a plan's commitments (`used`, an entry of the plan's
    `commitments`): total commitment over the plan window (the fee the solver charges,
    `plan_view.commitment_fee_usd`), used = total x utilization, unused = total - used, the
    on-demand equivalent of the usage it covers, and net savings = on-demand equivalent - total.
    None for a Reserved Instance (its fee is sunk, `SUNK_FEE`) or when the problem does not carry
    the commitment or the plan its utilization."""
    if used.get("type") == "RESERVED_INSTANCE":
        return None
    total = commitment_fee_usd(problem, used.get("id"))
    share = used.get("utilization")
    if total is None or share is None:
        return None
    spent = total * float(share)
    covered = float(used.get("covered_usd") or 0.0)
    return {
        "total": total,
        "used": spent,
        "unused": total - spent,
        "on_demand": covered,
        "net_savings": covered - total,
    }


def commitment_rows(plan: Mapping[str, Any], problem: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """One row per commitment of the plan in Cost Explorer's terms (`commitment_dollars`); its $/h
    (a Savings Plan) or reservation count (an RI) as the problem carries it, when given, since that
    is the queue's share, not the account's plan. The rows' totals sum to the plan's
    `commitment_usd`."""
    held = {c.get("id"): c for c in (problem or {}).get("commitments", [])}

    def level(cid: Any) -> str:
        c = held.get(cid)
        if c is None:
            return "n/a"
        return commitment_level_text(
            str(c.get("type")), c.get("usd_per_hour"), c.get("count"), c.get("instance_type")
        )

    def dollars(c: Mapping[str, Any]) -> list[str]:
        if c.get("type") == "RESERVED_INSTANCE":
            return [SUNK_FEE] * 3 + [money(c.get("covered_usd")), SUNK_FEE]
        figures = commitment_dollars(problem or {}, c)
        if figures is None:
            return ["n/a"] * 3 + [money(c.get("covered_usd")), "n/a"]
        return [money(figures[k]) for k in ("total", "used", "unused", "on_demand", "net_savings")]

    rows = [
        [
            commitment_label(c.get("id")),
            level(c.get("id")),
            percent(c.get("utilization")),
            *dollars(c),
            c.get("type"),
            c.get("id"),
        ]
        for c in plan.get("commitments", [])
    ]
    return pd.DataFrame(rows, columns=COLUMNS)


def utilization_label(commitment_id: object) -> str:
    """The utilization metric's label: of the plan's share of an account commitment (`SHARE_NOTE`),
    which Cost Explorer's figure for the whole commitment is not (the demo's Savings Plan: 98.7 %
    in the bill, 4.5 % of the MPI queue's share), or of the What-if's own Savings Plan, whole."""
    label = commitment_label(commitment_id)
    if commitment_id == WHAT_IF_ID:
        return f"Utilization {label}"
    return f"Utilization of this plan's share, {label}"


def render_commitments(plan: Mapping[str, Any], key: str, problem: Mapping[str, Any] | None = None) -> None:
    """Fees and utilization of the plan's commitments; nothing when it has none."""
    usage = plan.get("commitments") or []
    if not usage:
        return
    cols = st.columns(1 + len(usage))
    cols[0].metric("Commitment fees", money(plan.get("commitment_usd")), help="Paid whatever the plan runs")
    for col, c in zip(cols[1:], usage, strict=True):
        col.metric(utilization_label(c.get("id")), percent(c.get("utilization")), help=UTILIZATION_HELP)
    st.caption(SHARE_NOTE)
    st.dataframe(commitment_rows(plan, problem), hide_index=True, key=f"{key}_commitments")


def render_cost_split(plan: Mapping[str, Any], problem: Mapping[str, Any], key: str) -> None:
    """The plan's cost as spot, uncovered on-demand and commitment fees (`plan_view.cost_split`)."""
    split = cost_split(problem, plan)
    split["USD"] = split["USD"].map(money)
    st.dataframe(split[SPLIT_COLUMNS], hide_index=True, key=f"{key}_cost_split")
