"""Aggregates of the bill (CUR 2.0, legacy CUR, FOCUS), written by `batchopt import-bill`.

The line items themselves stay in Parquet under `billing.data_dir` (one file per billing month);
only these aggregates land in the store. A billing month is replaced whole, in one transaction,
whenever its bill is imported again with different content.

- `bill_months`: one row per imported billing month: what it was read from (format, files and their
  SHA-256) and its totals, so a re-import of the same files is recognised and changes nothing.
- `bill_daily`: per billing month, UTC day, usage account, region, service (product code) and usage
  kind: billed (unblended), effective (amortised, AWS's rule) and public on-demand cost, and the
  usage amount (instance-hours for the `ec2_*` kinds; mixed units otherwise, so only for counting).
- `bill_commitments`: Savings Plans and Reserved Instances seen in any imported month.
- `bill_instances`: per billing month, UTC day and EC2 instance id: what the bill charged for it
  (its instance-hours and their Savings Plan negation), so instances the collectors missed show.
- `bill_commitment_hours`: per hour and commitment: used and unused commitment (utilization).
- `bill_coverage_hours`: per hour and region: EC2 instance usage at on-demand value, committed or
  not (coverage).
- `bill_commitment_rates`: per billing month, commitment, region and instance type: the covered
  instance-hours and their cost at the commitment's rate and at on-demand prices.
- `bill_job_costs`: per billing month and Batch job attempt: its billed and effective cost, from
  split cost allocation rows or, without them, the instance's bill shared by the model's
  attribution rule (written by `batchopt reconcile`, see `optimizer.billing.jobs`).

Money is USD. Unknown dimension values are "(none)".
"""

from sqlalchemy import Column, Index, Table

from optimizer.store.base import Arn, Float, Integer, Json, LongStr, Str, Time, metadata

bill_months = Table(
    "bill_months",
    metadata,
    Column("billing_period", Time, primary_key=True),  # UTC midnight of the month's first day
    Column("format", Str, nullable=False),  # cur2 | cur-legacy | focus
    Column("fingerprint", Str, nullable=False),  # SHA-256 over the format, reader version and files
    Column("sources", Json, nullable=False),  # [{"name", "bytes", "sha256", "months"}, ...]
    Column("path", LongStr, nullable=False),  # the month's Parquet file (or its Athena table)
    Column("line_items", Integer, nullable=False),
    Column("billed_usd", Float, nullable=False),
    Column("effective_usd", Float, nullable=False),
    Column("imported_at", Time, nullable=False),
)

bill_daily = Table(
    "bill_daily",
    metadata,
    Column("billing_period", Time, primary_key=True),
    Column("day", Time, primary_key=True),  # UTC midnight of the usage day
    Column("account_id", Str, primary_key=True),  # the usage (linked) account
    Column("region", Str, primary_key=True),
    Column("service", Str, primary_key=True),  # CUR product code (FOCUS: x_ServiceCode, else ServiceName)
    Column("usage_kind", Str, primary_key=True),  # see optimizer.billing.queries.USAGE_KINDS
    Column("billed_usd", Float, nullable=False, server_default="0"),
    Column("effective_usd", Float, nullable=False, server_default="0"),
    Column("list_usd", Float, nullable=False, server_default="0"),
    Column("usage_amount", Float, nullable=False, server_default="0"),
    Column("line_items", Integer, nullable=False, server_default="0"),
)
Index("ix_bill_daily_day", bill_daily.c.day)

