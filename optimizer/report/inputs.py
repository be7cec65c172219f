"""What the builder needs from the store, as plain DataFrames (read by `load.py`, made by tests).

`daily` has the shape of the analytics layer's persisted daily aggregate (`rollup.daily_aggregate`):
one row per UTC day and (queue, compute environment, job definition, instance type, capacity type)
with the money columns, `vcpu_hours` and `attempts`; idle rows carry "(idle)" as queue and job
definition. It covers the report week and the four weeks before it.

`bill` is `optimizer.billing.window.bill_window` over the report week (None without a bill for it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from optimizer.analysis.cost import MONEY_COLUMNS
from optimizer.analysis.reclaims import RECLAIM_COLUMNS
from optimizer.analysis.rollup import DAILY_DIMS
from optimizer.billing.window import BillWindow
from optimizer.store.coverage_read import GAP_COLUMNS

DAILY_COLUMNS = ("day", *DAILY_DIMS, *MONEY_COLUMNS, "vcpu_hours", "attempts")
RECOMMENDATION_COLUMNS = (
    "id",
    "title",
    "target_name",
    "target_arn",
    "monthly_savings_usd",
    "risk_level",
    "confidence",
    "update_kind",
)
AUDIT_COLUMNS = (
    "id",
    "action",
    "actor",
    "started_at",
    "finished_at",
    "result",
    "message",
    "recommendation_id",
    "target_kind",
    "target_arn",
    "target_name",
    "title",
)
RUN_COLUMNS = ("source", "target", "region", "started_at", "finished_at", "status", "error")
LAST_SUCCESS_COLUMNS = ("source", "last_success")


def empty(columns: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})


@dataclass(frozen=True)
class ReportInputs:
    daily: pd.DataFrame
    reclaims: pd.DataFrame = field(default_factory=lambda: empty(RECLAIM_COLUMNS))
    recommendations: pd.DataFrame = field(default_factory=lambda: empty(RECOMMENDATION_COLUMNS))
    audit: pd.DataFrame = field(default_factory=lambda: empty(AUDIT_COLUMNS))
    runs: pd.DataFrame = field(default_factory=lambda: empty(RUN_COLUMNS))
    last_success: pd.DataFrame = field(default_factory=lambda: empty(LAST_SUCCESS_COLUMNS))
    cost_source: str = "computed from the store's instances, attempts and prices"
    fallback_priced_usd: float | None = None
    bill: BillWindow | None = None  # the bill beside the model for the week's covered days
    gaps: pd.DataFrame = field(default_factory=lambda: empty(GAP_COLUMNS))  # collection gaps in the week
    savings_headline_usd: float | None = None  # the one savings headline (`optimizer.recommend.headline`)
    savings_note: str = ""

    def __post_init__(self) -> None:
        missing = [c for c in DAILY_COLUMNS if c not in self.daily.columns]
        if missing:
            raise ValueError(f"daily costs lack columns {missing}")
