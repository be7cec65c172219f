"""What the gap-filling handlers serve: Batch job records and ECS container instances per region.

moto keeps jobs as running threads and has no notion of jobs that finished weeks ago or of container
instances registered by Batch, so the emulator keeps those records itself, already in the shapes the
APIs return (DescribeJobs items, DescribeContainerInstances items). Seeding fills them; handlers only
read them. One lock guards everything: the server answers on several threads.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any


@dataclass
class RegionRecords:
    """The records of one (account, region)."""

    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)  # job id -> DescribeJobs item
    jobs_by_queue: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))  # queue ARN
    container_instances: dict[str, dict[str, Any]] = field(default_factory=dict)  # ARN -> item
    instances_by_cluster: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))


class EmulatorState:
    """Thread-safe store of the records served on top of moto."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._regions: dict[tuple[str, str], RegionRecords] = {}

    def _records(self, account_id: str, region: str) -> RegionRecords:
        key = (account_id, region)
        if key not in self._regions:
            self._regions[key] = RegionRecords()
        return self._regions[key]

    def add_jobs(self, account_id: str, region: str, items: list[dict[str, Any]]) -> None:
        """Add DescribeJobs items; each must carry `jobId` and `jobQueue` (the queue ARN)."""
        with self._lock:
            records = self._records(account_id, region)
            for item in items:
                job_id = item["jobId"]
                if job_id not in records.jobs:
                    records.jobs_by_queue[item["jobQueue"]].append(job_id)
                records.jobs[job_id] = item

    def add_container_instances(
        self, account_id: str, region: str, cluster_arn: str, items: list[dict[str, Any]]
    ) -> None:
        with self._lock:
            records = self._records(account_id, region)
            records.instances_by_cluster.setdefault(cluster_arn, [])
            for item in items:
                arn = item["containerInstanceArn"]
                if arn not in records.container_instances:
                    records.instances_by_cluster[cluster_arn].append(arn)
                records.container_instances[arn] = item

    def queue_jobs(self, account_id: str, region: str, queue_arn: str) -> list[dict[str, Any]]:
        with self._lock:
            records = self._records(account_id, region)
            return [records.jobs[j] for j in records.jobs_by_queue.get(queue_arn, [])]

    def jobs(self, account_id: str, region: str, job_ids: list[str]) -> dict[str, dict[str, Any]]:
        with self._lock:
            records = self._records(account_id, region)
            return {j: records.jobs[j] for j in job_ids if j in records.jobs}

    def all_jobs(self, account_id: str, region: str) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._records(account_id, region).jobs.values())

    def has_cluster(self, account_id: str, region: str, cluster_arn: str) -> bool:
        with self._lock:
            return cluster_arn in self._records(account_id, region).instances_by_cluster

    def cluster_instances(self, account_id: str, region: str, cluster_arn: str) -> list[dict[str, Any]]:
        with self._lock:
            records = self._records(account_id, region)
            arns = records.instances_by_cluster.get(cluster_arn, [])
            return [records.container_instances[a] for a in arns]

    def container_instances(self, account_id: str, region: str, arns: list[str]) -> dict[str, dict[str, Any]]:
        with self._lock:
            records = self._records(account_id, region)
            return {a: records.container_instances[a] for a in arns if a in records.container_instances}

    def clear(self) -> None:
        with self._lock:
            self._regions.clear()
