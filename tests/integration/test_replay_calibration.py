"""Replaying stored history on the configuration it ran on gives back its cost (calibration).

A history is produced by the simulator, saved to the store, read back with `load_dataset` and
replayed on the same configuration: the two costs must agree. The trap this guards: a job's
`started_at`..`stopped_at` spans all its attempts and the waits between them, so a retried job
read back as that span and replayed once per attempt again costs several times what it did.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import Engine

from optimizer.simulate import ReplayResult, parse_config, replay
from optimizer.simulate.datasets import import_trace, load_dataset, save_replay
from optimizer.traces.schema import Trace, TraceMapping
from tests.simulate_helpers import ce, jobs_frame, queue, tiny_catalog

START = datetime(2026, 3, 2)
CATALOG = tiny_catalog({"m5.xlarge": (4, 16384, 0, 0.192, None, None)})


def _config() -> dict:
    return {
        "computeEnvironments": [ce("od", "EC2", 64, ["m5.xlarge"], allocationStrategy="BEST_FIT")],
        "jobQueues": [queue("q", 1, "od")],
        "simulation": {"defaultRetryStrategy": {"attempts": 2}, "launchDelaySeconds": 0},
    }


def _history() -> ReplayResult:
    rows = [
        # A failing job: two attempts of 2 h each, one after the other on the same instance.
        {"job_id": "fails", "submit_s": 0.0, "runtime_s": 7200.0, "vcpus": 4, "status": "FAILED"},
        {"job_id": "ok-1", "submit_s": 600.0, "runtime_s": 3600.0, "vcpus": 2},
        {"job_id": "ok-2", "submit_s": 20000.0, "runtime_s": 1800.0, "vcpus": 1},
    ]
    return replay(jobs_frame(rows), parse_config(_config(), CATALOG, source="test"))


def test_replay_of_stored_history_costs_what_the_history_cost(store_engine: Engine) -> None:
    history = _history()
    save_replay(store_engine, history, "ran", anchor=START, source="test", imported_at=START, mapping={})
    jobs, start = load_dataset(store_engine, "ran")
    assert start == START
    runtime = dict(zip(jobs["job_id"], jobs["runtime_s"], strict=True))
    # One attempt's runtime, not the span of both attempts (which is 4 h or more).
    assert runtime == {"fails": 7200.0, "ok-1": 3600.0, "ok-2": 1800.0}

    again = replay(jobs, parse_config(_config(), CATALOG, source="test"))
    original = float(history.summary["total_cost_usd"])
    assert original > 0
    assert float(again.summary["total_cost_usd"]) == pytest.approx(original, rel=1e-6)
    assert int(again.summary["attempts"]) == int(history.summary["attempts"]) == 4


def test_jobs_without_attempts_keep_their_span(store_engine: Engine) -> None:
    """Imported traces have no attempts: the job's own start..stop is its runtime."""
    frame = jobs_frame([{"job_id": "a", "runtime_s": 900.0}]).assign(wait_s=30.0)
    trace = Trace(format="csv", source="t.csv", jobs=frame, mapping=TraceMapping())
    import_trace(store_engine, trace, "imported", imported_at=START, start=START)
    jobs, _ = load_dataset(store_engine, "imported")
    assert jobs["runtime_s"].tolist() == [900.0]
