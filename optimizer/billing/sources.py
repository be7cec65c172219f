"""Read one bill export file into the canonical line-item layout, with DuckDB, where it sits.

Three formats, Parquet or CSV (gzip is detected):

- `cur2`: AWS Data Exports CUR 2.0: snake_case columns (`line_item_unblended_cost`), maps for
  `resource_tags` and `product`, optional `split_line_item_*` columns.
- `cur-legacy`: legacy CUR, either with its CSV headers (`lineItem/UnblendedCost`,
  `resourceTags/aws:batch:job-queue`) or in Athena's flattened snake_case Parquet layout
  (`line_item_unblended_cost`, `resource_tags_aws_batch_job_queue`). CSV headers are flattened the
  way Athena does it, so one mapping serves both, and CUR 2.0 as well.
- `focus`: FOCUS 1.0 / 1.2 (`BilledCost`, `EffectiveCost`, `CommitmentDiscount*`), with or
  without AWS's `x_` columns. Rows of providers other than AWS are left out and counted.

Reading is two SELECTs: a generated projection that picks each source column the format needs
(typed, NULL where the file lacks it) and the format's own mapping to the canonical columns
(`CUR_LINE_ITEMS`, `FOCUS_LINE_ITEMS`), written once. Before anything is read for good the file is
checked: required columns present, numbers and timestamps parse, USD only; the first problem is
raised as an `InputError` naming the file and the column.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from optimizer.errors import InputError

if TYPE_CHECKING:
    import duckdb

FORMATS = ("cur2", "cur-legacy", "focus")
#: Largest amount (cost or usage) a line item may carry. An export never comes near it; a value
#: past it is a broken cell (1e308 reads as a number, and two of them sum to infinity).
MAX_AMOUNT = 1e15
#: Line-item times outside [EARLIEST_BILL_TIME, LATEST_BILL_TIME) are broken cells (AWS has billed
#: since 2006; a usage date of 1900 is an unset field written out).
EARLIEST_BILL_TIME = datetime(2000, 1, 1)
LATEST_BILL_TIME = datetime(2200, 1, 1)

# The canonical line item: every format is mapped to these columns (DuckDB types).
CANONICAL: tuple[tuple[str, str], ...] = (
    ("billing_period", "TIMESTAMP"),  # first instant of the billing month (UTC)
    ("usage_start", "TIMESTAMP"),
    ("usage_end", "TIMESTAMP"),
    ("line_item_id", "VARCHAR"),
    ("payer_account_id", "VARCHAR"),
    ("account_id", "VARCHAR"),  # usage (linked) account
    ("line_item_type", "VARCHAR"),  # CUR vocabulary (Usage, DiscountedUsage, RIFee, Tax, ...)
    ("service", "VARCHAR"),  # CUR product code
    ("usage_type", "VARCHAR"),
    ("operation", "VARCHAR"),
    ("region", "VARCHAR"),
    ("availability_zone", "VARCHAR"),
    ("resource_id", "VARCHAR"),
    ("instance_type", "VARCHAR"),
    ("pricing_unit", "VARCHAR"),
    ("usage_amount", "DOUBLE"),
    ("currency", "VARCHAR"),
    ("billed_usd", "DOUBLE"),  # unblended cost: the invoice view
    ("net_billed_usd", "DOUBLE"),  # after EDP/private-rate discounts, where the export has it
    ("effective_usd", "DOUBLE"),  # amortised, AWS's rule (SCHEMA.md section 2)
    ("list_usd", "DOUBLE"),  # public on-demand cost
    ("instance_usage", "BOOLEAN"),  # EC2 instance-hours (on-demand, spot, RI- or SP-covered)
    ("purchase_option", "VARCHAR"),  # on_demand | spot | reserved | savings_plan (usage rows)
    ("commitment_arn", "VARCHAR"),
    ("commitment_kind", "VARCHAR"),  # savings_plan | reserved_instance
    ("commitment_offering_type", "VARCHAR"),
    ("commitment_region", "VARCHAR"),
    ("commitment_hourly_usd", "DOUBLE"),
    ("commitment_count", "DOUBLE"),
    ("commitment_term", "VARCHAR"),
    ("commitment_payment_option", "VARCHAR"),
    ("commitment_start", "TIMESTAMP"),
    ("commitment_end", "TIMESTAMP"),
    ("split_parent_resource_id", "VARCHAR"),
    ("split_usage", "DOUBLE"),
    ("split_usage_ratio", "DOUBLE"),
    ("split_cost", "DOUBLE"),
    ("split_unused_cost", "DOUBLE"),
    ("batch_compute_environment", "VARCHAR"),
    ("batch_job_queue", "VARCHAR"),
    ("batch_job_definition", "VARCHAR"),
)
CANONICAL_COLUMNS = tuple(name for name, _ in CANONICAL)


@dataclass(frozen=True)
class Field:
    """A source column the format's mapping reads: its name in the Athena/snake_case layout."""

    name: str
    type: str = "VARCHAR"  # VARCHAR | DOUBLE | TIMESTAMP
    required: bool = False
    checked: bool = False  # a value that does not parse is an error (else it reads as NULL)
    map_key: tuple[str, str] | None = None  # also found as map column [0], key [1] (CUR 2.0 maps)


