"""Jobs and their attempts, collected from Batch or imported/simulated as a named dataset.

`dataset` is "aws" for collected history; imported traces and replays use their own name, so the
analysis code reads every kind of history through the same two tables.
"""

from sqlalchemy import Column, Index, Table

from optimizer.store.base import Arn, Boolean, Float, Integer, Json, LongStr, Str, Text, Time, metadata
from optimizer.store.names import COLLECTED_DATASET

datasets = Table(
    "datasets",
    metadata,
    Column("name", Str, primary_key=True),
    Column("format", Str, nullable=False),
    Column("source_file", LongStr),
    Column("imported_at", Time, nullable=False),
    Column("job_count", Integer, nullable=False),
    Column("start_time", Time, nullable=False),  # the datetime that second 0 of the trace maps to
    Column("mapping", Json),  # the stated mapping: processors -> vCPUs, memory assumption, GPUs
)

jobs = Table(
    "jobs",
    metadata,
    Column("job_id", Str, primary_key=True),
    Column("dataset", Str, nullable=False, server_default=COLLECTED_DATASET),
    Column("account_id", Str),
    Column("region", Str),
    Column("job_name", Str),
    Column("queue", Str),
    Column("job_queue_arn", Arn),
    Column("job_definition", Arn),
    Column("job_definition_name", Str),
    Column("status", Str, nullable=False),
    Column("status_reason", Text),
    Column("created_at", Time, nullable=False),
    Column("started_at", Time),
    Column("stopped_at", Time),
    Column("vcpus", Float),
    Column("memory_mib", Integer),
    Column("gpus", Integer),
    Column("array_parent_id", Str),
    Column("array_index", Integer),
    Column("array_size", Integer),
    Column("node_count", Integer),
    Column("retry_attempts", Integer),
    Column("attempt_count", Integer),
    Column("share_identifier", Str),
    Column("scheduling_priority", Integer),
    Column("depends_on", Json),
    Column("tags", Json),
    Column("parameters", Json),
    Column("exit_code", Integer),
    Column("retry_strategy", Json),
    Column("platform", Str),  # EC2 | FARGATE | EKS (an unknown capability is kept as Batch wrote it)
    Column("is_multinode", Boolean),
    # MNP: the node range a node job (or, on the parent, the main node) belongs to: its targetNodes
    # ("0:3") and the instanceTypes it names (None where the range names none: the CE's types).
    Column("node_target_nodes", Str),
    Column("node_instance_types", Json),
    # Non-GPU accelerators a job requests (EKS extended resources, e.g. aws.amazon.com/neuron: 1).
    Column("accelerators", Json),
    # Elastic Fabric Adapter devices the job's containers pass through (`linuxParameters.devices`
    # with hostPath /dev/infiniband/uverbs*, AWS Batch's way to give a job EFA); 0 none, null unknown.
    Column("efa_devices", Integer),
    # The job's own attempt timeout (DescribeJobs' timeout.attemptDurationSeconds); null: none known.
    Column("timeout_seconds", Integer),
    # Values the collector did not recognise, kept raw by field with the reason (never dropped).
    Column("unparsed", Json),
)
Index("ix_jobs_dataset_created", jobs.c.dataset, jobs.c.created_at)
Index("ix_jobs_queue_created", jobs.c.queue, jobs.c.created_at)

job_attempts = Table(
    "job_attempts",
    metadata,
    Column("job_id", Str, primary_key=True),
    Column("attempt", Integer, primary_key=True),
    Column("instance_id", Str),
    Column("container_instance_arn", Arn),
    Column("task_arn", Arn),
    Column("compute_environment_arn", Arn),
    Column("started_at", Time),
    Column("stopped_at", Time),
    Column("exit_code", Integer),
    Column("reason", Text),
    Column("is_spot_reclaim", Boolean, nullable=False, server_default="0"),
    Column("is_oom", Boolean, nullable=False, server_default="0"),
    Column("peak_memory_mib", Float),
    Column("peak_vcpus", Float),
    Column("log_stream_name", LongStr),
    Column("node_name", Str),  # EKS: the Kubernetes node the pod ran on
)
Index("ix_job_attempts_instance", job_attempts.c.instance_id)

TABLES = (datasets, jobs, job_attempts)
