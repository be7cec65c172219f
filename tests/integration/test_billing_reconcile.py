"""`batchopt import-bill` and `batchopt reconcile` on the real bills in shared/data/billing, on SQLite
and PostgreSQL: totals equal independent sums over the files (plain pandas), to the cent."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, insert, select

from optimizer.billing.commitments import load_commitments
from optimizer.cli.main import main
from optimizer.store.names import COLLECTED_DATASET
from optimizer.store.tables.analysis import analysis_runs, cost_daily
from optimizer.store.tables.billing import bill_commitments, bill_daily, bill_months
from tests.data_paths import shared

WA = "billing/cur-legacy/wa-labs-workshop-cur-2018"
MONTHS = {
    "2018-10": "Oct2018-WorkshopCUR-00001.snappy.parquet",
    "2018-11": "Nov2018-WorkshopCUR-00001.snappy.parquet",
}
LEGACY_CSV = "billing/cur-legacy/focus-converters_sample-anonymous-aws-export-dataset.csv"
FOCUS = "billing/focus/finops-focus-sample-data_FOCUS-1.0_focus_sample.csv"
CENT = 0.005


@pytest.fixture
def cli(store_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The CLI pointed at the test's store; returns the bill's data directory."""
    monkeypatch.setenv("BATCHOPT_DATABASE_URL", store_engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("BATCHOPT_BILLING__DATA_DIR", str(tmp_path / "bill"))
    return tmp_path / "bill"


def _reconcile(month: str, capsys: pytest.CaptureFixture[str]) -> dict:
    capsys.readouterr()
    assert main(["reconcile", "--month", month, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


# --- the independent computation: plain pandas over the file, AWS's amortised-cost rule ---------


def _expected_cur(path: Path) -> dict:
    df = pd.read_parquet(path)
    kind = df["line_item_line_item_type"]
    unblended = df["line_item_unblended_cost"].fillna(0.0)
    ri_arn = df["reservation_reservation_a_r_n"].fillna("").ne("")

    def col(name: str) -> pd.Series:
        return df[name].fillna(0.0) if name in df.columns else pd.Series(0.0, index=df.index)

    effective = np.select(
        [
            kind.eq("DiscountedUsage"),
            kind.eq("RIFee"),
            kind.eq("Fee") & ri_arn,
            kind.eq("SavingsPlanCoveredUsage"),
            kind.isin(["SavingsPlanNegation", "SavingsPlanUpfrontFee"]),
            kind.eq("SavingsPlanRecurringFee"),
        ],
        [
            col("reservation_effective_cost"),
            col("reservation_unused_amortized_upfront_fee_for_billing_period")
            + col("reservation_unused_recurring_fee"),
            0.0,
            col("savings_plan_savings_plan_effective_cost"),
            0.0,
            col("savings_plan_total_commitment_to_date") - col("savings_plan_used_commitment"),
        ],
        default=unblended,
    )
    df = df.assign(billed=unblended, effective=effective)
    usage_type = df["line_item_usage_type"].fillna("")
    instance = (
        df["line_item_product_code"].eq("AmazonEC2")
        & kind.isin(["Usage", "DiscountedUsage", "SavingsPlanCoveredUsage"])
        & usage_type.map(lambda u: bool(re.search(r"(^|-)(BoxUsage|SpotUsage|DedicatedUsage)(:|$)", u)))
    )
    services = df.groupby("line_item_product_code")[["billed", "effective"]].sum()
    return {
        "billed": float(df["billed"].sum()),
        "effective": float(df["effective"].sum()),
        "services": {k: (float(v.billed), float(v.effective)) for k, v in services.iterrows()},
        "ec2_billed": float(df.loc[instance, "billed"].sum()),
        "ec2_effective": float(df.loc[instance, "effective"].sum()),
        "ec2_hours": float(df.loc[instance, "line_item_usage_amount"].sum()),
        "ri_arns": set(df.loc[ri_arn, "reservation_reservation_a_r_n"]),
        "rows": len(df),
    }


def test_reconcile_equals_independent_sums_on_the_real_legacy_cur(
    cli: Path, store_engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    files = [str(shared(WA, name)) for name in MONTHS.values()]
    assert main(["import-bill", "--format", "cur-legacy", *files]) == 0
    for month, name in MONTHS.items():
        want = _expected_cur(shared(WA, name))
        got = _reconcile(month, capsys)
        assert got["month"] == month
        assert got["billed_usd"] == pytest.approx(want["billed"], abs=CENT)
        assert got["effective_usd"] == pytest.approx(want["effective"], abs=CENT)
        # Amortisation moves money between the columns: RI upfront fees paid before the month.
        assert abs(got["effective_usd"] - got["billed_usd"]) > 1.0
        assert set(got["by_service"]) == set(want["services"])
        for service, (billed, effective) in want["services"].items():
            assert got["by_service"][service]["billed_usd"] == pytest.approx(billed, abs=CENT), service
            assert got["by_service"][service]["effective_usd"] == pytest.approx(effective, abs=CENT), service
        ec2 = got["ec2_instances"]
        assert ec2["billed_usd"] == pytest.approx(want["ec2_billed"], abs=CENT)
        assert ec2["effective_usd"] == pytest.approx(want["ec2_effective"], abs=CENT)
        assert ec2["instance_hours"] == pytest.approx(want["ec2_hours"], abs=0.01)
        assert set(ec2["by_purchase_option"]) == {"on_demand", "spot", "reserved"}
        assert {c["arn"] for c in got["commitments"]} == want["ri_arns"]
        assert got["modelled_usd"] is None and got["residual_usd"] is None
        assert got["bill"]["line_items"] == want["rows"]
        assert (cli / month / "line_items.parquet").is_file()
    with store_engine.connect() as conn:
        commitments = conn.execute(select(bill_commitments)).mappings().all()
    assert len(commitments) == 9
    by_arn = {c["arn"]: c for c in commitments}
    c4 = by_arn["arn:aws:ec2:us-east-1:836060457634:reserved-instances/3a2944f2-fbdc-4f9a-86f7-4b83dc6e058a"]
    assert c4["kind"] == "reserved_instance" and c4["account_id"] == "836060457634"
    assert c4["region"] == "us-east-1" and c4["count"] == 1 and c4["term"] == "1yr"
    assert c4["offering_type"] == "HeavyUsage:c4.large"


def test_ri_utilization_and_missed_instances_equal_pandas_sums_on_the_real_legacy_cur(
    cli: Path, store_engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    path = shared(WA, MONTHS["2018-10"])
    assert main(["import-bill", "--format", "cur-legacy", str(path)]) == 0
    got = _reconcile("2018-10", capsys)
    df = pd.read_parquet(path)
    kind, arn = df["line_item_line_item_type"], df["reservation_reservation_a_r_n"].fillna("")
    used = df[kind.eq("DiscountedUsage")].groupby(arn)["reservation_effective_cost"].sum()
    fees = df[kind.eq("RIFee")]
    unused = (
        (
            fees["reservation_unused_amortized_upfront_fee_for_billing_period"].fillna(0.0)
            + fees["reservation_unused_recurring_fee"].fillna(0.0)
        )
        .groupby(arn[fees.index])
        .sum()
    )
    use = {c["arn"]: c for c in got["commitment_use"]["commitments"]}
    assert set(use) == set(used.index) | set(unused.index)
    for ri, row in use.items():
        assert row["used_usd"] == pytest.approx(used.get(ri, 0.0), abs=CENT), ri
        assert row["unused_usd"] == pytest.approx(unused.get(ri, 0.0), abs=CENT), ri
    total = used.sum() + unused.sum()
    assert got["commitment_use"]["utilization"] == pytest.approx(used.sum() / total, abs=1e-6)
    # per hour, an RI's utilization is its covered instance-hours over its number of reservations
    ri = "arn:aws:ec2:us-east-1:836060457634:reserved-instances/2dbc59ec-6e3c-404a-b6c3-ec308c3d56fd"
    hours = load_commitments(store_engine, since=datetime(2018, 10, 1), until=datetime(2018, 11, 1)).hours
    mine = hours[hours["arn"] == ri].set_index("hour")["utilization"].astype(float)
    rows = df[kind.eq("DiscountedUsage") & arn.eq(ri)]
    count = pd.to_numeric(df.loc[arn.eq(ri), "reservation_number_of_reservations"], errors="coerce").max()
    covered = rows.groupby(pd.to_datetime(rows["line_item_usage_start_date"]).dt.tz_localize(None))[
        "line_item_usage_amount"
    ].sum()
    want = (covered / count).clip(upper=1.0)
    # the RI's rate per covered hour is the bill's: its amortised cost over the hours it covered
    (described,) = [
        c
        for c in load_commitments(
            store_engine, since=datetime(2018, 10, 1), until=datetime(2018, 11, 1)
        ).commitments
        if c.arn == ri
    ]
    per_type = rows.groupby("product_instance_type")
    want_rates = (
        per_type["reservation_effective_cost"].sum() / per_type["line_item_usage_amount"].sum()
    ).to_dict()
    assert described.rate_by_type("us-east-1") == pytest.approx(want_rates)
    # used in 195 of October's 744 hours (36.8 % for the month): hours without use have no row
    assert len(want) == len(mine) == 195 and want.max() == 1.0
    assert mine.reindex(want.index).to_numpy() == pytest.approx(want.to_numpy())
    # every billed instance id is one the collectors missed: the store has no Batch history
    instance = (
        df["line_item_resource_id"].fillna("").str.startswith("i-")
        & kind.isin(["Usage", "DiscountedUsage"])
        & df["line_item_usage_type"]
        .fillna("")
        .str.contains(r"(?:^|-)(?:BoxUsage|SpotUsage|DedicatedUsage)(?::|$)")
    )
    missed = got["missed_instances"]
    assert missed["count"] == df.loc[instance, "line_item_resource_id"].nunique()
    assert missed["billed_usd"] == pytest.approx(df.loc[instance, "line_item_unblended_cost"].sum(), abs=CENT)


def test_human_output_is_a_table_with_money(cli: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["import-bill", "--format", "cur-legacy", str(shared(WA, MONTHS["2018-10"]))]) == 0
    capsys.readouterr()
    assert main(["reconcile", "--month", "2018-10"]) == 0
    out = capsys.readouterr().out
    assert "billed (unblended)" in out and "$4,064.48" in out
    assert "AmazonEC2" in out and "instance-hours" in out


def test_importing_the_same_file_twice_changes_nothing(
    cli: Path, store_engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(shared(WA, MONTHS["2018-11"]))

    def snapshot() -> tuple:
        with store_engine.connect() as conn:
            daily = conn.execute(select(bill_daily).order_by(*bill_daily.primary_key.columns)).fetchall()
            months = conn.execute(select(bill_months)).fetchall()
            commitments = conn.execute(select(bill_commitments).order_by(bill_commitments.c.arn)).fetchall()
        parquet = cli / "2018-11" / "line_items.parquet"
        return daily, months, commitments, parquet.read_bytes(), parquet.stat().st_mtime_ns

    assert main(["import-bill", "--format", "cur-legacy", path]) == 0
    first = snapshot()
    assert "imported" in capsys.readouterr().out
    assert main(["import-bill", "--format", "cur-legacy", path]) == 0
    assert "unchanged" in capsys.readouterr().out
    assert snapshot() == first
    assert sorted(p.name for p in (cli / "2018-11").iterdir()) == ["line_items.parquet"]


def test_a_month_is_replaced_whole(
    cli: Path, store_engine: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = shared(LEGACY_CSV)
    lines = source.read_text().splitlines(keepends=True)
    smaller = tmp_path / "restated.csv"
    smaller.write_text("".join(lines[:101]))  # the header and the first 100 line items
    assert main(["import-bill", "--format", "cur-legacy", str(source)]) == 0
    assert main(["import-bill", "--format", "cur-legacy", str(smaller)]) == 0
    want = pd.read_csv(smaller)["lineItem/UnblendedCost"].sum()
    got = _reconcile("2023-11", capsys)
    assert got["billed_usd"] == pytest.approx(want, abs=CENT)
    assert got["bill"]["line_items"] == 100 and got["bill"]["files"] == ["restated.csv"]
    with store_engine.connect() as conn:
        n = sum(r.line_items for r in conn.execute(select(bill_daily.c.line_items)).fetchall())
    assert n == 100


def test_legacy_cur_csv_imports_with_its_tax_rows(cli: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = shared(LEGACY_CSV)
    assert main(["import-bill", "--format", "cur-legacy", str(path)]) == 0
    df = pd.read_csv(path, dtype=str)
    cost = df["lineItem/UnblendedCost"].astype(float)
    tax = df["lineItem/LineItemType"].eq("Tax")
    got = _reconcile("2023-11", capsys)
    assert got["bill"]["line_items"] == len(df) == 1281
    assert got["billed_usd"] == pytest.approx(cost.sum(), abs=CENT)
    assert got["effective_usd"] == pytest.approx(cost.sum(), abs=CENT)  # no RI, no SP
    assert got["by_usage_kind"]["tax"]["billed_usd"] == pytest.approx(cost[tax].sum(), abs=1e-9)
    assert got["by_usage_kind"]["tax"]["billed_usd"] > 0
    for service, billed in cost.groupby(df["lineItem/ProductCode"]).sum().items():
        assert got["by_service"][service]["billed_usd"] == pytest.approx(billed, abs=CENT)
    assert got["ec2_instances"]["instance_hours"] == 0


def test_the_focus_sample_imports_and_its_savings_plans_are_commitments(
    cli: Path, store_engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    path = shared(FOCUS)
    assert main(["import-bill", "--format", "focus", str(path)]) == 0
    out = capsys.readouterr().out
    assert "left out (not AWS): Microsoft 51, Oracle 7 rows" in out
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    aws = df[df["ProviderName"].eq("AWS")]
    sp = aws[aws["CommitmentDiscountType"].eq("Savings Plan")]
    assert len(sp) == 4
    with store_engine.connect() as conn:
        rows = conn.execute(select(bill_commitments)).mappings().all()
    assert {r["arn"] for r in rows} == set(sp["CommitmentDiscountId"])
    assert {r["kind"] for r in rows} == {"savings_plan"}
    assert sum(r["line_items"] for r in rows) == 4
    by_arn = {r["arn"]: r for r in rows}
    for arn, group in sp.groupby("CommitmentDiscountId"):
        starts = pd.to_datetime(group["ChargePeriodStart"])
        assert pd.Timestamp(by_arn[arn]["first_seen"]) == starts.min()
        assert by_arn[arn]["account_id"] == arn.split(":")[4]
    got = _reconcile("2024-09", capsys)
    assert got["billed_usd"] == pytest.approx(aws["BilledCost"].astype(float).sum(), abs=CENT)
    assert got["effective_usd"] == pytest.approx(aws["EffectiveCost"].astype(float).sum(), abs=CENT)
    assert got["ec2_instances"]["by_purchase_option"]["savings_plan"]["instance_hours"] == 3


def test_bad_input_names_the_file_and_column_and_writes_nothing(
    cli: Path, store_engine: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = pd.read_csv(shared(LEGACY_CSV), dtype=str).head(50)
    frame.loc[7, "lineItem/UnblendedCost"] = "twelve"
    bad = tmp_path / "bad.csv"
    frame.to_csv(bad, index=False)
    good = shared(WA, MONTHS["2018-10"])
    cases = [
        (["--format", "cur-legacy", str(good), str(bad)], f"{bad}: column lineItem/UnblendedCost: 'twelve'"),
        (["--format", "cur-legacy", str(shared(FOCUS))], "column bill_billing_period_start_date missing"),
        (
            ["--format", "focus", str(good)],
            "column BillingPeriodStart missing: not a focus export (it looks like cur-legacy)",
        ),
        (["--format", "cur2", str(shared(LEGACY_CSV))], "is a legacy CUR header: use --format cur-legacy"),
        (["--format", "cur-legacy", str(tmp_path / "nope.parquet")], "no such file"),
    ]
    truncated = tmp_path / "truncated.parquet"
    truncated.write_bytes(good.read_bytes()[:5000])
    cases.append((["--format", "cur-legacy", str(truncated)], f"{truncated}: not a readable parquet file"))
    empty, manifest = tmp_path / "empty.csv.gz", tmp_path / "cur2-Manifest.json"
    empty.write_bytes(b"")
    manifest.write_text('{"dataFiles": []}')
    cases.append((["--format", "cur2", str(empty)], f"{empty}: empty file (0 bytes)"))
    cases.append((["--format", "cur2", str(good), str(manifest)], f"{manifest}: an export manifest (JSON)"))
    for argv, message in cases:
        capsys.readouterr()
        assert main(["import-bill", *argv]) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], (argv, err)
    assert not cli.exists() or not any(cli.rglob("*"))
    with store_engine.connect() as conn:
        for table in (bill_daily, bill_months, bill_commitments):
            assert conn.execute(select(table)).first() is None


def test_reconcile_puts_the_modelled_cost_beside_the_bill(
    cli: Path, store_engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["import-bill", "--format", "cur-legacy", str(shared(WA, MONTHS["2018-10"]))]) == 0
    # Batch history for October 2018 as `batchopt analyze` persists it (cost_daily + its run).
    days = [datetime(2018, 10, d) for d in (1, 15, 31)] + [datetime(2018, 11, 1)]
    rows = [
        {
            "dataset": COLLECTED_DATASET,
            "day": day,
            "queue": "q",
            "compute_environment_arn": "arn:ce",
            "job_definition_name": "jd",
            "instance_type": "c5.large",
            "capacity_type": "SPOT",
            "total_usd": 10.0,
            "attempts": 1,
        }
        for day in days
    ]
    with store_engine.begin() as conn:
        conn.execute(insert(cost_daily), rows)
        conn.execute(
            insert(analysis_runs).values(
                dataset=COLLECTED_DATASET,
                computed_at=datetime(2018, 12, 1),
                since=datetime(2018, 9, 1),
                until=datetime(2018, 12, 1),
                instances=1,
                attempts=4,
                total_usd=40.0,
                idle_usd=0.0,
                price_sources={},
                unplaced_attempts=0,
            )
        )
    got = _reconcile("2018-10", capsys)
    assert got["modelled_usd"] == pytest.approx(30.0)  # the November day is not October's
    assert got["modelled_source"] == "analysis"
    assert got["residual_usd"] == pytest.approx(got["billed_usd"] - 30.0, abs=1e-6)


def test_reconcile_refuses_a_month_without_a_bill(cli: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["reconcile", "--month", "2018-10"]) == 2
    assert "no bill imported for 2018-10" in capsys.readouterr().err
    assert main(["reconcile", "--month", "2018-13"]) == 2
    assert "--month '2018-13'" in capsys.readouterr().err


def test_ec2_instances_billed_is_net_of_savings_plan_negation_as_in_focus(
    cli: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The hand-built CUR 2.0 hour (tests/billing_fixtures.py): an m5.large covered by a Compute
    Savings Plan ($0.096 usage, -$0.096 negation), a $0.03 spot and a $0.085 on-demand hour. FOCUS
    states the covered hour at a billed cost of 0, so CUR must net the negation to agree with it."""
    from tests.billing_fixtures import cur2_file

    assert main(["import-bill", "--format", "cur2", str(cur2_file(tmp_path))]) == 0
    ec2 = _reconcile("2025-03", capsys)["ec2_instances"]
    assert ec2["billed_usd"] == pytest.approx(0.03 + 0.085)
    assert ec2["savings_plan_covered_usd"] == pytest.approx(0.096)
    assert ec2["by_purchase_option"]["savings_plan"]["billed_usd"] == pytest.approx(0.0)
    assert ec2["effective_usd"] == pytest.approx(0.06 + 0.03 + 0.085)
    assert main(["reconcile", "--month", "2025-03"]) == 0
    assert "$0.10 of on-demand cost covered by Savings Plans" in capsys.readouterr().out
