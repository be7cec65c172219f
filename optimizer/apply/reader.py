"""Reads the Batch resources a plan touches, by the keys plans use (ARNs; a job-definition ARN
without a revision means "its latest ACTIVE revision"). Read-only; the clients are passed in."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from optimizer.apply.fingerprint import queue_order, resource_kind
from optimizer.aws.paginate import paginate
from optimizer.errors import UserError


@contextmanager
def aws_errors(what: str) -> Iterator[None]:
    """AWS refusing a read (no credentials, access denied, throttled out) is one clear line, not a trace."""
    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise UserError(
            f"{what}: AWS said {error.get('Code', 'error')}: {error.get('Message', exc)}"
        ) from None
    except BotoCoreError as exc:
        raise UserError(f"{what}: {exc}") from None


def json_safe(item: dict[str, Any]) -> dict[str, Any]:
    """A Describe item as plain JSON (no response metadata, datetimes as ISO text), for the store."""
    clean = {k: v for k, v in item.items() if k != "ResponseMetadata"}
    return json.loads(
        json.dumps(clean, default=lambda v: v.isoformat() if hasattr(v, "isoformat") else str(v))
    )


class BatchReader:
    """Describe* helpers on one Batch client (and, for drain checks, one ECS client)."""

    def __init__(self, batch: Any, ecs: Any | None = None) -> None:
        self.batch = batch
        self.ecs = ecs

    def compute_environment(self, ident: str) -> dict[str, Any] | None:
        found = self.batch.describe_compute_environments(computeEnvironments=[ident])["computeEnvironments"]
        return json_safe(found[0]) if found else None

    def job_queue(self, ident: str) -> dict[str, Any] | None:
        found = self.batch.describe_job_queues(jobQueues=[ident])["jobQueues"]
        return json_safe(found[0]) if found else None

    def job_definition(self, arn: str) -> dict[str, Any] | None:
        """An exact revision (`name:revision` ARN), or the latest ACTIVE one for an ARN without."""
        tail = arn.rsplit("/", 1)[-1]
        if ":" in tail:
            found = self.batch.describe_job_definitions(jobDefinitions=[arn])["jobDefinitions"]
            return json_safe(found[0]) if found else None
        revisions = [
            item
            for item in paginate(
                self.batch,
                "describe_job_definitions",
                "jobDefinitions",
                jobDefinitionName=tail,
                status="ACTIVE",
            )
            if item.get("status", "ACTIVE") == "ACTIVE"
        ]
        if not revisions:
            return None
        return json_safe(max(revisions, key=lambda item: int(item["revision"])))

    def scheduling_policy(self, arn: str) -> dict[str, Any] | None:
        found = self.batch.describe_scheduling_policies(arns=[arn])["schedulingPolicies"]
        return json_safe(found[0]) if found else None

    def read(self, key: str) -> dict[str, Any] | None:
        kind = resource_kind(key)
        if kind == "scheduling-policy":
            return self.scheduling_policy(key)
        if kind == "compute-environment":
            return self.compute_environment(key)
        if kind == "job-queue":
            return self.job_queue(key)
        if kind == "job-definition":
            return self.job_definition(key)
        raise ValueError(f"cannot read {key}: unknown resource kind {kind}")

    def read_all(self, keys: list[str]) -> dict[str, dict[str, Any] | None]:
        return {key: self.read(key) for key in keys}

    def queues_using(self, ce_arn: str, ce_name: str) -> list[dict[str, Any]]:
        """Job queues whose order names this CE (by ARN or name)."""
        return [
            json_safe(queue)
            for queue in paginate(self.batch, "describe_job_queues", "jobQueues")
            if {ce_arn, ce_name} & set(queue_order(queue.get("computeEnvironmentOrder") or []))
        ]

    def running_tasks(self, ce: dict[str, Any]) -> int:
        """Tasks still running in a CE's ECS cluster (Batch jobs run as ECS tasks there)."""
        cluster = ce.get("ecsClusterArn")
        if not cluster or self.ecs is None:
            return 0
        try:
            tasks = paginate(self.ecs, "list_tasks", "taskArns", cluster=cluster, desiredStatus="RUNNING")
            return sum(1 for _ in tasks)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ClusterNotFoundException":
                return 0  # no cluster, no tasks
            raise