def _f(name: str, type_: str = "VARCHAR", **kw: object) -> Field:
    return Field(name, type_, **kw)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# CUR (2.0 and legacy): the source columns, then their mapping (SCHEMA.md section 2).

CUR_FIELDS: tuple[Field, ...] = (
    _f("bill_billing_period_start_date", "TIMESTAMP", required=True, checked=True),
    _f("bill_payer_account_id"),
    _f("identity_line_item_id"),
    _f("line_item_usage_account_id"),
    _f("line_item_line_item_type", required=True),
    _f("line_item_usage_start_date", "TIMESTAMP", required=True, checked=True),
    _f("line_item_usage_end_date", "TIMESTAMP", checked=True),
    _f("line_item_product_code", required=True),
    _f("line_item_usage_type"),
    _f("line_item_operation"),
    _f("line_item_availability_zone"),
    _f("line_item_resource_id"),
    _f("line_item_usage_amount", "DOUBLE", checked=True),
    _f("line_item_currency_code"),
    _f("line_item_unblended_cost", "DOUBLE", required=True, checked=True),
    _f("line_item_net_unblended_cost", "DOUBLE", checked=True),
    _f("pricing_public_on_demand_cost", "DOUBLE", checked=True),
    _f("pricing_unit"),
    _f("pricing_lease_contract_length"),
    _f("pricing_purchase_option"),
    _f("product_region_code", map_key=("product", "region")),
    _f("product_region"),
    _f("product_instance_type", map_key=("product", "instance_type")),
    _f("reservation_reservation_a_r_n"),
    _f("reservation_effective_cost", "DOUBLE", checked=True),
    _f("reservation_unused_amortized_upfront_fee_for_billing_period", "DOUBLE", checked=True),
    _f("reservation_unused_recurring_fee", "DOUBLE", checked=True),
    _f("reservation_number_of_reservations", "DOUBLE"),
    _f("reservation_start_time", "TIMESTAMP"),
    _f("reservation_end_time", "TIMESTAMP"),
    _f("savings_plan_savings_plan_a_r_n"),
    _f("savings_plan_savings_plan_effective_cost", "DOUBLE", checked=True),
    _f("savings_plan_total_commitment_to_date", "DOUBLE", checked=True),
    _f("savings_plan_used_commitment", "DOUBLE", checked=True),
    _f("savings_plan_offering_type"),
    _f("savings_plan_purchase_term"),
    _f("savings_plan_payment_option"),
    _f("savings_plan_region"),
    _f("savings_plan_start_time", "TIMESTAMP"),
    _f("savings_plan_end_time", "TIMESTAMP"),
    _f("split_line_item_parent_resource_id"),
    _f("split_line_item_split_usage", "DOUBLE", checked=True),
    _f("split_line_item_split_usage_ratio", "DOUBLE", checked=True),
    _f("split_line_item_split_cost", "DOUBLE", checked=True),
    _f("split_line_item_unused_cost", "DOUBLE", checked=True),
    _f(
        "resource_tags_aws_batch_compute_environment",
        map_key=("resource_tags", "aws_batch_compute_environment"),
    ),
    _f("resource_tags_aws_batch_job_queue", map_key=("resource_tags", "aws_batch_job_queue")),
    _f("resource_tags_aws_batch_job_definition", map_key=("resource_tags", "aws_batch_job_definition")),
)

# EC2 instance-hours: on-demand and free-tier BoxUsage, dedicated, spot; RI- or SP-covered usage.
INSTANCE_USAGE_TYPE = r"(^|-)(BoxUsage|SpotUsage|DedicatedUsage)(:|$)"

