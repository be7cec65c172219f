"""The Savings Plans and Reserved Instances an imported bill names, as the Cost explorer lists them.

One row per commitment with the figures the weekly report's "Commitments from the bill" table gives
(`report.sections.bill_vs_model`), each read from the same `billing.window.BillCommitment`: its
utilization and unused commitment over the selected days beside its billed and effective cost over
every imported month, each column saying which period it covers. Cells are text, like the Fleet
mix's commitment rows, because a commitment has a level in $/h (a Savings Plan) or in instances (a
Reserved Instance) but not both: a numeric column showed "None" for the one it lacks. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from optimizer.billing.window import BillCommitment
from optimizer.dashboard.commitment_view import commitment_label
from optimizer.dashboard.components import money, percent

MISSING = "n/a"
#: The short name first and the full ARN last: the 90-character ARN first pushed every figure of
#: the row off the page's width (the demo's Savings Plan showed its ARN and "Cost: savings_plan").
BILL_COMMITMENT_COLUMNS = [
    "commitment",
    "kind",
    "level",
    "utilization, selected days",
    "used (USD), selected days",
    "unused (USD), selected days",
    "billed (USD), all imported months",
    "effective (USD), all imported months",
    "offering",
    "term",
    "payment",
    "arn",
]


def commitment_level(item: BillCommitment) -> str:
    """What the commitment buys: "$4.4300/h" for a Savings Plan, "3 instance(s)" for a Reserved
    Instance (the bill gives its count, not an hourly commitment)."""
    if item.hourly_commitment_usd is not None:
        return f"${item.hourly_commitment_usd:,.4f}/h"
    if item.count is not None:
        return f"{item.count:,.0f} instance(s)"
    return MISSING


def bill_commitment_rows(commitments: Iterable[BillCommitment]) -> pd.DataFrame:
    """One row of text per commitment (`BILL_COMMITMENT_COLUMNS`), in the bill's order."""
    rows = [
        {
            "commitment": commitment_label(c.arn),
            "kind": c.kind.replace("_", " "),
            "level": commitment_level(c),
            "utilization, selected days": percent(c.utilization),
            "used (USD), selected days": money(c.used_usd),
            "unused (USD), selected days": money(c.unused_usd),
            "billed (USD), all imported months": money(c.billed_usd),
            "effective (USD), all imported months": money(c.effective_usd),
            "offering": c.offering_type or MISSING,
            "term": c.term or MISSING,
            "payment": c.payment_option or MISSING,
            "arn": c.arn,
        }
        for c in commitments
    ]
    return pd.DataFrame(rows, columns=BILL_COMMITMENT_COLUMNS)
