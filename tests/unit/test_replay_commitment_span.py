"""Two replays compared under a commitment pay its fee over the same hours (`results.over_common_span`).

A configuration with less capacity drains the same history later; charged only to its own end, its
replay would pay the Savings Plan for hours the other replay is not charged, and the comparison would
bias against it by the fee times the difference (the demo's GPU what-if: 811 against 720 hours).
"""

from __future__ import annotations

import copy
from dataclasses import replace

import pytest

from optimizer.recommend.savings import DAYS_PER_MONTH, ReplayBaseline
from optimizer.solver.problem import Commitment
from tests.recommend_helpers import inputs_for, standard_estate


@pytest.fixture(scope="module")
def committed() -> ReplayBaseline:
    baseline = inputs_for(standard_estate()).baseline
    rates = {name: spec.ondemand_price * 0.7 for name, spec in baseline.catalog.types.items()}
    sp = Commitment("sp", "COMPUTE_SAVINGS_PLAN", usd_per_hour=0.5, rates=rates)
    return replace(baseline, commitments=(sp,))


def _slower(baseline: ReplayBaseline) -> dict:
    """The current configuration with the `sim` queue's environment down to one c5.2xlarge (8 vCPUs):
    its 12 GiB jobs then run one at a time and the history drains later."""
    document = copy.deepcopy(baseline.current_document)
    for env in document["computeEnvironments"]:
        if env["computeEnvironmentName"] == "sim-ce":
            env["computeResources"]["maxvCpus"] = 8
    return document


def test_both_replays_pay_the_fee_over_the_longer_replay_s_hours(committed: ReplayBaseline) -> None:
    fee = committed.commitments[0].fee_per_hour
    own_current = committed.current().summary
    own_slower = committed.replay(_slower(committed)).summary
    hours = own_slower["commitment_hours"]
    assert hours > own_current["commitment_hours"] + 1  # the slower fleet ends later

    comparison = committed.compare(_slower(committed))
    assert comparison is not None
    current, slower = comparison.current, comparison.proposed
    assert current["commitment_hours"] == slower["commitment_hours"] == hours
    assert current["commitment_usd"] == pytest.approx(fee * hours)
    assert slower["commitment_usd"] == pytest.approx(fee * hours)
    # The shorter replay runs nothing in the extra hours: the same coverage, the fee for them added.
    assert current["commitment_covered_usd"] == pytest.approx(own_current["commitment_covered_usd"])
    extra = fee * (hours - own_current["commitment_hours"])
    assert current["total_cost_usd"] == pytest.approx(own_current["total_cost_usd"] + extra)
    assert slower["total_cost_usd"] == pytest.approx(own_slower["total_cost_usd"])
    used = own_current["commitments"][0]["utilization"] * own_current["commitment_hours"]
    assert current["commitments"][0]["utilization"] == pytest.approx(used / hours, abs=1e-6)
    # The monthly figure is the difference of those totals, not of the replays' own.
    expected = (current["total_cost_usd"] - slower["total_cost_usd"]) * DAYS_PER_MONTH / committed.window_days
    assert comparison.monthly_savings_usd == pytest.approx(expected)


def test_without_commitments_the_summaries_are_the_replays_own(committed: ReplayBaseline) -> None:
    plain = replace(committed, commitments=())
    comparison = plain.compare(_slower(plain))
    assert comparison is not None
    assert comparison.current == plain.current().summary
    assert "commitment_usd" not in comparison.current
