"""Every area's periodic job is registered, and auto-tuning only when it is switched on."""

import pytest
from apscheduler.triggers.interval import IntervalTrigger

from optimizer.config import load_settings
from optimizer.scheduler.registry import discover_jobs


def test_autotune_job_follows_its_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    jobs = {job.id: job for job in discover_jobs()}
    assert {"collect", "weekly-report", "autotune"} <= set(jobs)
    autotune = jobs["autotune"]
    assert autotune.enabled(load_settings()) is False
    monkeypatch.setenv("BATCHOPT_SCHEDULE__AUTOTUNE_ENABLED", "true")
    monkeypatch.setenv("BATCHOPT_SCHEDULE__AUTOTUNE_INTERVAL_HOURS", "6")
    settings = load_settings()
    assert autotune.enabled(settings) is True
    trigger = autotune.trigger(settings)
    assert isinstance(trigger, IntervalTrigger) and trigger.interval.total_seconds() == 6 * 3600
