"""Reading bill exports into canonical line items (DuckDB, no store).

No public real CUR 2.0 rows with Savings Plans or split cost allocation exist (see
shared/data/billing/README.md), so the CUR 2.0 file here is HAND-BUILT from the column semantics in
shared/data/billing/SCHEMA.md: one hour of an m5.large covered by a Compute Savings Plan (covered
usage, its negation, the hourly fee with part of the commitment unused), a spot and an on-demand
instance-hour, the two split-cost rows of a Batch task on the covered instance, EBS and tax.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlglot

from optimizer.billing import queries
from optimizer.billing.intake import connect
from optimizer.billing.sources import CANONICAL_COLUMNS, flatten_header, line_items_sql, open_source
from optimizer.errors import InputError
from tests.billing_fixtures import ROWS, SP, cur2_file


def _line_items(path: Path, fmt: str) -> list[dict]:
    con = connect()
    source = open_source(con, path)
    cursor = con.execute(queries.with_usage_kind(line_items_sql(con, source, fmt)))
    names = [d[0] for d in cursor.description]
    rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    con.close()
    return rows


def test_cur2_savings_plan_and_split_rows_follow_the_amortised_rule(tmp_path: Path) -> None:
    rows = _line_items(cur2_file(tmp_path), "cur2")
    assert len(rows) == len(ROWS)
    assert set(rows[0]) == {*CANONICAL_COLUMNS, "usage_kind"}
    by_type = {r["line_item_type"]: r for r in rows}
    # Billed: every unblended cost, the negation cancelling the covered on-demand cost.
    assert sum(r["billed_usd"] for r in rows) == pytest.approx(0.10 + 0.03 + 0.085 + 0.008 + 0.02)
    # Effective: covered usage at the SP rate, the negation 0, only the unused commitment of the fee.
    assert by_type["SavingsPlanCoveredUsage"]["effective_usd"] == pytest.approx(0.06)
    assert by_type["SavingsPlanNegation"]["effective_usd"] == 0
    assert by_type["SavingsPlanRecurringFee"]["effective_usd"] == pytest.approx(0.04)
    assert sum(r["effective_usd"] for r in rows) == pytest.approx(0.06 + 0.04 + 0.03 + 0.085 + 0.008 + 0.02)
    kinds = {(r["line_item_type"], r["usage_type"]): r["usage_kind"] for r in rows}
    assert kinds[("SavingsPlanCoveredUsage", "USE1-BoxUsage:m5.large")] == "ec2_savings_plan"
    assert kinds[("SavingsPlanNegation", "USE1-BoxUsage:m5.large")] == "savings_plan_negation"
    assert kinds[("SavingsPlanRecurringFee", "ComputeSP:1yrNoUpfront")] == "commitment_fee"
    assert kinds[("Usage", "USE1-SpotUsage:c5.large")] == "ec2_spot"
    assert kinds[("Usage", "USE1-BoxUsage:c5.large")] == "ec2_on_demand"
    assert kinds[("Usage", "USE1-ECS-EC2-vCPU-Hours")] == "container_split"
    assert kinds[("Usage", "USE1-EBS:VolumeUsage.gp3")] == "ebs"
    assert kinds[("Tax", None)] == "tax"
    instance_hours = sum(r["usage_amount"] for r in rows if r["instance_usage"])
    assert instance_hours == 3.0
    split = [r for r in rows if r["usage_kind"] == "container_split"]
    assert {r["split_parent_resource_id"] for r in split} == {"i-1"}
    assert {r["batch_job_queue"] for r in split} == {"q1"}
    assert sum(r["split_cost"] + r["split_unused_cost"] for r in split) == pytest.approx(0.06)
    covered = by_type["SavingsPlanCoveredUsage"]
    assert covered["instance_type"] == "m5.large" and covered["region"] == "us-east-1"
    assert covered["purchase_option"] == "savings_plan"


def test_commitments_come_from_the_line_items(tmp_path: Path) -> None:
    con = connect()
    source = open_source(con, cur2_file(tmp_path))
    con.execute(f"CREATE TABLE line_items AS {queries.with_usage_kind(line_items_sql(con, source, 'cur2'))}")
    cursor = con.execute(queries.COMMITMENTS)
    names = [d[0] for d in cursor.description]
    (row,) = [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
    assert row["arn"] == SP and row["kind"] == "savings_plan"
    assert row["offering_type"] == "ComputeSavingsPlans" and row["account_id"] == "111122223333"
    assert row["hourly_commitment_usd"] == pytest.approx(0.10)
    assert row["term"] == "1yr" and row["payment_option"] == "No Upfront"
    assert row["line_items"] == 3
    assert row["effective_usd"] == pytest.approx(0.10)  # used at the SP rate + unused = the commitment


def test_legacy_headers_are_flattened_as_athena_does() -> None:
    assert flatten_header("lineItem/UnblendedCost") == "line_item_unblended_cost"
    assert flatten_header("reservation/ReservationARN") == "reservation_reservation_a_r_n"
    assert (
        flatten_header("savingsPlan/SavingsPlanEffectiveCost") == "savings_plan_savings_plan_effective_cost"
    )
    assert flatten_header("resourceTags/aws:batch:job-queue") == "resource_tags_aws_batch_job_queue"
    assert flatten_header("resourceTags/aws:createdBy") == "resource_tags_aws_created_by"
    assert flatten_header("splitLineItem/ParentResourceId") == "split_line_item_parent_resource_id"


def _legacy_csv(tmp_path: Path, usage_start: str, cost: str) -> Path:
    """cur.csv: one legacy CUR line item of March 2025 with these two cells as written."""
    path = tmp_path / "cur.csv"
    path.write_text(
        "bill/BillingPeriodStartDate,lineItem/LineItemType,lineItem/UsageStartDate,lineItem/ProductCode,"
        f"lineItem/UnblendedCost\n2025-03-01T00:00:00Z,Usage,{usage_start},AmazonS3,{cost}\n"
    )
    return path


def test_csv_timestamps_keep_their_offset(tmp_path: Path) -> None:
    (row,) = _line_items(_legacy_csv(tmp_path, "2025-03-10T06:00:00+01:00", "0.5"), "cur-legacy")
    assert str(row["usage_start"]) == "2025-03-10 05:00:00"
    assert row["effective_usd"] == row["billed_usd"] == 0.5


def test_a_bad_timestamp_names_its_column(tmp_path: Path) -> None:
    path = _legacy_csv(tmp_path, "yesterday", "0.5")
    with pytest.raises(
        InputError, match=r"cur.csv: column lineItem/UsageStartDate: 'yesterday' is not a timestamp"
    ):
        _line_items(path, "cur-legacy")


def test_a_text_number_in_parquet_is_still_checked_and_a_typed_one_needs_no_check(tmp_path: Path) -> None:
    import pandas as pd

    base = {
        "bill_billing_period_start_date": [pd.Timestamp("2025-03-01")],
        "line_item_line_item_type": ["Usage"],
        "line_item_usage_start_date": [pd.Timestamp("2025-03-10 05:00")],
        "line_item_product_code": ["AmazonS3"],
    }
    typed = tmp_path / "typed.parquet"
    pd.DataFrame({**base, "line_item_unblended_cost": [0.5]}).to_parquet(typed)
    (row,) = _line_items(typed, "cur-legacy")
    assert row["billed_usd"] == 0.5
    text = tmp_path / "text.parquet"
    pd.DataFrame({**base, "line_item_unblended_cost": ["half a dollar"]}).to_parquet(text)
    with pytest.raises(InputError, match=r"column line_item_unblended_cost: 'half a dollar' is not a number"):
        _line_items(text, "cur-legacy")


@pytest.mark.parametrize(
    "name",
    [
        *("DAILY", "COMMITMENTS", "MONTHS", "INSTANCE_DAILY", "COMMITMENT_HOURS", "COVERAGE_HOURS"),
        *("COMMITMENT_RATES", "TASK_COSTS", "SPLIT_INSTANCE_DAYS"),
    ],
)
def test_each_query_has_an_athena_text_generated_from_the_duckdb_one(name: str) -> None:
    trino = queries.for_athena(getattr(queries, name))
    sqlglot.parse_one(trino, read="trino")  # valid Trino
    assert "line_items" in trino


def test_the_usage_kind_rule_transpiles_to_trino() -> None:
    trino = queries.for_athena(queries.with_usage_kind("SELECT * FROM line_items"))
    sqlglot.parse_one(trino, read="trino")
    assert "'ec2_'" in trino and "commitment_fee" in trino


FOCUS_12_HEADER = (
    "BillingPeriodStart,BillingAccountId,SubAccountId,ProviderName,ChargeCategory,ChargeFrequency,"
    "ChargePeriodStart,ChargePeriodEnd,ServiceName,x_ServiceCode,SkuMeter,x_Operation,RegionId,ResourceId,"
    "ResourceType,PricingCategory,ConsumedQuantity,BillingCurrency,BilledCost,EffectiveCost,ListCost,"
    "CommitmentDiscountId,CommitmentDiscountType,CommitmentDiscountStatus,Tags\n"
)
FOCUS_12_ROWS = [  # HAND-BUILT FOCUS 1.2 with AWS columns (x_ServiceCode, x_Operation; SkuMeter)
    "Usage,Usage-Based,2025-03-10T05:00:00Z,2025-03-10T06:00:00Z,Amazon Elastic Compute Cloud,AmazonEC2,"
    "USE1-BoxUsage:m5.large,RunInstances,us-east-1,i-1,instance,Committed,1,USD,0,0.06,0.096,"
    f"{SP},Savings Plan,Used,",
    "Usage,Usage-Based,2025-03-10T05:00:00Z,2025-03-10T06:00:00Z,Amazon Elastic Compute Cloud,AmazonEC2,"
    "USE1-SpotUsage:c5.large,RunInstances:SV001,us-east-1,i-2,instance,Dynamic,1,USD,0.03,0.03,0.085,,,,",
    "Usage,Usage-Based,2025-03-10T05:00:00Z,2025-03-10T06:00:00Z,Savings Plans for AWS Compute usage,"
    f"ComputeSavingsPlans,ComputeSP:1yrNoUpfront,,,{SP},,Committed,1,USD,0,0.04,0,{SP},Savings Plan,Unused,",
    "Purchase,Recurring,2025-03-10T05:00:00Z,2025-03-10T06:00:00Z,Savings Plans for AWS Compute usage,"
    f"ComputeSavingsPlans,ComputeSP:1yrNoUpfront,,,{SP},,Committed,1,USD,0.10,0,0,{SP},Savings Plan,,",
    "Usage,Usage-Based,2025-03-10T05:00:00Z,2025-03-10T06:00:00Z,Amazon Elastic Container Service,AmazonECS,"
    "USE1-Fargate-vCPU-Hours:perCPU,FargateTask,us-east-1,arn:aws:ecs:task,,Standard,1,USD,0.04,0.04,0.04,,,,"
    '"{""aws:batch:job-queue"": ""fargate-q""}"',
]


def test_focus_12_rows_map_to_the_cur_vocabulary(tmp_path: Path) -> None:
    path = tmp_path / "focus12.csv"
    path.write_text(FOCUS_12_HEADER + "".join(f"2025-03-01T00:00:00Z,111122223333,111122223333,AWS,{r}\n"
                                              for r in FOCUS_12_ROWS))  # fmt: skip
    rows = {r["usage_type"]: r for r in _line_items(path, "focus")}
    covered = rows["USE1-BoxUsage:m5.large"]
    assert (
        covered["line_item_type"] == "SavingsPlanCoveredUsage" and covered["usage_kind"] == "ec2_savings_plan"
    )
    assert covered["instance_type"] == "m5.large" and covered["effective_usd"] == pytest.approx(0.06)
    assert rows["USE1-SpotUsage:c5.large"]["usage_kind"] == "ec2_spot"
    fees = [r for r in _line_items(path, "focus") if r["usage_type"] == "ComputeSP:1yrNoUpfront"]
    assert sorted(r["line_item_type"] for r in fees) == ["SavingsPlanRecurringFee", "SavingsPlanRecurringFee"]
    assert {r["usage_kind"] for r in fees} == {"commitment_fee"}
    assert sum(r["billed_usd"] for r in fees) == pytest.approx(0.10)  # the commitment, billed once
    assert sum(r["effective_usd"] for r in fees) == pytest.approx(0.04)  # its unused part
    fargate = rows["USE1-Fargate-vCPU-Hours:perCPU"]
    assert fargate["usage_kind"] == "fargate" and fargate["batch_job_queue"] == "fargate-q"
    assert str(covered["usage_start"]) == "2025-03-10 05:00:00"


def _one_usage_row(cost: object, **extra: list) -> dict:
    import pandas as pd

    return {
        "bill_billing_period_start_date": [pd.Timestamp("2025-03-01")],
        "line_item_line_item_type": ["Usage"],
        "line_item_usage_start_date": [pd.Timestamp("2025-03-10 05:00")],
        "line_item_product_code": ["AmazonEC2"],
        "line_item_unblended_cost": [cost],
        **extra,
    }


def _parquet_with(path: Path, cost: str, list_price: str = "NULL") -> Path:
    """One usage row written by DuckDB, which keeps NaN as NaN (as Polars and Spark do)."""
    con = connect()
    con.execute(
        "COPY (SELECT TIMESTAMP '2025-03-01' AS bill_billing_period_start_date, 'Usage' AS"
        " line_item_line_item_type, TIMESTAMP '2025-03-10 05:00' AS line_item_usage_start_date,"
        f" 'AmazonEC2' AS line_item_product_code, {cost}::DOUBLE AS line_item_unblended_cost,"
        f" {list_price}::DOUBLE AS pricing_public_on_demand_cost) TO '{path}' (FORMAT parquet)"
    )
    con.close()
    return path


def test_nan_reads_as_a_missing_number_and_infinity_is_refused(tmp_path: Path) -> None:
    # Some dataframe tools write NaN, not null, for a missing optional number (here the list price).
    (row,) = _line_items(_parquet_with(tmp_path / "nan.parquet", "0.5", "'NaN'"), "cur-legacy")
    assert row["billed_usd"] == 0.5 and row["list_usd"] is None
    # A NaN or infinite cost is an error naming the column, in Parquet and in text.
    with pytest.raises(InputError, match=r"column line_item_unblended_cost: empty on 1 rows"):
        _line_items(_parquet_with(tmp_path / "nan-cost.parquet", "'NaN'"), "cur-legacy")
    with pytest.raises(
        InputError,
        match=r"column line_item_unblended_cost: inf is out of range \(more than 1e\+15\) \(1 rows\)",
    ):
        _line_items(_parquet_with(tmp_path / "inf-cost.parquet", "'Infinity'"), "cur-legacy")
    text = _legacy_csv(tmp_path, "2025-03-10T05:00:00Z", "Infinity")
    with pytest.raises(
        InputError,
        match=r"column lineItem/UnblendedCost: 'Infinity' is out of range \(more than 1e\+15\) \(1 rows\)",
    ):
        _line_items(text, "cur-legacy")


def test_commitment_rows_without_their_amortisation_columns_are_refused(tmp_path: Path) -> None:
    import pandas as pd

    path = tmp_path / "custom-columns.parquet"
    row = _one_usage_row(0.096)
    row["line_item_line_item_type"] = ["SavingsPlanCoveredUsage"]
    pd.DataFrame(row).to_parquet(path)
    with pytest.raises(
        InputError,
        match=r"column savings_plan_savings_plan_effective_cost missing: 1 SavingsPlanCoveredUsage rows",
    ):
        _line_items(path, "cur2")
    # Without such rows the columns are not needed (an account with no Savings Plan or RI).
    pd.DataFrame(_one_usage_row(0.096)).to_parquet(path)
    assert _line_items(path, "cur2")[0]["effective_usd"] == pytest.approx(0.096)


def test_another_providers_currency_in_a_focus_file_is_left_out_with_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "focus-multi.csv"
    azure = FOCUS_12_ROWS[1].replace(",USD,", ",EUR,")
    path.write_text(
        FOCUS_12_HEADER
        + f"2025-03-01T00:00:00Z,111122223333,111122223333,AWS,{FOCUS_12_ROWS[1]}\n"
        + f"2025-03-01T00:00:00Z,sub-1,sub-1,Microsoft,{azure}\n"
    )
    (row,) = _line_items(path, "focus")
    assert row["currency"] == "USD"
    euro_aws = tmp_path / "focus-eur.csv"
    euro_aws.write_text(FOCUS_12_HEADER + f"2025-03-01T00:00:00Z,111122223333,111122223333,AWS,{azure}\n")
    with pytest.raises(InputError, match=r"column BillingCurrency: 'EUR' on 1 rows: only USD bills"):
        _line_items(euro_aws, "focus")


def test_a_fargate_task_a_savings_plan_covered_is_billed_net_of_its_negation(tmp_path: Path) -> None:
    import pandas as pd

    from optimizer.billing.jobs import split_costs

    task = "arn:aws:ecs:us-east-1:111122223333:task/fargate-ce/t9"
    path = tmp_path / "line_items.parquet"
    con = connect()
    con.execute(
        "COPY (SELECT * FROM (VALUES"
        f" ('{task}', NULL, TIMESTAMP '2025-03-10 05:00', 'fargate', 0.1975, 0.12, false, 'AmazonECS'),"
        f" ('{task}', NULL, TIMESTAMP '2025-03-10 05:00', 'savings_plan_negation', -0.1975, 0.0, false,"
        " 'AmazonECS'),"
        " ('i-1', NULL, TIMESTAMP '2025-03-10 05:00', 'savings_plan_negation', -0.096, 0.0, false,"
        " 'AmazonEC2')"
        ") AS t(resource_id, split_parent_resource_id, usage_start, usage_kind, billed_usd, effective_usd,"
        " instance_usage, service), (SELECT NULL::DOUBLE AS split_cost, NULL::DOUBLE AS split_unused_cost))"
        f" TO '{path}' (FORMAT parquet)"
    )
    con.close()
    attempts = pd.DataFrame({"task_arn": [task], "job_id": ["job-1"], "attempt": [1]})
    matched, (unmatched, _, _) = split_costs(path, attempts)
    [row] = matched.to_dict("records")
    assert row["source"] == "fargate" and unmatched == 0
    assert row["billed_usd"] == pytest.approx(0.0)  # the invoice charges the Savings Plan, not the task
    assert row["effective_usd"] == pytest.approx(0.12)


def test_cur2_csv_maps_written_as_json_are_read_like_parquet_maps(tmp_path: Path) -> None:
    """A CUR 2.0 CSV export writes `product` and `resource_tags` as JSON objects; the Batch tags and
    the instance type were read only from Parquet maps (every CSV row lost its job queue)."""
    path = tmp_path / "cur2.csv"
    path.write_text(
        "bill_billing_period_start_date,line_item_line_item_type,line_item_usage_start_date,"
        "line_item_product_code,line_item_usage_type,line_item_unblended_cost,product,resource_tags\n"
        "2025-03-01T00:00:00Z,Usage,2025-03-10T05:00:00Z,AmazonEC2,USE1-BoxUsage:m5.large,0.096,"
        '"{""region"": ""us-east-1"", ""instance_type"": ""m5.large""}",'
        '"{""aws_batch_job_queue"": ""q1"", ""user_team"": ""x""}"\n'
    )
    (row,) = _line_items(path, "cur2")
    assert row["batch_job_queue"] == "q1"
    assert row["instance_type"] == "m5.large" and row["region"] == "us-east-1"


def test_a_csv_row_with_more_fields_than_the_header_is_named_by_line(tmp_path: Path) -> None:
    # DuckDB's sniffer then read the whole header line as one column, reported as "column
    # bill_billing_period_start_date missing: not a cur2 export" of a file that has it.
    ragged = tmp_path / "ragged.csv"
    ragged.write_text(
        "identity_line_item_id,bill_billing_period_start_date,line_item_unblended_cost\n"
        "li-1,2025-03-01,1.0\nli-2,2025-03-01,2.0\nli-3,2025-03-01,3.0,extra,fields\nli-4,2025-03-01,4.0\n"
    )
    with pytest.raises(InputError, match=r"ragged.csv line 4: 5 fields where the header has 3$"):
        open_source(connect(), ragged)


def test_a_tag_map_that_is_not_json_is_refused_not_read_as_no_tags(tmp_path: Path) -> None:
    # The mapping reads a CSV's tag map with json_valid: a broken cell read as "no tags", and the
    # line item's job queue and compute environment were lost without a word.
    path = tmp_path / "cur2.csv"
    path.write_text(
        "bill_billing_period_start_date,line_item_line_item_type,line_item_usage_start_date,"
        "line_item_product_code,line_item_unblended_cost,resource_tags\n"
        '2025-03-01T00:00:00Z,Usage,2025-03-10T05:00:00Z,AmazonEC2,0.096,"{""aws_batch_job_queue"": ""q1"""\n'
    )
    with pytest.raises(
        InputError,
        match=r"cur2.csv: column resource_tags: '\{\"aws_batch_job_queue\": \"q1\"' is not a JSON object"
        r" \(1 rows\)$",
    ):
        _line_items(path, "cur2")


