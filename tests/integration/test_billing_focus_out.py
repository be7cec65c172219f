"""`batchopt report --focus-out`: the week's per-job cost as FOCUS 1.2 rows, on the report tests'
hand-made estate. The mandatory columns are checked against FOCUS 1.2's own list (shared/data
schema), and the rows add up to the report's figures."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from optimizer.cli.main import main
from optimizer.store.engine import create_store_engine
from tests.data_paths import shared
from tests.report_helpers import seed_estate

TOTAL_USD = 8.54  # report_helpers' hand sum for 2026-W47
IDLE_USD = 0.96  # i-idle, the only capacity no job used


def _mandatory() -> set[str]:
    columns = pd.read_csv(shared("billing/schema/focus_1_2_aws_columns.csv"))
    return set(columns.loc[columns["focus_1_2_feature_level"] == "Mandatory", "column"])


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    db = tmp_path / "store.db"
    monkeypatch.setenv("BATCHOPT_DATABASE_URL", f"sqlite:///{db}")
    assert main(["db", "upgrade"]) == 0
    engine = create_store_engine(f"sqlite:///{db}")
    seed_estate(engine)
    engine.dispose()
    return tmp_path


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_focus_rows_carry_the_mandatory_columns_and_the_reports_total(
    store: Path, suffix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = store / f"w47{suffix}"
    argv = ["report", "--week", "2026-W47", "--out", str(store / "r"), "--focus-out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "2026-W47: $8.54" in printed and "FOCUS 1.2 rows" in printed
    rows = pd.read_csv(out) if suffix == ".csv" else pd.read_parquet(out)
    missing = _mandatory() - set(rows.columns)
    assert not missing
    for column in ("BilledCost", "EffectiveCost", "ListCost", "ContractedCost", "PricingQuantity"):
        assert rows[column].notna().all(), column
    for column in ("ChargeCategory", "ProviderName", "ServiceName", "BillingCurrency", "ChargePeriodStart"):
        assert rows[column].notna().all(), column
    assert rows["BilledCost"].sum() == pytest.approx(TOTAL_USD, abs=0.005)
    jobs = rows[rows["x_BatchJobId"].notna()]
    assert jobs["BilledCost"].sum() == pytest.approx(TOTAL_USD - IDLE_USD, abs=0.005)
    # one row per job and day; the Batch fields ride in x_ columns
    assert sorted(jobs["x_BatchJobId"]) == ["j1", "j2", "j3", "j4", "j7"]
    j3 = jobs.set_index("x_BatchJobId").loc["j3"]
    assert j3["x_BatchQueue"] == "q-spot" and j3["x_BatchJobDefinition"] == "render"
    assert j3["PricingCategory"] == "Dynamic" and j3["BilledCost"] == pytest.approx(1.68)
    assert str(j3["ChargePeriodStart"]).startswith("2026-11-19")
    idle = rows[rows["x_BatchJobId"].isna()]
    assert list(idle["x_InstanceId"]) == ["i-idle"]


def test_a_bad_focus_suffix_is_refused_before_anything_is_written(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["report", "--week", "2026-W47", "--out", str(store / "r"), "--focus-out", str(store / "w.json")]
    assert main(argv) == 2
    assert "--focus-out" in capsys.readouterr().err
    assert not (store / "r").exists() and not (store / "w.json").exists()
