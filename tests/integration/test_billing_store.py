"""The bill in the store: the modelled cost beside it is the model's one figure, and a failed import
leaves the store and the month's Parquet file as they were (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from optimizer.analysis.stored import read_cost_daily, run_analysis
from optimizer.billing import intake
from optimizer.billing.intake import import_bill
from optimizer.billing.reconcile import reconcile
from optimizer.errors import InputError
from optimizer.store.tables.billing import bill_commitments, bill_daily, bill_months
from tests.billing_fixtures import SP, cur2_file
from tests.report_helpers import seed_estate

HEADER = (
    "bill/BillingPeriodStartDate,lineItem/UsageAccountId,lineItem/LineItemType,lineItem/UsageStartDate,"
    "lineItem/ProductCode,lineItem/UsageType,lineItem/ResourceId,lineItem/UsageAmount,lineItem/UnblendedCost\n"
)


def _bill(tmp_path: Path, name: str, rows: list[str]) -> Path:
    """A small hand-made legacy CUR CSV for November 2026 (the month of tests/report_helpers' estate)."""
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + "".join(f"2026-11-01T00:00:00Z,123456789012,{row}\n" for row in rows))
    return path


NOVEMBER = [
    "Usage,2026-11-16T00:00:00Z,AmazonEC2,USE1-BoxUsage:m5.large,i-od1,24,2.304",
    "Usage,2026-11-16T00:00:00Z,AmazonEC2,USE1-EBS:VolumeUsage.gp3,vol-1,0.8,0.064",
    "Tax,2026-11-01T00:00:00Z,AmazonEC2,,,1,0.25",
]


def test_modelled_is_the_attribution_computed_or_persisted_alike(
    store_engine: Engine, tmp_path: Path
) -> None:
    seed_estate(store_engine, with_changes=False)
    bill = _bill(tmp_path, "nov.csv", NOVEMBER)
    import_bill(
        store_engine, [bill], "cur-legacy", data_dir=tmp_path / "bill", imported_at=datetime(2026, 12, 2)
    )
    computed = reconcile(store_engine, "2026-11")
    assert computed["modelled_source"] == "computed"  # no analysis run yet: the same code, run now
    run_analysis(
        store_engine,
        computed_at=datetime(2026, 12, 2),
        since=datetime(2026, 11, 1),
        until=datetime(2026, 12, 1),
    )
    persisted = reconcile(store_engine, "2026-11")
    assert persisted["modelled_source"] == "analysis"
    # (over the days the bill covers: through Nov 16, its last line item)
    assert persisted["modelled_until"] == "2026-11-17T00:00:00"
    total = read_cost_daily(
        store_engine, (), period=None, since=datetime(2026, 11, 1), until=datetime(2026, 11, 17)
    )
    assert persisted["modelled_usd"] == pytest.approx(float(total["total_usd"].iloc[0]), abs=1e-6)
    assert computed["modelled_usd"] == pytest.approx(persisted["modelled_usd"], abs=1e-6)
    assert persisted["modelled_usd"] > 5  # the estate's instances of Nov 1-16, about $6
    assert persisted["billed_usd"] == pytest.approx(2.304 + 0.064 + 0.25)
    assert persisted["residual_usd"] == pytest.approx(persisted["billed_usd"] - persisted["modelled_usd"])
    assert reconcile(store_engine, "2026-11", dataset="no-such-dataset")["modelled_usd"] is None


