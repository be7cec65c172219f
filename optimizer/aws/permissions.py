"""IAM permissions declared by the code that needs them, so least-privilege policies are generated.

Collectors declare read actions under the `collector` role, the apply executor declares its write
actions under `apply`, the bill's Athena reader (which starts queries and writes their results to
S3) under `billing`, `batchopt setup events` (the event intake's rule and queues) under `setup`;
`batchopt iam-policy --role NAME` prints the union as a policy document.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_DECLARED: dict[str, set[str]] = defaultdict(set)

ROLES = ("collector", "apply", "report", "billing", "setup")


def declare(role: str, *actions: str) -> None:
    """Record that code running under `role` calls these IAM actions (e.g. "batch:DescribeJobs")."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; expected one of {ROLES}")
    for action in actions:
        service, _, name = action.partition(":")
        if not service or not name:
            raise ValueError(f"IAM action {action!r} is not of the form service:Action")
        _DECLARED[role].add(action)


@dataclass(frozen=True)
class Scope:
    """A narrower grant than `Resource: *` for one action: its own statement with these resources
    and condition. `resource_setting` names a setting (e.g. `report.s3_kms_key_arn`) whose value is
    the only resource; while it is unset the action is left out of the policy (nothing calls it)."""

    resources: tuple[str, ...] = ("*",)
    condition: Mapping[str, Any] | None = None
    resource_setting: str | None = None


_SCOPES: dict[str, dict[str, Scope]] = defaultdict(dict)


def scope(
    role: str,
    action: str,
    *,
    resources: tuple[str, ...] = ("*",),
    condition: Mapping[str, Any] | None = None,
    resource_setting: str | None = None,
) -> None:
    """Declare `action` for `role` (as `declare`) with a narrower grant (see `Scope`)."""
    declare(role, action)
    _SCOPES[role][action] = Scope(resources, condition, resource_setting)


def actions_for(role: str) -> list[str]:
    return sorted(_DECLARED.get(role, set()))


def policy_document(role: str, settings: Mapping[str, str | None] | None = None) -> str:
    """The policy JSON for a role: one statement per AWS service for the unscoped actions (sorted),
    then one statement per scoped action with its resources and condition. `settings` gives the
    values of the settings scoped actions name (`Scope.resource_setting`)."""
    settings = settings or {}
    scopes = _SCOPES.get(role, {})
    by_service: dict[str, list[str]] = defaultdict(list)
    for action in actions_for(role):
        if action not in scopes:
            by_service[action.split(":", 1)[0]].append(action)
    statements: list[dict[str, Any]] = [
        {
            "Sid": f"Batchopt{role.title()}{service.title().replace('-', '')}",
            "Effect": "Allow",
            "Action": actions,
            "Resource": "*",
        }
        for service, actions in sorted(by_service.items())
    ]
    for action, grant in sorted(scopes.items()):
        resources = list(grant.resources)
        if grant.resource_setting is not None:
            value = settings.get(grant.resource_setting)
            if not value:
                continue
            resources = [value]
        statement: dict[str, Any] = {
            "Sid": f"Batchopt{role.title()}{action.replace(':', '').title().replace('-', '')}",
            "Effect": "Allow",
            "Action": [action],
            "Resource": resources if len(resources) > 1 else resources[0],
        }
        if grant.condition:
            statement["Condition"] = dict(grant.condition)
        statements.append(statement)
    return json.dumps({"Version": "2012-10-17", "Statement": statements}, indent=2)
