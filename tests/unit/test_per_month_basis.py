"""Every "/month" dollar figure is on one basis (`optimizer.per_month`): the commitment advice was
scaled to 730 h while replay savings were scaled to 30 days, so in one column the advice read 1.4 %
higher than its neighbours' basis."""

from __future__ import annotations

import pytest

from optimizer.recommend import savings
from optimizer.recommend.commitment_sizing import Sizing


def test_a_commitment_advice_and_a_replay_saving_of_the_same_daily_pace_read_the_same_per_month() -> None:
    # $10 a day saved, over a 14-day horizon, by each path.
    advice = Sizing(
        usd_per_hour=1.0,
        discount=0.28,
        existing_usd_per_hour=0.0,
        expected_cost_usd=1000.0,
        expected_cost_without_usd=1140.0,
        break_even_utilization=0.72,
        utilization={},
        stranded_usd={},
        expected_stranded_usd=0.0,
        horizon_hours=14 * 24,
    )
    # (a replay's monthly figure: its saving x DAYS_PER_MONTH / its window's days, `savings`)
    replay_monthly = 140.0 * savings.DAYS_PER_MONTH / 14.0
    assert advice.monthly_savings_usd == pytest.approx(replay_monthly)
    assert replay_monthly == pytest.approx(300.0)  # 30 days of $10
