"""The measured cost of an evidence window (the I/O edge of calibration, `calibration.py`).

The store's cost attribution (`cost_daily`, written by `batchopt analyze`: instance-hours x the
price in force) summed over the compute environments of one (account, region) and the days the
replay's window covers. This is what a replay of the current configuration must reproduce.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine, func, select

from optimizer.store.tables.analysis import cost_daily


def measured_cost(
    engine: Engine,
    dataset: str,
    *,
    account_id: str | None,
    region: str | None,
    start: datetime,
    window_days: float,
) -> float | None:
    """Cost of `dataset` in the scope over [start's day, start + window_days's day]; None if the
    store has no attributed cost there (never analysed, or a trace without instances)."""
    end = start + timedelta(days=window_days)
    first = datetime(start.year, start.month, start.day)
    query = select(func.count(), func.coalesce(func.sum(cost_daily.c.total_usd), 0.0)).where(
        cost_daily.c.dataset == dataset, cost_daily.c.day >= first, cost_daily.c.day <= end
    )
    if region is not None:
        prefix = f"arn:aws:batch:{region}:{account_id if account_id is not None else '%'}:"
        query = query.where(cost_daily.c.compute_environment_arn.like(prefix + "%"))
    with engine.connect() as conn:
        rows, total = conn.execute(query).one()
    return float(total) if rows else None
