"""The executor: the only code that mutates AWS. Guarded, audited, verified, reversible.

For a plan it: refuses unless `apply.enabled` and every resource it changes is on `apply.allow_list`;
reconciles `pending` audit records an earlier run left behind (and refuses while another run on the
same target is still in flight); re-reads every resource and refuses when the fingerprint moved or a
CE is not VALID; commits a `pending` audit record; sends the calls in order (waiting for a CE to be
VALID after each CE call, and for a replaced CE's tasks to drain before disabling it); reads every
resource back and checks each call landed; stores a rollback plan built from the "before"; completes
the audit record. Without `execute=True` it stops after the checks and records a dry run.

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
        # A pending record younger than this may belong to a run still in flight.
        self.stale_pending_seconds = (
            stale_pending_seconds
            if stale_pending_seconds is not None
            else 2 * settings.wait_for_valid_seconds + 300
        )
        self.sleep = sleep
        self.monotonic = monotonic
        self.now = now

    # --- guards -------------------------------------------------------------------------------

    def _reader(self, plan: ChangePlan) -> BatchReader:
        return BatchReader(self.clients("batch", plan.target_arn), self.clients("ecs", plan.target_arn))

    def changed_resources(self, plan: ChangePlan) -> list[str]:
        """Resource keys the plan changes that existed before it (a CE it creates needs no allow-listing).

        A rollback is judged by the plan it rolls back: it may undo exactly what that plan changed,
        including disabling the CE that plan created."""
        rolls_back = (plan.before or {}).get("rolls_back")
        if plan.kind == "rollback" and rolls_back:
            return self.changed_resources(records.load_plan(self.engine, rolls_back))
        existing = (plan.before or {}).get("resources", {})
        observe = (plan.before or {}).get("observe", [])
        return [key for key in dict.fromkeys(observe) if existing.get(key) is not None or key not in existing]

    def config_refusals(self, plan: ChangePlan) -> list[str]:
        refusals = []
        if not self.settings.enabled:
            refusals.append(
                "apply is disabled: set apply.enabled = true (BATCHOPT_APPLY__ENABLED=true) to allow it"
            )
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
            moved = [
                f"{resource_name(key)}: {', '.join(changed_fields(planned.get(key), item)) or 'changed'}"
                for key, item in current.items()
                if fingerprint({key: planned.get(key)}) != fingerprint({key: current.get(key)})
            ]
            refusals.append(
                "the resources changed since this plan was made ("
                + "; ".join(moved)
                + "): run `batchopt plan` again and review the new plan"
            )
        for key, item in current.items():
            if (
                item is not None
                and resource_kind(key) == "compute-environment"
                and item.get("status") != "VALID"
            ):
                refusals.append(
                    f"{resource_name(key)} is {item.get('status')}, not VALID: wait for it to settle"
                )
        return refusals

    def _pending_in_flight(self, plan: ChangePlan) -> list[records.AuditRecord]:
        """Reconciles stale pending records; returns those still fresh for the same target."""
        cutoff = self.now() - timedelta(seconds=self.stale_pending_seconds)
        pending = records.audits(self.engine, results=("pending",))
        blocking = []
        for record in pending:
            if record.started_at <= cutoff and self._try_reconcile(record):
                continue
            if records.load_plan(self.engine, record.plan_id).target_arn == plan.target_arn:
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
        responses, error = self._send(plan, reader)
        return self._complete(plan, action, audit_id, reader, responses, error)

    def _send(self, plan: ChangePlan, reader: BatchReader) -> tuple[dict[int, dict[str, Any]], str | None]:
        """Send the calls in order; stop at the first failure. Returns responses by call index."""
        responses: dict[int, dict[str, Any]] = {}
        observe = (plan.before or {}).get("observe", [])
        for index, call in enumerate(plan.calls):
            step = "waiting for tasks to drain"
            try:
                if is_drain_step(plan, call):
                    waiting = self._wait_drained(reader, observe[index])
                    if waiting:
                        return responses, waiting
                step = f"{call.operation} failed"
                method = getattr(reader.batch, call.operation)
                responses[index] = json_safe(method(**call.params))
                step = "waiting for VALID"
                if call.operation in _CE_OPERATIONS:
                    waiting = self._wait_valid(reader, observe[index])
                    if waiting:
                        return responses, waiting
            except (ClientError, BotoCoreError) as exc:
                return responses, f"{step}: {exc}"
        return responses, None

    def _wait_valid(self, reader: BatchReader, key: str) -> str | None:
        deadline = self.monotonic() + self.settings.wait_for_valid_seconds
        while True:
            item = reader.compute_environment(key)
            status = (item or {}).get("status")
            if status == "VALID":
                return None
            if status == "INVALID":
                return f"{resource_name(key)} became INVALID: {(item or {}).get('statusReason')}"
            if self.monotonic() >= deadline:
                return (
                    f"{resource_name(key)} not VALID after {self.settings.wait_for_valid_seconds:g}s"
                    f" (status {status}); later calls not sent"
                )
            self.sleep(self.poll_seconds)

    def _wait_drained(self, reader: BatchReader, key: str) -> str | None:
        deadline = self.monotonic() + self.settings.wait_for_valid_seconds
        while True:
            item = reader.compute_environment(key)
            running = reader.running_tasks(item) if item else 0
            if running == 0:
                return None
            if self.monotonic() >= deadline:
                return (
                    f"{resource_name(key)} still runs {running} tasks after"
                    f" {self.settings.wait_for_valid_seconds:g}s: not disabled yet (disable it once drained,"
                    " or roll back)"
                )
            self.sleep(self.poll_seconds)

    def _complete(
        self,
        plan: ChangePlan,
        action: str,
        audit_id: int,
        reader: BatchReader,
        responses: dict[int, dict[str, Any]],
        error: str | None,
        *,
        reconciled: bool = False,
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
            detail = verdict.detail if sent else "not sent"
            if sent and not verdict.landed and not reconciled:
                detail = f"AWS accepted the call but it did not read back: {verdict.detail}"
            outcomes.append(
                CallOutcome(
                    index, call.operation, call.description, sent, landed, detail, responses.get(index, {})
                )
            )
        landed_calls = [(o.index, o.response) for o in outcomes if o.landed]
        if landed_calls and len(landed_calls) == len(plan.calls):
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
        prefix = "reconciled after an interrupted run: " if reconciled else ""
        message = prefix + f"{result}: " + "; ".join(parts)
        audit_after = {
            "resources": after,
            "calls": [
                {"index": o.index, "landed": o.landed, "detail": o.detail, "response": o.response}
                for o in outcomes
            ],
            "rollback_plan_id": rollback.id if rollback else None,
        }
        records.finish_audit(
            self.engine, audit_id, result=result, after=audit_after, message=message, now=self.now()
        )
        if landed_calls:
            status = "applied" if plan.kind == "apply" else "rolled-back"
            with self.engine.begin() as conn:
                set_status(
                    conn,
                    plan.recommendation_id,
                    status,
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

    # --- crash recovery -----------------------------------------------------------------------

    def reconcile(self, record: records.AuditRecord) -> ExecutionReport:
        """Settle a `pending` audit record: read the resources and decide which calls had landed."""
        plan = records.load_plan(self.engine, record.plan_id)
        return self._complete(plan, record.action, record.id, self._reader(plan), {}, None, reconciled=True)

    def reconcile_pending(self, *, older_than_seconds: float | None = None) -> list[ExecutionReport]:
        """Reconcile every pending record older than `older_than_seconds` (default: the stale age)."""
        age = self.stale_pending_seconds if older_than_seconds is None else older_than_seconds
        cutoff = self.now() - timedelta(seconds=age)
        stale = [r for r in records.audits(self.engine, results=("pending",)) if r.started_at <= cutoff]
        settled = []
        for record in stale:
            try:
                settled.append(self.reconcile(record))
            except (UserError, ClientError, BotoCoreError) as exc:
                log.warning("could not reconcile pending audit #%s: %s", record.id, exc)
        return settled


def _response_from(call: ApiCall, observed: dict[str, Any] | None) -> dict[str, Any]:
    """What a landed call's response carried, recovered from the resource (for crash recovery)."""
    observed = observed or {}
    if call.operation == "register_job_definition":
        return {"jobDefinitionArn": observed.get("jobDefinitionArn")}
    if call.operation == "create_compute_environment":
        return {"computeEnvironmentArn": observed.get("computeEnvironmentArn")}
    return {}
