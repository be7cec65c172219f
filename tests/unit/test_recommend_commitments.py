"""A spot move that strands a Savings Plan is priced as such: the replays charge the fee and cover usage."""

from __future__ import annotations

from typing import Any

import pytest

from optimizer.recommend.strategies import SpotAdoptionStrategy
from optimizer.solver.problem import Commitment
from tests.recommend_helpers import inputs_for, standard_estate


def _spot_rec(inputs: Any) -> Any:
    return {r.target_name: r for r in SpotAdoptionStrategy().run(inputs)}.get("sim")


@pytest.fixture(scope="module")
def estate() -> dict[str, Any]:
    return standard_estate()


def _with_plan(estate: dict[str, Any], share_of_on_demand: float) -> Any:
    """Inputs with a Compute Savings Plan at 70 % of on-demand, sized to a share of today's on-demand
    spend per hour."""
    inputs = inputs_for(estate)
    current = inputs.baseline.current().summary
    hours = current["makespan_s"] / 3600.0
    rates = {name: spec.ondemand_price * 0.7 for name, spec in inputs.baseline.catalog.types.items()}
    usd_per_hour = share_of_on_demand * current["cost_by_capacity_type"]["ON_DEMAND"] / hours
    fresh = inputs_for(estate)
    fresh.baseline.commitments = (
        Commitment("sp", "COMPUTE_SAVINGS_PLAN", usd_per_hour=usd_per_hour, rates=rates),
    )
    return fresh


def test_spot_adoption_saves_less_when_it_strands_a_savings_plan(estate: dict[str, Any]) -> None:
    before = _spot_rec(inputs_for(estate))
    assert before is not None and before.monthly_savings_usd > 0
    after = _spot_rec(_with_plan(estate, 0.4))
    assert after is not None
    evidence = after.evidence["replay"]
    assert evidence["commitments"][0]["id"] == "sp"
    used_now = evidence["current_summary"]["commitments"][0]["utilization"]
    used_then = evidence["proposed_summary"]["commitments"][0]["utilization"]
    assert used_then < used_now  # the work moved to spot leaves part of the plan idle
    assert 0 < after.monthly_savings_usd < before.monthly_savings_usd
    fee = evidence["proposed_summary"]["commitment_usd"]
    assert evidence["current_summary"]["commitment_usd"] == pytest.approx(fee, rel=0.05)  # same hours


def test_no_spot_advice_when_the_plan_would_be_stranded(estate: dict[str, Any]) -> None:
    committed = _with_plan(estate, 0.55)
    assert committed.baseline.current().summary["commitments"][0]["utilization"] > 0.95
    assert _spot_rec(committed) is None
