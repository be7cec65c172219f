"""IAM permissions declared by the code that needs them, so least-privilege policies are generated.

Collectors declare read actions under the `collector` role, the apply executor declares its write
actions under `apply`, the bill's Athena reader (which starts queries and writes their results to
S3) under `billing`; `batchopt iam-policy --role NAME` prints the union as a policy document.
"""

from __future__ import annotations

import json
from collections import defaultdict

_DECLARED: dict[str, set[str]] = defaultdict(set)

ROLES = ("collector", "apply", "report", "billing")


def declare(role: str, *actions: str) -> None:
    """Record that code running under `role` calls these IAM actions (e.g. "batch:DescribeJobs")."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; expected one of {ROLES}")
    for action in actions:
        service, _, name = action.partition(":")
        if not service or not name:
            raise ValueError(f"IAM action {action!r} is not of the form service:Action")
        _DECLARED[role].add(action)


def actions_for(role: str) -> list[str]:
    return sorted(_DECLARED.get(role, set()))


def policy_document(role: str) -> str:
    """The policy JSON for a role, one statement per AWS service, actions sorted."""
    by_service: dict[str, list[str]] = defaultdict(list)
    for action in actions_for(role):
        by_service[action.split(":", 1)[0]].append(action)
    statements = [
        {
            "Sid": f"Batchopt{role.title()}{service.title().replace('-', '')}",
            "Effect": "Allow",
            "Action": actions,
            "Resource": "*",
        }
        for service, actions in sorted(by_service.items())
    ]
    return json.dumps({"Version": "2012-10-17", "Statement": statements}, indent=2)