def test_amounts_near_the_largest_double_and_dates_of_1900_are_refused(tmp_path: Path) -> None:
    # 1e308 parses as a number, and two of them sum to infinity in every total.
    with pytest.raises(
        InputError,
        match=r"column lineItem/UnblendedCost: '1e308' is out of range \(more than 1e\+15\) \(1 rows\)$",
    ):
        _line_items(_legacy_csv(tmp_path, "2025-03-10T05:00:00Z", "1e308"), "cur-legacy")
    with pytest.raises(InputError, match=r"column line_item_unblended_cost: 1e\+308 is out of range"):
        _line_items(_parquet_with(tmp_path / "huge.parquet", "1e308"), "cur-legacy")
    # An unset date written out (1900) would put the line item on a day no window shows.
    with pytest.raises(
        InputError,
        match=r"column lineItem/UsageStartDate: '1900-01-01T00:00:00Z' is outside 2000-2199 \(1 rows\)$",
    ):
        _line_items(_legacy_csv(tmp_path, "1900-01-01T00:00:00Z", "0.5"), "cur-legacy")
    # A large but real amount is read.
    (row,) = _line_items(_legacy_csv(tmp_path, "2025-03-10T05:00:00Z", "123456789.5"), "cur-legacy")
    assert row["billed_usd"] == 123456789.5