CUR_LINE_ITEMS = f"""
SELECT
  date_trunc('month', bill_billing_period_start_date) AS billing_period,
  line_item_usage_start_date AS usage_start,
  line_item_usage_end_date AS usage_end,
  identity_line_item_id AS line_item_id,
  bill_payer_account_id AS payer_account_id,
  line_item_usage_account_id AS account_id,
  line_item_line_item_type AS line_item_type,
  line_item_product_code AS service,
  line_item_usage_type AS usage_type,
  line_item_operation AS operation,
  coalesce(
    product_region_code,
    CASE WHEN product_region <> 'global' THEN product_region END,
    nullif(regexp_extract(line_item_availability_zone, '^([a-z]+(-[a-z]+)+-[0-9]+)', 1), '')
  ) AS region,
  line_item_availability_zone AS availability_zone,
  line_item_resource_id AS resource_id,
  coalesce(
    product_instance_type,
    nullif(regexp_extract(line_item_usage_type, ':([a-z0-9-]+\\.[a-z0-9]+)$', 1), '')
  ) AS instance_type,
  pricing_unit,
  line_item_usage_amount AS usage_amount,
  coalesce(line_item_currency_code, 'USD') AS currency,
  coalesce(line_item_unblended_cost, 0) AS billed_usd,
  line_item_net_unblended_cost AS net_billed_usd,
  CASE line_item_line_item_type
    WHEN 'DiscountedUsage' THEN coalesce(reservation_effective_cost, 0)
    WHEN 'RIFee' THEN coalesce(reservation_unused_amortized_upfront_fee_for_billing_period, 0)
      + coalesce(reservation_unused_recurring_fee, 0)
    WHEN 'Fee' THEN CASE WHEN reservation_reservation_a_r_n IS NULL THEN coalesce(line_item_unblended_cost, 0)
      ELSE 0 END
    WHEN 'SavingsPlanCoveredUsage' THEN coalesce(savings_plan_savings_plan_effective_cost, 0)
    WHEN 'SavingsPlanNegation' THEN 0
    WHEN 'SavingsPlanUpfrontFee' THEN 0
    WHEN 'SavingsPlanRecurringFee' THEN coalesce(savings_plan_total_commitment_to_date, 0)
      - coalesce(savings_plan_used_commitment, 0)
    ELSE coalesce(line_item_unblended_cost, 0)
  END AS effective_usd,
  pricing_public_on_demand_cost AS list_usd,
  coalesce(
    line_item_product_code = 'AmazonEC2'
    AND line_item_line_item_type IN ('Usage', 'DiscountedUsage', 'SavingsPlanCoveredUsage')
    AND regexp_matches(line_item_usage_type, '{INSTANCE_USAGE_TYPE}'),
    false
  ) AS instance_usage,
  CASE
    WHEN line_item_line_item_type = 'DiscountedUsage' THEN 'reserved'
    WHEN line_item_line_item_type = 'SavingsPlanCoveredUsage' THEN 'savings_plan'
    WHEN line_item_line_item_type = 'Usage' AND line_item_usage_type LIKE '%SpotUsage%' THEN 'spot'
    WHEN line_item_line_item_type = 'Usage' THEN 'on_demand'
  END AS purchase_option,
  coalesce(savings_plan_savings_plan_a_r_n, reservation_reservation_a_r_n) AS commitment_arn,
  CASE
    WHEN savings_plan_savings_plan_a_r_n IS NOT NULL THEN 'savings_plan'
    WHEN reservation_reservation_a_r_n IS NOT NULL THEN 'reserved_instance'
  END AS commitment_kind,
  CASE
    WHEN savings_plan_savings_plan_a_r_n IS NOT NULL THEN savings_plan_offering_type
    WHEN line_item_line_item_type IN ('RIFee', 'Fee') THEN line_item_usage_type
  END AS commitment_offering_type,
  savings_plan_region AS commitment_region,
  CASE WHEN line_item_line_item_type = 'SavingsPlanRecurringFee'
       AND line_item_usage_end_date > line_item_usage_start_date
    THEN savings_plan_total_commitment_to_date
      / (epoch(line_item_usage_end_date) - epoch(line_item_usage_start_date)) * 3600
  END AS commitment_hourly_usd,
  CASE WHEN reservation_reservation_a_r_n IS NOT NULL THEN reservation_number_of_reservations END
    AS commitment_count,
  CASE
    WHEN savings_plan_savings_plan_a_r_n IS NOT NULL THEN savings_plan_purchase_term
    WHEN reservation_reservation_a_r_n IS NOT NULL THEN pricing_lease_contract_length
  END AS commitment_term,
  CASE
    WHEN savings_plan_savings_plan_a_r_n IS NOT NULL THEN savings_plan_payment_option
    WHEN reservation_reservation_a_r_n IS NOT NULL THEN pricing_purchase_option
  END AS commitment_payment_option,
  coalesce(savings_plan_start_time, reservation_start_time) AS commitment_start,
  coalesce(savings_plan_end_time, reservation_end_time) AS commitment_end,
  split_line_item_parent_resource_id AS split_parent_resource_id,
  split_line_item_split_usage AS split_usage,
  split_line_item_split_usage_ratio AS split_usage_ratio,
  split_line_item_split_cost AS split_cost,
  split_line_item_unused_cost AS split_unused_cost,
  resource_tags_aws_batch_compute_environment AS batch_compute_environment,
  resource_tags_aws_batch_job_queue AS batch_job_queue,
  resource_tags_aws_batch_job_definition AS batch_job_definition
FROM source_fields
"""

# ---------------------------------------------------------------------------------------------
# FOCUS 1.0 / 1.2 (SCHEMA.md section 5). Tags are a JSON object string (CSV) or a map (Parquet).

