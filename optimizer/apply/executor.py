"""The executor: the only code that mutates AWS. Guarded, audited, verified, reversible.

For a plan it: refuses unless `apply.enabled` and every resource it changes is on `apply.allow_list`;
reconciles `pending` audit records an earlier run left behind (and refuses while another run on the
same target is still in flight); re-reads every resource and refuses when the fingerprint moved or a
CE is not VALID; commits a `pending` audit record; sends the calls in order (waiting for a CE to be
VALID after each CE call, for a replaced CE's tasks to drain before disabling it, and for a job
queue to settle before it or its scheduling policy is deleted); reads every resource back and checks
each call landed; stores a rollback plan built from the "before"; completes the audit record.
Without `execute=True` it stops after the checks and records a dry run.

Waits follow Batch's update rules: after an infrastructure update Batch lets running jobs run for up
to the update policy's `jobExecutionTimeoutMinutes` (30 by default, up to 7200) before it replaces
instances, so that wait's budget is that timeout plus `apply.wait_for_valid_seconds`
(`wait_budget_seconds`). A wait that runs out while Batch is still UPDATING (or tasks still drain)
ends the run as `waiting`, not failed: `resume` (`batchopt apply --resume AUDIT_ID`, and auto-tuning
on its next pass) continues it, and after a crash the reconciled record is resumable the same way.
A rollback is refused only while a CE is CREATING/UPDATING/DELETING (an INVALID CE may be rolled back).

A call AWS accepted but whose effect does not read back is reported as not applied, never as success
(moto 5.2.5 is the everyday example: it ignores computeResources in UpdateComputeEnvironment).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from sqlalchemy import Engine

from optimizer.apply import records
from optimizer.apply.fingerprint import changed_fields, fingerprint, resource_kind
from optimizer.apply.planner import SCALING_FIELDS, update_policy_of
from optimizer.apply.reader import BatchReader, aws_errors, json_safe
from optimizer.apply.rollback import build_rollback
from optimizer.apply.verify import verify_call
from optimizer.config import ApplySettings
from optimizer.domain import ApiCall, ChangePlan
from optimizer.errors import RefusedError, UserError
from optimizer.recommend.repository import set_status

log = logging.getLogger(__name__)

ClientProvider = Callable[[str, str], Any]
"""(service, resource ARN) -> a boto3 client for the account and region that own the resource."""

_CE_OPERATIONS = ("update_compute_environment", "create_compute_environment")
_NEEDS_SETTLED_QUEUE = ("delete_job_queue", "delete_scheduling_policy")
"""Calls sent only once the queue the previous call changed has settled: Batch deletes a queue only
once it is DISABLED, and a scheduling policy only once no queue uses it (the queue is deleted)."""
#: CE statuses Batch is still working on: an apply waits, a rollback is refused until they end.
TRANSITIONAL_STATUSES = frozenset({"CREATING", "UPDATING", "DELETING"})


@dataclass(frozen=True, slots=True)
class Halt:
    """Why the calls stopped. `resume_from` is set when the stop is a wait that ran out of budget
    while Batch was still working (UPDATING, tasks draining): the apply is resumable from that call."""

    message: str
    resume_from: int | None = None
    wait: str | None = None  # "valid", "drain", "queue" or "queue-deleted": what the resume waits for first
    key: str | None = None  # the resource it waits on
    rejected: int | None = None  # the call AWS refused (sent, not "not sent")


def _desired_below_current(plan: ChangePlan, current: dict[str, dict[str, Any] | None]) -> list[str]:
    """Calls that set a compute environment's desiredvCpus below what it is now. Batch accepts only
    an increase ("the updated desiredvCpus value must be greater than or equal to the current
    desiredvCpus value", UpdateComputeEnvironment), and the planner checked against the value when
    the plan was made, which the fingerprint leaves out on purpose (Batch moves it all day)."""
    observe = (plan.before or {}).get("observe", [])
    refusals = []
    for index, call in enumerate(plan.calls):
        wanted = (call.params.get("computeResources") or {}).get("desiredvCpus")
        if call.operation != "update_compute_environment" or wanted is None or index >= len(observe):
            continue
        item = current.get(observe[index]) or {}
        now = (item.get("computeResources") or {}).get("desiredvCpus")
        if now is not None and int(wanted) < int(now):
            refusals.append(
                f"{resource_name(observe[index])}: desiredvCpus {wanted} is below the current {now}, "
                "which Batch refuses (it accepts only an increase): run `batchopt plan` again"
            )
    return refusals


def replaces_instances(call: ApiCall) -> bool:
    """An UpdateComputeEnvironment Batch answers by replacing instances (an infrastructure update)."""
    resources = set(call.params.get("computeResources") or {})
    return call.operation == "update_compute_environment" and bool(resources - SCALING_FIELDS)


def wait_budget_seconds(call: ApiCall, before: dict[str, Any] | None, settings: ApplySettings) -> float:
    """How long to wait for a CE to be VALID after `call`.

    An infrastructure update lets running jobs finish for up to the update policy's
    jobExecutionTimeoutMinutes (the call's own, else the CE's, else Batch's 30) before it replaces
    instances, and only then launches new ones: the budget is that timeout plus
    `apply.wait_for_valid_seconds` for the replacement. Anything else gets `wait_for_valid_seconds`."""
    if not replaces_instances(call):
        return float(settings.wait_for_valid_seconds)
    policy = call.params.get("updatePolicy") or update_policy_of(before)
    return 60.0 * float(policy["jobExecutionTimeoutMinutes"]) + float(settings.wait_for_valid_seconds)


def plan_wait_budget(plan: ChangePlan, settings: ApplySettings) -> float:
    """The longest a run of `plan` can legitimately take waiting (each CE call's wait, each drain)."""
    before = (plan.before or {}).get("resources", {})
    observe = (plan.before or {}).get("observe", [])
    total = 0.0
    for index, call in enumerate(plan.calls):
        if call.operation in _CE_OPERATIONS:
            total += wait_budget_seconds(call, before.get(observe[index]), settings)
    return total


@dataclass(frozen=True, slots=True)
class CallOutcome:
    index: int
    operation: str
    description: str
    sent: bool
    landed: bool
    detail: str
    response: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ExecutionReport:
    plan: ChangePlan
    action: str
    dry_run: bool
    result: str  # dry-run | succeeded | partial | not-applied | failed
    message: str
    audit_id: int
    outcomes: tuple[CallOutcome, ...] = ()
    refusals: tuple[str, ...] = ()
    rollback_plan_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "plan_id": self.plan.id,
            "recommendation_id": self.plan.recommendation_id,
            "action": self.action,
            "dry_run": self.dry_run,
            "result": self.result,
            "message": self.message,
            "audit_id": self.audit_id,
            "refusals": list(self.refusals),
            "rollback_plan_id": self.rollback_plan_id,
            "calls": [
                {
                    "operation": o.operation,
                    "description": o.description,
                    "sent": o.sent,
                    "landed": o.landed,
                    "detail": o.detail,
                }
                for o in self.outcomes
            ],
        }


def disabled_refusal(settings: ApplySettings) -> str | None:
    """The first gate of every write apply makes (a change plan, a dismissal): `apply.enabled`."""
    if settings.enabled:
        return None
    return "apply is disabled: set apply.enabled = true (BATCHOPT_APPLY__ENABLED=true) to allow it"


def resource_name(key: str) -> str:
    return key.rsplit("/", 1)[-1].split(":", 1)[0]


def is_drain_step(plan: ChangePlan, call: ApiCall) -> bool:
    """Disabling the old CE of a blue/green switch: it waits until the CE's tasks have drained."""
    params = call.params
    return (
        plan.kind == "apply"
        and call.operation == "update_compute_environment"
        and params.get("state") == "DISABLED"
        and "computeResources" not in params
    )


class Executor:
    """Runs change plans for one store and one set of apply settings."""

    def __init__(
        self,
        engine: Engine,
        settings: ApplySettings,
        clients: ClientProvider,
        *,
        poll_seconds: float = 10.0,
        stale_pending_seconds: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = records.utcnow,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.clients = clients
        self.poll_seconds = poll_seconds
        # A pending record younger than this may belong to a run still in flight (None: the
        # record's own plan decides, see `stale_after`).
        self.stale_pending_seconds = stale_pending_seconds
        self.sleep = sleep
        self.monotonic = monotonic
        self.now = now

    def stale_after(self, plan: ChangePlan) -> float:
        """Seconds after which a pending record of `plan` cannot belong to a live run any more:
        everything the plan may wait for, plus a margin for the calls themselves."""
        if self.stale_pending_seconds is not None:
            return self.stale_pending_seconds
        return plan_wait_budget(plan, self.settings) + self.settings.wait_for_valid_seconds + 300

    # --- guards -------------------------------------------------------------------------------

    def _reader(self, plan: ChangePlan) -> BatchReader:
        return BatchReader(self.clients("batch", plan.target_arn), self.clients("ecs", plan.target_arn))

    def changed_resources(self, plan: ChangePlan) -> list[str]:
        """Resource keys the plan changes that existed before it (a CE it creates needs no allow-listing).

        A rollback is judged by the plan it rolls back: it may undo exactly what that plan changed,
        including disabling the CE that plan created."""
        rolls_back = (plan.before or {}).get("rolls_back")
        if plan.kind == "rollback" and rolls_back:
            return self.changed_resources(records.load_change_plan(self.engine, rolls_back))
        existing = (plan.before or {}).get("resources", {})
        observe = (plan.before or {}).get("observe", [])
        return [key for key in dict.fromkeys(observe) if existing.get(key) is not None or key not in existing]

    def config_refusals(self, plan: ChangePlan) -> list[str]:
        refusals = [refusal] if (refusal := disabled_refusal(self.settings)) else []
        allowed = set(self.settings.allow_list)
        outside = [
            resource_name(key)
            for key in self.changed_resources(plan)
            if key not in allowed and resource_name(key) not in allowed
        ]
        if outside:
            refusals.append(
                f"not on apply.allow_list: {', '.join(outside)} (add the names or ARNs to apply.allow_list)"
            )
        return refusals

    def state_refusals(self, plan: ChangePlan, current: dict[str, dict[str, Any] | None]) -> list[str]:
        refusals = []
        if fingerprint(current) != plan.fingerprint:
            planned = (plan.before or {}).get("resources", {})
            changed = [
                key
                for key in current
                if fingerprint({key: planned.get(key)}) != fingerprint({key: current[key]})
            ]
            # A resource the plan creates that exists already: its name is derived from the change,
            # so planning again names it again (a copy left by an earlier partial or rolled-back
            # apply); only removing it, or another name, gets past it.
            leftover = [k for k in changed if planned.get(k) is None and current.get(k) is not None]
            moved = [
                f"{resource_name(k)}: {', '.join(changed_fields(planned.get(k), current[k])) or 'changed'}"
                for k in changed
                if k not in leftover
            ]
            if moved:
                refusals.append(
                    "the resources changed since this plan was made ("
                    + "; ".join(moved)
                    + "): run `batchopt plan` again and review the new plan"
                )
            for key in leftover:
                refusals.append(
                    f"{resource_name(key)} exists already, and this plan creates it (a copy an earlier "
                    "apply left behind?): delete it once no queue uses it, then apply again; planning "
                    "again derives the same name"
                )
        for key, item in current.items():
            if item is None or resource_kind(key) != "compute-environment":
                continue
            status = item.get("status")
            if status in TRANSITIONAL_STATUSES:
                refusals.append(
                    f"{resource_name(key)} is {status}: wait until Batch finishes (the update may take"
                    " up to its update policy's jobExecutionTimeoutMinutes)"
                )
            elif status != "VALID" and plan.kind != "rollback":
                # A rollback is what an INVALID CE after an update needs; an apply is not.
                refusals.append(f"{resource_name(key)} is {status}, not VALID: fix it first")
        refusals += _desired_below_current(plan, current)
        return refusals

    def _pending_in_flight(self, plan: ChangePlan) -> list[records.AuditRecord]:
        """Reconciles stale pending records; returns those still fresh for the same target."""
        pending = records.audits(self.engine, results=("pending",))
        blocking = []
        for record in pending:
            other = records.load_change_plan(self.engine, record.plan_id)
            cutoff = self.now() - timedelta(seconds=self.stale_after(other))
            if record.started_at <= cutoff and self._try_reconcile(record):
                continue
            if other.target_arn == plan.target_arn:
                blocking.append(record)
        return blocking

    def _try_reconcile(self, record: records.AuditRecord) -> bool:
        """Reconcile one stale record; a failure (say, its account is unreachable) is logged, not fatal."""
        try:
            self.reconcile(record)
        except (UserError, ClientError, BotoCoreError) as exc:
            log.warning("could not reconcile pending audit #%s (plan %s): %s", record.id, record.plan_id, exc)
            return False
        return True

    # --- running ------------------------------------------------------------------------------

    def run(
        self, plan: ChangePlan, *, execute: bool = False, actor: str, action: str | None = None
    ) -> ExecutionReport:
        """Check and (with execute=True) apply `plan`.

        Raises RefusedError, having changed nothing, when a guard refuses."""
        action = action or plan.kind
        refusals = self.config_refusals(plan)
        in_flight = self._pending_in_flight(plan)
        if in_flight:
            other = in_flight[0]
            refusals.append(
                f"another {other.action} of this target is in flight since"
                f" {other.started_at:%Y-%m-%d %H:%M} UTC (audit #{other.id})"
            )
        reader = self._reader(plan)
        keys = list((plan.before or {}).get("resources", {}))
        with aws_errors(f"reading {plan.target_arn}"):
            current = reader.read_all(keys)
        refusals += self.state_refusals(plan, current)
        if not execute:
            message = "dry run: nothing changed" + (
                "; an execute would be refused: " + " | ".join(refusals) if refusals else "; checks passed"
            )
            audit_id = records.start_audit(
                self.engine,
                plan,
                action=action,
                actor=actor,
                dry_run=True,
                before=current,
                result="dry-run",
                message=message,
                now=self.now(),
            )
            return ExecutionReport(plan, action, True, "dry-run", message, audit_id, refusals=tuple(refusals))
        if refusals:
            message = "refused, nothing changed: " + " | ".join(refusals)
            records.start_audit(
                self.engine,
                plan,
                action=action,
                actor=actor,
                dry_run=False,
                before=current,
                result="refused",
                message=message,
                now=self.now(),
            )
            raise RefusedError(f"{plan.id}: " + "\n".join(refusals) + "\nnothing was changed")
        audit_id = records.start_audit(
            self.engine, plan, action=action, actor=actor, dry_run=False, before=current, now=self.now()
        )
        # Two runs could pass the in-flight check at once; the older pending record wins.
        rival = [a for a in self._pending_in_flight(plan) if a.id < audit_id]
        if rival:
            message = f"refused, nothing changed: audit #{rival[0].id} started first on this target"
            records.finish_audit(
                self.engine, audit_id, result="refused", after=None, message=message, now=self.now()
            )
            raise RefusedError(f"{plan.id}: {message}")
        responses, halt = self._send(plan, reader)
        return self._complete(plan, action, audit_id, reader, responses, halt)

    def _send(
        self,
        plan: ChangePlan,
        reader: BatchReader,
        *,
        start: int = 0,
        responses: dict[int, dict[str, Any]] | None = None,
    ) -> tuple[dict[int, dict[str, Any]], Halt | None]:
        """Send the calls from `start` in order; stop at the first failure or exhausted wait.
        Returns the responses by call index (with those of earlier runs passed in)."""
        responses = dict(responses or {})
        observe = (plan.before or {}).get("observe", [])
        before = (plan.before or {}).get("resources", {})
        for index in range(start, len(plan.calls)):
            call = plan.calls[index]
            step = "waiting for tasks to drain"
            try:
                if is_drain_step(plan, call):
                    halt = self._wait_drained(reader, observe[index], index)
                    if halt:
                        return responses, halt
                step = f"{call.operation} failed"
                method = getattr(reader.batch, call.operation)
                responses[index] = json_safe(method(**call.params))
                step = "waiting for VALID"
                if call.operation in _CE_OPERATIONS:
                    budget = wait_budget_seconds(call, before.get(observe[index]), self.settings)
                    halt = self._wait_valid(reader, observe[index], budget, index + 1)
                    if halt:
                        return responses, halt
                following = plan.calls[index + 1].operation if index + 1 < len(plan.calls) else None
                if "job_queue" in call.operation and following in _NEEDS_SETTLED_QUEUE:
                    step = "waiting for the job queue to settle"
                    gone = call.operation == "delete_job_queue"
                    halt = self._wait_queue(reader, observe[index], index + 1, gone=gone)
                    if halt:
                        return responses, halt
            except (ClientError, BotoCoreError) as exc:
                refused = index if step == f"{call.operation} failed" else None
                return responses, Halt(f"{step}: {exc}", rejected=refused)
        return responses, None

    def _wait_valid(self, reader: BatchReader, key: str, budget: float, resume_from: int) -> Halt | None:
        deadline = self.monotonic() + budget
        while True:
            item = reader.compute_environment(key)
            status = (item or {}).get("status")
            if status == "VALID":
                return None
            if status == "INVALID":
                return Halt(f"{resource_name(key)} became INVALID: {(item or {}).get('statusReason')}")
            if self.monotonic() >= deadline:
                return Halt(
                    f"{resource_name(key)} not VALID after {budget:g}s (status {status}); later calls"
                    " not sent",
                    resume_from,
                    "valid",
                    key,
                )
            self.sleep(self.poll_seconds)

    def _wait_queue(self, reader: BatchReader, key: str, resume_from: int, *, gone: bool) -> Halt | None:
        """Wait until the queue is no longer CREATING/UPDATING (with `gone`, until it is deleted)."""
        budget = self.settings.wait_for_valid_seconds
        deadline = self.monotonic() + budget
        while True:
            item = reader.job_queue(key)
            status = (item or {}).get("status")
            if (item is None or status == "DELETED") if gone else status not in TRANSITIONAL_STATUSES:
                return None
            if self.monotonic() >= deadline:
                wanted = "deleted" if gone else "settled"
                return Halt(
                    f"{resource_name(key)} not {wanted} after {budget:g}s (status {status}); later calls"
                    " not sent",
                    resume_from,
                    "queue-deleted" if gone else "queue",
                    key,
                )
            self.sleep(self.poll_seconds)

    def _wait_drained(self, reader: BatchReader, key: str, index: int) -> Halt | None:
        budget = self.settings.wait_for_valid_seconds
        deadline = self.monotonic() + budget
        while True:
            item = reader.compute_environment(key)
            running = reader.running_tasks(item) if item else 0
            if running == 0:
                return None
            if self.monotonic() >= deadline:
                return Halt(
                    f"{resource_name(key)} still runs {running} tasks after {budget:g}s: not disabled yet"
                    " (resume once drained, or roll back)",
                    index,
                    "drain",
                    key,
                )
            self.sleep(self.poll_seconds)

    def _complete(
        self,
        plan: ChangePlan,
        action: str,
        audit_id: int,
        reader: BatchReader,
        responses: dict[int, dict[str, Any]],
        halt: Halt | None,
        *,
        reconciled: bool = False,
        prefix: str = "",
    ) -> ExecutionReport:
        """Read back, verify each call, store the rollback plan, complete the audit, move the status."""
        before = (plan.before or {}).get("resources", {})
        observe = (plan.before or {}).get("observe", [])
        # If this read fails the audit record stays pending, and the next run reconciles it.
        with aws_errors(f"reading back {plan.target_arn} (the audit record stays pending)"):
            after = reader.read_all(list(dict.fromkeys([*before, *observe])))
        outcomes = []
        for index, call in enumerate(plan.calls):
            key = observe[index]
            sent = index in responses
            verdict = verify_call(call, after.get(key), before.get(key), responses.get(index))
            if reconciled and verdict.landed:
                sent = True
                responses[index] = _response_from(call, after.get(key))
            landed = sent and verdict.landed
            detail = verdict.detail if sent else "rejected" if halt and halt.rejected == index else "not sent"
            if sent and not verdict.landed and not reconciled:
                detail = f"AWS accepted the call but it did not read back: {verdict.detail}"
            outcomes.append(
                CallOutcome(
                    index, call.operation, call.description, sent, landed, detail, responses.get(index, {})
                )
            )
        landed_calls = [(o.index, o.response) for o in outcomes if o.landed]
        if reconciled and halt is None:
            halt = _resume_point(plan, [o.landed for o in outcomes])
        error = halt.message if halt else None
        if halt is not None and halt.resume_from is not None:
            result = "waiting"  # Batch is still at work (UPDATING, draining): not done, not failed
        elif landed_calls and len(landed_calls) == len(plan.calls) and halt is None:
            # (every call read back, but a halt after the last one, a compute environment Batch
            # left INVALID, is no success: reported as partial, with its reason)
            result = "succeeded"
        elif landed_calls:
            result = "partial"
        elif error and not responses:
            result = "failed"
        else:
            result = "not-applied"
        rollback = (
            build_rollback(plan, landed_calls, after) if plan.kind == "apply" and landed_calls else None
        )
        if rollback is not None:
            records.save_plan(self.engine, rollback, now=self.now())
        parts = [f"{o.operation}: {'landed' if o.landed else o.detail}" for o in outcomes]
        if error:
            parts.append(error)
        if result == "waiting":
            parts.append(f"continue with `batchopt apply --resume {audit_id}` (or roll back)")
        prefix = prefix or ("reconciled after an interrupted run: " if reconciled else "")
        message = prefix + f"{result}: " + "; ".join(parts)
        audit_after = {
            "resources": after,
            "calls": [
                {"index": o.index, "landed": o.landed, "detail": o.detail, "response": o.response}
                for o in outcomes
            ],
            "rollback_plan_id": rollback.id if rollback else None,
        }
        if result == "waiting" and halt is not None:
            audit_after["resume"] = {"from": halt.resume_from, "wait": halt.wait, "key": halt.key}
        with self.engine.begin() as conn:  # the audit's end and the status move together
            records.finish_audit(
                conn, audit_id, result=result, after=audit_after, message=message, now=self.now()
            )
            if landed_calls:
                set_status(
                    conn,
                    plan.recommendation_id,
                    "applied" if plan.kind == "apply" else "rolled-back",
                    f"{action} {result} (audit #{audit_id})",
                    now=self.now(),
                )
        return ExecutionReport(
            plan,
            action,
            False,
            result,
            message,
            audit_id,
            tuple(outcomes),
            rollback_plan_id=rollback.id if rollback else None,
        )

    # --- resuming -----------------------------------------------------------------------------

    def resume(self, audit_id: int, *, actor: str) -> ExecutionReport:
        """Continue an apply that stopped waiting (audit result `waiting`): wait again for what it
        waited for, with a fresh budget, then send the calls it had not sent.

        Refused, with nothing changed, when apply is disabled or off the allow-list, another run on
        the target is in flight, a call that had landed no longer reads back, or a resource the
        remaining calls change moved since the plan was made. The waiting record becomes `resumed`
        and a new record carries the whole run (earlier calls included) to its result."""
        record = records.audit(self.engine, audit_id)
        resume = (record.after or {}).get("resume")
        if record.result != "waiting" or not resume or record.dry_run:
            raise RefusedError(f"audit #{audit_id} is {record.result}: only a waiting apply can be resumed")
        plan = records.load_change_plan(self.engine, record.plan_id)
        refusals = self.config_refusals(plan)
        in_flight = self._pending_in_flight(plan)
        if in_flight:
            refusals.append(f"audit #{in_flight[0].id} on this target is in flight")
        start = int(resume["from"])
        earlier = {
            int(c["index"]): c.get("response") or {}
            for c in (record.after or {}).get("calls", [])
            if c["landed"]
        }
        observe = (plan.before or {}).get("observe", [])
        planned = (plan.before or {}).get("resources", {})
        reader = self._reader(plan)
        with aws_errors(f"reading {plan.target_arn}"):
            current = reader.read_all(list(dict.fromkeys([*planned, *observe])))
        for index, response in earlier.items():
            key = observe[index]
            verdict = verify_call(plan.calls[index], current.get(key), planned.get(key), response)
            if not verdict.landed:
                refusals.append(f"{resource_name(key)} changed since the apply: {verdict.detail}")
        touched = {observe[i] for i in earlier}
        for key in dict.fromkeys(observe[start:]):
            if key in touched or key not in planned:
                continue
            if fingerprint({key: planned[key]}) != fingerprint({key: current.get(key)}):
                moved = ", ".join(changed_fields(planned[key], current.get(key))) or "changed"
                refusals.append(f"{resource_name(key)} moved since the plan was made ({moved})")
        if refusals:
            raise RefusedError(
                f"resume of audit #{audit_id}: " + "\n".join(refusals) + "\nnothing was changed"
            )
        new_id = records.start_audit(
            self.engine,
            plan,
            action=record.action,
            actor=actor,
            dry_run=False,
            before=current,
            now=self.now(),
        )
        records.finish_audit(
            self.engine,
            audit_id,
            result="resumed",
            after=record.after,
            message=f"{record.message or 'waiting'}; resumed by audit #{new_id}",
            now=self.now(),
        )
        halt: Halt | None = None
        try:
            if resume.get("wait") == "valid":
                call = plan.calls[start - 1]
                budget = wait_budget_seconds(call, planned.get(resume["key"]), self.settings)
                halt = self._wait_valid(reader, resume["key"], budget, start)
            elif resume.get("wait") in ("queue", "queue-deleted"):
                halt = self._wait_queue(reader, resume["key"], start, gone=resume["wait"] == "queue-deleted")
            responses = earlier
            if halt is None:
                responses, halt = self._send(plan, reader, start=start, responses=earlier)
        except (ClientError, BotoCoreError) as exc:
            responses, halt = earlier, Halt(f"waiting for VALID: {exc}")
        return self._complete(
            plan, record.action, new_id, reader, responses, halt, prefix=f"resumed audit #{audit_id}: "
        )

    # --- crash recovery -----------------------------------------------------------------------

    def reconcile(self, record: records.AuditRecord) -> ExecutionReport:
        """Settle a `pending` audit record: read the resources and decide which calls had landed."""
        plan = records.load_change_plan(self.engine, record.plan_id)
        return self._complete(plan, record.action, record.id, self._reader(plan), {}, None, reconciled=True)

    def reconcile_pending(self, *, older_than_seconds: float | None = None) -> list[ExecutionReport]:
        """Reconcile every pending record older than `older_than_seconds` (default: the stale age)."""

        def stale(record: records.AuditRecord) -> bool:
            age = older_than_seconds
            if age is None:
                age = self.stale_after(records.load_change_plan(self.engine, record.plan_id))
            return record.started_at <= self.now() - timedelta(seconds=age)

        stale = [r for r in records.audits(self.engine, results=("pending",)) if stale(r)]
        settled = []
        for record in stale:
            try:
                settled.append(self.reconcile(record))
            except (UserError, ClientError, BotoCoreError) as exc:
                log.warning("could not reconcile pending audit #%s: %s", record.id, exc)
        return settled


def _resume_point(plan: ChangePlan, landed: list[bool]) -> Halt | None:
    """Where an interrupted run can continue: after a non-empty prefix of landed calls, waiting
    first for what the run was waiting for (the last CE call's VALID, or the drain). None when
    nothing or everything landed, or the landed calls are not a prefix (not a state a run leaves)."""
    if all(landed) or not landed[0]:
        return None
    first = landed.index(False)
    if any(landed[first:]):
        return None
    observe = (plan.before or {}).get("observe", [])
    message = f"the run stopped after call {first} of {len(plan.calls)}"
    if is_drain_step(plan, plan.calls[first]):
        return Halt(message, first, "drain", observe[first])
    if plan.calls[first - 1].operation in _CE_OPERATIONS:
        return Halt(message, first, "valid", observe[first - 1])
    return Halt(message, first)


def _response_from(call: ApiCall, observed: dict[str, Any] | None) -> dict[str, Any]:
    """What a landed call's response carried, recovered from the resource (for crash recovery)."""
    observed = observed or {}
    if call.operation == "register_job_definition":
        return {"jobDefinitionArn": observed.get("jobDefinitionArn")}
    if call.operation == "create_compute_environment":
        return {"computeEnvironmentArn": observed.get("computeEnvironmentArn")}
    if call.operation == "create_job_queue":
        return {"jobQueueArn": observed.get("jobQueueArn")}
    if call.operation == "create_scheduling_policy":
        return {"arn": observed.get("arn")}
    return {}
