"""The demo estate's AWS bill: a CUR 2.0 export, as AWS Data Exports would deliver it, in the emulator's S3.

Built from the demo's own history (the instances and job attempts the replay produced, with the EC2
ids and ECS task ARNs the emulator gave them), so `batchopt collect` imports it through the real
`bill` source (`billing.cur_s3_uri`) and the reconciliation holds the bill against the model of the
same estate. What it holds, per billing month (`BILLING_PERIOD=YYYY-MM`, one Parquet file and a
manifest), in the CUR 2.0 columns (SCHEMA.md in the shared billing data states their semantics):

- EC2 instance-hours, one row per instance per clock hour it ran, usage = the part of the hour it
  ran (per-second billing): `BoxUsage:<type>` on demand, `SpotUsage:<type>` for spot, at the bundled
  catalogue's prices, i.e. the prices the model uses. Instances still up at `now` are billed to `now`.
- One Compute Savings Plan, bought when the history starts (1 year, No Upfront), with an hourly
  commitment of `SP_COVERAGE` x the median hour's on-demand usage at Savings Plan rates
  (`SP_DISCOUNT` off on-demand). Each hour it covers on-demand instance-hours in instance-id order
  until the commitment is used (the last one split in a covered and an on-demand part, as AWS
  splits a row): `SavingsPlanCoveredUsage` (on-demand cost; effective cost at the SP rate), its
  `SavingsPlanNegation`, and one `SavingsPlanRecurringFee` per hour (the commitment, with the part
  used). Quiet hours leave part of the commitment unused.
- Split cost allocation rows for every ECS task (job attempt) per hour it ran on an instance: two
  rows (`ECS-EC2-vCPU-Hours`, `ECS-EC2-GB-Hours`), resource = the task ARN, parent = the instance,
  reserved = the job's vCPUs / memory, actual = the attempt's peaks, split usage = the larger. The
  instance-hour's amortised cost is shared between vCPU and GB at AWS's 9:1 weights; each task gets
  its share of what it used (`split_cost`) and, in proportion, of what no task used
  (`unused_cost`), so split plus unused cost over an instance-hour's tasks is its amortised cost.
  No charge of their own (unblended 0), tagged with the AWS Batch cost allocation tags.
- A gp3 root volume per instance (`EBS:VolumeUsage.gp3`, `ROOT_VOLUME_GIB`, daily rows) and data
  transfer out (`DataTransfer-Out-Bytes`, daily, a seeded amount per running instance): what the
  model does not price, so the residual (billed minus modelled) has causes a reader can name.

Deterministic: the same history and `now` give the same bytes (row ids are hashes, the data
transfer comes from `SEED`).
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from optimizer.catalog.provider import bundled_catalog
from optimizer.config import Settings
from optimizer.demo.emulator import HistoryFrames

BUCKET = "batchopt-demo-billing"
PREFIX = "cur"
EXPORT = "batchopt-demo-cur"
SEED = 20_240_401
SP_DISCOUNT = 0.28
"""Compute Savings Plan rate = on-demand x (1 - this): AWS quotes up to 66% off; 1-year No Upfront
plans on current general-purpose families are near 28%."""
SP_COVERAGE = 0.2
"""The hourly commitment as a share of the median hour's on-demand usage at Savings Plan rates: a
plan sized for the estate's floor, which leaves the bill a few percent under the model (the
residual the demo shows), and some quiet hours with part of the commitment unused."""
ROOT_VOLUME_GIB = 30.0  # the ECS-optimized AMI's default root volume
GP3_USD_PER_GB_MONTH = 0.08
DATA_TRANSFER_USD_PER_GB = 0.09
DATA_TRANSFER_GB_PER_INSTANCE_DAY = 2.0
CPU_WEIGHT = 9.0  # split cost allocation: a vCPU-hour weighs 9 GB-hours
HOUR = pd.Timedelta(hours=1)
REGION_PREFIX = {"us-east-1": "USE1", "us-east-2": "USE2", "us-west-1": "USW1", "us-west-2": "USW2"}


@dataclass(frozen=True)
class DemoBill:
    """What was written: where, and what a reader of the export should find."""

    uri: str
    months: tuple[str, ...]
    line_items: int
    split_rows: int
    savings_plan_arn: str
    hourly_commitment_usd: float
    billed_usd: float


def _hours(
    start: pd.Series, end: pd.Series, step: pd.Timedelta = HOUR
) -> tuple[np.ndarray, pd.Series, np.ndarray]:
    """Each [start, end) cut at `step` boundaries: (row index, slice start, hours in the slice)."""
    first = start.dt.floor(step)
    n = np.ceil((end - first) / step).astype(int).to_numpy()
    n = np.maximum(n, 0)
    rows = np.repeat(np.arange(len(start)), n)
    k = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
    slice_start = pd.Series(first.to_numpy()[rows] + k * step.to_timedelta64())
    lo = np.maximum(start.to_numpy()[rows], slice_start.to_numpy())
    hi = np.minimum(end.to_numpy()[rows], (slice_start + step).to_numpy())
    return rows, slice_start, (hi - lo) / np.timedelta64(1, "h")


def _hash(*parts: object) -> str:
    return hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()


def _catalogue(region: str) -> pd.DataFrame:
    table = bundled_catalog(region).table.set_index("instance_type")
    return table[["vcpus", "memory_mib", "ondemand_price", "spot_price"]]


def _instance_hours(
    frames: HistoryFrames, instance_ids: Mapping[str, str], now: datetime, prices: pd.DataFrame
) -> pd.DataFrame:
    inst = frames.instances
    inst = inst[inst["instance_id"].isin(list(instance_ids))].reset_index(drop=True)
    start = pd.to_datetime(inst["launch_time"])
    end = pd.to_datetime(inst["terminated_at"]).fillna(pd.Timestamp(now)).clip(upper=pd.Timestamp(now))
    rows, hour, amount = _hours(start, end)
    out = pd.DataFrame(
        {
            "_history_id": inst["instance_id"].to_numpy()[rows],
            "resource_id": inst["instance_id"].map(instance_ids).to_numpy()[rows],
            "instance_type": inst["instance_type"].to_numpy()[rows],
            "spot": inst["capacity_type"].eq("SPOT").to_numpy()[rows],
            "hour": hour,
            "amount": amount,
        }
    )
    out = out[out["amount"] > 0].reset_index(drop=True)
    rate = np.where(
        out["spot"],
        out["instance_type"].map(prices["spot_price"]),
        out["instance_type"].map(prices["ondemand_price"]),
    )
    out["rate"] = rate.astype(float)
    out["od_rate"] = out["instance_type"].map(prices["ondemand_price"]).astype(float)
    # In the history's instance order, not the emulator's ids: those are drawn anew each run, and
    # the Savings Plan covers each hour's instances in this order (`_cover`), so each queue's
    # share of it changed run to run (the demo's cpu-batch fees $532 in one run, $265 an hour
    # later).
    out = out.sort_values(["hour", "_history_id"], kind="stable").reset_index(drop=True)
    return out.drop(columns="_history_id")


def _cover(ih: pd.DataFrame, commitment: float) -> pd.DataFrame:
    """Per on-demand instance-hour, the fraction the Savings Plan covers, in `ih`'s order within
    each hour (the history's instance order: every discount is the same `SP_DISCOUNT`, so AWS's
    highest-savings-first rule leaves the order open)."""
    sp_cost = np.where(ih["spot"], 0.0, ih["amount"] * ih["od_rate"] * (1 - SP_DISCOUNT))
    before = pd.Series(sp_cost).groupby(ih["hour"].to_numpy()).cumsum().to_numpy() - sp_cost
    covered = np.clip(commitment - before, 0.0, sp_cost)
    with np.errstate(invalid="ignore", divide="ignore"):
        fraction = np.where(sp_cost > 0, covered / sp_cost, 0.0)
    return ih.assign(covered_fraction=fraction, covered_sp_usd=covered)


def demo_bill_rows(
    frames: HistoryFrames,
    instance_ids: Mapping[str, str],
    task_arns: Mapping[tuple[str, int], str],
    *,
    account_id: str,
    region: str,
    start: datetime,
    now: datetime,
) -> tuple[pd.DataFrame, str, float]:
    """The export's line items (CUR 2.0 columns, every month), the Savings Plan ARN and its hourly
    commitment. `start` is when the history (and the Savings Plan) starts; times are naive UTC."""
    prices = _catalogue(region)
    area = REGION_PREFIX.get(region, region)
    ih = _instance_hours(frames, instance_ids, now, prices)
    sp_start = pd.Timestamp(start).floor("h")
    hours = pd.date_range(sp_start, pd.Timestamp(now), freq="h", inclusive="left")
    on_demand = ih.loc[~ih["spot"]]
    per_hour = (
        (on_demand["amount"] * on_demand["od_rate"] * (1 - SP_DISCOUNT)).groupby(on_demand["hour"]).sum()
    )
    busy = per_hour[per_hour > 0]
    commitment = max(round(SP_COVERAGE * float(busy.median()), 2), 0.01) if len(busy) else 0.01
    sp_arn = f"arn:aws:savingsplans::{account_id}:savingsplan/{_uuid(_hash('sp', account_id, sp_start))}"
    ih = _cover(ih, commitment)
    ih["amortised_usd"] = ih["covered_sp_usd"] + ih["amount"] * (1 - ih["covered_fraction"]) * ih["rate"]

    parts = [_instance_rows(ih, area, sp_arn, sp_start), _fee_rows(ih, hours, commitment, sp_arn, sp_start)]
    parts.append(_split_rows(frames, instance_ids, task_arns, ih, prices, area, now))
    parts.append(_ebs_rows(frames, instance_ids, area, now))
    parts.append(_transfer_rows(ih, area))
    rows = pd.concat([p for p in parts if not p.empty], ignore_index=True)
    rows["line_item_usage_end_date"] = rows["line_item_usage_start_date"] + pd.to_timedelta(
        rows.pop("_hours"), unit="h"
    )
    period = rows["line_item_usage_start_date"].dt.to_period("M")
    rows["bill_billing_period_start_date"] = period.dt.start_time
    rows["bill_billing_period_end_date"] = (period + 1).dt.start_time
    rows["bill_bill_type"] = "Anniversary"
    rows["bill_billing_entity"] = "AWS"
    rows["bill_payer_account_id"] = account_id
    rows["line_item_usage_account_id"] = account_id
    rows["line_item_currency_code"] = "USD"
    rows["line_item_blended_cost"] = rows["line_item_unblended_cost"]
    rows["product_region_code"] = region
    rows["identity_time_interval"] = (
        rows["line_item_usage_start_date"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
        + "/"
        + rows["line_item_usage_end_date"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    )
    rows = rows.sort_values(
        [
            "line_item_usage_start_date",
            "line_item_line_item_type",
            "line_item_resource_id",
            "line_item_usage_type",
        ],
        kind="stable",
    ).reset_index(drop=True)
    rows["identity_line_item_id"] = [
        _hash(*values)[:52]
        for values in zip(
            rows["line_item_usage_start_date"],
            rows["line_item_line_item_type"],
            rows["line_item_resource_id"],
            rows["line_item_usage_type"],
            rows["line_item_usage_amount"],
            strict=True,
        )
    ]
    return rows, sp_arn, commitment


def _uuid(h: str) -> str:
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def _instance_rows(ih: pd.DataFrame, area: str, sp_arn: str, sp_start: pd.Timestamp) -> pd.DataFrame:
    usage_type = pd.Series(np.where(ih["spot"], f"{area}-SpotUsage:", f"{area}-BoxUsage:"), index=ih.index)
    common = {
        "line_item_usage_start_date": ih["hour"],
        "_hours": 1.0,
        "line_item_product_code": "AmazonEC2",
        "line_item_usage_type": usage_type + ih["instance_type"],
        "line_item_operation": pd.Series(
            np.where(ih["spot"], "RunInstances:SV001", "RunInstances"), index=ih.index
        ),
        "line_item_resource_id": ih["resource_id"],
        "pricing_unit": "Hrs",
        "product_instance_type": ih["instance_type"],
        "product_product_family": "Compute Instance",
    }
    uncovered = ih["amount"] * (1 - ih["covered_fraction"])
    usage = pd.DataFrame(
        {
            **common,
            "line_item_line_item_type": "Usage",
            "line_item_usage_amount": uncovered,
            "line_item_unblended_rate": ih["rate"].map(str),
            "line_item_unblended_cost": uncovered * ih["rate"],
            "pricing_public_on_demand_rate": ih["od_rate"].map(str),
            "pricing_public_on_demand_cost": uncovered * ih["od_rate"],
            "pricing_term": pd.Series(np.where(ih["spot"], "", "OnDemand"), index=ih.index),
            "pricing_purchase_option": pd.Series(np.where(ih["spot"], "Spot", "On Demand"), index=ih.index),
        }
    )
    usage = usage[uncovered > 1e-12]
    sp = ih[ih["covered_fraction"] > 0]
    covered = sp["amount"] * sp["covered_fraction"]
    sp_columns = {
        "savings_plan_savings_plan_a_r_n": sp_arn,
        "savings_plan_savings_plan_rate": (sp["od_rate"] * (1 - SP_DISCOUNT)).to_numpy(),
        "savings_plan_offering_type": "ComputeSavingsPlans",
        "savings_plan_purchase_term": "1yr",
        "savings_plan_payment_option": "No Upfront",
        "savings_plan_start_time": sp_start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "savings_plan_end_time": (sp_start + pd.Timedelta(days=365)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    on_demand_cost = (covered * sp["od_rate"]).to_numpy()
    covered_rows = pd.DataFrame(
        {
            **{k: (v[sp.index].to_numpy() if isinstance(v, pd.Series) else v) for k, v in common.items()},
            "line_item_line_item_type": "SavingsPlanCoveredUsage",
            "line_item_usage_amount": covered.to_numpy(),
            "line_item_unblended_rate": sp["od_rate"].map(str).to_numpy(),
            "line_item_unblended_cost": on_demand_cost,
            "pricing_public_on_demand_rate": sp["od_rate"].map(str).to_numpy(),
            "pricing_public_on_demand_cost": on_demand_cost,
            "pricing_term": "OnDemand",
            "savings_plan_savings_plan_effective_cost": sp["covered_sp_usd"].to_numpy(),
            **sp_columns,
        }
    )
    negation = covered_rows.assign(
        line_item_line_item_type="SavingsPlanNegation",
        line_item_unblended_cost=-on_demand_cost,
        pricing_public_on_demand_cost=0.0,
        savings_plan_savings_plan_effective_cost=np.nan,
    )
    return pd.concat([usage, covered_rows, negation], ignore_index=True)


def _fee_rows(
    ih: pd.DataFrame, hours: pd.DatetimeIndex, commitment: float, sp_arn: str, sp_start: pd.Timestamp
) -> pd.DataFrame:
    used = ih.groupby("hour")["covered_sp_usd"].sum().reindex(hours, fill_value=0.0).clip(upper=commitment)
    return pd.DataFrame(
        {
            "line_item_usage_start_date": hours,
            "_hours": 1.0,
            "line_item_line_item_type": "SavingsPlanRecurringFee",
            "line_item_product_code": "ComputeSavingsPlans",
            "line_item_usage_type": "ComputeSP:1yrNoUpfront",
            "line_item_operation": "",
            "line_item_resource_id": sp_arn,
            "line_item_usage_amount": 1.0,
            "line_item_unblended_rate": str(commitment),
            "line_item_unblended_cost": commitment,
            "pricing_unit": "Hrs",
            "savings_plan_savings_plan_a_r_n": sp_arn,
            "savings_plan_total_commitment_to_date": commitment,
            "savings_plan_used_commitment": used.to_numpy(),
            "savings_plan_offering_type": "ComputeSavingsPlans",
            "savings_plan_purchase_term": "1yr",
            "savings_plan_payment_option": "No Upfront",
            "savings_plan_start_time": sp_start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "savings_plan_end_time": (sp_start + pd.Timedelta(days=365)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
    )


def _split_rows(
    frames: HistoryFrames,
    instance_ids: Mapping[str, str],
    task_arns: Mapping[tuple[str, int], str],
    ih: pd.DataFrame,
    prices: pd.DataFrame,
    area: str,
    now: datetime,
) -> pd.DataFrame:
    att = frames.attempts
    att = att[att["instance_id"].isin(list(instance_ids)) & att["started_at"].notna()].copy()
    att["task_arn"] = [
        task_arns.get((str(j), int(a))) for j, a in zip(att["job_id"], att["attempt"], strict=True)
    ]
    att = att[att["task_arn"].notna()].reset_index(drop=True)
    jobs = frames.jobs.set_index("job_id")
    att["vcpus"] = att["job_id"].map(jobs["vcpus"]).astype(float)
    att["memory_gb"] = att["job_id"].map(jobs["memory_mib"]).astype(float) / 1024
    att["queue"] = att["job_id"].map(jobs["queue"])
    att["definition"] = att["job_id"].map(jobs["job_definition"]).map(lambda arn: str(arn).rsplit("/", 1)[-1])
    start = pd.to_datetime(att["started_at"])
    end = pd.to_datetime(att["stopped_at"]).fillna(pd.Timestamp(now)).clip(upper=pd.Timestamp(now))
    rows, hour, amount = _hours(start, end)
    t = pd.DataFrame(
        {
            "task_arn": att["task_arn"].to_numpy()[rows],
            "resource_id": att["instance_id"].map(instance_ids).to_numpy()[rows],
            "hour": hour,
            "amount": amount,
            "vcpus": att["vcpus"].to_numpy()[rows],
            "memory_gb": att["memory_gb"].to_numpy()[rows],
            "peak_vcpus": att["peak_vcpus"].astype(float).fillna(0.0).to_numpy()[rows],
            "peak_gb": (att["peak_memory_mib"].astype(float).fillna(0.0) / 1024).to_numpy()[rows],
            "ce": att["compute_environment_arn"]
            .map(lambda arn: str(arn).rsplit("/", 1)[-1])
            .to_numpy()[rows],
            "queue": att["queue"].to_numpy()[rows],
            "definition": att["definition"].to_numpy()[rows],
        }
    )
    t = t[t["amount"] > 0]
    per_instance_hour = ih.groupby(["resource_id", "hour"], as_index=False).agg(
        instance_type=("instance_type", "first"),
        instance_hours=("amount", "sum"),
        cost=("amortised_usd", "sum"),
    )
    t = t.merge(per_instance_hour, on=["resource_id", "hour"], how="inner")
    v = t["instance_type"].map(prices["vcpus"]).astype(float)
    g = t["instance_type"].map(prices["memory_mib"]).astype(float) / 1024
    cpu_pool = t["cost"] * CPU_WEIGHT * v / (CPU_WEIGHT * v + g)
    pools = {
        "vCPU": (cpu_pool, v, "vcpus", "peak_vcpus"),
        "GB": (t["cost"] - cpu_pool, g, "memory_gb", "peak_gb"),
    }
    out = []
    for unit, (pool, capacity, reserved_col, actual_col) in pools.items():
        reserved = t[reserved_col] * t["amount"]
        actual = t[actual_col] * t["amount"]
        split = np.maximum(reserved, actual)
        ratio = split / (capacity * t["instance_hours"])
        total = ratio.groupby([t["resource_id"], t["hour"]]).transform("sum")
        ratio = np.where(total > 1, ratio / total, ratio)  # never more than the instance
        total = np.minimum(total, 1.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            unused = np.where(total > 0, pool * (1 - total) * ratio / total, 0.0)
        out.append(
            pd.DataFrame(
                {
                    "line_item_usage_start_date": t["hour"],
                    "_hours": 1.0,
                    "line_item_line_item_type": "Usage",
                    "line_item_product_code": "AmazonECS",
                    "line_item_usage_type": f"{area}-ECS-EC2-{unit}-Hours",
                    "line_item_operation": "ECSTask-EC2",
                    "line_item_resource_id": t["task_arn"],
                    "line_item_usage_amount": split,
                    "line_item_unblended_rate": "0.0",
                    "line_item_unblended_cost": 0.0,
                    "pricing_unit": f"{unit}-Hours",
                    "split_line_item_parent_resource_id": t["resource_id"],
                    "split_line_item_reserved_usage": reserved,
                    "split_line_item_actual_usage": actual,
                    "split_line_item_split_usage": split,
                    "split_line_item_split_usage_ratio": ratio,
                    "split_line_item_split_cost": pool * ratio,
                    "split_line_item_unused_cost": unused,
                    "_ce": t["ce"],
                    "_queue": t["queue"],
                    "_definition": t["definition"],
                }
            )
        )
    return pd.concat(out, ignore_index=True)


def _ebs_rows(
    frames: HistoryFrames, instance_ids: Mapping[str, str], area: str, now: datetime
) -> pd.DataFrame:
    inst = frames.instances
    inst = inst[inst["instance_id"].isin(list(instance_ids))].reset_index(drop=True)
    start = pd.to_datetime(inst["launch_time"])
    end = pd.to_datetime(inst["terminated_at"]).fillna(pd.Timestamp(now)).clip(upper=pd.Timestamp(now))
    rows, day, hours = _hours(start, end, pd.Timedelta(days=1))
    ec2 = inst["instance_id"].map(instance_ids).to_numpy()[rows]
    gb_month = ROOT_VOLUME_GIB * hours / (24 * day.dt.days_in_month.to_numpy())
    return pd.DataFrame(
        {
            "line_item_usage_start_date": day,
            "_hours": 24.0,
            "line_item_line_item_type": "Usage",
            "line_item_product_code": "AmazonEC2",
            "line_item_usage_type": f"{area}-EBS:VolumeUsage.gp3",
            "line_item_operation": "CreateVolume-Gp3",
            "line_item_resource_id": ["vol-" + _hash("vol", i)[:17] for i in ec2],
            "line_item_usage_amount": gb_month,
            "line_item_unblended_rate": str(GP3_USD_PER_GB_MONTH),
            "line_item_unblended_cost": gb_month * GP3_USD_PER_GB_MONTH,
            "pricing_public_on_demand_rate": str(GP3_USD_PER_GB_MONTH),
            "pricing_public_on_demand_cost": gb_month * GP3_USD_PER_GB_MONTH,
            "pricing_unit": "GB-Mo",
            "product_product_family": "Storage",
        }
    )[lambda f: f["line_item_usage_amount"] > 0]


def _transfer_rows(ih: pd.DataFrame, area: str) -> pd.DataFrame:
    instance_days = ih.assign(day=ih["hour"].dt.floor("D")).groupby("day")["amount"].sum() / 24
    rng = np.random.default_rng(SEED)
    gb = (
        instance_days.to_numpy()
        * DATA_TRANSFER_GB_PER_INSTANCE_DAY
        * rng.uniform(0.5, 1.5, len(instance_days))
    )
    return pd.DataFrame(
        {
            "line_item_usage_start_date": instance_days.index,
            "_hours": 24.0,
            "line_item_line_item_type": "Usage",
            "line_item_product_code": "AWSDataTransfer",
            "line_item_usage_type": f"{area}-DataTransfer-Out-Bytes",
            "line_item_operation": "RunInstances",
            "line_item_usage_amount": gb,
            "line_item_unblended_rate": str(DATA_TRANSFER_USD_PER_GB),
            "line_item_unblended_cost": gb * DATA_TRANSFER_USD_PER_GB,
            "pricing_public_on_demand_rate": str(DATA_TRANSFER_USD_PER_GB),
            "pricing_public_on_demand_cost": gb * DATA_TRANSFER_USD_PER_GB,
            "pricing_unit": "GB",
            "product_product_family": "Data Transfer",
        }
    )


def _parquet(rows: pd.DataFrame, region: str) -> bytes:
    """One month of rows as CUR 2.0 Parquet: `product` and `resource_tags` as maps."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    frame = rows.drop(columns=[c for c in rows.columns if c.startswith("_")])
    table = pa.Table.from_pandas(frame, preserve_index=False)
    string_map = pa.map_(pa.string(), pa.string())
    products = [
        [("region", region)] + ([("instance_type", t)] if isinstance(t, str) else [])
        for t in rows.get("product_instance_type", pd.Series([None] * len(rows)))
    ]
    tags = [
        [("aws_batch_compute_environment", ce), ("aws_batch_job_queue", q), ("aws_batch_job_definition", d)]
        if isinstance(ce, str)
        else []
        for ce, q, d in zip(
            rows.get("_ce", pd.Series([None] * len(rows))),
            rows.get("_queue", pd.Series([None] * len(rows))),
            rows.get("_definition", pd.Series([None] * len(rows))),
            strict=True,
        )
    ]
    table = table.append_column("product", pa.array(products, type=string_map))
    table = table.append_column("resource_tags", pa.array(tags, type=string_map))
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="snappy")
    return sink.getvalue()


