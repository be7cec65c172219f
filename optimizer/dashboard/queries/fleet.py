"""Fleet-mix reads: the compute environments, which ones serve a queue, and the stored fleet plans.

The plans are `fleet/plans.py`'s readers (the module that writes them); which CEs serve a queue and
when its last job stopped are dashboard-only reads for the What-if and Fleet mix scopes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import func, select

from optimizer.dashboard.queries.cache import cached
from optimizer.dashboard.state import engine_for
from optimizer.fleet import plans
from optimizer.store.read import read_frame
from optimizer.store.schema import COLLECTED_DATASET, compute_environments, job_queues, jobs
from optimizer.store.tables.analysis import cost_daily


@cached
def queue_compute_environments(
    url: str, queues: tuple[str, ...], since: datetime, until: datetime, dataset: str = COLLECTED_DATASET
) -> tuple[str, ...]:
    """CE ARNs serving `queues` (names or ARNs): configured in their order, or run on in the days."""
    from optimizer.dashboard.queue_scope import configured_ces

    q, ce, t = job_queues.c, compute_environments.c, cost_daily.c
    engine = engine_for(url)
    with engine.connect() as conn:
        rows = conn.execute(
            select(q.compute_environment_order).where((q.name.in_(queues)) | (q.arn.in_(queues)))
        ).mappings()
        names = {str(r.name): str(r.arn) for r in conn.execute(select(ce.name, ce.arn))}
        configured = configured_ces(rows, names)
        ran = conn.execute(
            select(t.compute_environment_arn)
            .distinct()
            .where(t.dataset == dataset, t.day >= since, t.day < until, t.queue.in_(queues))
        ).scalars()
        used = {str(v) for v in ran if v is not None}
    return tuple(sorted(configured | used))


@cached
def queue_last_stop(
    url: str, queue: str, created_before: datetime, dataset: str = COLLECTED_DATASET
) -> datetime | None:
    """When the last job of `queue` created by `created_before` stopped: where a plan's window ends."""
    j = jobs.c
    query = select(func.max(j.stopped_at)).where(
        j.dataset == dataset, j.queue == queue, j.created_at <= created_before
    )
    with engine_for(url).connect() as conn:
        value = conn.execute(query).scalar()
    return None if value is None else pd.Timestamp(value).to_pydatetime()


@cached
def compute_environment_list(url: str) -> pd.DataFrame:
    c = compute_environments
    query = select(
        c.c.arn,
        c.c.name,
        c.c.account_id,
        c.c.region,
        c.c.state,
        c.c.status,
        c.c.platform,
        c.c.allocation_strategy,
        c.c.instance_types,
        c.c.min_vcpus,
        c.c.max_vcpus,
    ).where(c.c.deleted_at.is_(None))
    return read_frame(engine_for(url), query.order_by(c.c.region, c.c.name))


@cached
def fleet_plan_list(url: str) -> pd.DataFrame:
    return plans.fleet_plan_list(engine_for(url))


@cached
def fleet_plan_documents(url: str, plan_id: int) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The stored (problem, plan) JSON documents of one fleet plan."""
    return plans.fleet_plan_documents(engine_for(url), plan_id)