FOCUS_FIELDS: tuple[Field, ...] = (
    _f("BillingPeriodStart", "TIMESTAMP", required=True, checked=True),
    _f("BillingAccountId"),
    _f("SubAccountId"),
    _f("ChargeCategory", required=True),
    _f("ChargeFrequency"),
    _f("ChargePeriodStart", "TIMESTAMP", required=True, checked=True),
    _f("ChargePeriodEnd", "TIMESTAMP", checked=True),
    _f("ServiceName", required=True),
    _f("x_ServiceCode"),
    _f("x_UsageType"),
    _f("SkuMeter"),
    _f("x_Operation"),
    _f("RegionId"),
    _f("AvailabilityZone"),
    _f("ResourceId"),
    _f("ResourceType"),
    _f("PricingCategory"),
    _f("PricingUnit"),
    _f("ConsumedQuantity", "DOUBLE", checked=True),
    _f("PricingQuantity", "DOUBLE", checked=True),
    _f("BillingCurrency"),
    _f("BilledCost", "DOUBLE", required=True, checked=True),
    _f("EffectiveCost", "DOUBLE", required=True, checked=True),
    _f("ListCost", "DOUBLE", checked=True),
    _f("CommitmentDiscountId"),
    _f("CommitmentDiscountType"),
    _f("CommitmentDiscountStatus"),
    _f("CommitmentDiscountName"),
    _f("CommitmentDiscountQuantity", "DOUBLE", checked=True),
    _f("CommitmentDiscountUnit"),
    _f("ProviderName"),
    _f("Id"),
    _f("Tags"),
)

FOCUS_LINE_ITEMS = f"""
SELECT
  date_trunc('month', BillingPeriodStart) AS billing_period,
  ChargePeriodStart AS usage_start,
  ChargePeriodEnd AS usage_end,
  Id AS line_item_id,
  BillingAccountId AS payer_account_id,
  coalesce(SubAccountId, BillingAccountId) AS account_id,
  CASE
    WHEN ChargeCategory IN ('Tax', 'Credit', 'Adjustment') THEN ChargeCategory
    WHEN ChargeCategory = 'Purchase' AND commitment_kind_ = 'savings_plan' THEN
      CASE WHEN ChargeFrequency = 'Recurring' THEN 'SavingsPlanRecurringFee' ELSE 'SavingsPlanUpfrontFee' END
    WHEN ChargeCategory = 'Purchase' AND commitment_kind_ = 'reserved_instance' THEN
      CASE WHEN ChargeFrequency = 'Recurring' THEN 'RIFee' ELSE 'Fee' END
    WHEN ChargeCategory = 'Purchase' THEN 'Fee'
    WHEN CommitmentDiscountStatus = 'Used' AND commitment_kind_ = 'savings_plan'
      THEN 'SavingsPlanCoveredUsage'
    WHEN CommitmentDiscountStatus = 'Used' AND commitment_kind_ = 'reserved_instance' THEN 'DiscountedUsage'
    WHEN CommitmentDiscountStatus = 'Unused' AND commitment_kind_ = 'savings_plan'
      THEN 'SavingsPlanRecurringFee'
    WHEN CommitmentDiscountStatus = 'Unused' AND commitment_kind_ = 'reserved_instance' THEN 'RIFee'
    ELSE 'Usage'
  END AS line_item_type,
  coalesce(x_ServiceCode, ServiceName) AS service,
  usage_type_ AS usage_type,
  x_Operation AS operation,
  RegionId AS region,
  AvailabilityZone AS availability_zone,
  ResourceId AS resource_id,
  nullif(regexp_extract(usage_type_, ':([a-z0-9-]+\\.[a-z0-9]+)$', 1), '') AS instance_type,
  PricingUnit AS pricing_unit,
  coalesce(ConsumedQuantity, PricingQuantity) AS usage_amount,
  coalesce(BillingCurrency, 'USD') AS currency,
  coalesce(BilledCost, 0) AS billed_usd,
  CAST(NULL AS DOUBLE) AS net_billed_usd,
  coalesce(EffectiveCost, 0) AS effective_usd,
  ListCost AS list_usd,
  coalesce(
    ec2_ AND ChargeCategory = 'Usage' AND coalesce(CommitmentDiscountStatus, 'Used') = 'Used'
    AND CASE
      WHEN usage_type_ IS NOT NULL THEN regexp_matches(usage_type_, '{INSTANCE_USAGE_TYPE}')
      ELSE ResourceType = 'instance' AND ResourceId LIKE 'i-%'
    END,
    false
  ) AS instance_usage,
  CASE
    WHEN ChargeCategory <> 'Usage' THEN NULL
    WHEN CommitmentDiscountStatus = 'Used' AND commitment_kind_ = 'savings_plan' THEN 'savings_plan'
    WHEN CommitmentDiscountStatus = 'Used' AND commitment_kind_ = 'reserved_instance' THEN 'reserved'
    WHEN PricingCategory = 'Dynamic' OR usage_type_ LIKE '%SpotUsage%' OR x_Operation LIKE 'RunInstances:SV%'
      THEN 'spot'
    ELSE 'on_demand'
  END AS purchase_option,
  CommitmentDiscountId AS commitment_arn,
  CASE WHEN CommitmentDiscountId IS NOT NULL THEN coalesce(commitment_kind_, 'other') END AS commitment_kind,
  CASE WHEN CommitmentDiscountId IS NOT NULL THEN CommitmentDiscountName END AS commitment_offering_type,
  CAST(NULL AS VARCHAR) AS commitment_region,
  CAST(NULL AS DOUBLE) AS commitment_hourly_usd,
  CASE WHEN commitment_kind_ = 'reserved_instance' AND CommitmentDiscountUnit ILIKE '%instance%'
    THEN CommitmentDiscountQuantity END AS commitment_count,
  CAST(NULL AS VARCHAR) AS commitment_term,
  CAST(NULL AS VARCHAR) AS commitment_payment_option,
  CAST(NULL AS TIMESTAMP) AS commitment_start,
  CAST(NULL AS TIMESTAMP) AS commitment_end,
  CAST(NULL AS VARCHAR) AS split_parent_resource_id,
  CAST(NULL AS DOUBLE) AS split_usage,
  CAST(NULL AS DOUBLE) AS split_usage_ratio,
  CAST(NULL AS DOUBLE) AS split_cost,
  CAST(NULL AS DOUBLE) AS split_unused_cost,
  {{tag:aws:batch:compute-environment}} AS batch_compute_environment,
  {{tag:aws:batch:job-queue}} AS batch_job_queue,
  {{tag:aws:batch:job-definition}} AS batch_job_definition
FROM (
  SELECT *,
    coalesce(x_UsageType, SkuMeter) AS usage_type_,
    CASE
      WHEN CommitmentDiscountType ILIKE '%savings%' THEN 'savings_plan'
      WHEN CommitmentDiscountType ILIKE '%reserv%' THEN 'reserved_instance'
    END AS commitment_kind_,
    coalesce(x_ServiceCode = 'AmazonEC2', ServiceName = 'Amazon Elastic Compute Cloud') AS ec2_
  FROM source_fields
) AS f
WHERE coalesce(ProviderName, 'AWS') IN ('AWS', 'Amazon Web Services')
"""