def write_demo_bill(
    s3: object,
    frames: HistoryFrames,
    instance_ids: Mapping[str, str],
    task_arns: Mapping[tuple[str, int], str],
    *,
    account_id: str,
    region: str,
    start: datetime,
    now: datetime,
) -> DemoBill:
    """Write the export (data files first, then each month's manifest, as AWS does) to `BUCKET`."""
    rows, sp_arn, commitment = demo_bill_rows(
        frames, instance_ids, task_arns, account_id=account_id, region=region, start=start, now=now
    )
    s3.create_bucket(Bucket=BUCKET)  # type: ignore[attr-defined]
    months = []
    execution = _uuid(_hash("execution", account_id, now))
    for period, month_rows in rows.groupby(rows["bill_billing_period_start_date"].dt.strftime("%Y-%m")):
        key = f"{PREFIX}/{EXPORT}/data/BILLING_PERIOD={period}/{EXPORT}-00001.snappy.parquet"
        s3.put_object(Bucket=BUCKET, Key=key, Body=_parquet(month_rows, region))  # type: ignore[attr-defined]
        manifest = {
            "executionId": execution,
            "exportArn": f"arn:aws:bcm-data-exports:us-east-1:{account_id}:export/{EXPORT}-{execution[:8]}",
            "columns": [
                {"name": c, "type": str(t)} for c, t in month_rows.dtypes.items() if not c.startswith("_")
            ],
            "dataFiles": [f"s3://{BUCKET}/{key}"],
            "billingPeriod": {"start": f"{period}-01T00:00:00.000Z"},
        }
        manifest_key = f"{PREFIX}/{EXPORT}/metadata/BILLING_PERIOD={period}/{EXPORT}-Manifest.json"
        s3.put_object(Bucket=BUCKET, Key=manifest_key, Body=json.dumps(manifest).encode())  # type: ignore[attr-defined]
        months.append(str(period))
    return DemoBill(
        uri=f"s3://{BUCKET}/{PREFIX}",
        months=tuple(months),
        line_items=len(rows),
        split_rows=int(rows["split_line_item_parent_resource_id"].notna().sum()),
        savings_plan_arn=sp_arn,
        hourly_commitment_usd=commitment,
        billed_usd=float(rows["line_item_unblended_cost"].sum()),
    )


def with_bill(settings: Settings, bill: DemoBill, data_dir: str) -> Settings:
    """`settings` reading the demo's export on `collect`, its months kept under `data_dir` (one per
    demo run, so no earlier run's months are mixed in)."""
    billing = settings.billing.model_copy(update={"cur_s3_uri": bill.uri, "data_dir": data_dir})
    return settings.model_copy(update={"billing": billing})
