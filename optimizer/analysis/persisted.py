"""Whether the persisted cost aggregate (`cost_daily`, written by `batchopt analyze`) can stand for a
window, or the attribution has to be computed again: one rule for every figure that reads it.

The weekly report, `reconcile` and the bill-vs-model sections each had their own rule (the report
checked freshness, reconcile only that a run covered the window, its breakdowns always recomputed),
so with data collected after the last analysis the report's "Total spend" ($7,204.83) and its own
"Modelled" ($7,194.75) disagreed, as did reconcile's total and the sum of its per-queue rows. The
rule: one analysis run of the dataset covers [since, until), and, for the collected history, it ran
after the last successful collection of the sources costs are made of (an imported trace does not
change after its import).
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from sqlalchemy import Engine, func, select

from optimizer.store.names import COLLECTED_DATASET
from optimizer.store.runs_read import last_successes
from optimizer.store.tables.analysis import analysis_runs

COST_SOURCES = ("jobs", "instances", "spot_prices")
"""Collector sources (names as `optimizer/collectors` records them) whose lag makes costs partial.

The catalog, bands or usage may legitimately run less often, so only these are checked for a
successful run after the week ended (`optimizer.report.coverage`), and only these make a persisted
aggregate stale.
"""


def persisted_is_current(engine: Engine, dataset: str, since: datetime, until: datetime) -> bool:
    """Whether one analysis run of `dataset` covers [since, until) and is newer than the last
    successful collection of its cost sources (collected history only)."""
    r = analysis_runs.c
    query = select(func.max(r.computed_at)).where(
        r.dataset == dataset,
        (r.since.is_(None)) | (r.since <= since),
        (r.until.is_(None)) | (r.until >= until),
    )
    if dataset == COLLECTED_DATASET:
        succeeded = last_successes(engine, ("source",), sources=COST_SOURCES)["last_success"].dropna()
        if not succeeded.empty:
            query = query.where(r.computed_at >= pd.Timestamp(succeeded.max()).to_pydatetime())
    with engine.connect() as conn:
        return conn.execute(query).scalar() is not None