@dataclass(frozen=True)
class SourceFile:
    """One export file, opened: its path, kind, columns (name -> DuckDB type) and checksum."""

    path: Path
    kind: str  # parquet | csv | table (a table of a SQL engine, read as `relation`)
    columns: dict[str, str]
    sha256: str
    size: int
    relation: str | None = None  # for kind "table": the FROM item, e.g. a subquery on one partition


def flatten_header(name: str) -> str:
    """A legacy CUR CSV header as Athena flattens it: `lineItem/UnblendedCost` ->
    `line_item_unblended_cost`, `reservation/ReservationARN` -> `reservation_reservation_a_r_n`,
    `resourceTags/aws:batch:job-queue` -> `resource_tags_aws_batch_job_queue`."""
    spaced = re.sub(r"([A-Z])", r"_\1", name)
    return re.sub(r"[^a-z0-9]+", "_", spaced.lower()).strip("_")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _scan(source: SourceFile) -> str:
    """The DuckDB table function that reads the file where it sits."""
    if source.relation is not None:
        return source.relation
    path = _literal(str(source.path))
    if source.kind == "parquet":
        return f"read_parquet({path})"
    # Every CSV column as text: types are decided (and checked) by the mapping, not guessed.
    return f"read_csv({path}, header = true, all_varchar = true, nullstr = ['', 'NULL'])"


def open_source(con: duckdb.DuckDBPyConnection, path: Path, *, sha256: str | None = None) -> SourceFile:
    """Open an export file (Parquet, else CSV), or raise InputError naming it."""
    import duckdb

    if not path.is_file():
        raise InputError(f"{path}: no such file")
    with path.open("rb") as fh:
        magic = fh.read(4)
    kind = "parquet" if magic == b"PAR1" else "csv"
    probe = SourceFile(path, kind, {}, "", 0)
    try:
        described = con.execute(f"DESCRIBE SELECT * FROM {_scan(probe)}").fetchall()
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{path}: not a readable {kind} file: {first}") from None
    columns = {str(row[0]): str(row[1]) for row in described}
    if kind == "csv" and len(columns) == 1 and "," in next(iter(columns)):
        _refuse_ragged_csv(path)
    return SourceFile(path, kind, columns, sha256 or file_sha256(path), path.stat().st_size)


def _refuse_ragged_csv(path: Path) -> None:
    """DuckDB's sniffer reads a CSV with a row of more or fewer fields than its header as one column
    named after the whole header line, which then read as "column ... missing: not a cur2 export".
    Name the first such row instead (`line N`, counted as the file counts them)."""
    import csv

    with path.open(encoding="utf-8", errors="replace", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, [])
        for row in reader:
            if row and len(row) != len(header):
                raise InputError(
                    f"{path} line {reader.line_num}: {len(row)} fields where the header has {len(header)}"
                )


def _source_names(source: SourceFile, fmt: str) -> dict[str, str]:
    """Field name -> the file's column name. CUR CSV headers are flattened; FOCUS is as is."""
    if fmt == "focus":
        return {name: name for name in source.columns}
    names: dict[str, str] = {}
    for column in source.columns:
        names.setdefault(flatten_header(column) if "/" in column else column, column)
    return names


