"""The Spot page's reclaim totals: every reclaimed attempt of the history the page shows, with or
without a known instance."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine

from optimizer.store.schema import jobs
from optimizer.store.upsert import bulk_upsert
from tests import dashboard_helpers as dh
from tests.integration.test_dashboard_pages import metric, run_page

TRACE = "trace-x"


def test_the_spot_page_counts_every_reclaim_of_the_history_it_shows(
    sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Fargate Spot reclaim (no instance) counts, a trace's reclaim does not: the totals came from
    the per-type table's join with instances, over every dataset, beside the selected one's cost."""
    from optimizer.store.schema import job_attempts

    dh.seed(sqlite_engine)  # one reclaim, on a known m5.xlarge
    t0 = datetime(2026, 11, 3)
    with sqlite_engine.begin() as conn:
        bulk_upsert(
            conn,
            jobs,
            [
                {"job_id": "fargate-1", "dataset": "aws", "queue": "q-spot", "status": "SUCCEEDED",
                 "created_at": t0, "vcpus": 1.0, "memory_mib": 2048, "gpus": 0},
                {"job_id": f"{TRACE}-r", "dataset": TRACE, "queue": "q-spot", "status": "SUCCEEDED",
                 "created_at": t0, "vcpus": 1.0, "memory_mib": 2048, "gpus": 0},
            ],
        )  # fmt: skip
        bulk_upsert(
            conn,
            job_attempts,
            [
                {"job_id": job_id, "attempt": 0, "instance_id": None, "started_at": t0,
                 "stopped_at": t0 + timedelta(hours=2), "is_spot_reclaim": True, "is_oom": False}
                for job_id in ("fargate-1", f"{TRACE}-r")
            ],
        )  # fmt: skip
    monkeypatch.setenv("BATCHOPT_DATABASE_URL", sqlite_engine.url.render_as_string(hide_password=False))
    app = run_page("spot")
    assert metric(app, "Reclaimed attempts") == "2"  # the seeded EC2 reclaim and the Fargate one
    assert metric(app, "Run-hours lost") == "2.5"  # 0.5 h + 2 h; the trace's 2 h are not this history's
    # The report's measure too, counted by the same function: 0.5 h x 4 vCPUs + 2 h x 1 vCPU.
    assert metric(app, "vCPU-hours lost") == "4.0"
