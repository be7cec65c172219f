"""Read-back verification (pure): did an API call's effect land on the resource Batch describes now?

An accepted request is not a landed change: Batch may reject it asynchronously, and emulators accept
calls they ignore (moto 5.2.5 drops computeResources in UpdateComputeEnvironment). So every call is
checked against a fresh Describe* of the resource it changes, field by field, and the verdict names
what differs. The same check decides, after a crash, whether an interrupted apply had landed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from optimizer.apply.fingerprint import queue_order
from optimizer.apply.planner import update_policy_of
from optimizer.apply.queue_settings import read_back
from optimizer.domain import ApiCall

_SET_LIKE = {"instanceTypes", "subnets", "securityGroupIds"}
_IGNORED_ON_READ_BACK = {"desiredvCpus"}  # Batch's own scaling moves it at any time


@dataclass(frozen=True, slots=True)
class Verdict:
    landed: bool
    detail: str


def _same(field: str, observed: Any, expected: Any) -> bool:
    if field.rsplit(".", 1)[-1] in _SET_LIKE:
        return sorted(observed or []) == sorted(expected or [])
    if isinstance(expected, int | float) and observed is not None:
        try:
            return float(observed) == float(expected)
        except (TypeError, ValueError):
            return False
    return bool(observed == expected)


def _compare(pairs: list[tuple[str, Any, Any]]) -> Verdict:
    wrong = [f"{name} is {obs!r}, expected {exp!r}" for name, obs, exp in pairs if not _same(name, obs, exp)]
    if wrong:
        return Verdict(False, "; ".join(wrong))
    return Verdict(True, "read back as planned")


def _by_reason(actions: list[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    return sorted((dict(a) for a in actions or []), key=lambda a: str(a.get("reason")))


def _requirements(container: Mapping[str, Any] | None) -> dict[str, str]:
    return {r["type"]: str(r["value"]) for r in (container or {}).get("resourceRequirements") or []}


def verify_call(
    call: ApiCall,
    observed: Mapping[str, Any] | None,
    before: Mapping[str, Any] | None,
    response: Mapping[str, Any] | None = None,
) -> Verdict:
    """Whether `call` shows in `observed` (the resource read back); `before` is what it was planned on."""
    params = call.params
    op = call.operation
    own = read_back(call, dict(observed) if observed is not None else None)
    if own is not None:
        return Verdict(*own)  # fair-share policies and queues (`queue_settings`)
    if op == "deregister_job_definition":
        status = (observed or {}).get("status", "INACTIVE")
        return Verdict(status == "INACTIVE", f"revision is {status}")
    if observed is None:
        return Verdict(False, "the resource is not there")
    if op == "update_job_queue":
        pairs: list[tuple[str, Any, Any]] = []
        if "computeEnvironmentOrder" in params:
            pairs.append(
                (
                    "computeEnvironmentOrder",
                    queue_order(observed.get("computeEnvironmentOrder") or []),
                    queue_order(params["computeEnvironmentOrder"]),
                )
            )
        for field in ("priority", "state"):
            if field in params:
                pairs.append((field, observed.get(field), params[field]))
        if "jobStateTimeLimitActions" in params:
            # One action per reason, each acting on its own: the list reads back as a set.
            limits = _by_reason(observed.get("jobStateTimeLimitActions"))
            pairs.append(("jobStateTimeLimitActions", limits, _by_reason(params["jobStateTimeLimitActions"])))
        return _compare(pairs)
    if op in ("update_compute_environment", "create_compute_environment"):
        resources = observed.get("computeResources") or {}
        pairs = [
            (f"computeResources.{k}", resources.get(k), v)
            for k, v in (params.get("computeResources") or {}).items()
            if k not in _IGNORED_ON_READ_BACK and k != "tags"
        ]
        if "state" in params:
            pairs.append(("state", observed.get("state"), params["state"]))
        policy = update_policy_of(observed)  # a CE describing no policy has Batch's defaults
        for key, value in (params.get("updatePolicy") or {}).items():
            pairs.append((f"updatePolicy.{key}", policy.get(key), value))
        return _compare(pairs)
    if op == "register_job_definition":
        arn = observed.get("jobDefinitionArn")
        if before is not None and arn == before.get("jobDefinitionArn"):
            return Verdict(False, f"latest ACTIVE revision is still {arn}")
        if response and response.get("jobDefinitionArn") and response["jobDefinitionArn"] != arn:
            return Verdict(False, f"latest ACTIVE revision is {arn}, not {response['jobDefinitionArn']}")
        expected = _requirements(params.get("containerProperties"))
        got = _requirements(observed.get("containerProperties"))
        pairs = [("resourceRequirements", got, expected)]
        if "nodeProperties" in params:  # an MNP revision: node count and every range's requests
            want, seen = params["nodeProperties"], observed.get("nodeProperties") or {}
            pairs.append(("nodeProperties.numNodes", seen.get("numNodes"), want.get("numNodes")))
            pairs.append(
                (
                    "nodeRangeProperties",
                    [_requirements(r.get("container")) for r in seen.get("nodeRangeProperties") or []],
                    [_requirements(r.get("container")) for r in want.get("nodeRangeProperties") or []],
                )
            )
        return _compare(pairs)
    raise ValueError(f"no read-back rule for {op}")