bill_commitments = Table(
    "bill_commitments",
    metadata,
    Column("arn", Arn, primary_key=True),
    Column("kind", Str, nullable=False),  # savings_plan | reserved_instance
    Column("offering_type", Str),  # ComputeSavingsPlans, EC2InstanceSavingsPlans, or the RI's usage type
    Column("account_id", Str),
    Column("region", Str),
    Column("hourly_commitment_usd", Float),  # Savings Plans, where the bill states it
    Column("count", Float),  # Reserved Instances: number of reservations
    Column("term", Str),  # e.g. "1yr", or the RI's "start/end" span when only that is known
    Column("payment_option", Str),
    Column("starts_at", Time),
    Column("ends_at", Time),
    Column("first_seen", Time, nullable=False),  # first usage hour of any line item naming it
    Column("last_seen", Time, nullable=False),
    Column("line_items", Integer, nullable=False),
    Column("billed_usd", Float, nullable=False),  # fees and covered usage as billed
    Column("effective_usd", Float, nullable=False),  # covered usage at the commitment rate + unused part
)

bill_instances = Table(
    "bill_instances",
    metadata,
    Column("billing_period", Time, primary_key=True),
    Column("day", Time, primary_key=True),
    Column("instance_id", Str, primary_key=True),
    Column("account_id", Str, nullable=False),
    Column("region", Str, nullable=False),
    Column("instance_type", Str),
    Column("purchase_option", Str),  # on_demand | spot | reserved | savings_plan | mixed
    Column("billed_usd", Float, nullable=False),
    Column("effective_usd", Float, nullable=False),
    Column("list_usd", Float, nullable=False),
    Column("instance_hours", Float, nullable=False),
    # Its Savings Plan / Reserved Instance covered usage at the amortised rate (null: imported before 0011)
    Column("commitment_used_usd", Float),
)
Index("ix_bill_instances_instance", bill_instances.c.instance_id)

bill_commitment_hours = Table(
    "bill_commitment_hours",
    metadata,
    Column("billing_period", Time, primary_key=True),
    Column("hour", Time, primary_key=True),
    Column("arn", Arn, primary_key=True),
    Column("kind", Str, nullable=False),
    Column("used_usd", Float, nullable=False),  # covered usage at its amortised cost
    Column("unused_usd", Float, nullable=False),  # unused commitment (SP: hourly; RI: its monthly fee row)
    Column("covered_list_usd", Float, nullable=False),  # the covered usage at on-demand prices
    Column("covered_instance_hours", Float, nullable=False),
)

bill_coverage_hours = Table(
    "bill_coverage_hours",
    metadata,
    Column("billing_period", Time, primary_key=True),
    Column("hour", Time, primary_key=True),
    Column("region", Str, primary_key=True),
    Column("covered_list_usd", Float, nullable=False),  # SP/RI-covered instance usage, on-demand value
    Column("on_demand_list_usd", Float, nullable=False),
    Column("spot_usd", Float, nullable=False),
    Column("covered_hours", Float, nullable=False),
    Column("on_demand_hours", Float, nullable=False),
    Column("spot_hours", Float, nullable=False),
)

bill_commitment_rates = Table(
    "bill_commitment_rates",
    metadata,
    Column("billing_period", Time, primary_key=True),
    Column("arn", Arn, primary_key=True),
    Column("region", Str, primary_key=True),
    Column("instance_type", Str, primary_key=True),
    Column("covered_hours", Float, nullable=False),  # instance-hours the commitment covered
    Column("effective_usd", Float, nullable=False),  # what they cost at the commitment's rate
    Column("list_usd", Float, nullable=False),  # and at public on-demand prices
    Column("first_seen", Time, nullable=False),
    Column("last_seen", Time, nullable=False),
)

bill_job_costs = Table(
    "bill_job_costs",
    metadata,
    Column("billing_period", Time, primary_key=True),
    Column("job_id", Str, primary_key=True),
    Column("attempt", Integer, primary_key=True),
    Column("source", Str, nullable=False),  # split | fargate | attribution
    Column("instance_id", Str),
    Column("billed_usd", Float, nullable=False),
    Column("effective_usd", Float, nullable=False),
    Column("unused_usd", Float, nullable=False),  # the idle share inside effective_usd
)

TABLES = (
    bill_months,
    bill_daily,
    bill_commitments,
    bill_instances,
    bill_commitment_hours,
    bill_coverage_hours,
    bill_commitment_rates,
    bill_job_costs,
)
