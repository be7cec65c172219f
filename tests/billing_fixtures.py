"""A HAND-BUILT CUR 2.0 file for bill tests (no public real CUR 2.0 rows with Savings Plans or split
cost allocation exist, see shared/data/billing/README.md), written from the column semantics in
shared/data/billing/SCHEMA.md: one hour of an m5.large covered by a Compute Savings Plan (covered
usage, its negation, the hourly fee with part of the commitment unused), a spot and an on-demand
instance-hour, the two split-cost rows of a Batch task on the covered instance, EBS and tax.
"""

from __future__ import annotations

from pathlib import Path

from optimizer.billing.intake import connect

TASK = "arn:aws:ecs:us-east-1:111122223333:task/ce_Batch_1/t1"
SP = "arn:aws:savingsplans::111122223333:savingsplan/0f4e1b2c-aaaa-bbbb-cccc-000000000001"

# (line_item_type, product, usage_type, operation, resource, unblended, usage, extra columns)
ROWS = [
    ("SavingsPlanCoveredUsage", "AmazonEC2", "USE1-BoxUsage:m5.large", "RunInstances", "i-1", 0.096, 1.0,
     {"savings_plan_savings_plan_a_r_n": SP, "savings_plan_savings_plan_effective_cost": 0.06}),
    ("SavingsPlanNegation", "AmazonEC2", "USE1-BoxUsage:m5.large", "RunInstances", "i-1", -0.096, 1.0,
     {"savings_plan_savings_plan_a_r_n": SP}),
    ("SavingsPlanRecurringFee", "ComputeSavingsPlans", "ComputeSP:1yrNoUpfront", "", "", 0.10, 1.0,
     {"savings_plan_savings_plan_a_r_n": SP, "savings_plan_total_commitment_to_date": 0.10,
      "savings_plan_used_commitment": 0.06, "savings_plan_offering_type": "ComputeSavingsPlans",
      "savings_plan_purchase_term": "1yr", "savings_plan_payment_option": "No Upfront"}),
    ("Usage", "AmazonEC2", "USE1-SpotUsage:c5.large", "RunInstances:SV001", "i-2", 0.03, 1.0, {}),
    ("Usage", "AmazonEC2", "USE1-BoxUsage:c5.large", "RunInstances", "i-3", 0.085, 1.0, {}),
    ("Usage", "AmazonECS", "USE1-ECS-EC2-vCPU-Hours", "ECSTask-EC2", TASK,
     0.0, 1.0, {"split_line_item_parent_resource_id": "i-1", "split_line_item_split_cost": 0.03,
                "split_line_item_unused_cost": 0.01, "tag": "q1"}),
    ("Usage", "AmazonECS", "USE1-ECS-EC2-GB-Hours", "ECSTask-EC2", TASK,
     0.0, 4.0, {"split_line_item_parent_resource_id": "i-1", "split_line_item_split_cost": 0.015,
                "split_line_item_unused_cost": 0.005, "tag": "q1"}),
    ("Usage", "AmazonEC2", "USE1-EBS:VolumeUsage.gp3", "CreateVolume-Gp3", "vol-1", 0.008, 0.1, {}),
    ("Tax", "AmazonEC2", "", "", "", 0.02, 1.0, {}),
]  # fmt: skip
DOUBLES = (
    "savings_plan_savings_plan_effective_cost",
    "savings_plan_total_commitment_to_date",
    "savings_plan_used_commitment",
    "split_line_item_split_cost",
    "split_line_item_unused_cost",
)
STRINGS = (
    "savings_plan_savings_plan_a_r_n",
    "savings_plan_offering_type",
    "savings_plan_purchase_term",
    "savings_plan_payment_option",
    "split_line_item_parent_resource_id",
)


def _sql_text(value: object) -> str:
    if value is None or value == "":
        return "NULL"
    return f"'{value}'" if isinstance(value, str) else repr(float(value))  # type: ignore[arg-type]


def cur2_file(tmp_path: Path) -> Path:
    """The hand-built CUR 2.0 Parquet file (maps for resource_tags and product, as AWS writes them)."""
    selects = []
    for i, (kind, product, usage_type, operation, resource, cost, amount, extra) in enumerate(ROWS):
        tag = extra.get("tag")
        tags = f"MAP {{'aws_batch_job_queue': '{tag}'}}" if tag else "MAP {}::MAP(VARCHAR, VARCHAR)"
        cols = [
            f"'li-{i}' AS identity_line_item_id",
            "TIMESTAMP '2025-03-01' AS bill_billing_period_start_date",
            "'111122223333' AS bill_payer_account_id",
            "'111122223333' AS line_item_usage_account_id",
            f"'{kind}' AS line_item_line_item_type",
            "TIMESTAMP '2025-03-10 05:00:00' AS line_item_usage_start_date",
            "TIMESTAMP '2025-03-10 06:00:00' AS line_item_usage_end_date",
            f"'{product}' AS line_item_product_code",
            f"{_sql_text(usage_type)} AS line_item_usage_type",
            f"{_sql_text(operation)} AS line_item_operation",
            f"{_sql_text(resource)} AS line_item_resource_id",
            "'us-east-1a' AS line_item_availability_zone",
            f"{amount!r} AS line_item_usage_amount",
            "'USD' AS line_item_currency_code",
            f"{cost!r} AS line_item_unblended_cost",
            f"{cost!r} AS pricing_public_on_demand_cost",
            "'us-east-1' AS product_region_code",
            "MAP {'region': 'us-east-1'} AS product",
            f"{tags} AS resource_tags",
        ]
        cols += [f"CAST({_sql_text(extra.get(c))} AS DOUBLE) AS {c}" for c in DOUBLES]
        cols += [f"CAST({_sql_text(extra.get(c))} AS VARCHAR) AS {c}" for c in STRINGS]
        selects.append("SELECT " + ", ".join(cols))
    path = tmp_path / "cur2.parquet"
    con = connect()
    con.execute(f"COPY ({' UNION ALL '.join(selects)}) TO '{path}' (FORMAT parquet)")
    con.close()
    return path
