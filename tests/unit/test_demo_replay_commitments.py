"""The demo's per-queue replay savings are billed with the commitments in force (`demo.fleet.replay_plans`).

A plan that moves a queue's covered on-demand work to spot strands part of a Compute Savings Plan:
at list prices that move looks like the whole on-demand bill saved; billed through the same
`ReplayBaseline` as the recommendations, the saving shrinks by the coverage it gives up.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from optimizer.demo.fleet import QueuePlan, plan_pricing, proposed_configuration, replay_plans
from optimizer.recommend.savings import DAYS_PER_MONTH, ReplayBaseline
from optimizer.solver.problem import Commitment
from tests.recommend_helpers import ce_item, inputs_for, standard_estate

SPOT_CE = "sim-optimized-spot"


@pytest.fixture(scope="module")
def baseline() -> ReplayBaseline:
    return inputs_for(standard_estate()).baseline


def _spot_plan() -> QueuePlan:
    """The `sim` queue (on-demand c5.2xlarge today) moved to a spot-only environment of the same type,
    as `solver.compute_environments.recommend_environments` writes one."""
    environment = {
        "computeEnvironmentName": SPOT_CE,
        "type": "MANAGED",
        "state": "ENABLED",
        "computeResources": {
            "type": "SPOT",
            "allocationStrategy": "SPOT_PRICE_CAPACITY_OPTIMIZED",
            "minvCpus": 0,
            "maxvCpus": 128,
            "instanceTypes": ["c5.2xlarge"],
            "subnets": ["subnet-1"],
            "securityGroupIds": ["sg-1"],
        },
    }
    queue = {"jobQueueName": "sim", "computeEnvironmentOrder": [{"order": 1, "computeEnvironment": SPOT_CE}]}
    environments = {"computeEnvironments": [environment], "jobQueues": [queue]}
    return QueuePlan("sim", "OPTIMAL", 0.0, ("c5.2xlarge",), environments, {}, {})


def _with_savings_plan(baseline: ReplayBaseline) -> ReplayBaseline:
    """The baseline with a Compute Savings Plan at 70 % of on-demand, sized to 90 % of today's
    on-demand spend per hour, so the `sim` queue's on-demand hours are part of what fills it."""
    current = baseline.current().summary
    hours = current["makespan_s"] / 3600.0
    rates = {name: spec.ondemand_price * 0.7 for name, spec in baseline.catalog.types.items()}
    usd_per_hour = 0.9 * current["cost_by_capacity_type"]["ON_DEMAND"] / hours
    sp = Commitment("sp", "COMPUTE_SAVINGS_PLAN", usd_per_hour=usd_per_hour, rates=rates)
    return replace(baseline, commitments=(sp,))


def test_moving_covered_on_demand_work_to_spot_saves_less_after_the_savings_plan(
    baseline: ReplayBaseline,
) -> None:
    days = baseline.window_days
    _, [at_list] = replay_plans(baseline, [_spot_plan()], days=days)
    committed = _with_savings_plan(baseline)
    list_total, [billed] = replay_plans(committed, [_spot_plan()], days=days)
    assert at_list.list_monthly_savings_usd is not None and at_list.list_monthly_savings_usd > 0
    # No commitments: the billed saving is the queue's list-price saving (the other queues run only
    # on-demand and unmanaged capacity here, so the spot reclaims do not touch them).
    assert at_list.other_queues_usd == pytest.approx(0.0, abs=1e-6)
    assert at_list.monthly_savings_usd == pytest.approx(at_list.list_monthly_savings_usd, abs=0.01)
    # With the Savings Plan the list figure is unchanged, but the saving pays for the stranded plan.
    assert billed.list_monthly_savings_usd == pytest.approx(at_list.list_monthly_savings_usd, abs=0.01)
    assert billed.monthly_savings_usd is not None
    assert billed.monthly_savings_usd < at_list.list_monthly_savings_usd - 1.0
    current = committed.current().summary
    proposed = committed.replay(_moved(committed)).summary
    assert proposed["commitments"][0]["utilization"] < current["commitments"][0]["utilization"]
    # The figures are the two whole-estate replays after the commitments, as the summary states.
    assert billed.current_usd == pytest.approx(current["total_cost_usd"])
    assert billed.proposed_usd == pytest.approx(proposed["total_cost_usd"])
    assert billed.current_usd is not None and billed.proposed_usd is not None
    monthly = (billed.current_usd - billed.proposed_usd - (billed.other_queues_usd or 0.0)) * DAYS_PER_MONTH
    assert billed.monthly_savings_usd == pytest.approx(monthly / days)
    assert list_total == pytest.approx(current["list_cost_usd"])  # compared with the measured spend
    assert plan_pricing(committed.commitments).startswith("after the commitments in force")
    assert plan_pricing(()).startswith("at list prices")


def _moved(baseline: ReplayBaseline) -> dict[str, Any]:
    return proposed_configuration(baseline.current_document, _spot_plan())


def test_the_moved_queue_s_old_environment_is_retired_so_its_idle_floor_is_not_billed() -> None:
    # sim-ce keeps 8 vCPUs up whatever runs: left in the proposed replay without its queue, that idle
    # c5.2xlarge would be billed (and covered by the plan) though the plan replaces the environment.
    estate = standard_estate()
    estate["ces"][1] = ce_item("sim-ce", types=("c5.2xlarge",), max_vcpus=128, min_vcpus=8)
    floored = inputs_for(estate).baseline
    proposed = proposed_configuration(floored.current_document, _spot_plan())
    names = [e["computeEnvironmentName"] for e in proposed["computeEnvironments"]]
    assert names == ["od-ce", SPOT_CE]  # etl keeps od-ce; the unmanaged onprem is never replayed
    _, [moved] = replay_plans(floored, [_spot_plan()], days=floored.window_days)
    assert moved.other_queues_usd == pytest.approx(0.0, abs=1e-6)
    assert moved.monthly_savings_usd == pytest.approx(moved.list_monthly_savings_usd, abs=0.01)


def test_the_optimize_stage_line_gives_the_hours_a_plan_cost_covers() -> None:
    """ "gpu-training FEASIBLE $5,250" sat next to per-month savings with no period: the plan covers
    its own window (551 h there), not a month."""
    from dataclasses import replace

    from optimizer.demo.pipeline import _plan_detail

    plan = replace(
        QueuePlan("gpu-training", "FEASIBLE", 5250.46, ("g5.4xlarge",), {}, {}, {}), plan_hours=551.0
    )
    assert _plan_detail(plan) == "gpu-training FEASIBLE $5,250 over 551 h"
