"""Planner (pure) for a job queue's own settings: job-state time limits and fair-share scheduling.

Two recommendations change how a queue schedules rather than where it runs:

- **job-state time limits** (`stuck-job-limits`, proposed `job_state_time_limit_actions`): one
  UpdateJobQueue with the whole `jobStateTimeLimitActions` list (Batch replaces the list). Rolled
  back by an UpdateJobQueue with the list the queue had before (an empty list when it had none).
- **fair share** (`fair-share`, proposed `scheduling_policy`): a queue that already has a fair-share
  policy gets UpdateSchedulingPolicy on that policy (rolled back with the policy it had). A FIFO
  queue cannot get one: botocore's model for CreateJobQueue says "A job queue without a fair-share
  scheduling policy is scheduled as a FIFO job queue and can't have a fair-share scheduling policy
  added". So the plan is CreateSchedulingPolicy, then CreateJobQueue (`new_job_queue`: the same
  compute environments in the same order, the same priority and time limits, the new policy); the
  old queue is left as it is, and jobs reach the new one only when submitters send them there with a
  shareIdentifier. Rolled back by disabling and deleting the new queue, then deleting the policy.

The proposal's snake_case names map onto the API's as `POLICY_FIELDS` says; the botocore model
checks every request when it is sent.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from optimizer.apply import shapes
from optimizer.apply.fingerprint import queue_order
from optimizer.apply.planner import CurrentState, _call, _check_not_stale, _finish
from optimizer.domain import ApiCall, ChangePlan, Recommendation, UpdateKind
from optimizer.errors import InputError, RefusedError, UserError
from optimizer.simulate.fair_share import MAX_DECAY_S, MAX_WEIGHT, MIN_WEIGHT, RESOURCE_NAME
from optimizer.simulate.shares import MAX_SHARE_LENGTH
from optimizer.simulate.timeouts import MAX_STATE_TIME_S, MIN_STATE_TIME_S, REMEDIABLE_REASONS

TIME_LIMITS = "job_state_time_limit_actions"
POLICY = "scheduling_policy"
NEW_QUEUE = "new_job_queue"
QUEUE_SETTING_KEYS = frozenset({TIME_LIMITS, POLICY, NEW_QUEUE})
"""Proposed fields that make a job-queue recommendation one of this module's."""

POLICY_FIELDS = {
    "share_decay_seconds": "shareDecaySeconds",
    "compute_reservation": "computeReservation",
    "share_distribution": "shareDistribution",
}
DEFAULT_WEIGHT = 1.0
"""ShareAttributes.weightFactor when a share lists none (the model's default)."""
SHARE_IDENTIFIER = re.compile(rf"[A-Za-z0-9]{{1,{MAX_SHARE_LENGTH}}}\*?")
"""ShareAttributes.shareIdentifier in the API reference: up to 255 alphanumeric characters, and an
optional trailing * for a prefix (matched whole: `fullmatch`, so no trailing newline slips by)."""


def is_queue_settings(rec: Recommendation) -> bool:
    return rec.target_kind == "job-queue" and bool(set(rec.proposed) & QUEUE_SETTING_KEYS)


def policy_arn(queue_arn: str, name: str) -> str:
    """The ARN a scheduling policy named `name` has in the queue's account and region."""
    return queue_arn.split(":job-queue/", 1)[0] + f":scheduling-policy/{name}"


def plan_queue_settings(rec: Recommendation, state: CurrentState) -> ChangePlan:
    unknown = set(rec.proposed) - QUEUE_SETTING_KEYS
    if unknown:
        raise InputError(
            f"recommendation {rec.id}: proposed fields {sorted(unknown)} cannot be applied together with"
            f" {sorted(set(rec.proposed) & QUEUE_SETTING_KEYS)}"
        )
    if TIME_LIMITS in rec.proposed:
        if set(rec.proposed) != {TIME_LIMITS}:
            raise InputError(f"recommendation {rec.id}: {TIME_LIMITS} is applied on its own")
        return _plan_time_limits(rec, state)
    if POLICY not in rec.proposed:
        raise InputError(f"recommendation {rec.id}: {NEW_QUEUE} needs a {POLICY}")
    return _plan_fair_share(rec, state)


