"""Usage samples: per-task CPU and memory (Container Insights) and per-instance CPU (CloudWatch).

One narrow table keyed by (kind, resource, metric, time) so a re-collected window never duplicates;
per-attempt peaks are also folded into `job_attempts.peak_*` for fast right-sizing reads.
"""

from sqlalchemy import Column, Index, Table

from optimizer.store.base import Float, Integer, Str, Time, metadata

usage_samples = Table(
    "usage_samples",
    metadata,
    Column("resource_kind", Str, primary_key=True),  # task | instance
    Column("resource_id", Str, primary_key=True),  # task id or EC2 instance id
    Column("metric", Str, primary_key=True),  # cpu_vcpus | memory_mib | cpu_utilization_pct
    Column("timestamp", Time, primary_key=True),
    Column("value", Float, nullable=False),
    Column("job_id", Str),
    Column("attempt", Integer),
)
Index("ix_usage_samples_job", usage_samples.c.job_id, usage_samples.c.attempt)

TABLES = (usage_samples,)
