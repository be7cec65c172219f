"""Commitment advice: the expected-cost-minimising Compute Savings Plan from the demand forecast."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from optimizer.dashboard.diff import MISSING, field_changes
from optimizer.domain import UpdateKind
from optimizer.fleet.commitments import CommitmentsInForce
from optimizer.recommend.commitment_sizing import SCENARIO_WEIGHTS, hourly_cost, size_compute_savings_plan
from optimizer.recommend.strategies import CommitmentAdviceSettings, CommitmentAdviceStrategy
from optimizer.solver.problem import Commitment
from tests.recommend_helpers import inputs_for, standard_estate

HOURS = 168
DAILY = 10.0 + 5.0 * np.sin(np.arange(HOURS) / 24.0 * 2.0 * np.pi)


def _scenarios(scale: float = 1.0) -> dict[str, np.ndarray]:
    return {"p10": DAILY * 0.7 * scale, "p50": DAILY * scale, "p90": DAILY * 1.3 * scale}


def _expected(scenarios: dict[str, np.ndarray], c: float, d: float, existing: float = 0.0) -> float:
    return sum(
        w * float(hourly_cost(scenarios[n], c, d, existing).sum()) for n, w in SCENARIO_WEIGHTS.items()
    )


@pytest.mark.parametrize(("discount", "existing"), [(0.28, 0.0), (0.5, 0.0), (0.28, 3.0), (0.1, 20.0)])
def test_the_sizing_minimises_expected_cost(discount: float, existing: float) -> None:
    scenarios = _scenarios()
    sizing = size_compute_savings_plan(scenarios, discount=discount, existing_usd_per_hour=existing)
    grid = np.linspace(0.0, 25.0, 2501)
    best = min(_expected(scenarios, c, discount, existing) for c in grid)
    assert sizing.expected_cost_usd == pytest.approx(
        _expected(scenarios, sizing.usd_per_hour, discount, existing)
    )
    assert sizing.expected_cost_usd <= best + 1e-9
    assert sizing.break_even_utilization == pytest.approx(1 - discount)
    if existing >= 20.0:  # the plans in force already cover more than demand ever needs
        assert sizing.usd_per_hour == 0.0


def test_utilization_and_stranded_commitment_per_scenario() -> None:
    sizing = size_compute_savings_plan(_scenarios(), discount=0.28)
    c = sizing.usd_per_hour
    need = 0.72 * DAILY * 0.7
    used = np.minimum(need, c).sum()
    assert sizing.utilization["p10"] == pytest.approx(used / (c * HOURS))
    assert sizing.stranded_usd["p10"] == pytest.approx(c * HOURS - used)
    assert sizing.utilization["p10"] < sizing.utilization["p50"] < sizing.utilization["p90"]
    # Above break-even in expectation: the plan pays for itself.
    expected_use = sum(w * sizing.utilization[n] for n, w in SCENARIO_WEIGHTS.items())
    assert expected_use > sizing.break_even_utilization


TOTAL = "compute_savings_plans_usd_per_hour"


def _inputs(with_plan: bool) -> Any:
    inputs = inputs_for(standard_estate())
    hours = pd.date_range("2026-09-01", periods=HOURS, freq="h")
    inputs.demand_forecast = pd.DataFrame({"hour": hours, "p50": DAILY * 4, "p90": DAILY * 5})
    if with_plan:
        rates = {name: spec.ondemand_price * 0.66 for name, spec in inputs.baseline.catalog.types.items()}
        sp = Commitment("sp-bill", "COMPUTE_SAVINGS_PLAN", usd_per_hour=0.5, rates=rates)
        inputs.commitments = CommitmentsInForce((sp,), ("sp-bill: bill, $0.5/h, rates = on-demand x 0.660",))
    return inputs


def test_advice_uses_the_bill_rates_and_is_never_applicable() -> None:
    [rec] = CommitmentAdviceStrategy().run(_inputs(with_plan=True))
    assert rec.strategy == "commitment-advice"
    assert rec.update_kind == UpdateKind.ADVICE and not rec.applicable
    evidence = rec.evidence
    assert evidence["discount"] == pytest.approx(0.34)
    assert evidence["rates_source"].startswith("plan in force sp-bill: bill")
    assert evidence["existing_compute_savings_plans_usd_per_hour"] == 0.5
    assert rec.proposed["new_commitment_usd_per_hour"] > 0
    # The plan in force stays: the dashboard's change table once read "$/h of Compute Savings Plans:
    # 4.46 -> (not set)", as if the purchase cancelled it. It reads the total after the purchase.
    [total] = [c for c in field_changes(rec.current, rec.proposed) if c.field == TOTAL]
    assert total.current == "0.5" and total.proposed != MISSING
    assert rec.proposed[TOTAL] == pytest.approx(0.5 + rec.proposed["new_commitment_usd_per_hour"])
    assert evidence["break_even_utilization"] == pytest.approx(0.66)
    assert set(evidence["utilization"]) == {"p10", "p50", "p90"}
    assert "p10" in rec.risk["stranded_commitment"]
    assert rec.monthly_savings_usd == pytest.approx(
        evidence["expected_monthly_cost_without_usd"] - evidence["expected_monthly_cost_usd"], abs=0.02
    )


@pytest.mark.parametrize(("discount", "existing"), [(0.28, 0.0), (0.5, 0.0), (0.28, 3.0)])
def test_the_near_best_range_holds_the_commitments_within_two_percent_of_the_best_saving(
    discount: float, existing: float
) -> None:
    # The expected cost is flat near its minimum: the range is what a grid finds within 2 % of the
    # best saving, with the advised commitment inside it.
    scenarios = _scenarios()
    sizing = size_compute_savings_plan(scenarios, discount=discount, existing_usd_per_hour=existing)
    without = _expected(scenarios, 0.0, discount, existing)
    best = _expected(scenarios, sizing.usd_per_hour, discount, existing)
    grid = np.linspace(0.0, 30.0, 30001)
    near = [c for c in grid if _expected(scenarios, c, discount, existing) <= best + 0.02 * (without - best)]
    low, high = sizing.near_best
    assert low < sizing.usd_per_hour < high
    assert low == pytest.approx(min(near), abs=2e-3) and high == pytest.approx(max(near), abs=2e-3)
    need = np.maximum(0.0, (1 - discount) * scenarios["p10"] - existing)
    unused = low * HOURS - np.minimum(need, low).sum()
    assert sizing.near_best_low_stranded_p10_usd == pytest.approx(unused)
    assert sizing.near_best_low_stranded_p10_usd < sizing.stranded_usd["p10"]


def test_the_advice_states_the_near_best_range() -> None:
    [rec] = CommitmentAdviceStrategy().run(_inputs(with_plan=True))
    low, high = rec.evidence["near_best_usd_per_hour"]
    assert low < rec.proposed["new_commitment_usd_per_hour"] < high
    assert rec.risk["near_best"].startswith(
        f"${low:,.2f}-{high:,.2f}/h save at least 98% as much; ${low:,.2f}/h leaves $"
    )
    assert (
        rec.evidence["near_best_low_stranded_monthly_usd_p10"] < rec.evidence["stranded_monthly_usd"]["p10"]
    )


def test_no_saving_means_no_range() -> None:
    # The plans in force already cover more than demand ever needs: nothing to commit, no range.
    sizing = size_compute_savings_plan(_scenarios(), discount=0.28, existing_usd_per_hour=20.0)
    assert sizing.usd_per_hour == 0.0 and sizing.near_best == (0.0, 0.0)


def test_no_advice_without_a_known_discount_or_forecast() -> None:
    assert CommitmentAdviceStrategy().run(_inputs(with_plan=False)) == []
    recs = CommitmentAdviceStrategy(CommitmentAdviceSettings(discount=0.28)).run(_inputs(with_plan=False))
    assert len(recs) == 1 and recs[0].evidence["rates_source"].startswith("the commitment-advice strategy's")
    no_forecast = _inputs(with_plan=True)
    no_forecast.demand_forecast = None
    assert CommitmentAdviceStrategy().run(no_forecast) == []


def test_a_fully_used_plan_strands_exactly_nothing() -> None:
    # Demand always above the plan: every hour uses all of it, so nothing is stranded; summing 168
    # hours of 0.1-ish floats once left -1e-12, which the evidence showed as "-0.0".
    from optimizer.recommend.commitment_sizing import size_compute_savings_plan

    steady = np.full(168, 10.0)
    sizing = size_compute_savings_plan(
        {"p10": steady, "p50": steady * 1.1, "p90": steady * 1.3}, discount=0.28
    )
    assert sizing.usd_per_hour > 0
    assert all(v == 0.0 and not np.signbit(v) for v in sizing.stranded_usd.values())


def _replayed(rec_id: str, saving: float, on_demand_now: float, on_demand_proposed: float) -> Any:
    """A counted recommendation whose replay moves `on_demand_now` -> `on_demand_proposed` USD."""
    from dataclasses import replace

    from optimizer.recommend.base import make_recommendation

    rec = make_recommendation(
        strategy="spot-adoption",
        target_arn=f"arn:aws:batch:us-east-1:1:job-queue/{rec_id}",
        target_kind="job-queue",
        target_name=rec_id,
        title=rec_id,
        current={},
        proposed={},
        monthly_savings_usd=saving,
        risk={},
        risk_scores={},
        confidence=0.8,
        effort="low",
        update_kind=UpdateKind.SCALING,
        evidence={
            "replay": {
                "current_summary": {"cost_by_capacity_type": {"ON_DEMAND": on_demand_now}},
                "proposed_summary": {"cost_by_capacity_type": {"ON_DEMAND": on_demand_proposed}},
            }
        },
        account_id="1",
        region="us-east-1",
    )
    return replace(rec, id=rec_id)


def test_on_demand_change_sums_the_counted_recommendations_only() -> None:
    from optimizer.recommend.commitment_basis import on_demand_change
    from optimizer.recommend.headline import counted_ids

    spot = _replayed("q-spot", 300.0, 1000.0, 400.0)
    cheaper = _replayed("q-types", 100.0, 1000.0, 900.0)
    same_queue = replace_target(_replayed("q-spot-2", 50.0, 1000.0, 100.0), spot)  # overlaps q-spot
    recs = [spot, cheaper, same_queue]
    assert counted_ids(recs) == {"q-spot", "q-types"}  # the headline counts the overlap once
    change = on_demand_change(recs, counted_ids(recs))
    assert change.ids == ("q-spot", "q-types")
    assert change.usd == pytest.approx(-700.0)
    assert on_demand_change(recs, set()).today


def replace_target(rec: Any, like: Any) -> Any:
    from dataclasses import replace

    return replace(rec, target_arn=like.target_arn)


def test_advice_is_resized_on_the_on_demand_usage_the_other_recommendations_leave() -> None:
    """A spot move that takes half of the replay's on-demand cost away leaves half the usage for a
    Savings Plan: sized on today's usage the plan would be about twice too large."""
    from optimizer.recommend.commitment_basis import OnDemandChange

    inputs = _inputs(with_plan=True)
    strategy = CommitmentAdviceStrategy()
    [today] = strategy.run(inputs)
    on_demand = float(inputs.baseline.current().summary["cost_by_capacity_type"]["ON_DEMAND"])
    [after] = strategy.run_after(inputs, OnDemandChange(-on_demand / 2, ("q-spot",)))
    assert today.evidence["sized_on"].startswith("today's on-demand usage")
    assert today.evidence["sized_after_recommendations"] == []
    assert after.evidence["on_demand_usd_per_vcpu_hour"] == pytest.approx(
        today.evidence["on_demand_usd_per_vcpu_hour"] / 2, rel=1e-4
    )
    assert after.proposed["new_commitment_usd_per_hour"] < today.proposed["new_commitment_usd_per_hour"]
    assert after.monthly_savings_usd < today.monthly_savings_usd
    assert after.evidence["sized_after_recommendations"] == ["q-spot"]
    sized_on = after.evidence["sized_on"]
    assert "after the 1 recommendation(s) of those the headline counts that change it (q-spot)" in sized_on
    today_figure = f"${today.proposed['new_commitment_usd_per_hour']:,.2f}/h"
    assert f"On today's usage it would be {today_figure}" in after.evidence["sized_on"]