def _typed(expr: str, source_type: str, target: str) -> str:
    """`expr` (of DuckDB type `source_type`) as `target`; text that does not parse, and NaN, become
    NULL."""
    text = source_type.upper() in ("VARCHAR", "STRING") or source_type.upper().startswith("VARCHAR")
    if target == "VARCHAR":
        return f"nullif({expr}, '')" if text else f"nullif(CAST({expr} AS VARCHAR), '')"
    if target == "DOUBLE":
        # NaN is how dataframe tools write a missing number: read as NULL, as an empty cell is.
        number = f"TRY_CAST(nullif(trim({expr}), '') AS DOUBLE)" if text else f"CAST({expr} AS DOUBLE)"
        # (neither nullif nor isnan finds a NaN read from Parquet in DuckDB 2.0; this does)
        return f"CASE WHEN NOT isfinite({number}) AND NOT isinf({number}) THEN NULL ELSE {number} END"
    if target == "TIMESTAMP":
        if text:
            # Through TIMESTAMPTZ so an offset (`Z`, `+01:00`) is honoured; the session is in UTC.
            return f"CAST(TRY_CAST(nullif(trim({expr}), '') AS TIMESTAMPTZ) AS TIMESTAMP)"
        if "WITH TIME ZONE" in source_type.upper():
            return f"CAST({expr} AS TIMESTAMP)"
        return f"TRY_CAST({expr} AS TIMESTAMP)"
    raise ValueError(target)


def _field_exprs(source: SourceFile, fmt: str, fields: tuple[Field, ...]) -> dict[str, str]:
    """Field -> typed expression over the file (NULL where the file lacks the column)."""
    names = _source_names(source, fmt)
    out: dict[str, str] = {}
    for field in fields:
        column = names.get(field.name)
        if column is not None and source.columns[column].upper().startswith("MAP("):
            out[field.name] = _quote(column)  # a map (FOCUS Tags in Parquet): read by key later
            continue
        if column is not None:
            out[field.name] = _typed(_quote(column), source.columns[column], field.type)
            continue
        if field.map_key and field.map_key[0] in names:
            map_col = names[field.map_key[0]]
            if source.columns[map_col].upper().startswith("MAP("):
                value = f"{_quote(map_col)}[{_literal(field.map_key[1])}]"
                out[field.name] = _typed(value, "VARCHAR", field.type)
                continue
            if source.columns[map_col].upper().startswith("VARCHAR"):
                # A CUR 2.0 CSV writes the map as a JSON object: the same key, read from the text.
                text, path = _quote(map_col), _literal(f'$."{field.map_key[1]}"')
                value = f"CASE WHEN json_valid({text}) THEN json_extract_string({text}, {path}) END"
                out[field.name] = _typed(value, "VARCHAR", field.type)
                continue
        out[field.name] = f"CAST(NULL AS {field.type})"
    return out


CURRENCY = {"focus": "BillingCurrency"}
BILLING_PERIOD = {"focus": "BillingPeriodStart"}
AWS_PROVIDERS = ("AWS", "Amazon Web Services")
AMORTISED_BY = {
    "DiscountedUsage": ("reservation_effective_cost",),
    "RIFee": (
        "reservation_unused_amortized_upfront_fee_for_billing_period",
        "reservation_unused_recurring_fee",
    ),
    "SavingsPlanCoveredUsage": ("savings_plan_savings_plan_effective_cost",),
    "SavingsPlanRecurringFee": ("savings_plan_total_commitment_to_date", "savings_plan_used_commitment"),
}
"""CUR line item type -> the columns its effective (amortised) cost is read from (`CUR_LINE_ITEMS`).
A CUR 2.0 export can be set up with a subset of the columns: without these, such rows would read as
an effective cost of 0 and the reconciliation would be silently wrong, so the import refuses them."""


