"""Normalised views of Batch Describe* items and the fingerprint a change plan is planned against.

Only the fields a change could conflict with are kept, in a canonical order, so a fingerprint moves
when someone else changes the resource and stays put when AWS merely reports it differently. Two
fields are left out on purpose: `status` (VALID/UPDATING flips on its own; the executor checks it
separately) and `desiredvCpus`, which Batch's own scaling changes every few minutes; a plan that
included it would be refused almost every time it is applied.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

COMPUTE_RESOURCE_FIELDS = (
    "type",
    "allocationStrategy",
    "minvCpus",
    "maxvCpus",
    "instanceTypes",
    "subnets",
    "securityGroupIds",
    "instanceRole",
    "bidPercentage",
    "spotIamFleetRole",
    "imageId",
    "ec2KeyPair",
    "placementGroup",
    "launchTemplate",
    "ec2Configuration",
    "tags",
)
"""computeResources fields that matter for a change; list-valued ones are compared as sets."""

_SET_LIKE = {"instanceTypes", "subnets", "securityGroupIds"}

JOB_DEFINITION_FIELDS = (
    "jobDefinitionName",
    "jobDefinitionArn",
    "revision",
    "status",
    "type",
    "parameters",
    "retryStrategy",
    "timeout",
    "containerProperties",
    "nodeProperties",
    "eksProperties",
    "ecsProperties",
    "platformCapabilities",
    "propagateTags",
    "schedulingPriority",
    "tags",
)


def canonical_json(value: Any) -> str:
    """One spelling per value: sorted keys, no whitespace (the input of every hash here)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def short_hash(value: Any, length: int = 16) -> str:
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()[:length]


def resource_kind(arn: str) -> str:
    """`compute-environment`, `job-queue`, `job-definition` or `scheduling-policy`, from a Batch ARN."""
    resource = arn.split(":", 5)[-1]
    return resource.split("/", 1)[0]


def normalise_compute_environment(item: Mapping[str, Any]) -> dict[str, Any]:
    resources = item.get("computeResources") or {}
    kept: dict[str, Any] = {}
    for name in COMPUTE_RESOURCE_FIELDS:
        if name in resources and resources[name] is not None:
            value = resources[name]
            kept[name] = sorted(value) if name in _SET_LIKE else value
    return {
        "arn": item.get("computeEnvironmentArn"),
        "name": item.get("computeEnvironmentName"),
        "type": item.get("type"),
        "state": item.get("state"),
        "serviceRole": item.get("serviceRole"),
        "computeResources": kept,
    }


def queue_order(order: Iterable[Mapping[str, Any]]) -> list[str]:
    """A queue's computeEnvironmentOrder as the list of CE identifiers, first choice first."""
    return [entry["computeEnvironment"] for entry in sorted(order, key=lambda e: int(e["order"]))]


def normalise_job_queue(item: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "arn": item.get("jobQueueArn"),
        "name": item.get("jobQueueName"),
        "state": item.get("state"),
        "priority": int(item["priority"]) if item.get("priority") is not None else None,
        "computeEnvironmentOrder": queue_order(item.get("computeEnvironmentOrder") or []),
        "schedulingPolicyArn": item.get("schedulingPolicyArn"),
        "jobStateTimeLimitActions": item.get("jobStateTimeLimitActions") or [],
    }


def normalise_scheduling_policy(item: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "arn": item.get("arn"),
        "name": item.get("name"),
        "fairsharePolicy": item.get("fairsharePolicy") or {},
        "quotaSharePolicy": item.get("quotaSharePolicy") or {},
    }


def normalise_job_definition(item: Mapping[str, Any]) -> dict[str, Any]:
    return {name: item[name] for name in JOB_DEFINITION_FIELDS if item.get(name) is not None}


def normalise(item: Mapping[str, Any]) -> dict[str, Any]:
    """The normalised view of any Batch Describe* item (CE, job queue, job definition, scheduling policy)."""
    if "computeEnvironmentArn" in item:
        return normalise_compute_environment(item)
    if "jobQueueArn" in item:
        return normalise_job_queue(item)
    if "jobDefinitionArn" in item:
        return normalise_job_definition(item)
    if ":scheduling-policy/" in str(item.get("arn", "")):
        return normalise_scheduling_policy(item)
    raise ValueError(f"not a Batch Describe* item: keys {sorted(item)[:6]}")


def fingerprint(resources: Mapping[str, Mapping[str, Any] | None]) -> str:
    """Hash of the normalised resources a plan touches, keyed by the ARN each was asked for.

    A missing resource (None) is part of the fingerprint too: a plan that creates a CE is stale
    once something with that name exists.
    """
    view = {key: (normalise(item) if item is not None else None) for key, item in resources.items()}
    return "sha256:" + hashlib.sha256(canonical_json(view).encode()).hexdigest()


def changed_fields(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> list[str]:
    """Top-level (and computeResources) fields that differ between two Describe items, for messages."""
    if before is None or after is None:
        return ["<exists>"] if (before is None) != (after is None) else []
    old, new = normalise(before), normalise(after)
    names: list[str] = []
    for key in sorted(set(old) | set(new)):
        if key == "computeResources":
            inner_old, inner_new = old.get(key) or {}, new.get(key) or {}
            names += [
                f"computeResources.{k}"
                for k in sorted(set(inner_old) | set(inner_new))
                if inner_old.get(k) != inner_new.get(k)
            ]
        elif old.get(key) != new.get(key):
            names.append(key)
    return names
