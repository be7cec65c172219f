"""Reading collector runs back (written by `optimizer/collectors/runs.py`): how fresh each source is,
the newest runs, the runs of a week; for the dashboard's Overview and health page and the weekly
report, so both read a run the same way. Light: no collector is imported.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pandas as pd
from sqlalchemy import Engine, case, func, select

from optimizer.store.read import read_frame
from optimizer.store.schema import collector_runs

RUN_KEYS = ("target", "region", "source")


def last_successes(
    engine: Engine, keys: Sequence[str] = RUN_KEYS, *, sources: Sequence[str] | None = None
) -> pd.DataFrame:
    """`keys` + last_success: when each (target, region, source), or coarser `keys`, last succeeded."""
    c = collector_runs.c
    query = select(*[c[k] for k in keys], func.max(c.finished_at).label("last_success")).where(
        c.status == "succeeded"
    )
    if sources is not None:
        query = query.where(c.source.in_(list(sources)))
    return read_frame(engine, query.group_by(*[c[k] for k in keys]))


def run_freshness(engine: Engine) -> pd.DataFrame:
    """Per target, region and source: the last run's start, its failed and total runs, and the last
    successful run's end (`last_success`, empty when none succeeded), sorted by those keys."""
    c = collector_runs.c
    keys = [c[k] for k in RUN_KEYS]
    query = select(
        *keys,
        func.max(c.started_at).label("last_run"),
        func.sum(case((c.status == "failed", 1), else_=0)).label("failed_runs"),
        func.count().label("runs"),
    ).group_by(*keys)
    frame = read_frame(engine, query)
    if frame.empty:
        return frame
    frame = frame.merge(last_successes(engine), on=list(RUN_KEYS), how="left")
    return frame.sort_values(list(RUN_KEYS)).reset_index(drop=True)


def recent_runs(engine: Engine, limit: int = 200, *, only_failed: bool = False) -> pd.DataFrame:
    """The newest `limit` runs (failed ones only if asked), every column."""
    query = select(collector_runs).order_by(collector_runs.c.started_at.desc()).limit(limit)
    if only_failed:
        query = query.where(collector_runs.c.status == "failed")
    return read_frame(engine, query)


def runs_started_between(engine: Engine, since: datetime, until: datetime) -> pd.DataFrame:
    """source, target, region, started_at, finished_at, status, error of runs started in [since, until)."""
    c = collector_runs.c
    query = select(c.source, c.target, c.region, c.started_at, c.finished_at, c.status, c.error).where(
        c.started_at >= since, c.started_at < until
    )
    return read_frame(engine, query)
