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
    Column("sources", Json, nullable=False),  # [{"name", "bytes", "sha256"}, ...]
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

TABLES = (bill_months, bill_daily, bill_commitments)
