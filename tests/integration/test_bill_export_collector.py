"""The `bill` collector source against the emulator's S3: a CUR 2.0 export laid out as AWS Data
Exports delivers it (data files and a manifest per BILLING_PERIOD), read incrementally by manifest.

The data files are HAND-BUILT (tests/billing_fixtures.py: no public real CUR 2.0 rows with Savings
Plans or split rows exist); expected totals are plain pandas sums over the files in S3.
"""

from __future__ import annotations

import io
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, select

from optimizer.aws.permissions import actions_for
from optimizer.billing.intake import connect
from optimizer.collectors.bill_export import bill_source
from optimizer.collectors.runner import TargetPlan, collect
from optimizer.store.schema import collector_runs, collector_watermarks
from optimizer.store.tables.billing import bill_commitments, bill_daily, bill_months
from tests.billing_fixtures import SP, cur2_file
from tests.collect_helpers import Clock, client, count, emulator_plan

pytestmark = pytest.mark.emulator

BUCKET = "payer-cur"
PREFIX = "exports"
EXPORT = "batchopt-cur"
URI = f"s3://{BUCKET}/{PREFIX}"


def _data_key(month: str, name: str) -> str:
    return f"{PREFIX}/{EXPORT}/data/BILLING_PERIOD={month}/{name}"


def _manifest_key(month: str) -> str:
    return f"{PREFIX}/{EXPORT}/metadata/BILLING_PERIOD={month}/{EXPORT}-Manifest.json"


def _month_file(tmp_path: Path, month: str, *, factor: float, name: str, rows: str = "true") -> Path:
    """The hand-built March 2025 rows moved to `month`, costs times `factor`, rows filtered."""
    base = cur2_file(tmp_path)
    shift = f"INTERVAL '{(int(month[5:]) - 3)} month'"
    path = tmp_path / name
    con = connect()
    con.execute(
        f"""COPY (
          SELECT * REPLACE (
            bill_billing_period_start_date + {shift} AS bill_billing_period_start_date,
            line_item_usage_start_date + {shift} AS line_item_usage_start_date,
            line_item_usage_end_date + {shift} AS line_item_usage_end_date,
            CAST(line_item_unblended_cost AS DOUBLE) * {factor} AS line_item_unblended_cost,
            savings_plan_savings_plan_effective_cost * {factor} AS savings_plan_savings_plan_effective_cost
          ) FROM read_parquet('{base}') WHERE {rows}
        ) TO '{path}' (FORMAT parquet)"""
    )
    con.close()
    return path


def _deliver(s3: Any, month: str, files: list[Path], execution: str) -> None:
    """Upload the month's data files, then its manifest (AWS writes the manifest last)."""
    uris = []
    for i, path in enumerate(files, start=1):
        key = _data_key(month, f"{EXPORT}-{i:05d}.snappy.parquet")
        s3.put_object(Bucket=BUCKET, Key=key, Body=path.read_bytes())
        uris.append(f"s3://{BUCKET}/{key}")
    manifest = {
        "executionId": execution,
        "exportArn": f"arn:aws:bcm-data-exports:us-east-1:111122223333:export/{EXPORT}-{execution}",
        "columns": [{"name": "line_item_unblended_cost", "type": "double"}],
        "dataFiles": uris,
    }
    s3.put_object(Bucket=BUCKET, Key=_manifest_key(month), Body=json.dumps(manifest).encode())


def _expected(s3: Any, month: str) -> dict[str, float]:
    """Billed and effective cost of the month, plain pandas over the files its manifest lists."""
    manifest = json.loads(s3.get_object(Bucket=BUCKET, Key=_manifest_key(month))["Body"].read())
    frames = []
    for uri in manifest["dataFiles"]:
        key = uri.removeprefix(f"s3://{BUCKET}/")
        frames.append(pd.read_parquet(io.BytesIO(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())))
    df = pd.concat(frames, ignore_index=True)
    kind = df["line_item_line_item_type"]
    unblended = df["line_item_unblended_cost"].astype(float).fillna(0.0)
    effective = np.select(
        [
            kind.eq("SavingsPlanCoveredUsage"),
            kind.eq("SavingsPlanNegation"),
            kind.eq("SavingsPlanRecurringFee"),
        ],
        [
            df["savings_plan_savings_plan_effective_cost"].fillna(0.0),
            0.0,
            df["savings_plan_total_commitment_to_date"].fillna(0.0)
            - df["savings_plan_used_commitment"].fillna(0.0),
        ],
        unblended,
    )
    return {"rows": len(df), "billed": float(unblended.sum()), "effective": float(effective.sum())}