# --- job-state time limits ---------------------------------------------------------------------


def time_limit_actions(
    rec_id: str, entries: Any, kept: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """The proposed `jobStateTimeLimitActions`, checked as the model and the user guide state them:
    state RUNNABLE, action CANCEL, maxTimeSeconds 600..86400, one entry per reason, and a reason
    the user guide lists as supporting them (`REMEDIABLE_REASONS`; Batch never acts on another).
    An entry the queue already has (`kept`) is carried as Batch accepted it."""
    if not isinstance(entries, list) or not entries:
        raise InputError(f"recommendation {rec_id}: {TIME_LIMITS} must be a non-empty list")
    out, reasons = [], set()
    for index, entry in enumerate(entries):
        where = f"recommendation {rec_id}: {TIME_LIMITS}[{index}]"
        if not isinstance(entry, dict) or set(entry) != {"reason", "state", "maxTimeSeconds", "action"}:
            raise InputError(f"{where} needs exactly reason, state, maxTimeSeconds and action")
        if entry not in (kept or []):
            _check_new_time_limit(where, entry)
        if entry["reason"] in reasons:
            raise InputError(f"{where}.reason {entry['reason']!r} is listed twice")
        reasons.add(entry["reason"])
        out.append({k: entry[k] for k in ("reason", "state", "maxTimeSeconds", "action")})
    return out


def _check_new_time_limit(where: str, entry: dict[str, Any]) -> None:
    seconds = entry["maxTimeSeconds"]
    if isinstance(seconds, bool) or not isinstance(seconds, int):
        raise InputError(f"{where}.maxTimeSeconds must be an integer")
    if not MIN_STATE_TIME_S <= seconds <= MAX_STATE_TIME_S:
        raise InputError(f"{where}.maxTimeSeconds must be from {MIN_STATE_TIME_S} to {MAX_STATE_TIME_S}")
    if entry["state"] != "RUNNABLE" or entry["action"] != "CANCEL":
        raise InputError(f"{where}: Batch acts on RUNNABLE jobs with CANCEL on EC2/Fargate queues")
    if entry["reason"] not in REMEDIABLE_REASONS:
        raise InputError(
            f"{where}.reason {entry['reason']!r} is not one Batch acts on: {', '.join(REMEDIABLE_REASONS)}"
        )


def _plan_time_limits(rec: Recommendation, state: CurrentState) -> ChangePlan:
    queue = state.target
    arn = queue["jobQueueArn"]
    now = list(queue.get("jobStateTimeLimitActions") or [])
    _check_not_stale(rec, {TIME_LIMITS: now} if TIME_LIMITS in rec.current else {})
    wanted = time_limit_actions(rec.id, rec.proposed[TIME_LIMITS], kept=now)
    if wanted == now:
        raise UserError(f"recommendation {rec.id}: {queue['jobQueueName']} already has these time limits")
    params = {"jobQueue": arn, "jobStateTimeLimitActions": wanted}
    description = f"set {queue['jobQueueName']}'s job-state time limits: " + "; ".join(
        f"cancel RUNNABLE jobs blocked by {e['reason']} after {e['maxTimeSeconds']} s" for e in wanted
    )
    call = _call("update_job_queue", params, UpdateKind.QUEUE_SETTINGS, description)
    return _finish(rec, UpdateKind.QUEUE_SETTINGS, arn, [(call, arn)], {arn: queue})


# --- fair share ---------------------------------------------------------------------------------


def fairshare_policy(rec_id: str, proposed: dict[str, Any]) -> dict[str, Any]:
    """The API `fairsharePolicy` of a proposal, checked against the model's documented ranges."""
    unknown = set(proposed) - set(POLICY_FIELDS) - {"name"}
    if unknown:
        raise InputError(f"recommendation {rec_id}: {POLICY} fields {sorted(unknown)} are not known")
    policy: dict[str, Any] = {}
    decay = proposed.get("share_decay_seconds")
    if decay is not None:
        if isinstance(decay, bool) or not isinstance(decay, int) or not 0 <= decay <= MAX_DECAY_S:
            raise InputError(f"recommendation {rec_id}: share_decay_seconds must be 0..{MAX_DECAY_S}")
        policy["shareDecaySeconds"] = decay
    reservation = proposed.get("compute_reservation")
    if reservation is not None:
        if isinstance(reservation, bool) or not isinstance(reservation, int) or not 0 <= reservation <= 99:
            raise InputError(f"recommendation {rec_id}: compute_reservation must be 0..99")
        policy["computeReservation"] = reservation
    entries = proposed.get("share_distribution") or []
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise InputError(f"recommendation {rec_id}: share_distribution must be a list of objects")
    shares = []
    for entry in entries:
        # weightFactor is optional in the model (Batch's default is 1.0).
        ident, weight = entry.get("shareIdentifier"), entry.get("weightFactor", DEFAULT_WEIGHT)
        if not isinstance(ident, str) or not SHARE_IDENTIFIER.fullmatch(ident):
            raise InputError(
                f"recommendation {rec_id}: shareIdentifier {ident!r} is not valid (Batch takes up to"
                f" {MAX_SHARE_LENGTH} alphanumeric characters, optionally followed by *)"
            )
        bad_type = isinstance(weight, bool) or not isinstance(weight, int | float)
        if bad_type or not MIN_WEIGHT <= float(weight) <= MAX_WEIGHT:
            raise InputError(
                f"recommendation {rec_id}: weightFactor of {ident} must be from {MIN_WEIGHT} to {MAX_WEIGHT}"
            )
        shares.append({"shareIdentifier": ident, "weightFactor": float(weight)})
    _check_no_overlap(rec_id, [s["shareIdentifier"] for s in shares])
    if shares:
        policy["shareDistribution"] = shares
    return policy


def _check_no_overlap(rec_id: str, identifiers: list[str]) -> None:
    """ShareAttributes in the model: "The list of share identifiers in a fair-share policy can't
    overlap" (not UserA* with UserA1); nor can one be listed twice."""
    for i, first in enumerate(identifiers):
        for second in identifiers[i + 1 :]:
            if first == second or any(
                a.endswith("*") and b.rstrip("*").startswith(a[:-1])
                for a, b in ((first, second), (second, first))
            ):
                raise InputError(
                    f"recommendation {rec_id}: shareIdentifiers {first!r} and {second!r} overlap; Batch"
                    " takes each share once"
                )


def resource_name(rec_id: str, field: str, value: Any) -> str:
    """A new queue's or policy's name, checked as the model documents it."""
    if not isinstance(value, str) or not RESOURCE_NAME.fullmatch(value):
        raise InputError(
            f"recommendation {rec_id}: {field} {value!r} is not valid (up to 128 letters, numbers, - and _)"
        )
    return value


def _plan_fair_share(rec: Recommendation, state: CurrentState) -> ChangePlan:
    queue = state.target
    arn, name = queue["jobQueueArn"], queue["jobQueueName"]
    existing = queue.get("schedulingPolicyArn")
    _check_not_stale(rec, {"scheduling_policy_arn": existing})
    policy = fairshare_policy(rec.id, rec.proposed[POLICY])
    if existing:
        if NEW_QUEUE in rec.proposed:
            raise InputError(f"recommendation {rec.id}: {name} has a scheduling policy; update it in place")
        item = next((p for p in state.scheduling_policies if p.get("arn") == existing), None)
        if item is None:
            raise UserError(f"recommendation {rec.id}: scheduling policy {existing} not found")
        if item.get("quotaSharePolicy") and not item.get("fairsharePolicy"):
            # botocore's model: a policy's type is set at creation and cannot change.
            raise UserError(
                f"recommendation {rec.id}: {item['name']} is a quota-share policy; Batch cannot make it"
                " fair-share"
            )
        if _policy_view(item.get("fairsharePolicy")) == _policy_view(policy):
            raise UserError(f"recommendation {rec.id}: {item['name']} already has the proposed policy")
        params = {"arn": existing, "fairsharePolicy": policy}
        call = _call(
            "update_scheduling_policy",
            params,
            UpdateKind.QUEUE_SETTINGS,
            f"update {item['name']} (the fair-share policy of {name}): {_describe(policy)}",
        )
        return _finish(rec, UpdateKind.QUEUE_SETTINGS, arn, [(call, existing)], {arn: queue, existing: item})
    new = rec.proposed.get(NEW_QUEUE) or {}
    if not new.get("name"):
        raise InputError(
            f"recommendation {rec.id}: {name} is a FIFO queue, which Batch cannot give a scheduling"
            f" policy; the proposal needs {NEW_QUEUE}.name for a fair-share queue beside it"
        )
    if queue.get("status") in ("DELETING", "DELETED") or not queue_order(
        queue.get("computeEnvironmentOrder") or []
    ):
        raise RefusedError(f"recommendation {rec.id}: {name} has no compute environments to share")
    queue_name = resource_name(rec.id, f"{NEW_QUEUE}.name", new["name"])
    policy_name = resource_name(rec.id, f"{POLICY}.name", rec.proposed[POLICY].get("name") or queue_name)
    new_policy_arn = policy_arn(arn, policy_name)
    new_queue_arn = f"{arn.rsplit('/', 1)[0]}/{new['name']}"
    create_policy = _call(
        "create_scheduling_policy",
        {
            "name": policy_name,
            "fairsharePolicy": policy,
            "tags": shapes.copied_tags("CreateSchedulingPolicy", {}, **{"batchopt:fair-share-for": name}),
        },
        UpdateKind.BLUE_GREEN,
        f"create fair-share policy {policy_name}: {_describe(policy)}",
    )
    body = shapes.as_request("CreateJobQueue", copy.deepcopy(queue))
    body.update(
        jobQueueName=new["name"],
        state="ENABLED",
        schedulingPolicyArn=new_policy_arn,
        computeEnvironmentOrder=[
            {"order": int(e["order"]), "computeEnvironment": e["computeEnvironment"]}
            for e in sorted(queue["computeEnvironmentOrder"], key=lambda e: int(e["order"]))
        ],
        tags=shapes.copied_tags("CreateJobQueue", queue.get("tags"), **{"batchopt:fair-share-of": name}),
    )
    # Describe* may list empty ones; CreateJobQueue takes a serviceEnvironmentOrder only without a
    # computeEnvironmentOrder ("can't have both", botocore's model).
    for empty in ("jobStateTimeLimitActions", "serviceEnvironmentOrder"):
        if not body.get(empty):
            body.pop(empty, None)
    create_queue = _call(
        "create_job_queue",
        body,
        UpdateKind.BLUE_GREEN,
        f"create {new['name']} beside {name} (same compute environments, priority {body['priority']}) with"
        f" {policy_name}; submit jobs there with a shareIdentifier",
    )
    calls: list[tuple[ApiCall, str]] = [(create_policy, new_policy_arn), (create_queue, new_queue_arn)]
    resources = {arn: queue, new_policy_arn: None, new_queue_arn: None}
    return _finish(rec, UpdateKind.BLUE_GREEN, arn, calls, resources)


def _describe(policy: dict[str, Any]) -> str:
    shares = ", ".join(
        f"{s['shareIdentifier']}={s.get('weightFactor', DEFAULT_WEIGHT):g}"
        for s in policy.get("shareDistribution", [])
    )
    return (
        f"shareDecaySeconds={policy.get('shareDecaySeconds', 0)},"
        f" computeReservation={policy.get('computeReservation', 0)}, weights {shares or 'all 1.0'}"
    )


# --- rollback ------------------------------------------------------------------------------------


def undo_calls(
    call: ApiCall, before: dict[str, Any] | None, response: dict[str, Any]
) -> list[tuple[str, dict[str, Any], str]] | None:
    """(operation, params, description) that undo one landed call of these plans, in order; None
    when `call` is not one of this module's (the general rollback rules apply)."""
    op, params = call.operation, call.params
    if op == "update_job_queue" and "jobStateTimeLimitActions" in params and before is not None:
        previous = list(before.get("jobStateTimeLimitActions") or [])
        return [
            (
                "update_job_queue",
                {"jobQueue": params["jobQueue"], "jobStateTimeLimitActions": previous},
                f"restore {before.get('jobQueueName')}'s job-state time limits ({len(previous)} before)",
            )
        ]
    if op == "update_scheduling_policy" and before is not None:
        return [
            (
                "update_scheduling_policy",
                {"arn": params["arn"], "fairsharePolicy": _whole_policy(before.get("fairsharePolicy"))},
                f"restore {before.get('name')}",
            )
        ]
    if op == "create_job_queue":
        target = response.get("jobQueueArn") or params["jobQueueName"]
        name = params["jobQueueName"]
        return [
            (
                "update_job_queue",
                {"jobQueue": target, "state": "DISABLED"},
                f"disable {name} (created by the apply)",
            ),
            ("delete_job_queue", {"jobQueue": target}, f"delete {name}"),
        ]
    if op == "create_scheduling_policy":
        target = response.get("arn") or params["name"]
        return [("delete_scheduling_policy", {"arn": target}, f"delete scheduling policy {params['name']}")]
    return None


def _whole_policy(policy: dict[str, Any] | None) -> dict[str, Any]:
    """A fairsharePolicy with every field set (Batch's defaults where the old one had none): the
    restore must also clear the shares and settings the apply added, which an omitted field might
    leave in place."""
    policy = policy or {}
    return {
        "shareDecaySeconds": int(policy.get("shareDecaySeconds") or 0),
        "computeReservation": int(policy.get("computeReservation") or 0),
        "shareDistribution": [dict(s) for s in policy.get("shareDistribution") or []],
    }


# --- read-back ----------------------------------------------------------------------------------


def read_back(call: ApiCall, observed: dict[str, Any] | None) -> tuple[bool, str] | None:
    """(landed, detail) for the operations only these plans send; None for any other operation."""
    op, params = call.operation, call.params
    gone = observed is None or observed.get("status") in ("DELETING", "DELETED")
    if (
        op == "update_job_queue"
        and params.get("state") == "DISABLED"
        and set(params) == {"jobQueue", "state"}
    ):
        # A rollback disables the queue it created and then deletes it: gone reads as disabled.
        return (True, "disabled, then deleted") if gone else None
    if op in ("delete_job_queue", "delete_scheduling_policy"):
        return gone, "deleted" if gone else f"still there (status {(observed or {}).get('status')})"
    if op not in ("create_scheduling_policy", "update_scheduling_policy", "create_job_queue"):
        return None
    if observed is None:
        return False, "the resource is not there"
    if op == "create_job_queue":
        pairs = [
            ("schedulingPolicyArn", observed.get("schedulingPolicyArn"), params.get("schedulingPolicyArn")),
            (
                "computeEnvironmentOrder",
                queue_order(observed.get("computeEnvironmentOrder") or []),
                queue_order(params["computeEnvironmentOrder"]),
            ),
        ]
    else:
        pairs = [
            (
                "fairsharePolicy",
                _policy_view(observed.get("fairsharePolicy")),
                _policy_view(params["fairsharePolicy"]),
            )
        ]
    wrong = [f"{name} is {got!r}, expected {want!r}" for name, got, want in pairs if got != want]
    return (False, "; ".join(wrong)) if wrong else (True, "read back as planned")


def _policy_view(policy: dict[str, Any] | None) -> dict[str, Any]:
    """A fairsharePolicy compared by value: Batch reports the defaults (0) it applied, and weights
    as floats; shares in identifier order."""
    policy = policy or {}
    return {
        "shareDecaySeconds": int(policy.get("shareDecaySeconds") or 0),
        "computeReservation": int(policy.get("computeReservation") or 0),
        "shareDistribution": sorted(
            (str(s["shareIdentifier"]), float(s.get("weightFactor", DEFAULT_WEIGHT)))
            for s in policy.get("shareDistribution") or []
        ),
    }
