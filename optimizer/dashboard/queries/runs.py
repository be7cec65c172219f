"""Collector runs and the scheduler's jobs, for the Overview and the health page.

The runs are the store's run readers (`store/runs_read.py`, which the weekly report reads too);
the scheduler's job table is read by `dashboard/health_view.py`.
"""

from __future__ import annotations

import pandas as pd

from optimizer.dashboard.health_view import job_descriptions, scheduler_jobs, with_descriptions
from optimizer.dashboard.queries.cache import cached
from optimizer.dashboard.state import engine_for
from optimizer.store import runs_read


@cached
def data_freshness(url: str) -> pd.DataFrame:
    """Per target, region and source: the last successful run's end and the last run's status."""
    return runs_read.run_freshness(engine_for(url))


@cached
def recent_runs(url: str, limit: int = 200, only_failed: bool = False) -> pd.DataFrame:
    return runs_read.recent_runs(engine_for(url), limit, only_failed=only_failed)


@cached
def scheduled_jobs(url: str) -> pd.DataFrame | None:
    """The running scheduler's persisted jobs with their next run times (None: no scheduler yet)."""
    jobs = scheduler_jobs(engine_for(url))
    return None if jobs is None else with_descriptions(jobs, job_descriptions())
