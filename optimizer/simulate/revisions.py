"""New job definition revisions in a replay: `simulation.jobDefinitionRevisions`.

A recommendation that registers a new revision of a job definition with a retry strategy or an
attempt timeout changes how that definition's jobs run, not the compute environments or queues a
configuration document describes. The replay models it as

    "simulation": {"jobDefinitionRevisions": {
        "<jobDefinitionName>": {"retryStrategy": {...}, "timeout": {"attemptDurationSeconds": N}}}}

with the fields of RegisterJobDefinition: every job of that definition (the history's
`job_definition_name`) runs with the revision's retry strategy and timeout in place of its own,
as jobs submitted against the new revision would. A field the revision leaves out keeps the job's
own value. So `batchopt simulate --config current.json --config proposed.json` reproduces such a
recommendation's figure like any other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from optimizer.errors import ConfigError
from optimizer.simulate.retry import RetryStrategy
from optimizer.simulate.timeouts import attempt_duration_from_api

FIELDS = ("retryStrategy", "timeout")


@dataclass(frozen=True)
class DefinitionRevision:
    """What a new revision sets; None keeps each job's own value."""

    retry_strategy: RetryStrategy | None = None
    attempt_duration_s: float | None = None


def revisions_from_api(
    data: Any, where: str = "simulation.jobDefinitionRevisions"
) -> dict[str, DefinitionRevision]:
    """Parse `{name: {"retryStrategy": ..., "timeout": ...}}`; bad input raises ConfigError naming
    the field."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected an object of job definition name -> revision")
    revisions = {}
    for name, body in data.items():
        here = f"{where}.{name}"
        if not isinstance(body, dict):
            raise ConfigError(f"{here}: expected an object with retryStrategy and/or timeout")
        unknown = sorted(set(body) - set(FIELDS))
        if unknown:
            raise ConfigError(f"{here}.{unknown[0]}: unknown field (known: {', '.join(FIELDS)})")
        retry = body.get("retryStrategy")
        timeout = body.get("timeout")
        revisions[str(name)] = DefinitionRevision(
            retry_strategy=None if retry is None else RetryStrategy.from_api(retry, f"{here}.retryStrategy"),
            attempt_duration_s=None
            if timeout is None
            else attempt_duration_from_api(timeout, f"{here}.timeout"),
        )
    return revisions