def test_a_failed_import_changes_nothing(
    store_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = tmp_path / "bill"
    first = _bill(tmp_path, "nov.csv", NOVEMBER)
    import_bill(store_engine, [first], "cur-legacy", data_dir=data_dir, imported_at=datetime(2026, 12, 2))
    parquet = data_dir / "2026-11" / "line_items.parquet"
    before_bytes = parquet.read_bytes()
    with store_engine.connect() as conn:
        before = conn.execute(select(bill_daily).order_by(*bill_daily.primary_key.columns)).fetchall()
        months_before = conn.execute(select(bill_months)).fetchall()

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("disk full")

    restated = _bill(tmp_path, "nov-restated.csv", [*NOVEMBER, NOVEMBER[0].replace("i-od1", "i-od9")])
    monkeypatch.setattr(intake.os, "replace", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        import_bill(
            store_engine, [restated], "cur-legacy", data_dir=data_dir, imported_at=datetime(2026, 12, 3)
        )
    assert parquet.read_bytes() == before_bytes
    assert sorted(p.name for p in parquet.parent.iterdir()) == ["line_items.parquet"]  # no temp file left
    with store_engine.connect() as conn:
        assert conn.execute(select(bill_daily).order_by(*bill_daily.primary_key.columns)).fetchall() == before
        assert conn.execute(select(bill_months)).fetchall() == months_before


def _two_months(tmp_path: Path, name: str, extra_cost: float = 0.0) -> Path:
    """A legacy CUR CSV holding October and November 2026 (AWS puts both in one file when a
    restated month is delivered beside the new one)."""
    path = tmp_path / name
    rows = [
        f"2026-10-01T00:00:00Z,123456789012,Usage,2026-10-20T00:00:00Z,AmazonEC2,USE1-BoxUsage:m5.large,"
        f"i-oct,24,{2.304 + extra_cost}\n",
        *(f"2026-11-01T00:00:00Z,123456789012,{row}\n" for row in NOVEMBER),
    ]
    path.write_text(HEADER + "".join(rows))
    return path


def test_a_multi_month_import_whose_second_month_cannot_be_written_changes_neither_month(
    store_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = tmp_path / "bill"
    import_bill(
        store_engine,
        [_two_months(tmp_path, "a.csv")],
        "cur-legacy",
        data_dir=data_dir,
        imported_at=datetime(2026, 12, 2),
    )
    october, november = (data_dir / m / "line_items.parquet" for m in ("2026-10", "2026-11"))
    files_before = {p: p.read_bytes() for p in (october, november)}
    with store_engine.connect() as conn:
        months_before = conn.execute(select(bill_months).order_by(bill_months.c.billing_period)).fetchall()
    real_replace = intake.os.replace

    def full_disk_for_november(src: object, dst: object) -> None:
        if Path(str(dst)) == november and str(src).endswith(".tmp"):  # (the new file, not the old one back)
            raise OSError(28, "No space left on device", str(dst))
        real_replace(src, dst)

    monkeypatch.setattr(intake.os, "replace", full_disk_for_november)
    restated = _two_months(tmp_path, "restated.csv", extra_cost=1.0)
    with pytest.raises(
        InputError, match=r"2026-11/line_items.parquet: cannot write .*No space left on device"
    ):
        import_bill(
            store_engine, [restated], "cur-legacy", data_dir=data_dir, imported_at=datetime(2026, 12, 3)
        )
    # October's file was moved in before November's failed: it is back as it was, and nothing else is left.
    assert {p: p.read_bytes() for p in (october, november)} == files_before
    for month in (october, november):
        assert sorted(p.name for p in month.parent.iterdir()) == ["line_items.parquet"]
    with store_engine.connect() as conn:
        assert (
            conn.execute(select(bill_months).order_by(bill_months.c.billing_period)).fetchall()
            == months_before
        )
    monkeypatch.setattr(intake.os, "replace", real_replace)
    result = import_bill(
        store_engine, [restated], "cur-legacy", data_dir=data_dir, imported_at=datetime(2026, 12, 4)
    )
    assert [m.status for m in result.months] == ["imported", "imported"]  # (not "unchanged")
    assert result.months[0].billed_usd == pytest.approx(3.304)


def test_commitments_of_months_stored_under_another_data_folder_are_kept(
    store_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The default data folder is relative (var/bill): two commands run from two directories.
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    monkeypatch.chdir(first)
    march = import_bill(
        store_engine, [cur2_file(tmp_path)], "cur2", data_dir="var/bill", imported_at=datetime(2026, 12, 2)
    )
    assert march.commitments == 1 and march.months[0].path.is_absolute()
    monkeypatch.chdir(second)
    november = import_bill(
        store_engine,
        [_bill(tmp_path, "nov.csv", NOVEMBER)],
        "cur-legacy",
        data_dir="var/bill",
        imported_at=datetime(2026, 12, 3),
    )
    assert november.commitments == 1  # March's Savings Plan, read from where March's file is
    with store_engine.connect() as conn:
        assert conn.execute(select(bill_commitments.c.arn)).scalars().all() == [SP]
    # A stored month whose file is gone is named, not silently dropped from the commitments.
    march.months[0].path.unlink()
    with pytest.raises(InputError, match=r"^2025-03: its line items file .* is missing"):
        import_bill(
            store_engine,
            [_two_months(tmp_path, "b.csv")],
            "cur-legacy",
            data_dir="var/bill",
            imported_at=datetime(2026, 12, 4),
        )
    with store_engine.connect() as conn:
        assert conn.execute(select(bill_commitments.c.arn)).scalars().all() == [SP]


def test_reimporting_some_of_a_months_files_is_refused_not_a_silent_replace(
    store_engine: Engine, tmp_path: Path
) -> None:
    data_dir = tmp_path / "bill"
    first = _bill(tmp_path, "nov-1.csv", NOVEMBER[:2])
    second = _bill(tmp_path, "nov-2.csv", NOVEMBER[2:])
    import_bill(
        store_engine, [first, second], "cur-legacy", data_dir=data_dir, imported_at=datetime(2026, 12, 2)
    )
    with pytest.raises(
        InputError, match=r"^2026-11: 1 of the 2 files it was imported from; .*\(nov-2.csv\)$"
    ):
        import_bill(store_engine, [first], "cur-legacy", data_dir=data_dir, imported_at=datetime(2026, 12, 3))
    with store_engine.connect() as conn:
        [month] = conn.execute(select(bill_months)).mappings().all()
    assert month["billed_usd"] == pytest.approx(2.304 + 0.064 + 0.25)
    # A restated month (new files) replaces it.
    restated = _bill(tmp_path, "nov-restated.csv", NOVEMBER[:1])
    result = import_bill(
        store_engine, [restated], "cur-legacy", data_dir=data_dir, imported_at=datetime(2026, 12, 4)
    )
    assert result.months[0].status == "imported" and result.months[0].billed_usd == pytest.approx(2.304)


def test_reimporting_a_file_that_holds_a_month_replaced_since_brings_that_month_back(
    store_engine: Engine, tmp_path: Path
) -> None:
    """A file of October and November, then a November-only file, then the first file again: the
    shortcut for unchanged files said "2026-10: unchanged" and left November at the second file."""
    data_dir = tmp_path / "bill"
    both = _two_months(tmp_path, "oct-nov.csv")
    import_bill(store_engine, [both], "cur-legacy", data_dir=data_dir, imported_at=datetime(2026, 12, 2))
    november = _bill(tmp_path, "nov-only.csv", NOVEMBER[:1])
    import_bill(store_engine, [november], "cur-legacy", data_dir=data_dir, imported_at=datetime(2026, 12, 3))
    again = import_bill(
        store_engine, [both], "cur-legacy", data_dir=data_dir, imported_at=datetime(2026, 12, 4)
    )
    by_month = {m.billing_period.month: m for m in again.months}
    assert (by_month[10].status, by_month[11].status) == ("unchanged", "imported")
    assert by_month[11].billed_usd == pytest.approx(2.304 + 0.064 + 0.25)


def test_two_deliveries_of_one_month_given_together_are_refused_not_added_up(
    store_engine: Engine, tmp_path: Path
) -> None:
    """A glob over an export folder picks up the first delivery of November and its restatement
    (the same charges, the instance-hour restated at another cost): added up, November would read
    twice its cost. Parts of one delivery (no charge in both) still add up."""
    data_dir = tmp_path / "bill"
    first = _bill(tmp_path, "20261101-20261201-a1/nov-00001.csv", NOVEMBER)
    restated = _bill(
        tmp_path,
        "20261101-20261201-b2/nov-00001.csv",
        [NOVEMBER[0].replace(",2.304", ",2.296"), *NOVEMBER[1:]],
    )
    with pytest.raises(
        InputError,
        match=r"^2026-11: 3 of the 3 line items of .*a1/nov-00001.csv are also in .*b2/nov-00001.csv .*"
        r"give only the newest delivery of each month$",
    ):
        import_bill(
            store_engine,
            [first, restated],
            "cur-legacy",
            data_dir=data_dir,
            imported_at=datetime(2026, 12, 2),
        )
    assert not (data_dir / "2026-11").exists()
    with store_engine.connect() as conn:
        assert conn.execute(select(bill_months)).fetchall() == []
    other_hour = "Usage,2026-11-17T00:00:00Z,AmazonEC2,USE1-BoxUsage:m5.large,i-od1,24,2.304"
    # The parts of one delivery, and a part that repeats one charge of another (a pricing tier of
    # the same hour), add up.
    part_1 = _bill(tmp_path, "part-1.csv", [*NOVEMBER[:2], other_hour.replace("17T", "18T")])
    part_2 = _bill(tmp_path, "part-2.csv", [NOVEMBER[0].replace(",2.304", ",0.5"), NOVEMBER[2], other_hour])
    result = import_bill(
        store_engine, [part_1, part_2], "cur-legacy", data_dir=data_dir, imported_at=datetime(2026, 12, 3)
    )
    assert result.months[0].billed_usd == pytest.approx(2.304 + 0.064 + 2.304 + 0.5 + 0.25 + 2.304)


def test_a_stale_persisted_model_is_not_set_beside_fresh_breakdowns(
    store_engine: Engine, tmp_path: Path
) -> None:
    """Data collected after the last `analyze` (an instance ran 10 h longer): reconcile's modelled
    total came from the stale persisted aggregate while its per-day rows were computed afresh, so
    the total and the sum of its rows disagreed. One rule (`stored.persisted_is_current`) now says the
    aggregate is stale, and the total is the attribution the rows are made of."""
    from sqlalchemy import update

    from optimizer.store.schema import collector_runs, instances

    seed_estate(store_engine, with_changes=False)
    bill = _bill(tmp_path, "nov.csv", NOVEMBER)
    import_bill(
        store_engine, [bill], "cur-legacy", data_dir=tmp_path / "bill", imported_at=datetime(2026, 12, 2)
    )
    window = {"since": datetime(2026, 11, 1), "until": datetime(2026, 12, 1)}
    run_analysis(store_engine, computed_at=datetime(2026, 12, 2), **window)
    before = reconcile(store_engine, "2026-11")
    assert before["modelled_source"] == "analysis"
    with store_engine.begin() as conn:
        [(instance_id, launch)] = conn.execute(
            select(instances.c.instance_id, instances.c.launch_time)
            .where(
                instances.c.launch_time >= datetime(2026, 11, 2),
                instances.c.launch_time < datetime(2026, 11, 16),
            )
            .order_by(instances.c.launch_time)
            .limit(1)
        ).all()
        conn.execute(
            update(instances)
            .where(instances.c.instance_id == instance_id)
            .values(launch_time=launch - timedelta(hours=10), first_seen=launch - timedelta(hours=10))
        )
        conn.execute(
            collector_runs.insert().values(
                target="default",
                source="instances",
                started_at=datetime(2026, 12, 3),
                finished_at=datetime(2026, 12, 3, 0, 5),
                status="succeeded",
            )
        )
    after = reconcile(store_engine, "2026-11")
    assert after["modelled_source"] == "computed"
    rows = sum(r["modelled_usd"] for r in after["breakdowns"]["by_day"])
    assert after["modelled_usd"] == pytest.approx(rows, abs=0.01)
    assert after["modelled_usd"] > before["modelled_usd"] + 0.5  # the 10 more hours count


def test_a_stray_row_of_a_stored_month_in_another_months_file_is_refused(
    store_engine: Engine, tmp_path: Path
) -> None:
    """November's file carrying one line item of October would replace the whole stored October
    (its own file's line items) with that one, since a month is replaced whole."""
    data_dir = tmp_path / "bill"
    october = tmp_path / "oct.csv"
    october.write_text(
        HEADER
        + "".join(
            f"2026-10-01T00:00:00Z,123456789012,Usage,2026-10-{day:02d}T00:00:00Z,AmazonEC2,"
            f"USE1-BoxUsage:m5.large,i-oct,24,2.304\n"
            for day in range(10, 13)
        )
    )
    import_bill(store_engine, [october], "cur-legacy", data_dir=data_dir, imported_at=datetime(2026, 11, 2))
    stray = _two_months(tmp_path, "nov.csv")  # November's 3 line items and 1 of October
    with pytest.raises(
        InputError,
        match=r"nov.csv: 1 line item of billing month 2026-10, which is stored with 3 line items from other"
        r" files, in a file of 2026-11: .* give 2026-10's own files with it, or drop the stray rows$",
    ):
        import_bill(store_engine, [stray], "cur-legacy", data_dir=data_dir, imported_at=datetime(2026, 12, 2))
    with store_engine.connect() as conn:
        months = conn.execute(select(bill_months)).mappings().all()
    assert [(m["billing_period"].month, m["line_items"]) for m in months] == [(10, 3)]
    # Given with October's own file, the month is replaced by both files' line items.
    result = import_bill(
        store_engine, [october, stray], "cur-legacy", data_dir=data_dir, imported_at=datetime(2026, 12, 2)
    )
    assert {m.billing_period.month: m.line_items for m in result.months} == {10: 4, 11: 3}


def test_a_file_of_several_months_holding_a_stored_month_in_full_replaces_it(
    store_engine: Engine, tmp_path: Path
) -> None:
    # October is the minority of the file, but it brings as many line items as are stored: a
    # restatement delivered beside the next month, not a stray row.
    data_dir = tmp_path / "bill"
    october = tmp_path / "oct.csv"
    october.write_text(
        HEADER + "2026-10-01T00:00:00Z,123456789012,Usage,2026-10-20T00:00:00Z,AmazonEC2,"
        "USE1-BoxUsage:m5.large,i-oct,24,2.304\n"
    )
    import_bill(store_engine, [october], "cur-legacy", data_dir=data_dir, imported_at=datetime(2026, 11, 2))
    both = _two_months(tmp_path, "oct-nov.csv", extra_cost=1.0)
    result = import_bill(
        store_engine, [both], "cur-legacy", data_dir=data_dir, imported_at=datetime(2026, 12, 2)
    )
    by_month = {m.billing_period.month: m for m in result.months}
    assert by_month[10].status == "imported" and by_month[10].billed_usd == pytest.approx(3.304)
