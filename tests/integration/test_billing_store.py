"""The bill in the store: the modelled cost beside it is the model's one figure, and a failed import
leaves the store and the month's Parquet file as they were (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from optimizer.analysis.stored import read_cost_daily, run_analysis
from optimizer.billing import intake
from optimizer.billing.intake import import_bill
from optimizer.billing.reconcile import reconcile
from optimizer.store.tables.billing import bill_daily, bill_months
from tests.report_helpers import seed_estate

HEADER = (
    "bill/BillingPeriodStartDate,lineItem/UsageAccountId,lineItem/LineItemType,lineItem/UsageStartDate,"
    "lineItem/ProductCode,lineItem/UsageType,lineItem/ResourceId,lineItem/UsageAmount,lineItem/UnblendedCost\n"
)


def _bill(tmp_path: Path, name: str, rows: list[str]) -> Path:
    """A small hand-made legacy CUR CSV for November 2026 (the month of tests/report_helpers' estate)."""
    path = tmp_path / name
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
    total = read_cost_daily(
        store_engine, (), period=None, since=datetime(2026, 11, 1), until=datetime(2026, 12, 1)
    )
    assert persisted["modelled_usd"] == pytest.approx(float(total["total_usd"].iloc[0]), abs=1e-6)
    assert computed["modelled_usd"] == pytest.approx(persisted["modelled_usd"], abs=1e-6)
    assert persisted["modelled_usd"] > 10  # the estate's eight instances, about $12
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
