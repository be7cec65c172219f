"""The week's per-job cost as FOCUS 1.2 rows, so other FinOps tools can read Batch cost per job.

One row per Batch job and UTC day (its attempts' costs summed), and one per instance and day for
the capacity no job used (idle), so the rows add up to the week's modelled cost; the job rows alone
add up to the cost the model attributes to jobs. The figures are the model's attribution
(`optimizer.analysis.cost.attribute_costs` over the week, the weekly report's computed figures):
instance-hours at on-demand or spot prices, so BilledCost = EffectiveCost = ContractedCost =
ListCost, and `x_CostSource` says "model" (a row of the bill itself is never rewritten here).

Columns: the FOCUS 1.2 Mandatory set (`MANDATORY`), the Conditional/Recommended ones that apply
(region, resource, quantities, pricing category, charge frequency, tags), and `x_` columns for the
Batch fields (`x_BatchJobId`, `x_BatchJobName`, `x_BatchQueue`, `x_BatchComputeEnvironment`,
`x_BatchJobDefinition`) and the instance (`x_InstanceId`, `x_InstanceType`, `x_CapacityType`).
Written as CSV or Parquet (by the file's suffix), atomically: a temporary file renamed into place.
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from optimizer.analysis.cost import IDLE, NONE, CostAttribution
from optimizer.errors import InputError

if TYPE_CHECKING:
    from sqlalchemy import Engine

MANDATORY = (
    "BilledCost",
    "BillingAccountId",
    "BillingAccountName",
    "BillingCurrency",
    "BillingPeriodEnd",
    "BillingPeriodStart",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargePeriodEnd",
    "ChargePeriodStart",
    "ContractedCost",
    "EffectiveCost",
    "InvoiceIssuerName",
    "ListCost",
    "PricingQuantity",
    "PricingUnit",
    "ProviderName",
    "PublisherName",
    "ServiceCategory",
    "ServiceName",
)
"""FOCUS 1.2's Mandatory columns (feature level in the spec's `specification/columns`)."""

OPTIONAL = (
    "ChargeFrequency",
    "ConsumedQuantity",
    "ConsumedUnit",
    "PricingCategory",
    "RegionId",
    "RegionName",
    "ResourceId",
    "ResourceName",
    "ResourceType",
    "ServiceSubcategory",
    "SkuMeter",
    "SubAccountId",
    "Tags",
)
BATCH_COLUMNS = (
    "x_BatchJobId",
    "x_BatchJobName",
    "x_BatchQueue",
    "x_BatchComputeEnvironment",
    "x_BatchJobDefinition",
    "x_InstanceId",
    "x_InstanceType",
    "x_CapacityType",
    "x_CostSource",
)
COLUMNS = (*MANDATORY, *OPTIONAL, *BATCH_COLUMNS)


def _month_bounds(days: pd.Series) -> tuple[pd.Series, pd.Series]:
    start = days.dt.to_period("M").dt.to_timestamp()
    return start, start + pd.offsets.MonthBegin(1)


def _text(values: pd.Series) -> pd.Series:
    """Dimension values as text, the attribution's "(none)"/"(idle)" as missing."""
    out = values.astype(object)
    return out.where(~out.isin([NONE, IDLE]) & out.notna(), None)


