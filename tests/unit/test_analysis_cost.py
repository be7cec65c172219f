"""Cost attribution: hand-checked prices and shares, flagged fallbacks, and books that balance."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optimizer.analysis.cost import CostWeights, attribute_costs
from optimizer.analysis.rollup import cost_by, cost_by_tag, daily_aggregate, waste_by
from tests import analysis_helpers as h

pytestmark = pytest.mark.any_date  # dates are fixed and "now" is injected: the same on any date


@pytest.fixture(scope="module")
def result():
    return attribute_costs(
        h.instances(), h.attempts(), h.jobs(), h.instance_types(), h.ondemand(), h.spot_prices()
    )


def test_instance_costs_use_latest_on_demand_and_the_spot_step_function(result) -> None:
    inst = result.instances.set_index("instance_id")
    assert inst.loc["i-od", "total_usd"] == pytest.approx(2 * 0.096)  # the 2025 price 0.5 is stale
    assert inst.loc["i-od", "price_source"] == "on-demand"
    # us-east-1a series: 0.04 until hour 1, then 0.08
    assert inst.loc["i-spot", "total_usd"] == pytest.approx(0.04 + 0.08)
    assert inst.loc["i-spot", "price_source"] == "spot-series"
    # no series in us-east-1c: the latest price of the type in the region (0.08), flagged
    assert inst.loc["i-nospot", "price_source"] == "spot-latest-region"
    assert inst.loc["i-nospot", "total_usd"] == pytest.approx(0.08)


def test_attempt_shares_follow_the_stated_weights(result) -> None:
    att = result.attempts.set_index(["job_id", "attempt"])
    # 1 of 2 vCPUs and 4000 of 8000 MiB: half the m5.large, for 2 of its 2 hours
    assert att.loc[("j-a", 0), "share"] == pytest.approx(0.5)
    assert att.loc[("j-a", 0), "cost_usd"] == pytest.approx(0.096)
    # the reclaimed spot attempt ran half an hour at 0.04 with share (4/4 + 8000/16000) / 2
    assert att.loc[("j-c", 0), "outcome"] == "spot_reclaim"
    assert att.loc[("j-c", 0), "cost_usd"] == pytest.approx(0.75 * 0.5 * 0.04)
    # GPU instance: (4/8 + 30000/60000 + 8 * 1/1) / 10
    assert att.loc[("j-gpu", 0), "share"] == pytest.approx(0.9)
    # over-requested: used 0.5 of 1 vCPU and 1000 of 4000 MiB
    expected = 0.096 * ((0.5 - 0.25) + (0.5 - 0.125)) / 2 / 0.5
    assert att.loc[("j-a", 0), "over_requested_usd"] == pytest.approx(expected)
    assert att.loc[("j-b", 0), "over_requested_usd"] == 0.0  # usage unknown: no claim


def test_costs_spanning_midnight_are_split_by_day(result) -> None:
    gpu = result.lines[result.lines["instance_id"] == "i-gpu"]
    by_day = gpu.groupby("day")["total_usd"].sum()
    assert by_day.to_dict() == pytest.approx(
        {pd.Timestamp("2026-11-02"): 2 * 3.06, pd.Timestamp("2026-11-03"): 2 * 3.06}
    )


def test_rollups_keep_the_total_and_classify_waste(result) -> None:
    total = result.instances["total_usd"].sum()
    for dims in (["queue"], ["compute_environment_arn"], ["job_definition_name"], ["instance_type"]):
        assert cost_by(result.lines, dims, period="week")["total_usd"].sum() == pytest.approx(total)
    assert cost_by_tag(result, "team")["total_usd"].sum() == pytest.approx(total)
    waste = waste_by(result.lines, ["queue"]).set_index("queue")
    assert waste.loc["q-spot", "spot_reclaim_usd"] == pytest.approx(0.015)
    assert waste.loc["q-spot", "failed_usd"] == pytest.approx(0.04)
    assert waste.loc["(idle)", "idle_usd"] == pytest.approx(result.instances["idle_usd"].sum())
    daily = daily_aggregate(result.lines)
    assert daily["total_usd"].sum() == pytest.approx(total)
    assert daily.loc[daily["queue"] == "q-main", "attempts"].sum() == 2


def test_unknown_dimension_is_a_clear_error(result) -> None:
    with pytest.raises(ValueError, match="unknown dimension"):
        cost_by(result.lines, ["team"])


def test_oversubscribed_instance_is_scaled_to_its_cost() -> None:
    attempts = h.attempts()
    extra = attempts.iloc[[0, 0, 0]].copy()
    extra["job_id"] = ["j-a", "j-a", "j-a"]
    extra["attempt"] = [5, 6, 7]
    result = attribute_costs(
        h.instances(),
        pd.concat([attempts, extra]),
        h.jobs(),
        h.instance_types(),
        h.ondemand(),
        h.spot_prices(),
    )
    inst = result.instances.set_index("instance_id").loc["i-od"]
    assert bool(inst["oversubscribed"])
    assert inst["attributed_usd"] == pytest.approx(inst["total_usd"])
    assert inst["idle_usd"] == pytest.approx(0.0, abs=1e-12)


def test_attempts_on_unknown_instances_are_kept_but_not_priced() -> None:
    attempts = h.attempts()
    attempts.loc[0, "instance_id"] = "i-gone"
    result = attribute_costs(
        h.instances(), attempts, h.jobs(), h.instance_types(), h.ondemand(), h.spot_prices()
    )
    row = result.attempts.iloc[0]
    assert not row["on_known_instance"] and row["cost_usd"] == 0.0


@st.composite
def estates(draw: st.DrawFn) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    n_inst = draw(st.integers(1, 5))
    types = ["m5.large", "m5.xlarge", "p3.2xlarge", "x9.unknown"]
    rows, att_rows, job_rows = [], [], []
    for i in range(n_inst):
        start = draw(st.floats(0, 60))
        life = draw(st.floats(0, 50))
        rows.append(
            {
                "instance_id": f"i-{i}",
                "region": "us-east-1",
                "availability_zone": draw(st.sampled_from(["us-east-1a", "us-east-1b", "us-east-1d"])),
                "instance_type": draw(st.sampled_from(types)),
                "capacity_type": draw(st.sampled_from(["SPOT", "ON_DEMAND"])),
                "launch_time": h.at(start),
                "first_seen": h.at(start),
                "last_seen": h.at(start + life),
                "terminated_at": h.at(start + life) if draw(st.booleans()) else pd.NaT,
                "compute_environment_arn": "ce",
            }
        )
        for k in range(draw(st.integers(0, 6))):
            job_id = f"j-{i}-{k}"
            a0 = draw(st.floats(start - 2, start + life + 2))
            stop = a0 + draw(st.floats(0, 30)) if draw(st.booleans()) else None
            att_rows.append(
                {
                    "job_id": job_id,
                    "attempt": 0,
                    "instance_id": f"i-{i}",
                    "started_at": h.at(a0),
                    "stopped_at": h.at(stop) if stop is not None else pd.NaT,
                    "exit_code": draw(st.sampled_from([0, 1, None])),
                    "is_spot_reclaim": draw(st.booleans()),
                    "is_oom": False,
                    "peak_vcpus": draw(st.one_of(st.none(), st.floats(0, 8))),
                    "peak_memory_mib": draw(st.one_of(st.none(), st.floats(0, 70000))),
                }
            )
            job_rows.append(
                {
                    "job_id": job_id,
                    "queue": "q",
                    "job_definition_name": "d",
                    "job_name": job_id,
                    "vcpus": draw(st.floats(0.25, 16)),
                    "memory_mib": draw(st.integers(128, 100_000)),
                    "gpus": draw(st.integers(0, 2)),
                }
            )
    att_cols = ["job_id", "attempt", "instance_id", "started_at", "stopped_at", "exit_code"]
    att_cols += ["is_spot_reclaim", "is_oom", "peak_vcpus", "peak_memory_mib"]
    job_cols = ["job_id", "queue", "job_definition_name", "job_name", "vcpus", "memory_mib", "gpus"]
    return (
        pd.DataFrame(rows),
        pd.DataFrame(att_rows, columns=att_cols),
        pd.DataFrame(job_rows, columns=job_cols),
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(estate=estates(), gpu_weight=st.floats(0, 20))
def test_books_balance_to_the_cent_for_every_instance(estate, gpu_weight: float) -> None:
    instances, attempts, jobs = estate
    result = attribute_costs(
        instances,
        attempts,
        jobs,
        h.instance_types(),
        h.ondemand(),
        h.spot_prices(),
        weights=CostWeights(gpu=gpu_weight),
    )
    inst = result.instances
    assert (inst["total_usd"] >= 0).all()
    assert (inst["idle_usd"] >= -1e-9).all()
    # to the cent (and in fact to floating-point precision), instance by instance
    assert np.allclose(inst["attributed_usd"] + inst["idle_usd"], inst["total_usd"], atol=1e-9, rtol=0)
    per_instance = result.lines.groupby("instance_id", observed=True)["total_usd"].sum()
    expected = inst.set_index("instance_id")["total_usd"]
    assert np.allclose(per_instance.reindex(expected.index, fill_value=0.0), expected, atol=1e-9)
    assert result.attempts["cost_usd"].sum() == pytest.approx(inst["attributed_usd"].sum(), abs=1e-9)