def _check(
    con: duckdb.DuckDBPyConnection, source: SourceFile, fmt: str, fields: tuple[Field, ...]
) -> dict[datetime, int]:
    """Raise InputError for the first thing wrong with the file, naming it and the column; else
    return the billing months (UTC) of its AWS line items, each with its count of them, in order.
    One scan of the file."""
    names = _source_names(source, fmt)
    fields_by_name = {f.name: f for f in fields}
    missing = [f.name for f in fields if f.required and f.name not in names]
    if missing:
        hint = _guess_format(source)
        guess = f" (it looks like {hint})" if hint and hint != fmt else ""
        raise InputError(f"{source.path}: column {missing[0]} missing: not a {fmt} export{guess}")
    if fmt == "cur2" and any("/" in column for column in source.columns):
        raise InputError(
            f"{source.path}: column {next(c for c in source.columns if '/' in c)} is a legacy CUR header:"
            " use --format cur-legacy"
        )
    probes: list[tuple[str, str, str]] = []  # (column, condition, what a matching value is)
    for name, column in names.items():
        field = fields_by_name.get(name)
        if field is None or not field.checked or field.type == "VARCHAR":
            continue
        typed = _typed(_quote(column), source.columns[column], field.type)
        if field.type == "DOUBLE":
            # (an infinite number parses, and would make every total infinite; so would a sum of
            # two numbers near the largest double, 1e308)
            too_large = f"out of range (more than {MAX_AMOUNT:g})"
            probes.append((column, f"abs({typed}) > {MAX_AMOUNT:g}", too_large))
        else:
            # (a usage date of 1900 would put a bill row on a day no report or window ever shows)
            earliest, latest = EARLIEST_BILL_TIME.isoformat(), LATEST_BILL_TIME.isoformat()
            probes.append(
                (
                    column,
                    f"({typed} < TIMESTAMP '{earliest}' OR {typed} >= TIMESTAMP '{latest}')",
                    f"outside {EARLIEST_BILL_TIME.year}-{LATEST_BILL_TIME.year - 1}",
                )
            )
        if _always_converts(source.columns[column], field.type):
            continue  # a typed column (Parquet) of a compatible type: nothing can fail to parse
        raw = f"nullif(trim(CAST({_quote(column)} AS VARCHAR)), '')"
        kind = "number" if field.type == "DOUBLE" else "timestamp"
        probes.append((column, f"{raw} IS NOT NULL AND {typed} IS NULL", f"not a {kind}"))
    for column in _json_map_columns(source, names):
        # A tag map written as text that is not JSON would read as no tags at all: every job's
        # queue and compute environment lost without a word.
        raw = f"nullif(trim(CAST({_quote(column)} AS VARCHAR)), '')"
        probes.append((column, f"{raw} IS NOT NULL AND NOT json_valid({raw})", "not a JSON object"))
    # A required column is empty where its typed value is NULL (a NaN number reads as NULL).
    required = [
        (names[f.name], _typed(_quote(names[f.name]), source.columns[names[f.name]], f.type))
        for f in fields
        if f.required
    ]
    aws = "true"
    if fmt == "focus" and "ProviderName" in names:
        aws = f"coalesce({_quote(names['ProviderName'])}, 'AWS') IN {AWS_PROVIDERS!r}"
    amortised = _amortised_probes(names) if fmt != "focus" else []
    selects = [f"count(*) FILTER (WHERE {cond})" for _, cond, _ in probes]
    selects += [f"first({_quote(col)}) FILTER (WHERE {cond})" for col, cond, _ in probes]
    selects += [f"count(*) FILTER (WHERE {typed} IS NULL)" for _, typed in required]
    selects += [f"count(*) FILTER (WHERE {cond})" for _, _, cond in amortised]
    currency = names.get(CURRENCY.get(fmt, "line_item_currency_code"))
    currency_text = f"CAST({_quote(currency)} AS VARCHAR)" if currency else "'USD'"
    # (only AWS rows: a multi-provider FOCUS file's other providers are left out, whatever their currency)
    selects.append(f"count(*) FILTER (WHERE {aws} AND {currency_text} <> 'USD')")
    selects.append(f"first({currency_text}) FILTER (WHERE {aws} AND {currency_text} <> 'USD')")
    period_column = names[BILLING_PERIOD.get(fmt, "bill_billing_period_start_date")]
    period = _typed(_quote(period_column), source.columns[period_column], "TIMESTAMP")
    selects.append(f"histogram(date_trunc('month', {period})) FILTER (WHERE {aws})")
    selects.append("count(*)")
    row = con.execute(f"SELECT {', '.join(selects)} FROM {_scan(source)}").fetchone()
    assert row is not None
    n = len(probes)
    for i, (column, _, what) in enumerate(probes):
        if row[i]:
            raise InputError(f"{source.path}: column {column}: {row[n + i]!r} is {what} ({row[i]} rows)")
    for j, (column, _) in enumerate(required):
        if row[2 * n + j]:
            raise InputError(f"{source.path}: column {column}: empty on {row[2 * n + j]} rows")
    first = 2 * n + len(required)
    for k, (kind, absent, _) in enumerate(amortised):
        if row[first + k]:
            raise InputError(
                f"{source.path}: column {absent} missing: {row[first + k]} {kind} rows need it for their"
                " effective (amortised) cost; export it with the bill"
            )
    if row[-1] == 0:
        raise InputError(f"{source.path}: no line items")
    if row[-4]:
        raise InputError(
            f"{source.path}: column {currency}: {row[-3]!r} on {row[-4]} rows: only USD bills are supported"
        )
    months = {m: int(n) for m, n in (row[-2] or {}).items() if m is not None}
    if not months:
        raise InputError(f"{source.path}: no AWS line items")
    return dict(sorted(months.items()))


def _amortised_probes(names: dict[str, str]) -> list[tuple[str, str, str]]:
    """(line item type, a column its effective cost needs that the file lacks, the condition that
    finds such rows) for each type of `AMORTISED_BY` whose columns are not all in the file."""
    kind_column = _quote(names["line_item_line_item_type"])
    out = []
    for kind, columns in AMORTISED_BY.items():
        absent = [c for c in columns if c not in names]
        if absent:
            out.append((kind, absent[0], f"{kind_column} = {_literal(kind)}"))
    return out


_NUMERIC_TYPES = (
    *("DOUBLE", "FLOAT", "REAL", "DECIMAL", "BIGINT", "INTEGER", "SMALLINT", "TINYINT", "HUGEINT"),
    *("UBIGINT", "UINTEGER", "USMALLINT", "UTINYINT", "UHUGEINT"),
)
_TIME_TYPES = ("TIMESTAMP", "DATE")