IAM_ACTION = {"ListObjectsV2": "s3:ListBucket", "GetObject": "s3:GetObject"}
"""The IAM action that authorises each S3 operation (Amazon S3 User Guide, "Actions")."""


def _recording(plan: TargetPlan) -> tuple[TargetPlan, list[str]]:
    """The plan, with every API operation its clients send recorded (botocore's before-call event)."""
    calls: list[str] = []

    def factory(service: str, region: str) -> Any:
        made = plan.client_factory(service, region)
        made.meta.events.register("before-call", lambda model, **_: calls.append(model.name))
        return made

    return TargetPlan(plan.target, plan.region, factory, plan.account_id), calls


def _months(engine: Engine) -> dict[str, dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(select(bill_months)).mappings().all()
    return {f"{pd.Timestamp(r['billing_period']):%Y-%m}": dict(r) for r in rows}


def _watermarks(engine: Engine) -> dict[str, str]:
    c = collector_watermarks.c
    with engine.connect() as conn:
        return dict(conn.execute(select(c.scope, c.value).where(c.source == "bill")).all())


def test_bill_export_is_read_by_manifest_restated_months_replace_broken_ones_change_nothing(
    store_engine: Engine, aws_endpoint: str, tmp_path: Path
) -> None:
    s3 = client(aws_endpoint, "s3")
    s3.create_bucket(Bucket=BUCKET)
    _deliver(s3, "2025-03", [_month_file(tmp_path, "2025-03", factor=1.0, name="m3.parquet")], "e1")
    _deliver(s3, "2025-04", [_month_file(tmp_path, "2025-04", factor=1.5, name="m4.parquet")], "e2")
    data_dir = tmp_path / "bill"
    source = bill_source(URI, data_dir)
    plan, calls = _recording(emulator_plan(aws_endpoint))
    clock = Clock(datetime(2025, 5, 2, 6, 0))

    [first] = collect(store_engine, [plan], [source], clock=clock)
    assert first.status == "succeeded", first.error
    # Read-only, and every call is an action of the generated collector policy.
    assert set(calls) == {"ListObjectsV2", "GetObject"}
    assert {IAM_ACTION[op] for op in calls} <= set(actions_for("collector"))
    months = _months(store_engine)
    assert set(months) == {"2025-03", "2025-04"}
    for month in months:
        expected = _expected(s3, month)
        assert months[month]["line_items"] == expected["rows"]
        assert months[month]["billed_usd"] == pytest.approx(expected["billed"], abs=1e-9)
        assert months[month]["effective_usd"] == pytest.approx(expected["effective"], abs=1e-9)
        assert months[month]["format"] == "cur2"
        assert (data_dir / month / "line_items.parquet").is_file()
    assert first.items_read == first.items_written == 18  # 9 line items a month
    marks = _watermarks(store_engine)
    assert set(marks) == {f"{EXPORT}/BILLING_PERIOD=2025-03", f"{EXPORT}/BILLING_PERIOD=2025-04"}
    with store_engine.connect() as conn:
        assert conn.execute(select(bill_commitments.c.arn)).scalars().all() == [SP]
    assert not list((data_dir / ".incoming").iterdir())  # the downloads are gone

    # Unchanged manifests: nothing is read. The data files are gone from S3, so a read would fail.
    for month in months:
        s3.delete_object(Bucket=BUCKET, Key=_data_key(month, f"{EXPORT}-00001.snappy.parquet"))
    clock.now = datetime(2025, 5, 2, 7, 0)
    calls.clear()
    [second] = collect(store_engine, [plan], [source], clock=clock)
    assert (second.status, second.items_read, second.items_written) == ("succeeded", 0, 0)
    assert calls == ["ListObjectsV2"]  # the listing only: no manifest, no data file was fetched
    assert _months(store_engine) == months

    # AWS restates March: new data files (two parts now), a rewritten manifest. March is replaced
    # whole; April, whose manifest did not change, is not touched.
    ec2 = "line_item_product_code = 'AmazonEC2'"
    restated = [
        _month_file(tmp_path, "2025-03", factor=2.0, name="r1.parquet", rows=ec2),
        _month_file(tmp_path, "2025-03", factor=2.0, name="r2.parquet", rows=f"NOT ({ec2})"),
    ]
    _deliver(s3, "2025-03", restated, "e3")
    clock.now = datetime(2025, 5, 3, 6, 0)
    [third] = collect(store_engine, [plan], [source], clock=clock)
    assert third.status == "succeeded", third.error
    after = _months(store_engine)
    expected = _expected(s3, "2025-03")
    assert after["2025-03"]["billed_usd"] == pytest.approx(expected["billed"], abs=1e-9)
    assert after["2025-03"]["billed_usd"] == pytest.approx(2 * months["2025-03"]["billed_usd"], abs=1e-9)
    assert after["2025-03"]["effective_usd"] == pytest.approx(expected["effective"], abs=1e-9)
    assert after["2025-03"]["line_items"] == expected["rows"]
    assert pd.Timestamp(after["2025-03"]["imported_at"]) == pd.Timestamp(clock.now)
    assert after["2025-04"] == months["2025-04"]
    assert len(pd.read_parquet(data_dir / "2025-03" / "line_items.parquet")) == expected["rows"]
    with store_engine.connect() as conn:
        daily = conn.execute(
            select(bill_daily.c.billed_usd).where(bill_daily.c.billing_period == datetime(2025, 3, 1))
        ).scalars()
        assert sum(daily) == pytest.approx(expected["billed"], abs=1e-9)
    assert third.items_written == expected["rows"]
    [fourth] = collect(store_engine, [plan], [source], clock=clock)
    assert (fourth.items_read, fourth.items_written) == (0, 0)

    # A broken manifest (April restated with a truncated one), then one naming a missing file:
    # each run fails with one line naming the key; the store, the Parquet months and the
    # watermarks stay as they were.
    before_marks, before_daily = _watermarks(store_engine), count(store_engine, bill_daily)
    april = (data_dir / "2025-04" / "line_items.parquet").read_bytes()
    s3.put_object(Bucket=BUCKET, Key=_manifest_key("2025-04"), Body=b'{"dataFiles": ["s3://')
    [broken] = collect(store_engine, [plan], [source], clock=clock)
    assert broken.status == "failed"
    assert broken.error is not None and "\n" not in broken.error
    assert f"s3://{BUCKET}/{_manifest_key('2025-04')}: not a Data Exports manifest" in broken.error
    missing_key = _data_key("2025-04", "gone.snappy.parquet")
    manifest = {"executionId": "e4", "dataFiles": [f"s3://{BUCKET}/{missing_key}"]}
    s3.put_object(Bucket=BUCKET, Key=_manifest_key("2025-04"), Body=json.dumps(manifest).encode())
    [missing] = collect(store_engine, [plan], [source], clock=clock)
    assert missing.status == "failed"
    assert missing.error is not None and "\n" not in missing.error
    assert f"s3://{BUCKET}/{missing_key}: missing" in missing.error
    corrupt_key = _data_key("2025-04", "corrupt.snappy.parquet")  # a data file that is not Parquet
    s3.put_object(Bucket=BUCKET, Key=corrupt_key, Body=b"PAR1 truncated")
    manifest = {"executionId": "e5", "dataFiles": [f"s3://{BUCKET}/{corrupt_key}"]}
    s3.put_object(Bucket=BUCKET, Key=_manifest_key("2025-04"), Body=json.dumps(manifest).encode())
    [corrupt] = collect(store_engine, [plan], [source], clock=clock)
    assert corrupt.status == "failed"
    assert corrupt.error is not None and "\n" not in corrupt.error
    assert f"s3://{BUCKET}/{corrupt_key}: not a readable" in corrupt.error, corrupt.error
    assert _months(store_engine) == after
    assert _watermarks(store_engine) == before_marks
    assert count(store_engine, bill_daily) == before_daily
    assert (data_dir / "2025-04" / "line_items.parquet").read_bytes() == april
    with store_engine.connect() as conn:
        statuses = conn.execute(select(collector_runs.c.status).order_by(collector_runs.c.id)).scalars().all()
    assert statuses == ["succeeded"] * 4 + ["failed"] * 3


def test_collect_reads_the_export_once_per_collection_and_the_policy_allows_it(
    tmp_path: Path, aws_endpoint: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from optimizer.cli.main import main

    s3 = client(aws_endpoint, "s3")
    s3.create_bucket(Bucket=BUCKET)
    _deliver(s3, "2025-03", [_month_file(tmp_path, "2025-03", factor=1.0, name="m3.parquet")], "e1")
    monkeypatch.setenv("BATCHOPT_DATABASE_URL", f"sqlite:///{tmp_path / 'store.db'}")
    monkeypatch.setenv("BATCHOPT_AWS_ENDPOINT_URL", aws_endpoint)
    monkeypatch.setenv("BATCHOPT_REGIONS", "us-east-1,us-west-2")
    monkeypatch.setenv("BATCHOPT_BILLING__DATA_DIR", str(tmp_path / "bill"))
    assert main(["db", "upgrade"]) == 0
    assert main(["collect", "--source", "bill"]) == 2  # named without billing.cur_s3_uri: says so
    assert "billing.cur_s3_uri (BATCHOPT_BILLING__CUR_S3_URI)" in capsys.readouterr().err
    monkeypatch.setenv("BATCHOPT_BILLING__CUR_S3_URI", URI)
    assert main(["collect", "--source", "bill"]) == 0
    out = capsys.readouterr().out
    assert "default/us-east-1 bill: read 9, wrote 9" in out
    assert (
        "collected 1 run(s): read 9, wrote 9, failed 0" in out
    )  # the payer's bill: one run, not one a region
    assert main(["reconcile", "--month", "2025-03", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["billed_usd"] == pytest.approx(
        _expected(s3, "2025-03")["billed"], abs=1e-6
    )
    assert main(["iam-policy", "--role", "collector"]) == 0
    policy = json.loads(capsys.readouterr().out)
    actions = {a for statement in policy["Statement"] for a in statement["Action"]}
    assert {"s3:ListBucket", "s3:GetObject"} <= actions  # ListObjectsV2 and GetObject


def test_a_manifest_rewritten_in_the_same_second_still_replaces_the_month() -> None:
    """The runner keeps the larger of a scope's old and new watermark: the import time leads the
    value, so a version whose ETag sorts lower than its predecessor's still moves it."""
    from optimizer.billing.s3_export import Manifest, pending_months

    same_second = datetime(2025, 4, 2, 6, 0, 0)
    first = Manifest(EXPORT, "2025-03", BUCKET, _manifest_key("2025-03"), "ffff", same_second)
    second = Manifest(EXPORT, "2025-03", BUCKET, _manifest_key("2025-03"), "0000", same_second)
    stored = {first.scope: first.watermark(datetime(2025, 4, 2, 7, 0))}
    assert pending_months([first], stored, {"2025-03"}) == []
    assert pending_months([second], stored, {"2025-03"}) == [second]
    assert pending_months([first], stored, set()) == [first]  # the store lost the month: read again
    kept = max(second.watermark(datetime(2025, 4, 2, 8, 0)), stored[first.scope])
    assert pending_months([second], {first.scope: kept}, {"2025-03"}) == []


def test_the_newest_manifest_of_a_month_wins_and_one_export_is_expected(aws_endpoint: str) -> None:
    """ "Create new" delivery keeps every execution's manifest under its execution id: the newest
    names the month's files. Two exports under the prefix are refused, naming both."""
    from optimizer.billing.s3_export import list_manifests
    from optimizer.errors import InputError

    s3 = client(aws_endpoint, "s3")
    s3.create_bucket(Bucket=BUCKET)
    folder = f"{PREFIX}/{EXPORT}/metadata/BILLING_PERIOD=2025-03"
    for execution in ("exec-1", "exec-2"):
        s3.put_object(Bucket=BUCKET, Key=f"{folder}/{execution}/{EXPORT}-Manifest.json", Body=b"{}")
    s3.put_object(Bucket=BUCKET, Key=f"{folder}/{EXPORT}-not-a-manifest.json", Body=b"{}")
    [manifest] = list_manifests(s3, URI)
    assert (manifest.month, manifest.key) == ("2025-03", f"{folder}/exec-2/{EXPORT}-Manifest.json")
    s3.put_object(Bucket=BUCKET, Key=_manifest_key("2025-03").replace(EXPORT, "other"), Body=b"{}")
    with pytest.raises(InputError, match=rf"holds 2 exports \({EXPORT}, other\)"):
        list_manifests(s3, URI)
    assert [m.export for m in list_manifests(s3, f"{URI}/{EXPORT}")] == [EXPORT]
