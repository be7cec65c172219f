"""Rollback plans (pure), built from the "before" of an applied plan and what its calls returned.

Each landed call is undone in reverse order with the values the resource had before: a queue gets
its old order, priority and state back; a CE its old computeResources values and state; a new
job-definition revision is deregistered (jobs submitted by name run the previous revision again); a
CE created by a blue/green switch is disabled, with its minvCpus set to 0 in the same call when it is
an EC2/SPOT CE that keeps some (a DISABLED CE keeps minvCpus running and billed; deleting it is left
to the operator, once drained); a queue's time limits and fair-share policy follow
`optimizer.apply.queue_settings.undo_calls`. Every computeResources key an apply sent that the CE
had before is restored, so the old CE of a blue/green gets its minvCpus back with its state; one it
did not have gets its documented default (bidPercentage 100) or, without one, is named in the
rollback's description as kept (an update cannot unset a key).
The rollback is fingerprinted against the state read back after the apply, so it is refused if
someone changed the resources in between.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from optimizer.apply.fingerprint import fingerprint, short_hash
from optimizer.apply.permissions import actions_for_operation
from optimizer.apply.planner import release_min_vcpus, update_policy_of
from optimizer.apply.queue_settings import undo_calls
from optimizer.domain import ApiCall, ChangePlan

_NOT_RESTORABLE = {"desiredvCpus"}
#: What a computeResources key the CE did not have means, where the model says: a rollback sets it,
#: since an update cannot unset a key ("If you leave this field empty, the default value is 100% of
#: the On-Demand price", ComputeResource.bidPercentage).
_DEFAULT_WHEN_ABSENT = {"bidPercentage": 100}


def _call(operation: str, params: dict[str, Any], plan: ChangePlan, description: str) -> ApiCall:
    return ApiCall(
        "batch", operation, params, plan.update_kind, actions_for_operation(operation), description
    )


def _undo(
    plan: ChangePlan, call: ApiCall, before: Mapping[str, Any] | None, response: Mapping[str, Any]
) -> ApiCall | None:
    op, params = call.operation, call.params
    if op == "update_job_queue" and before is not None:
        restore: dict[str, Any] = {"jobQueue": params["jobQueue"]}
        if "computeEnvironmentOrder" in params:
            restore["computeEnvironmentOrder"] = [
                {"order": int(e["order"]), "computeEnvironment": e["computeEnvironment"]}
                for e in sorted(before["computeEnvironmentOrder"], key=lambda e: int(e["order"]))
            ]
        if "priority" in params:
            restore["priority"] = int(before["priority"])
        if "state" in params:
            restore["state"] = before["state"]
        return _call("update_job_queue", restore, plan, f"restore {before.get('jobQueueName')}")
    if op == "update_compute_environment" and before is not None:
        old = before.get("computeResources") or {}
        sent = [k for k in params.get("computeResources") or {} if k not in _NOT_RESTORABLE]
        resources = {k: old.get(k, _DEFAULT_WHEN_ABSENT.get(k)) for k in sent}
        # A key the CE had no value for, and no documented default: the update cannot unset it.
        lost = sorted(k for k, v in resources.items() if v is None)
        resources = {k: v for k, v in resources.items() if v is not None}
        restore = {"computeEnvironment": params["computeEnvironment"]}
        if resources:
            restore["computeResources"] = resources
        if "updatePolicy" in params:
            # The policy the CE had (Batch's defaults if it had none), not the one the apply sent.
            restore["updatePolicy"] = update_policy_of(before)
        if "state" in params:
            restore["state"] = before["state"]
        if len(restore) == 1:
            return None
        kept = f"; kept as applied (the CE had no value, which an update cannot restore): {', '.join(lost)}"
        return _call(
            "update_compute_environment",
            restore,
            plan,
            f"restore {before.get('computeEnvironmentName')}" + (kept if lost else ""),
        )
    if op == "create_compute_environment":
        name = params["computeEnvironmentName"]
        target = response.get("computeEnvironmentArn") or name
        disable: dict[str, Any] = {"computeEnvironment": target, "state": "DISABLED"}
        # The create request has the Describe item's shape: its computeResources say type and minvCpus.
        release = release_min_vcpus(params, target)
        if release is not None:
            disable["computeResources"] = release["computeResources"]
        return _call(
            "update_compute_environment",
            disable,
            plan,
            f"disable {name} (created by the apply; delete it once drained)"
            + (", minvCpus to 0 so it keeps no instances" if release is not None else ""),
        )
    if op == "register_job_definition":
        arn = response.get("jobDefinitionArn")
        if not arn:
            return None
        return _call(
            "deregister_job_definition",
            {"jobDefinition": arn},
            plan,
            f"deregister {arn.rsplit('/', 1)[-1]}: the previous revision is the latest ACTIVE again",
        )
    return None


def build_rollback(
    plan: ChangePlan,
    landed: Sequence[tuple[int, Mapping[str, Any]]],
    after: Mapping[str, Mapping[str, Any] | None],
) -> ChangePlan | None:
    """The rollback of `plan`: `landed` pairs the index of each landed call with its response;
    `after` is every resource of the plan read back after the apply (the rollback's fingerprint).
    None when nothing landed that needs undoing."""
    resources_before: Mapping[str, Any] = (plan.before or {}).get("resources", {})
    observe: list[str] = (plan.before or {}).get("observe", [])
    undo: list[tuple[ApiCall, str, str]] = []  # (call, resource it is fingerprinted on, resource it changes)
    for index, response in sorted(landed, key=lambda pair: pair[0], reverse=True):
        call = plan.calls[index]
        key = observe[index]
        # A queue's time limits and fair-share resources (`queue_settings`) may take several calls.
        own = undo_calls(call, resources_before.get(key), response)
        if own is not None:
            undo += [(_call(op, params, plan, text), key, key) for op, params, text in own]
            continue
        reverse = _undo(plan, call, resources_before.get(key), response)
        if reverse is None:
            continue
        # A deregistration shows on the exact revision; its fingerprint stays on "latest ACTIVE of
        # the name", so a revision registered by someone else since the apply refuses the rollback.
        observe_key = key
        if call.operation == "register_job_definition":
            observe_key = response.get("jobDefinitionArn", key)
        undo.append((reverse, key, observe_key))
    if not undo:
        return None
    state = {key: after.get(key) for key in dict.fromkeys(k for _, k, _ in undo)}
    fp = fingerprint(state)
    calls = tuple(c for c, _, _ in undo)
    plan_id = "rb-" + short_hash([plan.id, fp, [(c.operation, c.params) for c in calls]])
    before = {"resources": dict(state), "observe": [k for _, _, k in undo], "rolls_back": plan.id}
    return ChangePlan(
        plan_id, plan.recommendation_id, "rollback", plan.target_arn, fp, plan.update_kind, calls, before
    )
