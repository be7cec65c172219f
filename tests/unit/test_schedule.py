"""The job registry: what other areas use to add their periodic jobs."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from optimizer.config import Settings
from optimizer.scheduler import registry

pytestmark = pytest.mark.any_date  # dates are fixed and "now" is injected: the same on any date


def test_weekly_cron_in_a_time_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "_REGISTRY", {})
    settings = Settings()
    job = registry.register_job(
        "weekly-report",
        "optimizer.report.scheduled:weekly_report_job",
        trigger=lambda s: registry.cron(s, day_of_week="mon", hour=8, timezone="Europe/Paris"),
    )
    trigger = job.trigger(settings)
    after = datetime(2026, 11, 25, 12, tzinfo=ZoneInfo("Europe/Paris"))  # a Wednesday
    assert trigger.get_next_fire_time(None, after) == datetime(
        2026, 11, 30, 8, tzinfo=ZoneInfo("Europe/Paris")
    )
    assert [j.id for j in registry.registered_jobs()] == ["weekly-report"]


def test_bad_function_reference_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "_REGISTRY", {})
    with pytest.raises(ValueError, match=r"package\.module:function"):
        registry.register_job("x", "not_a_reference", trigger=lambda s: registry.interval(s, minutes=5))


def test_discovery_finds_the_collection_job() -> None:
    assert "collect" in {job.id for job in registry.discover_jobs()}
    assert registry.job_defaults(Settings()) == {
        "coalesce": True,
        "max_instances": 1,
        "misfire_grace_time": 900,
    }
