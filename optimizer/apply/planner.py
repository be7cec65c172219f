"""Planner (pure): a recommendation plus what Batch reports now -> a ChangePlan of exact API calls.

How Batch can apply each change decides the calls:

- **scaling** (min/max/desired vCPUs): UpdateComputeEnvironment in place on any managed CE.
- **infrastructure** (instance types, allocation strategy, EC2<->SPOT, bid percentage): in place only
  when the CE uses the AWSServiceRoleForBatch service-linked role and its allocation strategy is
  BEST_FIT_PROGRESSIVE, SPOT_CAPACITY_OPTIMIZED or SPOT_PRICE_CAPACITY_OPTIMIZED before and after.
  The update carries `updatePolicy = {terminateJobsOnUpdate: false, jobExecutionTimeoutMinutes: 30}`
  by default: running jobs are never killed; Batch waits up to 30 minutes for them before replacing
  their instances (both values are `PlannerOptions`).
- **blue/green** otherwise (BEST_FIT CEs, a custom service role, EC2<->Fargate): CreateComputeEnvironment
  with a copy of the CE and the new values, UpdateJobQueue on every queue that used the old CE (the new
  CE takes its place in the order), then the old CE is DISABLED once its running tasks drained (the
  executor waits for that before sending that call) and, for an EC2/SPOT CE with a minvCpus above 0,
  its minvCpus is set to 0 by one more call: Batch keeps minvCpus running (and billed) on a DISABLED
  CE. The copy gets the old CE's own `updatePolicy` with an update, except on Fargate (EC2 only).
  Whenever `instanceTypes` changes, every launch template override's `targetInstanceTypes` must
  stay within the new set (the model's rule), or the plan is refused before any call.
- **queue order**: UpdateJobQueue; spot adoption may first create the spot CE from an existing one,
  and retry-and-spot first registers the job definition revisions that retry host reclaims.
- **queue settings**: job-state time limits and fair-share policies (`optimizer.apply.queue_settings`).
- **new revision**: RegisterJobDefinition built from the current ACTIVE revision with new
  resourceRequirements (right-sizing), or with a new `timeout` / `retryStrategy` (attempt
  timeouts, retry-and-spot); rolled back by deregistering the new revision.

`Recommendation.proposed` uses the snake_case names of `ComputeEnvironmentConfig` (see
`CE_FIELDS`; `instance_types` is a list of names), `compute_environment_order` / `priority` /
`state` (ENABLED or DISABLED, botocore's `JQState`) / `new_compute_environment` for queues, and
`vcpus` / `memory_mib` / `gpus` for job definitions.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from optimizer.apply import node_size, shapes
from optimizer.apply.fingerprint import fingerprint, queue_order, short_hash
from optimizer.apply.permissions import actions_for_operation
from optimizer.catalog.batch_rules import (
    ALLOCATION_STRATEGIES,
    EC2_CE_TYPES,
    INSTANCE_ALIASES,
    UPDATABLE_STRATEGIES,
    entry_architectures,
    is_fargate_size,
    uses_service_linked_role,
)
from optimizer.domain import ApiCall, ChangePlan, Recommendation, UpdateKind
from optimizer.errors import InputError, RefusedError, UserError

CE_FIELDS = {
    "min_vcpus": "minvCpus",
    "max_vcpus": "maxvCpus",
    "desired_vcpus": "desiredvCpus",
    "instance_types": "instanceTypes",
    "allocation_strategy": "allocationStrategy",
    "platform": "type",
    "bid_percentage": "bidPercentage",
    "instance_role": "instanceRole",
}
"""Recommendation field -> computeResources field."""

SCALING_FIELDS = frozenset({"minvCpus", "maxvCpus", "desiredvCpus"})
#: Strategies whose CEs Batch updates in place beyond scaling (`optimizer.catalog.batch_rules`).
INFRASTRUCTURE_STRATEGIES = UPDATABLE_STRATEGIES
STRATEGIES_BY_TYPE = {
    ce_type: frozenset(n for n, rule in ALLOCATION_STRATEGIES.items() if ce_type in rule.capacity_types)
    for ce_type in EC2_CE_TYPES
}
FARGATE_TYPES = frozenset({"FARGATE", "FARGATE_SPOT"})
EC2_ONLY_FIELDS = (
    "allocationStrategy",
    "minvCpus",
    "desiredvCpus",
    "instanceTypes",
    "instanceRole",
    "imageId",
    "ec2KeyPair",
    "placementGroup",
    "bidPercentage",
    "spotIamFleetRole",
    "launchTemplate",
    "ec2Configuration",
    "tags",
    "scalingPolicy",
)
"""computeResources fields Batch refuses on a Fargate CE (the model's docs: "isn't applicable to jobs
that are running on Fargate resources"; a test keeps this list in step with the installed botocore)."""
CE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{1,126}[A-Za-z0-9]$")


@dataclass(frozen=True, slots=True)
class CurrentState:
    """What Batch reports now (Describe* items) for everything a recommendation touches."""

    target: dict[str, Any]
    """The target; for a job definition, its latest ACTIVE revision."""
    queues: tuple[dict[str, Any], ...] = ()
    """Job queues whose order names the target CE (a blue/green switch updates them)."""
    compute_environments: tuple[dict[str, Any], ...] = ()
    """Other CEs a queue recommendation names (order entries, the base of a new spot CE)."""
    pinned_images: Mapping[str, str] = field(default_factory=dict)
    """AMIs a CE pins (its imageId, imageIdOverride, launch template's ImageId), described as e.g.
    "launch template lt-1 ($Latest): ami-1" -> the AMI's Architecture (`unknown` if unreadable)."""
    job_definitions: tuple[dict[str, Any], ...] = ()
    """Latest ACTIVE revisions a queue recommendation registers again (retry-and-spot)."""
    scheduling_policies: tuple[dict[str, Any], ...] = ()
    """The fair-share policy a queue has (DescribeSchedulingPolicies items), for `fair-share`."""


BATCH_DEFAULT_UPDATE_POLICY = {"terminateJobsOnUpdate": False, "jobExecutionTimeoutMinutes": 30}
"""What Batch applies to a CE that never set `updatePolicy` (UpdatePolicy in the API reference)."""


@dataclass(frozen=True, slots=True)
class PlannerOptions:
    job_execution_timeout_minutes: int | None = None
    """None: the CE's own `updatePolicy.jobExecutionTimeoutMinutes` (Batch's default 30 without)."""
    terminate_jobs_on_update: bool = False


def update_policy_of(item: dict[str, Any] | None) -> dict[str, Any]:
    """The update policy a CE has now: its own values over Batch's defaults."""
    return {**BATCH_DEFAULT_UPDATE_POLICY, **((item or {}).get("updatePolicy") or {})}


def job_definition_key(arn: str) -> str:
    """A job definition ARN without its revision: the key that means "its latest ACTIVE revision"."""
    head, _, tail = arn.rpartition("/")
    return f"{head}/{tail.split(':', 1)[0]}"


def sibling_arn(arn: str, name: str) -> str:
    """The ARN a resource of the same kind, account and region named `name` has."""
    return f"{arn.rsplit('/', 1)[0]}/{name}"


def refuse_advice(rec: Recommendation) -> None:
    """Advice (a Savings Plan to buy, a change Batch has no API for) is never applied: refused before
    any AWS read, which for a Savings Plan's ARN once failed as "no configured target covers ...
    in region " instead."""
    if not rec.applicable or rec.update_kind == UpdateKind.ADVICE:
        raise RefusedError(f"recommendation {rec.id} is advice only ({rec.title}); nothing to apply")


def plan_change(
    rec: Recommendation, state: CurrentState, options: PlannerOptions | None = None
) -> ChangePlan:
    """The change plan for `rec` against `state`; raises a UserError when it cannot be applied."""
    options = options or PlannerOptions()
    refuse_advice(rec)
    if rec.target_kind == "compute-environment":
        return _plan_compute_environment(rec, state, options)
    if rec.target_kind == "job-queue":
        from optimizer.apply.queue_settings import is_queue_settings, plan_queue_settings

        if is_queue_settings(rec):
            return plan_queue_settings(rec, state)  # time limits, fair share
        return _plan_job_queue(rec, state)
    if rec.target_kind == "job-definition":
        return _plan_job_definition(rec, state)
    raise InputError(f"recommendation {rec.id}: target_kind {rec.target_kind!r} is not applicable")


def _call(operation: str, params: dict[str, Any], kind: UpdateKind, description: str) -> ApiCall:
    return ApiCall("batch", operation, params, kind, actions_for_operation(operation), description)


def _finish(
    rec: Recommendation,
    kind: UpdateKind,
    target_arn: str,
    calls: list[tuple[ApiCall, str]],
    resources: dict[str, dict[str, Any] | None],
) -> ChangePlan:
    """Assemble the plan: `calls` pairs each call with the resource key that shows its effect."""
    fp = fingerprint(resources)
    plan_calls = tuple(call for call, _ in calls)
    plan_id = "plan-" + short_hash([rec.id, "apply", fp, [(c.operation, c.params) for c in plan_calls]])
    before = {"resources": resources, "observe": [key for _, key in calls]}
    return ChangePlan(plan_id, rec.id, "apply", target_arn, fp, kind, plan_calls, before)


def _equivalent(key: str, was: Any, now: Any) -> bool:
    if key == "instance_types":
        return sorted(was or []) == sorted(now or [])
    if key == "compute_environment_order":
        names = [
            str(x["computeEnvironment"] if isinstance(x, dict) else x).rsplit("/", 1)[-1] for x in was or []
        ]
        return names == [str(x).rsplit("/", 1)[-1] for x in now or []]
    if isinstance(was, int | float) and not isinstance(was, bool) and now is not None:
        try:
            return float(was) == float(now)
        except (TypeError, ValueError):
            return False
    return bool(was == now)


def _check_not_stale(rec: Recommendation, live: dict[str, Any]) -> None:
    """Refuse a recommendation computed on values Batch no longer reports.

    `rec.current` holds what the strategy saw (same keys as `proposed`); if someone changed the
    resource since, the savings and risk were worked out for another configuration."""
    stale = [
        f"{key} was {was!r} when recommended, now {live[key]!r}"
        for key, was in rec.current.items()
        if key in live and not _equivalent(key, was, live[key])
    ]
    if stale:
        raise RefusedError(
            f"recommendation {rec.id} is stale: " + "; ".join(stale) + "; re-run the recommendations"
        )


def _ce_type(item: dict[str, Any]) -> str:
    return str((item.get("computeResources") or {}).get("type", "EC2"))


def _queue_neighbours(state: CurrentState, refs: tuple[str, ...]) -> list[tuple[str, dict[str, Any]]]:
    """(queue name, CE) for every other CE that shares a queue (of `state.queues`) with `refs`."""
    by_ref = {ce["computeEnvironmentArn"]: ce for ce in state.compute_environments}
    by_ref.update({ce["computeEnvironmentName"]: ce for ce in state.compute_environments})
    pairs = []
    for queue in state.queues:
        order = queue_order(queue.get("computeEnvironmentOrder") or [])
        if not set(refs) & set(order):
            continue
        for ref in order:
            other = by_ref.get(ref)
            if ref not in refs and other is not None and other["computeEnvironmentArn"] not in refs:
                pairs.append((queue["jobQueueName"], other))
    return pairs


def _check_one_family(
    rec_id: str, queue_name: str, new_type: str, order: list[str], replaced: str, state: CurrentState
) -> None:
    """Batch rejects a queue that mixes EC2/SPOT with FARGATE/FARGATE_SPOT CEs; say so before trying."""
    by_ref = {ce["computeEnvironmentArn"]: ce for ce in state.compute_environments}
    by_ref.update({ce["computeEnvironmentName"]: ce for ce in state.compute_environments})
    for ref in order:
        other = by_ref.get(ref)
        if ref == replaced or other is None or other["computeEnvironmentArn"] == replaced:
            continue
        if (_ce_type(other) in FARGATE_TYPES) != (new_type in FARGATE_TYPES):
            raise InputError(
                f"recommendation {rec_id}: queue {queue_name} also uses {other['computeEnvironmentName']}"
                f" ({_ce_type(other)}); Batch does not mix EC2 and Fargate CEs in one queue"
            )


def _architectures(item: dict[str, Any]) -> frozenset[str]:
    resources = item.get("computeResources") or {}
    if _ce_type(item) in FARGATE_TYPES:
        return frozenset()  # a Fargate job's runtimePlatform picks its own CPU
    return entry_architectures(resources.get("instanceTypes") or [])


def _check_architecture(
    rec_id: str,
    name: str,
    old_types: list[str],
    new_types: list[str],
    neighbours: list[tuple[str, dict[str, Any]]],
    pinned_images: Mapping[str, str],
) -> None:
    """Refuse an instance-type change that moves a CE to another CPU architecture unless its queues
    and AMIs follow: a job image built for one architecture fails on the other, so an arm64 CE next
    to an x86_64 CE in one queue fails whichever jobs land on the wrong one, and a pinned x86_64 AMI
    cannot boot Graviton instances. `neighbours` pairs each queue name with another CE it holds."""
    new = entry_architectures(new_types)
    if len(new) > 1:
        raise InputError(
            f"recommendation {rec_id}: {name} would mix {' and '.join(sorted(new))} instance types;"
            " Batch runs one architecture per compute environment"
        )
    if not new or new == entry_architectures(old_types):
        return
    [arch] = new
    for queue_name, other in neighbours:
        others = _architectures(other)
        if others and others != new:
            raise InputError(
                f"recommendation {rec_id}: queue {queue_name} would hold {name} on {arch} next to"
                f" {other['computeEnvironmentName']} on {', '.join(sorted(others))}; jobs of a single-"
                "architecture image fail on one of them (move the whole queue, or give it its own CEs)"
            )
    wrong = {where: got for where, got in pinned_images.items() if got != arch}
    if wrong:
        raise InputError(
            f"recommendation {rec_id}: {name} pins "
            + "; ".join(f"{where} ({got})" for where, got in sorted(wrong.items()))
            + f", not {arch}: give it an {arch} AMI first"
        )


# --- compute environments -------------------------------------------------------------------------


def _proposed_compute_resources(rec_id: str, proposed: dict[str, Any]) -> dict[str, Any]:
    """computeResources values from a recommendation's snake_case fields (unknown ones are an error)."""
    resources: dict[str, Any] = {}
    for key, value in proposed.items():
        if key in ("new_name",):
            continue
        if key not in CE_FIELDS:
            raise InputError(
                f"recommendation {rec_id}: proposed field {key!r} is not a compute environment setting"
                f" the planner applies (known: {', '.join(sorted(CE_FIELDS))})"
            )
        if value is None:
            continue
        api = CE_FIELDS[key]
        if api == "instanceTypes":
            # A bare string would iterate into one "type" per character and be sent as such.
            if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
                raise InputError(
                    f"recommendation {rec_id}: proposed instance_types must be a list of instance type"
                    f" names, not {value!r}"
                )
            value = list(dict.fromkeys(value))
        elif api in SCALING_FIELDS or api == "bidPercentage":
            value = int(value)
        resources[api] = value
    return resources


def _differs(api: str, current: Any, proposed: Any) -> bool:
    if api == "instanceTypes":
        return sorted(current or []) != sorted(proposed)
    return current != proposed


def _plan_compute_environment(
    rec: Recommendation, state: CurrentState, options: PlannerOptions
) -> ChangePlan:
    item = state.target
    arn, name = item["computeEnvironmentArn"], item["computeEnvironmentName"]
    if item.get("type") != "MANAGED":
        raise RefusedError(
            f"{name} is an unmanaged compute environment: Batch does not manage its instances, so its"
            " recommendation is advice for your own scaling, not something batchopt applies"
        )
    if item.get("containerOrchestrationType") == "EKS" or item.get("eksConfiguration"):
        raise RefusedError(f"{name} runs on Amazon EKS: batchopt applies changes to ECS-based CEs only")
    current = item.get("computeResources") or {}
    kind = _ce_type(item)
    if kind not in (*EC2_CE_TYPES, *FARGATE_TYPES):
        # (ECS_MANAGED_INSTANCES, or a type AWS adds later: the planner knows none of its update rules,
        # and refusing it later read as an allocation strategy error)
        raise RefusedError(
            f"{name} is a {kind} compute environment: batchopt applies changes to EC2, SPOT and Fargate"
            " CEs only"
        )
    _check_not_stale(rec, {snake: current[api] for snake, api in CE_FIELDS.items() if api in current})
    wanted = _proposed_compute_resources(rec.id, rec.proposed)
    notes: list[str] = []
    if "desiredvCpus" in wanted and wanted["desiredvCpus"] < int(current.get("desiredvCpus") or 0):
        # Batch only accepts a desiredvCpus at or above the current one; it scales down by itself.
        notes.append(f"desiredvCpus {wanted.pop('desiredvCpus')} dropped (Batch scales down itself)")
    changes = {k: v for k, v in wanted.items() if _differs(k, current.get(k), v)}
    if not changes:
        raise UserError(f"recommendation {rec.id}: {name} already has the proposed values; nothing to apply")
    notes += _capacity_rules(current, changes)
    if "instanceTypes" in changes:
        _check_architecture(
            rec.id,
            name,
            current.get("instanceTypes") or [],
            changes["instanceTypes"],
            _queue_neighbours(state, (arn, name)),
            state.pinned_images,
        )
    _validate_compute_change(rec, current, changes, name)
    kind, reason = _classify(item, changes)
    if kind == UpdateKind.BLUE_GREEN:
        return _plan_blue_green(rec, state, changes, reason)
    params: dict[str, Any] = {"computeEnvironment": arn, "computeResources": changes}
    description = "scaling update: " + ", ".join(f"{k}={v}" for k, v in changes.items())
    if kind == UpdateKind.INFRASTRUCTURE:
        timeout = options.job_execution_timeout_minutes or int(
            update_policy_of(item)["jobExecutionTimeoutMinutes"]
        )
        params["updatePolicy"] = {
            "terminateJobsOnUpdate": options.terminate_jobs_on_update,
            "jobExecutionTimeoutMinutes": timeout,
        }
        description = (
            f"infrastructure update ({reason}); Batch replaces instances, running jobs get"
            f" {timeout} min and are"
            f"{'' if options.terminate_jobs_on_update else ' not'} terminated: "
            + ", ".join(f"{k}={v}" for k, v in changes.items())
        )
    if notes:
        description += "; " + "; ".join(notes)
    call = _call("update_compute_environment", params, kind, description)
    return _finish(rec, kind, arn, [(call, arn)], {arn: item})


SPOT_STRATEGY_FOR = {"BEST_FIT_PROGRESSIVE_ORDERED": "SPOT_CAPACITY_OPTIMIZED_PRIORITIZED"}
"""EC2 -> SPOT: the spot strategy that keeps an ordered preference; any other becomes price-capacity."""
PREFERRED_SPOT_STRATEGY = "SPOT_PRICE_CAPACITY_OPTIMIZED"
SPOT_ONLY_FIELDS = ("bidPercentage", "spotIamFleetRole")


def _capacity_rules(current: dict[str, Any], changes: dict[str, Any]) -> list[str]:
    """Adjust `changes` (in place) to what a change of capacity type needs; returns what was adjusted.

    To SPOT without a proposed strategy: the CE gets a spot allocation strategy (AWS recommends
    SPOT_PRICE_CAPACITY_OPTIMIZED; BEST_FIT on spot needs a Spot Fleet role and picks the cheapest
    pool, the most interrupted). To EC2 from a spot-only strategy: BEST_FIT_PROGRESSIVE."""
    old_type = current.get("type", "EC2")
    new_type = changes.get("type", old_type)
    if new_type == old_type or "allocationStrategy" in changes:
        return []
    strategy = current.get("allocationStrategy", "BEST_FIT")
    if new_type == "SPOT" and not strategy.startswith("SPOT_"):
        changes["allocationStrategy"] = SPOT_STRATEGY_FOR.get(strategy, PREFERRED_SPOT_STRATEGY)
    elif (
        new_type == "EC2"
        and strategy in ALLOCATION_STRATEGIES
        and ("EC2" not in ALLOCATION_STRATEGIES[strategy].capacity_types)
    ):
        changes["allocationStrategy"] = "BEST_FIT_PROGRESSIVE"
    else:
        return []
    return [f"allocationStrategy {strategy} -> {changes['allocationStrategy']} for a {new_type} CE"]


def _validate_compute_change(
    rec: Recommendation, current: dict[str, Any], changes: dict[str, Any], name: str
) -> None:
    """Refuse before AWS what Batch would reject (or accept and then leave the CE INVALID).

    `current` is the computeResources the result starts from (the CE itself, or the base of a
    copy), `changes` what the plan sets; `name` names the resulting CE in the message."""
    merged = {**current, **changes}
    ce_type = merged.get("type", "EC2")
    if ce_type in FARGATE_TYPES:
        bad = [k for k in ("minvCpus", "desiredvCpus", "instanceTypes", "allocationStrategy") if k in changes]
        if bad:
            raise InputError(f"recommendation {rec.id}: {', '.join(bad)} do not apply to a {ce_type} CE")
    else:
        strategy = merged.get("allocationStrategy", "BEST_FIT")
        if strategy not in STRATEGIES_BY_TYPE.get(ce_type, frozenset()):
            raise InputError(
                f"recommendation {rec.id}: allocation strategy {strategy} is not valid for a {ce_type} CE"
            )
        if "allocationStrategy" in changes and strategy == "BEST_FIT":
            raise InputError(f"recommendation {rec.id}: Batch cannot switch a CE to BEST_FIT")
        spot_best_fit = ce_type == "SPOT" and strategy == "BEST_FIT"
        if spot_best_fit and set(changes) - SCALING_FIELDS and not merged.get("spotIamFleetRole"):
            raise InputError(
                f"recommendation {rec.id}: a SPOT CE with BEST_FIT needs spotIamFleetRole; propose"
                f" {PREFERRED_SPOT_STRATEGY} or SPOT_CAPACITY_OPTIMIZED instead"
            )
        if not merged.get("instanceTypes"):
            raise InputError(f"recommendation {rec.id}: instance_types must not be empty")
        if "instanceTypes" in changes:
            _check_override_targets(rec.id, name, merged)
    low, high = int(merged.get("minvCpus") or 0), int(merged.get("maxvCpus") or 0)
    if low > high:
        raise InputError(f"recommendation {rec.id}: min_vcpus {low} is above max_vcpus {high}")
    if "desiredvCpus" in changes and not low <= changes["desiredvCpus"] <= high:
        raise InputError(f"recommendation {rec.id}: desired_vcpus must lie in [{low}, {high}]")


def _is_instance_alias(entry: str) -> bool:
    """`optimal`, `default_x86_64`, `default_arm64` (and any later `default_*` bundle): Batch picks
    the families, and changes them over time (the model's `instanceTypes` doc)."""
    return entry in INSTANCE_ALIASES or entry.startswith("default_")


def _outside_instance_types(target: str, entries: list[str]) -> bool:
    """Whether a launch template override's target (a type such as `c5.xlarge` or a family such as
    `c5`) is surely outside the CE's `instanceTypes` set.

    The model's `LaunchTemplateSpecificationOverride.targetInstanceTypes` doc: it "can target only
    instance types and families that are included within the ComputeResource.instanceTypes set"
    (with `[m5, g5]`: `m5.2xlarge` and `m5.large` yes, `c5.large` no). A type is within when the set
    holds it or its family. The rest is left to Batch rather than refused on a guess: a set with an
    alias (Batch's own, changing families), and a family target whose family the set holds only
    some sizes of."""
    held = {e.lower() for e in entries}
    if any(_is_instance_alias(e) for e in held):
        return False
    target = target.lower()
    family = target.split(".", 1)[0]
    if family in held or target in held:
        return False
    if "." in target:
        return True
    return not any(e.split(".", 1)[0] == family for e in held)


def _check_override_targets(rec_id: str, name: str, resources: dict[str, Any]) -> None:
    """Refuse new `instanceTypes` that leave a launch template override's target outside the set:
    the plan sends only `instanceTypes` (an in-place update) or copies the overrides as they are
    (blue/green), so the override would point at types the CE no longer launches."""
    entries = [str(e) for e in resources.get("instanceTypes") or []]
    for override in (resources.get("launchTemplate") or {}).get("overrides") or []:
        for target in override.get("targetInstanceTypes") or []:
            if _outside_instance_types(str(target), entries):
                raise InputError(
                    f"recommendation {rec_id}: {name} has a launch template override for {target},"
                    f" which is not within the new instanceTypes [{', '.join(entries)}]; Batch accepts"
                    " overrides only for types and families in that set: add it (or its family) to"
                    " instance_types, or change the override first"
                )


def _classify(item: dict[str, Any], changes: dict[str, Any]) -> tuple[UpdateKind, str]:
    if set(changes) <= SCALING_FIELDS:
        return UpdateKind.SCALING, "vCPU limits only"
    current = item.get("computeResources") or {}
    old_type, new_type = current.get("type", "EC2"), changes.get("type", current.get("type", "EC2"))
    if (old_type in FARGATE_TYPES) != (new_type in FARGATE_TYPES):
        return UpdateKind.BLUE_GREEN, f"{old_type} -> {new_type} cannot be updated in place"
    if old_type in FARGATE_TYPES:
        return UpdateKind.BLUE_GREEN, "Fargate CEs are replaced, not updated, for this change"
    if not uses_service_linked_role(item):
        return UpdateKind.BLUE_GREEN, "the CE uses a custom service role, not AWSServiceRoleForBatch"
    old_strategy = current.get("allocationStrategy", "BEST_FIT")
    new_strategy = changes.get("allocationStrategy", old_strategy)
    for strategy in (old_strategy, new_strategy):
        if strategy not in INFRASTRUCTURE_STRATEGIES:
            return UpdateKind.BLUE_GREEN, f"allocation strategy {strategy} allows no infrastructure update"
    return UpdateKind.INFRASTRUCTURE, f"service-linked role and {new_strategy}"


def _new_ce_name(base: str, changes: dict[str, Any], explicit: str | None) -> str:
    name = explicit or f"{base[:110]}-bo{short_hash(changes, 8)}"
    if not CE_NAME.match(name):
        raise InputError(f"new compute environment name {name!r} is not a valid Batch CE name")
    return name


def _copy_compute_environment(
    item: dict[str, Any], changes: dict[str, Any], new_name: str, rec_id: str
) -> dict[str, Any]:
    """CreateComputeEnvironment params: a copy of `item` with `changes` applied.

    Everything the Describe item carries that CreateComputeEnvironment accepts is copied, at every
    depth (`optimizer.apply.shapes`): ecsSettings, context, scalingPolicy, capacityTags, launch
    template, EC2 configuration and any field AWS adds later. `updatePolicy` is not a create field;
    the plan carries it over with an update once the copy is VALID (`_restore_update_policy`)."""
    params = shapes.as_request("CreateComputeEnvironment", item)
    resources = params.get("computeResources") or {}
    resources.update(copy.deepcopy(changes))
    resources.pop("desiredvCpus", None)
    if resources.get("type") in FARGATE_TYPES:
        for key in EC2_ONLY_FIELDS:
            resources.pop(key, None)
    else:
        if resources.get("type", "EC2") != "SPOT":
            for key in SPOT_ONLY_FIELDS:
                resources.pop(key, None)
        missing = [k for k in ("instanceTypes", "instanceRole") if not resources.get(k)]
        if missing:
            raise InputError(f"recommendation {rec_id}: a new EC2 CE needs {', '.join(missing)}")
        resources.setdefault("minvCpus", 0)
    # A managed CE has no unmanagedvCpus; EKS CEs are refused before this; the service-linked role
    # is what Batch uses when no serviceRole is given.
    for key in ("unmanagedvCpus", "eksConfiguration", "serviceRole"):
        params.pop(key, None)
    params.update(
        computeEnvironmentName=new_name,
        type="MANAGED",
        state="ENABLED",
        computeResources=resources,
        tags=shapes.copied_tags(
            "CreateComputeEnvironment",
            item.get("tags"),
            **{"batchopt:replaces": item["computeEnvironmentName"]},
        ),
    )
    if not uses_service_linked_role(item):
        params["serviceRole"] = item["serviceRole"]
    return params


def _restore_update_policy(
    item: dict[str, Any], new_arn: str, new_name: str, new_type: str
) -> ApiCall | None:
    """CreateComputeEnvironment takes no updatePolicy: a copy of a CE with its own policy gets it
    with an update once the copy is VALID. None when the original uses Batch's defaults, or when the
    copy (`new_type`) is a Fargate CE: the model's UpdatePolicy "applies only to Amazon EC2 managed
    compute environments", and a call Batch may refuse after the create would leave a partial apply."""
    policy = update_policy_of(item)
    if policy == BATCH_DEFAULT_UPDATE_POLICY or new_type in FARGATE_TYPES:
        return None
    return _call(
        "update_compute_environment",
        {"computeEnvironment": new_arn, "updatePolicy": policy},
        UpdateKind.BLUE_GREEN,
        f"give {new_name} the update policy of {item['computeEnvironmentName']}: "
        + ", ".join(f"{k}={v}" for k, v in policy.items()),
    )


def min_vcpus_of(item: dict[str, Any]) -> int:
    """The minvCpus a CE keeps now (0 when it has none)."""
    return int((item.get("computeResources") or {}).get("minvCpus") or 0)


def release_min_vcpus(item: dict[str, Any], ref: str) -> dict[str, Any] | None:
    """UpdateComputeEnvironment params that set a retired EC2/SPOT CE's minvCpus to 0, or None.

    The model's `minvCpus` is kept "even if the compute environment is DISABLED", and its `state`
    doc warns a DISABLED CE "may continue to incur billing charges ... non-zero minvCpus": a CE
    batchopt disables must not keep instances running. Fargate CEs have no minvCpus (the model: not
    applicable to Fargate resources) and a CE already at 0 needs nothing. `minvCpus` is a scaling
    field, which Batch updates on any managed CE (no infrastructure update, no service-linked role).

    A separate call from the disable in a blue/green plan: the executor waits for the old CE's tasks
    to drain before the call that only disables it (`executor.is_drain_step`)."""
    if _ce_type(item) not in EC2_CE_TYPES or min_vcpus_of(item) <= 0:
        return None
    return {"computeEnvironment": ref, "computeResources": {"minvCpus": 0}}


def _plan_blue_green(
    rec: Recommendation, state: CurrentState, changes: dict[str, Any], reason: str
) -> ChangePlan:
    item = state.target
    old_arn, old_name = item["computeEnvironmentArn"], item["computeEnvironmentName"]
    new_name = _new_ce_name(old_name, changes, rec.proposed.get("new_name"))
    new_arn = sibling_arn(old_arn, new_name)
    create = _call(
        "create_compute_environment",
        _copy_compute_environment(item, changes, new_name, rec.id),
        UpdateKind.BLUE_GREEN,
        f"blue/green ({reason}): create {new_name} as a copy of {old_name} with "
        + ", ".join(f"{k}={v}" for k, v in changes.items()),
    )
    calls: list[tuple[ApiCall, str]] = [(create, new_arn)]
    carried = _restore_update_policy(item, new_arn, new_name, _ce_type(create.params))
    if carried is not None:
        calls.append((carried, new_arn))
    resources: dict[str, dict[str, Any] | None] = {old_arn: item, new_arn: None}
    for queue in state.queues:
        order = queue_order(queue.get("computeEnvironmentOrder") or [])
        if old_arn not in order and old_name not in order:
            continue
        _check_one_family(
            rec.id, queue["jobQueueName"], changes.get("type", _ce_type(item)), order, old_arn, state
        )
        switched = [
            {"order": int(entry["order"]), "computeEnvironment": new_arn}
            if entry["computeEnvironment"] in (old_arn, old_name)
            else {"order": int(entry["order"]), "computeEnvironment": entry["computeEnvironment"]}
            for entry in sorted(queue["computeEnvironmentOrder"], key=lambda e: int(e["order"]))
        ]
        params = {"jobQueue": queue["jobQueueArn"], "computeEnvironmentOrder": switched}
        description = f"switch {queue['jobQueueName']} from {old_name} to {new_name}"
        calls.append(
            (_call("update_job_queue", params, UpdateKind.BLUE_GREEN, description), queue["jobQueueArn"])
        )
        resources[queue["jobQueueArn"]] = queue
    disable = _call(
        "update_compute_environment",
        {"computeEnvironment": old_arn, "state": "DISABLED"},
        UpdateKind.BLUE_GREEN,
        f"disable {old_name} once its running tasks drained (it stays for rollback; delete it later)",
    )
    calls.append((disable, old_arn))
    release = release_min_vcpus(item, old_arn)
    if release is not None:
        calls.append(
            (
                _call(
                    "update_compute_environment",
                    release,
                    UpdateKind.BLUE_GREEN,
                    f"set minvCpus of {old_name} to 0 (was {min_vcpus_of(item)}): a DISABLED CE keeps"
                    " its minvCpus running and billed; rollback restores it",
                ),
                old_arn,
            )
        )
    return _finish(rec, UpdateKind.BLUE_GREEN, old_arn, calls, resources)


# --- job queues -----------------------------------------------------------------------------------


def _check_queue_architectures(
    rec_id: str, queue: dict[str, Any], order: list[dict[str, Any]], known: dict[str, dict[str, Any]]
) -> None:
    """A new order that brings a CE into the queue must not mix CPU architectures (the queue's
    jobs would fail on whichever CE does not match their image); an order of the same CEs is left
    as it is, mixed or not, since reordering does not change which CEs jobs land on."""
    current = set(queue_order(queue.get("computeEnvironmentOrder") or []))
    refs = [e["computeEnvironment"] for e in order]
    if set(refs) <= current:
        return
    by_arch: dict[str, str] = {}
    for ref in refs:
        item = known.get(ref)
        for arch in _architectures(item) if item else ():
            by_arch.setdefault(arch, item["computeEnvironmentName"])
    if len(by_arch) > 1:
        raise InputError(
            f"recommendation {rec_id}: queue {queue['jobQueueName']} would mix "
            + " and ".join(f"{arch} ({name})" for arch, name in sorted(by_arch.items()))
            + "; jobs of a single-architecture image fail on one of them"
        )


def queue_states() -> tuple[str, ...]:
    """The states UpdateJobQueue accepts: botocore's `JQState` enum (ENABLED, DISABLED)."""
    return tuple(shapes.member_shape("UpdateJobQueue", "state").enum)


def _plan_job_queue(rec: Recommendation, state: CurrentState) -> ChangePlan:
    queue = state.target
    arn = queue["jobQueueArn"]
    known = {ce["computeEnvironmentName"]: ce for ce in state.compute_environments}
    known.update({ce["computeEnvironmentArn"]: ce for ce in state.compute_environments})
    unknown_keys = set(rec.proposed) - {
        "compute_environment_order",
        "priority",
        "state",
        "new_compute_environment",
        "job_definition_revisions",
    }
    if unknown_keys:
        raise InputError(
            f"recommendation {rec.id}: proposed fields {sorted(unknown_keys)} are not queue settings"
        )
    state_values = queue_states()
    if rec.proposed.get("state") is not None and rec.proposed["state"] not in state_values:
        # botocore does not check enums: Batch would refuse it after the revisions and CE landed.
        raise InputError(
            f"recommendation {rec.id}: proposed state {rec.proposed['state']!r} is not a job queue state"
            f" ({' or '.join(state_values)})"
        )
    _check_not_stale(
        rec,
        {
            "compute_environment_order": queue_order(queue.get("computeEnvironmentOrder") or []),
            "priority": queue.get("priority"),
            "state": queue.get("state"),
        },
    )
    calls: list[tuple[ApiCall, str]] = []
    resources: dict[str, dict[str, Any] | None] = {arn: queue}
    # Revisions first: jobs that reach the new spot CE already retry host reclaims.
    for key, item, call in _queue_revisions(rec, state):
        calls.append((call, key))
        resources[key] = item
    new_ce = rec.proposed.get("new_compute_environment")
    new_type: str | None = None
    new_names: dict[str, str] = {}
    if new_ce:
        base = known.get(str(new_ce.get("based_on", "")))
        if base is None:
            raise InputError(f"recommendation {rec.id}: new_compute_environment.based_on is not a known CE")
        overrides = {k: v for k, v in new_ce.items() if k not in ("name", "based_on")}
        changes = _proposed_compute_resources(rec.id, overrides)
        capacity_notes = _capacity_rules(base.get("computeResources") or {}, changes)
        name = _new_ce_name(base["computeEnvironmentName"], changes, new_ce.get("name"))
        new_arn = sibling_arn(base["computeEnvironmentArn"], name)
        _validate_compute_change(
            rec,
            base.get("computeResources") or {},
            changes,
            f"{name} (copy of {base['computeEnvironmentName']})",
        )
        params = _copy_compute_environment(base, changes, name, rec.id)
        description = f"create {name} from {base['computeEnvironmentName']} with " + ", ".join(
            [*(f"{k}={v}" for k, v in changes.items()), *capacity_notes]
        )
        calls.append(
            (_call("create_compute_environment", params, UpdateKind.BLUE_GREEN, description), new_arn)
        )
        carried = _restore_update_policy(base, new_arn, name, _ce_type(params))
        if carried is not None:
            calls.append((carried, new_arn))
        resources[new_arn] = None
        new_names = {name: new_arn}
        new_type = params["computeResources"].get("type", "EC2")
        new_item = {**base, "computeEnvironmentName": name, "computeEnvironmentArn": new_arn, **params}
        if "instanceTypes" in changes:
            _check_architecture(
                rec.id,
                name,
                (base.get("computeResources") or {}).get("instanceTypes") or [],
                changes["instanceTypes"],
                [],
                state.pinned_images,
            )
        known[new_arn] = new_item
    params: dict[str, Any] = {"jobQueue": arn}
    if "compute_environment_order" in rec.proposed:
        order = []
        for position, ref in enumerate(rec.proposed["compute_environment_order"], start=1):
            ref = ref["computeEnvironment"] if isinstance(ref, dict) else str(ref)
            if ref in new_names:
                order.append({"order": position, "computeEnvironment": new_names[ref]})
            elif ref in known:
                order.append({"order": position, "computeEnvironment": known[ref]["computeEnvironmentArn"]})
            elif ref.startswith("arn:"):
                order.append({"order": position, "computeEnvironment": ref})
            else:
                raise InputError(f"recommendation {rec.id}: compute environment {ref!r} is not known")
        types = {
            _ce_type(known[e["computeEnvironment"]])
            if e["computeEnvironment"] in known
            else new_type or "EC2"
            for e in order
            if e["computeEnvironment"] in known or e["computeEnvironment"] in new_names.values()
        }
        if len({t in FARGATE_TYPES for t in types}) > 1:
            raise InputError(f"recommendation {rec.id}: Batch does not mix EC2 and Fargate CEs in one queue")
        _check_queue_architectures(rec.id, queue, order, known)
        if not 1 <= len(order) <= 3:
            raise InputError(f"recommendation {rec.id}: a job queue takes 1 to 3 compute environments")
        if [e["computeEnvironment"] for e in order] != queue_order(
            queue.get("computeEnvironmentOrder") or []
        ):
            params["computeEnvironmentOrder"] = order
    if rec.proposed.get("priority") is not None and int(rec.proposed["priority"]) != int(queue["priority"]):
        params["priority"] = int(rec.proposed["priority"])
    if rec.proposed.get("state") and rec.proposed["state"] != queue.get("state"):
        params["state"] = rec.proposed["state"]
    if len(params) == 1:
        raise UserError(f"recommendation {rec.id}: {queue['jobQueueName']} already has the proposed values")
    description = "update job queue: " + ", ".join(
        f"{k}={queue_order(v) if k == 'computeEnvironmentOrder' else v}"
        for k, v in params.items()
        if k != "jobQueue"
    )
    calls.append((_call("update_job_queue", params, UpdateKind.QUEUE_ORDER, description), arn))
    return _finish(rec, UpdateKind.QUEUE_ORDER, arn, calls, resources)


# --- job definitions ------------------------------------------------------------------------------


def _format_vcpus(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _plan_job_definition(rec: Recommendation, state: CurrentState) -> ChangePlan:
    item = state.target
    name = item["jobDefinitionName"]
    if item.get("type") == "multinode" and node_size.is_node_size(rec):
        return _plan_node_size(rec, item)
    if item.get("type") != "container" or not item.get("containerProperties"):
        raise InputError(f"recommendation {rec.id}: {name} is not a single-container job definition")
    if rec.proposed and set(rec.proposed) <= set(DEFINITION_SETTINGS):
        return _plan_definition_settings(rec, item)
    unknown_keys = set(rec.proposed) - {"vcpus", "memory_mib", "gpus"}
    if unknown_keys:
        raise InputError(
            f"recommendation {rec.id}: proposed fields {sorted(unknown_keys)} are not job settings"
        )
    container = copy.deepcopy(item["containerProperties"])
    requirements = {r["type"]: str(r["value"]) for r in container.get("resourceRequirements") or []}
    # Legacy top-level fields are folded into resourceRequirements, which supersede them.
    if "vcpus" in container:
        requirements.setdefault("VCPU", str(container.pop("vcpus")))
    if "memory" in container:
        requirements.setdefault("MEMORY", str(container.pop("memory")))
    _check_not_stale(
        rec,
        {
            "vcpus": float(requirements.get("VCPU", "0")),
            "memory_mib": int(requirements.get("MEMORY", "0")),
            "gpus": int(requirements.get("GPU", "0")),
        },
    )
    wanted = dict(requirements)
    if rec.proposed.get("vcpus") is not None:
        wanted["VCPU"] = _format_vcpus(float(rec.proposed["vcpus"]))
    if rec.proposed.get("memory_mib") is not None:
        wanted["MEMORY"] = str(int(rec.proposed["memory_mib"]))
    if rec.proposed.get("gpus") is not None:
        if int(rec.proposed["gpus"]) > 0:
            wanted["GPU"] = str(int(rec.proposed["gpus"]))
        else:
            wanted.pop("GPU", None)
    if wanted == requirements:
        raise UserError(f"recommendation {rec.id}: {name} already has the proposed resources")
    if float(wanted.get("VCPU", "1")) <= 0 or int(wanted.get("MEMORY", "4")) < 4:
        raise InputError(f"recommendation {rec.id}: vcpus must be > 0 and memory_mib at least 4")
    if "FARGATE" in (item.get("platformCapabilities") or []):
        vcpus, memory = float(wanted.get("VCPU", "0")), int(wanted.get("MEMORY", "0"))
        if not is_fargate_size(vcpus, memory):
            raise InputError(f"recommendation {rec.id}: Fargate has no {vcpus:g} vCPU / {memory} MiB size")
    container["resourceRequirements"] = [{"type": t, "value": v} for t, v in sorted(wanted.items())]
    # Every field of the revision that RegisterJobDefinition accepts (consumableResourceProperties,
    # retry strategy, timeout, tags, ...), read off botocore's model so none is dropped.
    params = shapes.as_request("RegisterJobDefinition", copy.deepcopy(item))
    params.update(jobDefinitionName=name, type="container", containerProperties=container)
    changed = ", ".join(
        f"{t} {requirements.get(t, '-')} -> {wanted.get(t, '-')}"
        for t in sorted(set(wanted) | set(requirements))
        if requirements.get(t) != wanted.get(t)
    )
    description = f"register {name} revision {int(item['revision']) + 1} (from {item['revision']}): {changed}"
    key = job_definition_key(item["jobDefinitionArn"])
    call = _call("register_job_definition", params, UpdateKind.NEW_REVISION, description)
    return _finish(rec, UpdateKind.NEW_REVISION, key, [(call, key)], {key: item})


def _plan_node_size(rec: Recommendation, item: dict[str, Any]) -> ChangePlan:
    """RegisterJobDefinition: an MNP definition with a new node count and node size (`node_size.py`)."""
    _check_not_stale(rec, node_size.current_node_size(item))
    params, description = node_size.node_size_request(rec, item)
    key = job_definition_key(item["jobDefinitionArn"])
    call = _call("register_job_definition", params, UpdateKind.NEW_REVISION, description)
    return _finish(rec, UpdateKind.NEW_REVISION, key, [(call, key)], {key: item})


DEFINITION_SETTINGS = {"timeout": "timeout", "retry_strategy": "retryStrategy"}
"""Recommendation field -> RegisterJobDefinition field, for the settings advisor's revisions
(`attempt-timeouts`, `retry-and-spot`): the revision is the current one with these replaced."""


def _plan_definition_settings(rec: Recommendation, item: dict[str, Any]) -> ChangePlan:
    """RegisterJobDefinition: the latest ACTIVE revision with a new timeout and/or retry strategy."""
    _check_not_stale(rec, {key: item.get(api) for key, api in DEFINITION_SETTINGS.items()})
    key = job_definition_key(item["jobDefinitionArn"])
    call = _definition_settings_call(rec, item, rec.proposed)
    return _finish(rec, UpdateKind.NEW_REVISION, key, [(call, key)], {key: item})


def _queue_revisions(rec: Recommendation, state: CurrentState) -> list[tuple[str, dict[str, Any], ApiCall]]:
    """(resource key, current revision, RegisterJobDefinition call) for each of a queue
    recommendation's `job_definition_revisions` ({job_definition, retry_strategy} entries)."""
    entries = rec.proposed.get("job_definition_revisions") or []
    recorded = {
        job_definition_key(str(e.get("job_definition"))): e
        for e in rec.current.get("job_definition_revisions") or []
        if isinstance(e, dict)
    }
    live = {job_definition_key(d["jobDefinitionArn"]): d for d in state.job_definitions}
    out = []
    for entry in entries:
        if not isinstance(entry, dict) or not entry.get("job_definition"):
            raise InputError(
                f"recommendation {rec.id}: job_definition_revisions entries need a job_definition"
            )
        key = job_definition_key(str(entry["job_definition"]))
        item = live.get(key)
        if item is None:
            raise UserError(f"recommendation {rec.id}: {key}: no ACTIVE revision of this job definition")
        settings = {k: v for k, v in entry.items() if k != "job_definition"}
        if not settings or not set(settings) <= set(DEFINITION_SETTINGS):
            raise InputError(
                f"recommendation {rec.id}: job_definition_revisions of {key} may set only"
                f" {sorted(DEFINITION_SETTINGS)}"
            )
        was = recorded.get(key)
        for name in settings:
            api = DEFINITION_SETTINGS[name]
            if was is not None and name in was and not _equivalent(name, was[name], item.get(api)):
                raise RefusedError(
                    f"recommendation {rec.id} is stale: {item['jobDefinitionName']} {api} was"
                    f" {was[name]!r} when recommended, now {item.get(api)!r}; re-run the recommendations"
                )
        out.append((key, item, _definition_settings_call(rec, item, settings)))
    return out


def _definition_settings_call(
    rec: Recommendation, item: dict[str, Any], proposed: Mapping[str, Any]
) -> ApiCall:
    """The RegisterJobDefinition call: every registerable field of `item`, with `proposed` set."""
    name = item["jobDefinitionName"]
    if item.get("type") != "container" or not item.get("containerProperties"):
        raise InputError(f"recommendation {rec.id}: {name} is not a single-container job definition")
    params = shapes.as_request("RegisterJobDefinition", copy.deepcopy(item))
    params.update(jobDefinitionName=name, type="container")
    changed = []
    for key, api in DEFINITION_SETTINGS.items():
        if key not in proposed:
            continue
        value = copy.deepcopy(proposed[key])
        if value == item.get(api):
            continue
        params[api] = value
        changed.append(f"{api} {item.get(api)!r} -> {value!r}")
    if not changed:
        raise UserError(f"recommendation {rec.id}: {name} already has the proposed settings")
    timeout = (params.get("timeout") or {}).get("attemptDurationSeconds")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int) or timeout < 60):
        raise InputError(f"recommendation {rec.id}: timeout.attemptDurationSeconds must be an integer >= 60")
    attempts = (params.get("retryStrategy") or {}).get("attempts", 1)
    if isinstance(attempts, bool) or not isinstance(attempts, int) or not 1 <= attempts <= 10:
        raise InputError(f"recommendation {rec.id}: retryStrategy.attempts must be from 1 to 10")
    description = (
        f"register {name} revision {int(item['revision']) + 1} (from {item['revision']}): "
        + "; ".join(changed)
    )
    return _call("register_job_definition", params, UpdateKind.NEW_REVISION, description)
