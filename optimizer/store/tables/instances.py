"""EC2 instances behind compute environments and their lifetimes.

Each collection snapshots the container instances it sees; `first_seen`/`last_seen` bracket the
lifetime when launch or termination times are not reported, and `terminated_at` is set when an
instance stops being seen (or EC2 reports it terminated). `lifetime_source` names where the times
came from, exact (events, cloudtrail) or bracketed by runs (sampling).
"""

from sqlalchemy import Column, Index, Table

from optimizer.store.base import Arn, Str, Time, metadata

instances = Table(
    "instances",
    metadata,
    Column("instance_id", Str, primary_key=True),
    Column("dataset", Str, nullable=False, server_default="aws"),
    Column("account_id", Str),
    Column("region", Str),
    Column("compute_environment_arn", Arn),
    Column("cluster_arn", Arn),
    Column("container_instance_arn", Arn),
    Column("instance_type", Str, nullable=False),
    Column("availability_zone", Str),
    Column("capacity_type", Str, nullable=False),  # SPOT | ON_DEMAND
    Column("launch_time", Time),
    Column("first_seen", Time, nullable=False),
    Column("last_seen", Time, nullable=False),
    Column("terminated_at", Time),
    Column("status", Str),
    # Which source gave launch_time / terminated_at: events (EC2 state-change notifications),
    # cloudtrail (RunInstances / TerminateInstances) or sampling (seen by a collection run).
    Column("lifetime_source", Str),
)
Index("ix_instances_ce", instances.c.compute_environment_arn)
Index("ix_instances_dataset_launch", instances.c.dataset, instances.c.launch_time)

TABLES = (instances,)