def focus_rows(attribution: CostAttribution) -> pd.DataFrame:
    """FOCUS 1.2 rows of an attribution: per job and UTC day, and per instance and day of idle."""
    lines = attribution.lines
    if lines.empty:
        return pd.DataFrame(columns=list(COLUMNS))
    is_job = lines["attempt_row"].to_numpy() >= 0
    job_ids = np.full(len(lines), None, dtype=object)
    job_ids[is_job] = attribution.attempts["job_id"].to_numpy(dtype=object)[
        lines["attempt_row"].to_numpy()[is_job]
    ]
    frame = pd.DataFrame(
        {
            "day": pd.to_datetime(lines["day"]).dt.normalize(),
            "job_id": job_ids,
            "kind": np.where(is_job, "job", "idle"),
            "cost": lines["total_usd"].to_numpy(dtype=float),
            "hours": lines["hours"].to_numpy(dtype=float),
            **{
                column: _text(lines[column]).to_numpy()
                for column in (
                    "account_id",
                    "region",
                    "instance_id",
                    "instance_type",
                    "capacity_type",
                    "compute_environment_arn",
                    "queue",
                    "job_definition_name",
                    "job_name",
                )
            },
        }
    )
    # a job's attempts on one day sum into one row; keep the first instance for reference
    frame["group"] = np.where(is_job, frame["job_id"].astype(str), "idle:" + frame["instance_id"].astype(str))
    grouped = frame.groupby(["group", "day"], sort=True, dropna=False)
    first = grouped[[c for c in frame.columns if c not in ("cost", "hours", "group", "day")]].first()
    sums = grouped[["cost", "hours"]].sum()
    rows = first.join(sums).reset_index()
    rows = rows[(rows["kind"] == "job") | (rows["cost"].abs() > 1e-9)].reset_index(drop=True)  # no $0 idle
    period_start, period_end = _month_bounds(rows["day"])
    account = rows["account_id"].fillna("unknown")
    job = rows["kind"] == "job"
    description = np.where(
        job,
        "AWS Batch job " + rows["job_name"].fillna(rows["job_id"].astype(str)).astype(str)
        + " on " + rows["instance_type"].fillna("an instance").astype(str),
        "Idle capacity of " + rows["instance_id"].fillna("an instance").astype(str)
        + " (" + rows["instance_type"].fillna("unknown type").astype(str) + ")",
    )  # fmt: skip
    tags = [
        json.dumps(
            {k: v for k, v in {"aws:batch:job-queue": q, "aws:batch:compute-environment": ce}.items() if v}
        )
        for q, ce in zip(rows["queue"], rows["compute_environment_arn"], strict=True)
    ]
    out = pd.DataFrame(
        {
            "BilledCost": rows["cost"],
            "BillingAccountId": account,
            "BillingAccountName": account,
            "BillingCurrency": "USD",
            "BillingPeriodEnd": period_end,
            "BillingPeriodStart": period_start,
            "ChargeCategory": "Usage",
            "ChargeClass": None,
            "ChargeDescription": description,
            "ChargePeriodEnd": rows["day"] + pd.Timedelta(days=1),
            "ChargePeriodStart": rows["day"],
            "ContractedCost": rows["cost"],
            "EffectiveCost": rows["cost"],
            "InvoiceIssuerName": "Amazon Web Services",
            "ListCost": rows["cost"],
            "PricingQuantity": rows["hours"],
            "PricingUnit": "Hours",
            "ProviderName": "AWS",
            "PublisherName": "AWS",
            "ServiceCategory": "Compute",
            "ServiceName": "AWS Batch",
            "ChargeFrequency": "Usage-Based",
            "ConsumedQuantity": rows["hours"],
            "ConsumedUnit": "Hours",
            "PricingCategory": np.where(rows["capacity_type"] == "SPOT", "Dynamic", "Standard"),
            "RegionId": rows["region"],
            "RegionName": rows["region"],
            "ResourceId": np.where(job, rows["job_id"], rows["instance_id"]),
            "ResourceName": np.where(job, rows["job_name"], rows["instance_id"]),
            "ResourceType": np.where(job, "AWS Batch job", "EC2 instance (idle capacity)"),
            "ServiceSubcategory": "Batch computing",
            "SkuMeter": rows["instance_type"],
            "SubAccountId": rows["account_id"],
            "Tags": tags,
            "x_BatchJobId": np.where(job, rows["job_id"], None),
            "x_BatchJobName": np.where(job, rows["job_name"], None),
            "x_BatchQueue": np.where(job, rows["queue"], None),
            "x_BatchComputeEnvironment": rows["compute_environment_arn"],
            "x_BatchJobDefinition": np.where(job, rows["job_definition_name"], None),
            "x_InstanceId": rows["instance_id"],
            "x_InstanceType": rows["instance_type"],
            "x_CapacityType": rows["capacity_type"],
            "x_CostSource": np.where(job, "model", "model-idle"),
        }
    )
    return (
        out[list(COLUMNS)]
        .sort_values(["ChargePeriodStart", "x_CostSource", "ResourceId"])
        .reset_index(drop=True)
    )


def write_focus(rows: pd.DataFrame, path: Path) -> Path:
    """Write `rows` to `path` (.csv or .parquet) atomically; InputError for another suffix."""
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise InputError(f"--focus-out {path}: the file must end in .csv or .parquet")
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        if suffix == ".csv":
            rows.to_csv(temp, index=False, date_format="%Y-%m-%dT%H:%M:%SZ")
        else:
            rows.to_parquet(temp, index=False)
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    return path


def week_focus_rows(engine: Engine, since: datetime, until: datetime, dataset: str) -> pd.DataFrame:
    """The week's rows: the model's attribution over [since, until) (none without history)."""
    from optimizer.billing.reconcile import month_attribution

    attribution = month_attribution(engine, since, until, dataset)
    return focus_rows(attribution) if attribution is not None else pd.DataFrame(columns=list(COLUMNS))
