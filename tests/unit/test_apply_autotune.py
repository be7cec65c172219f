"""Auto-tuning decisions (pure): which recommendations a run applies, and when a change regressed."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import pandas as pd
import pytest

from optimizer.apply.autotune import Guardrails, Health, health, regression_verdict, select_changes
from optimizer.domain import RiskLevel, UpdateKind
from optimizer.recommend.repository import StoredRecommendation
from tests.apply_helpers import make_recommendation

pytestmark = pytest.mark.any_date  # dates are fixed and "now" is injected: the same on any date

NOW = datetime(2026, 11, 27, 12, 0)
QUEUE = "arn:aws:batch:us-east-1:123456789012:job-queue/"


def stored(name: str, savings: float, status: str = "open", **extra: object) -> StoredRecommendation:
    rec = make_recommendation(
        "s", QUEUE + name, "job-queue", {"priority": savings}, monthly_savings_usd=savings, **extra
    )
    return StoredRecommendation(rec, status, None, NOW, NOW)


GUARDS = Guardrails(allow_list=("a", "b", "c", QUEUE + "d"), max_changes_per_run=2, min_monthly_saving_usd=50)


def test_selection_applies_guardrails_and_explains_every_skip() -> None:
    recs = [
        stored("a", 500),
        stored("a", 400),  # same target as a better one
        stored("b", 300, status="dismissed"),
        stored("c", 40),  # below the minimum saving
        stored("d", 250),  # allow-listed by ARN
        stored("e", 900),  # not allow-listed
        stored("b", 200, risk_level=RiskLevel.HIGH),
        stored("b", 100, applicable=False, update_kind=UpdateKind.ADVICE),
        stored("c", 60),  # would be third: max_changes_per_run is 2
    ]
    chosen, skipped = select_changes(recs, {}, NOW, GUARDS)
    assert [r.target_arn for r in chosen] == [QUEUE + "a", QUEUE + "d"]
    reasons = sorted(s.reason.split(":")[0].split(" ")[0] for s in skipped)
    assert len(skipped) == 7
    assert any("not on apply.allow_list" in s.reason for s in skipped)
    assert any("max_changes_per_run (2)" in s.reason for s in skipped)
    assert any("another change to this target" in s.reason for s in skipped)
    assert any("below $50.00" in s.reason for s in skipped)
    assert any("high risk" in s.reason for s in skipped)
    assert any("advice only" in s.reason for s in skipped)
    assert "status" in reasons


def test_cool_down_per_target() -> None:
    recs = [stored("a", 500), stored("b", 100)]
    recent = {QUEUE + "a": NOW - timedelta(hours=3)}
    chosen, skipped = select_changes(recs, recent, NOW, dataclasses.replace(GUARDS, cooldown_hours=24))
    assert [r.target_arn for r in chosen] == [QUEUE + "b"]
    assert "cool-down" in skipped[0].reason
    chosen, _ = select_changes(recs, recent, NOW, dataclasses.replace(GUARDS, cooldown_hours=2))
    assert len(chosen) == 2


def _jobs(waits: list[float], failed: int) -> pd.DataFrame:
    created = [NOW + timedelta(minutes=i) for i in range(len(waits))]
    return pd.DataFrame(
        {
            "status": ["FAILED"] * failed + ["SUCCEEDED"] * (len(waits) - failed),
            "created_at": created,
            "started_at": [c + timedelta(seconds=w) for c, w in zip(created, waits, strict=True)],
        }
    )


def test_health_measures_queue_wait_p95_and_failure_rate() -> None:
    result = health(_jobs([10.0] * 95 + [1000.0] * 5, failed=10))
    assert result.jobs == 100 and result.failure_rate == pytest.approx(0.10)
    assert 10.0 < (result.queue_wait_p95_seconds or 0) <= 1000.0
    assert health(pd.DataFrame(columns=["status", "created_at", "started_at"])) == Health(0, None, None)


@pytest.mark.parametrize(
    ("after", "hours", "action"),
    [
        (Health(5, 900.0, 0.5), 30, "wait"),  # too few jobs to judge
        (Health(100, 400.0, 0.02), 30, "rollback"),  # wait p95 100s -> 400s
        (Health(100, 150.0, 0.02), 30, "keep"),  # +50s: within the one-minute noise floor
        (Health(100, 100.0, 0.06), 30, "rollback"),  # failure rate +5 points
        (Health(100, 100.0, 0.02), 2, "wait"),  # fine so far, still watching
    ],
)
def test_regression_verdicts(after: Health, hours: float, action: str) -> None:
    before = Health(200, 100.0, 0.01)
    assert regression_verdict(before, after, hours, Guardrails()).action == action
