"""Per-job billed cost without split rows: the instance-day's bill shared by the model's own
attribution (tests/analysis_helpers estate), idle spread over the attempts like AWS's unused cost."""

from __future__ import annotations

import pandas as pd
import pytest

from optimizer.analysis.cost import attribute_costs
from optimizer.billing.jobs import attributed_costs
from tests import analysis_helpers as h

DAY = pd.Timestamp("2026-11-02")


@pytest.fixture(scope="module")
def attribution():
    return attribute_costs(
        h.instances(), h.attempts(), h.jobs(), h.instance_types(), h.ondemand(), h.spot_prices()
    )


def _bill(*rows: tuple[str, float, float]) -> pd.DataFrame:
    return pd.DataFrame(
        [{"instance_id": i, "day": DAY, "billed_usd": b, "effective_usd": e} for i, b, e in rows]
    )


def test_the_instance_days_bill_is_shared_by_the_attributions_costs(attribution) -> None:
    got = attributed_costs(
        attribution, _bill(("i-od", 0.5, 0.3)), pd.DataFrame(columns=["instance_id", "day"]), pd.DataFrame()
    ).set_index("job_id")
    att = attribution.attempts.set_index("job_id")
    inst = attribution.instances.set_index("instance_id")
    on_od = att[att["instance_id"] == "i-od"]["cost_usd"]  # j-a 0.096, j-b 0.048 of 0.192 (idle 0.048)
    for job in ("j-a", "j-b"):
        share = on_od[job] / on_od.sum()
        assert got.at[job, "billed_usd"] == pytest.approx(0.5 * share)
        assert got.at[job, "effective_usd"] == pytest.approx(0.3 * share)
        idle = inst.at["i-od", "idle_usd"] / inst.at["i-od", "total_usd"]
        assert got.at[job, "unused_usd"] == pytest.approx(0.3 * idle * share)
    assert got["billed_usd"].sum() == pytest.approx(0.5)  # nothing of the bill is lost or doubled
    assert set(got.index) == {"j-a", "j-b"}  # no bill for the other instances: no figure


def test_days_covered_by_split_rows_and_split_attempts_are_left_out(attribution) -> None:
    bill = _bill(("i-od", 0.5, 0.3), ("i-spot", 0.2, 0.2))
    skip_days = pd.DataFrame({"instance_id": ["i-spot"], "day": [DAY]})
    skip_attempts = pd.DataFrame({"job_id": ["j-b"], "attempt": [0]})
    got = attributed_costs(attribution, bill, skip_days, skip_attempts)
    assert list(got["job_id"]) == ["j-a"]
    att = attribution.attempts.set_index("job_id")
    on_od = att[att["instance_id"] == "i-od"]["cost_usd"]
    assert got["billed_usd"].iloc[0] == pytest.approx(0.5 * on_od["j-a"] / on_od.sum())