def _always_converts(source_type: str, target: str) -> bool:
    """Whether every non-NULL value of a `source_type` column converts to `target` (no probe needed):
    numbers to DOUBLE, timestamps and dates to TIMESTAMP."""
    kind = source_type.upper()
    if target == "DOUBLE":
        return kind.startswith(_NUMERIC_TYPES)
    if target == "TIMESTAMP":
        return kind.startswith(_TIME_TYPES)
    return False


def _json_map_columns(source: SourceFile, names: dict[str, str]) -> list[str]:
    """The file's tag-map columns written as text (a JSON object per row: CUR 2.0 CSV's
    `resource_tags`, FOCUS CSV's `Tags`), which the mapping reads keys from."""
    maps = {"Tags"} | {f.map_key[0] for f in CUR_FIELDS if f.map_key}
    return [
        names[name]
        for name in sorted(maps)
        if name in names and source.columns[names[name]].upper().startswith(("VARCHAR", "STRING", "JSON"))
    ]


def _guess_format(source: SourceFile) -> str | None:
    cols = set(source.columns)
    if "BilledCost" in cols:
        return "focus"
    if any(c.startswith("lineItem/") for c in cols):
        return "cur-legacy"
    if "line_item_unblended_cost" in cols:
        # CUR 2.0 keeps tags and product attributes in maps; legacy CUR flattens them into columns.
        return "cur2" if {"resource_tags", "product"} & cols else "cur-legacy"
    return None


def _tag_expr(source: SourceFile, key: str) -> str:
    """FOCUS tag `key` (also tried in CUR 2.0's normalised spelling) from the `Tags` column."""
    if "Tags" not in source.columns:
        return "CAST(NULL AS VARCHAR)"
    normalised = re.sub(r"[^a-z0-9]+", "_", key.lower())
    if source.columns["Tags"].upper().startswith("MAP("):
        return f'coalesce("Tags"[{_literal(key)}], "Tags"[{_literal(normalised)}])'
    paths = [f'$."{key}"', f'$."{normalised}"']
    found = ", ".join(f"json_extract_string(Tags, {_literal(p)})" for p in paths)
    return f"CASE WHEN json_valid(Tags) THEN coalesce({found}) END"


@dataclass(frozen=True)
class Reading:
    """A checked export file: the SELECT that reads it as canonical line items (without usage
    kind), the billing months it holds, and the rows of other providers it leaves out."""

    source: SourceFile
    sql: str
    #: AWS line items per billing month, months in order.
    month_rows: dict[datetime, int]
    other_providers: dict[str, int]

    @property
    def months(self) -> tuple[datetime, ...]:
        return tuple(self.month_rows)


def read_source(con: duckdb.DuckDBPyConnection, source: SourceFile, fmt: str) -> Reading:
    """Check the file (InputError naming the column at fault) and say how to read it."""
    if fmt not in FORMATS:
        raise InputError(f"--format {fmt}: must be one of {', '.join(FORMATS)}")
    fields = FOCUS_FIELDS if fmt == "focus" else CUR_FIELDS
    months = _check(con, source, fmt, fields)
    other = other_provider_rows(con, source) if fmt == "focus" else {}
    return Reading(source, _mapping_sql(source, fmt, fields), months, other)


def line_items_sql(con: duckdb.DuckDBPyConnection, source: SourceFile, fmt: str) -> str:
    """The file checked, and the SELECT that reads it as canonical line items (without usage kind)."""
    return read_source(con, source, fmt).sql


def table_line_items_sql(source: SourceFile, fmt: str) -> str:
    """The SELECT reading a catalogued table (Athena) as canonical line items, unchecked: the table's
    declared types stand in for the file check."""
    return _mapping_sql(source, fmt, FOCUS_FIELDS if fmt == "focus" else CUR_FIELDS)


def _mapping_sql(source: SourceFile, fmt: str, fields: tuple[Field, ...]) -> str:
    exprs = _field_exprs(source, fmt, fields)
    projection = ",\n  ".join(f"{expr} AS {_quote(name)}" for name, expr in exprs.items())
    mapping = CUR_LINE_ITEMS
    if fmt == "focus":
        mapping = FOCUS_LINE_ITEMS
        for key in ("aws:batch:compute-environment", "aws:batch:job-queue", "aws:batch:job-definition"):
            mapping = mapping.replace("{tag:" + key + "}", _tag_expr(source, key))
    return f"WITH source_fields AS (\n  SELECT\n  {projection}\n  FROM {_scan(source)}\n)\n{mapping}"


def other_provider_rows(con: duckdb.DuckDBPyConnection, source: SourceFile) -> dict[str, int]:
    """FOCUS rows of providers other than AWS (left out of the bill), by provider."""
    if "ProviderName" not in source.columns:
        return {}
    rows = con.execute(
        f"SELECT ProviderName, count(*) FROM {_scan(source)} "
        f"WHERE coalesce(ProviderName, 'AWS') NOT IN {AWS_PROVIDERS!r} GROUP BY 1 ORDER BY 1"
    ).fetchall()
    return {str(name): int(n) for name, n in rows}
