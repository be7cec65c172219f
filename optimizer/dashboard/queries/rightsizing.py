"""Right-sizing reads: requested against peak usage per job definition, binned in SQL.

Dashboard-only aggregates (a definition's million attempts come back as ~40 rows); the evidence
table itself is the analysis' `rightsizing_evidence` on that definition's rows.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Float, case, cast, func, select

from optimizer.analysis.rightsizing import rightsizing_evidence
from optimizer.catalog.requirements import InstanceRequirements
from optimizer.dashboard.queries.cache import cached
from optimizer.dashboard.state import engine_for
from optimizer.store.read import read_frame
from optimizer.store.schema import instance_types, instances, job_attempts, jobs


def _ratio(used: Any, requested: Any) -> Any:
    return cast(used, Float) / func.nullif(cast(requested, Float), 0.0)


@cached
def rightsizing_summary(url: str, dataset: str, since: datetime) -> pd.DataFrame:
    """Per job definition: attempts, requested vs peak memory and vCPUs, out-of-memory kills, of the
    jobs created since `since` (right-sizing follows recent behaviour; see `recent_window`). Requests
    are means, and their columns say so: the evidence table below gives each pattern's median
    request, and two columns both called "Requested memory" read 65,242 and 61,440 MiB for one
    definition."""
    j, a = jobs, job_attempts
    query = (
        select(
            j.c.job_definition_name,
            func.count().label("attempts"),
            func.sum(case((a.c.peak_memory_mib.is_not(None), 1), else_=0)).label("with_usage"),
            func.avg(cast(j.c.memory_mib, Float)).label("mean_requested_memory_mib"),
            func.avg(a.c.peak_memory_mib).label("mean_peak_memory_mib"),
            func.max(a.c.peak_memory_mib).label("max_peak_memory_mib"),
            func.avg(j.c.vcpus).label("mean_requested_vcpus"),
            func.avg(a.c.peak_vcpus).label("mean_peak_vcpus"),
            func.max(a.c.peak_vcpus).label("max_peak_vcpus"),
            func.sum(case((a.c.is_oom, 1), else_=0)).label("oom_kills"),
        )
        .select_from(a.join(j, j.c.job_id == a.c.job_id))
        .where(j.c.dataset == dataset, j.c.created_at >= since)
        .group_by(j.c.job_definition_name)
        .order_by(func.count().desc())
    )
    return read_frame(engine_for(url), query)


@cached
def usage_ratio_histogram(
    url: str, dataset: str, job_definition: str, since: datetime, step: float = 0.1
) -> pd.DataFrame:
    """Attempts binned by peak/requested ratio (memory and vCPU), `step` wide, capped at 2.0.

    The binning is SQL so a definition with a million attempts still returns ~40 rows.
    """
    j, a = jobs, job_attempts
    frames = []
    for resource, used, requested in (
        ("memory", a.c.peak_memory_mib, j.c.memory_mib),
        ("vcpu", a.c.peak_vcpus, j.c.vcpus),
    ):
        ratio = _ratio(used, requested)
        capped = case((ratio > 2.0, 2.0), else_=ratio)
        bucket = cast(func.floor(capped / step), Float)
        query = (
            select(bucket.label("bucket"), func.count().label("attempts"))
            .select_from(a.join(j, j.c.job_id == a.c.job_id))
            .where(
                j.c.dataset == dataset,
                j.c.created_at >= since,
                j.c.job_definition_name == job_definition,
                used.is_not(None),
                requested.is_not(None),
                requested > 0,
            )
            .group_by(bucket)
            .order_by(bucket)
        )
        frame = read_frame(engine_for(url), query)
        frame["resource"] = resource
        frames.append(frame)
    out = pd.concat(frames, ignore_index=True)
    out["ratio_from"] = out["bucket"].astype(float) * step
    return out


@cached
def job_datasets(url: str) -> list[str]:
    with engine_for(url).connect() as conn:
        return [
            str(v) for v in conn.execute(select(jobs.c.dataset).distinct().order_by(jobs.c.dataset)).scalars()
        ]


@cached
def definition_evidence(
    url: str, dataset: str, job_definition: str, since: datetime, requirements: InstanceRequirements
) -> pd.DataFrame:
    """The analytics' right-sizing evidence for one job definition (and its name patterns).

    Reads only that definition's jobs and attempts (SQL-filtered), so one definition of a
    million-job store costs what its own history costs, and the numbers are exactly
    `rightsizing_evidence`'s, with the memory cliff bounded by `requirements` (the policy's).
    """
    engine = engine_for(url)
    job_rows = read_frame(
        engine,
        select(
            jobs.c.job_id,
            jobs.c.job_definition_name,
            jobs.c.job_name,
            jobs.c.vcpus,
            jobs.c.memory_mib,
            jobs.c.gpus,
        ).where(
            jobs.c.dataset == dataset,
            jobs.c.created_at >= since,
            jobs.c.job_definition_name == job_definition,
        ),
    )
    attempt_rows = read_frame(
        engine,
        select(
            job_attempts.c.job_id,
            job_attempts.c.peak_memory_mib,
            job_attempts.c.peak_vcpus,
            job_attempts.c.is_oom,
            instances.c.instance_type,  # (the architecture the jobs ran on bounds the memory cliff)
        )
        .select_from(
            job_attempts.join(jobs, jobs.c.job_id == job_attempts.c.job_id).outerjoin(
                instances, instances.c.instance_id == job_attempts.c.instance_id
            )
        )
        .where(
            jobs.c.dataset == dataset,
            jobs.c.created_at >= since,
            jobs.c.job_definition_name == job_definition,
        ),
    )
    types = read_frame(
        engine,
        select(
            instance_types.c.instance_type,
            instance_types.c.vcpus,
            instance_types.c.allocatable_memory_mib,
            instance_types.c.gpus,
        ),
    )
    if job_rows.empty or attempt_rows.empty:
        return pd.DataFrame()
    return rightsizing_evidence(
        job_rows, attempt_rows, types.drop_duplicates("instance_type"), requirements=requirements
    )


@cached
def recent_window(url: str, dataset: str, days: int) -> tuple[datetime, datetime] | None:
    """[start, last job created] covering the `days` days up to the newest job of the history.

    Anchored on the data, not the clock, so an imported trace from 1996 has a "recent" too; the
    (dataset, created_at) index makes both ends cheap.
    """
    with engine_for(url).connect() as conn:
        last = conn.execute(select(func.max(jobs.c.created_at)).where(jobs.c.dataset == dataset)).scalar()
    if last is None:
        return None
    last = pd.Timestamp(last).to_pydatetime()
    return last - timedelta(days=days), last
