"""Change plans and the audit log in the store.

A plan is saved when it is made (`batchopt plan`), so `apply` later runs exactly what was shown and
its fingerprint proves the resource did not move in between. The audit record of an execution is
committed as `pending` before the first AWS call and completed after: a crash in between leaves a
`pending` row that the next run reconciles by reading the resources back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from optimizer.domain import ApiCall, ChangePlan, UpdateKind
from optimizer.errors import UserError
from optimizer.runtime.clock import utc_now
from optimizer.store.schema import audit_log, change_plans

RESULTS = (
    "pending",
    "succeeded",
    "partial",
    "failed",
    "not-applied",
    "refused",
    "dry-run",
    "kept",
    "regressed",
    "waiting",
    "resumed",
)
"""`kept` / `regressed`: auto-tuning's verdict on one of its changes (action `observe`).
`waiting`: an apply stopped while Batch was still updating a CE or draining tasks, resumable
(`Executor.resume`); `resumed`: such a record once a later record has taken the run over."""


utcnow = utc_now
"""The executor's default clock (kept under this name for its callers)."""


def _call_to_json(call: ApiCall) -> dict[str, Any]:
    return {
        "service": call.service,
        "operation": call.operation,
        "params": call.params,
        "update_kind": str(call.update_kind),
        "permissions": list(call.permissions),
        "description": call.description,
    }


def _call_from_json(data: dict[str, Any]) -> ApiCall:
    return ApiCall(
        data["service"],
        data["operation"],
        data["params"],
        UpdateKind(data["update_kind"]),
        tuple(data["permissions"]),
        data.get("description", ""),
    )


def plan_to_json(plan: ChangePlan) -> dict[str, Any]:
    return {
        "id": plan.id,
        "recommendation_id": plan.recommendation_id,
        "kind": plan.kind,
        "target_arn": plan.target_arn,
        "fingerprint": plan.fingerprint,
        "update_kind": str(plan.update_kind),
        "permissions": plan.permissions,
        "calls": [_call_to_json(c) for c in plan.calls],
        "before": plan.before,
    }


def save_plan(engine: Engine, plan: ChangePlan, *, now: datetime | None = None) -> None:
    """Store a plan. Its id hashes what it does and what it was planned on, so planning the same
    thing again only moves `created_at` (it is then the latest plan of its recommendation again)."""
    with engine.begin() as conn:
        exists = conn.execute(select(change_plans.c.id).where(change_plans.c.id == plan.id)).first()
        if exists:
            conn.execute(
                update(change_plans).where(change_plans.c.id == plan.id).values(created_at=now or utcnow())
            )
            return
        conn.execute(
            insert(change_plans).values(
                id=plan.id,
                recommendation_id=plan.recommendation_id,
                kind=plan.kind,
                created_at=now or utcnow(),
                target_arn=plan.target_arn,
                fingerprint=plan.fingerprint,
                update_kind=str(plan.update_kind),
                calls=[_call_to_json(c) for c in plan.calls],
                permissions=plan.permissions,
                before=plan.before,
            )
        )


def _plan_from_row(m: Mapping[str, Any]) -> ChangePlan:
    return ChangePlan(
        id=m["id"],
        recommendation_id=m["recommendation_id"],
        kind=m["kind"],
        target_arn=m["target_arn"],
        fingerprint=m["fingerprint"],
        update_kind=UpdateKind(m["update_kind"]),
        calls=tuple(_call_from_json(c) for c in m["calls"]),
        before=m["before"],
    )


def load_change_plan(engine: Engine, plan_id: str) -> ChangePlan:
    """A stored change plan by id (UserError naming it when there is none)."""
    with engine.connect() as conn:
        row = conn.execute(select(change_plans).where(change_plans.c.id == plan_id)).first()
    if row is None:
        raise UserError(f"change plan {plan_id}: not found")
    return _plan_from_row(row._mapping)


def latest_plan_row(engine: Engine, recommendation_id: str, kind: str = "apply") -> dict[str, Any] | None:
    """The newest stored plan of a recommendation as stored (with `created_at`), or None."""
    with engine.connect() as conn:
        row = conn.execute(
            select(change_plans)
            .where(change_plans.c.recommendation_id == recommendation_id, change_plans.c.kind == kind)
            .order_by(change_plans.c.created_at.desc(), change_plans.c.id)
            .limit(1)
        ).first()
    return dict(row._mapping) if row is not None else None


def latest_plan(engine: Engine, recommendation_id: str, kind: str = "apply") -> ChangePlan | None:
    row = latest_plan_row(engine, recommendation_id, kind)
    return _plan_from_row(row) if row is not None else None


@dataclass(frozen=True, slots=True)
class AuditRecord:
    id: int
    plan_id: str
    recommendation_id: str | None
    action: str
    actor: str
    dry_run: bool
    started_at: datetime
    finished_at: datetime | None
    before: Any
    after: Any
    result: str
    message: str | None


def _audit_from_row(row: Any) -> AuditRecord:
    m = row._mapping
    return AuditRecord(**{name: m[name] for name in AuditRecord.__slots__})  # type: ignore[attr-defined]


def start_audit(
    engine: Engine,
    plan: ChangePlan,
    *,
    action: str,
    actor: str,
    dry_run: bool,
    before: Any,
    result: str = "pending",
    message: str | None = None,
    now: datetime | None = None,
) -> int:
    """Insert an audit record in its own committed transaction (it must survive a crash)."""
    started = now or utcnow()
    with engine.begin() as conn:
        inserted = conn.execute(
            insert(audit_log)
            .values(
                plan_id=plan.id,
                recommendation_id=plan.recommendation_id,
                action=action,
                actor=actor,
                dry_run=dry_run,
                started_at=started,
                finished_at=None if result == "pending" else started,
                before=before,
                result=result,
                message=message,
            )
            .returning(audit_log.c.id)
        )
        return int(inserted.scalar_one())


STATUS_ACTIONS = ("dismiss", "reopen")
"""Audit actions of a recommendation's status change made through the apply service; no AWS call,
so no change plan: their rows carry `NO_PLAN` as the plan id and the status before/after."""
NO_PLAN = "-"


def audit_status_change(
    conn: Connection,
    recommendation_id: str,
    *,
    action: str,
    actor: str,
    before: dict[str, Any],
    after: dict[str, Any],
    message: str | None,
    now: datetime | None = None,
) -> int:
    """Record a dismissal or reopening inside the caller's transaction (the status moves with it)."""
    if action not in STATUS_ACTIONS:
        raise ValueError(f"unknown status action {action!r}")
    at = now or utcnow()
    inserted = conn.execute(
        insert(audit_log)
        .values(
            plan_id=NO_PLAN,
            recommendation_id=recommendation_id,
            action=action,
            actor=actor,
            dry_run=False,
            started_at=at,
            finished_at=at,
            before=before,
            after=after,
            result="succeeded",
            message=message,
        )
        .returning(audit_log.c.id)
    )
    return int(inserted.scalar_one())


def finish_audit(
    engine: Engine | Connection,
    audit_id: int,
    *,
    result: str,
    after: Any,
    message: str,
    now: datetime | None = None,
) -> None:
    """Complete an audit record; given a connection, inside the caller's transaction (the executor
    moves the recommendation's status in the same one, so a crash cannot leave one without the
    other)."""
    if result not in RESULTS:
        raise ValueError(f"unknown audit result {result!r}")
    query = (
        update(audit_log)
        .where(audit_log.c.id == audit_id)
        .values(result=result, after=after, message=message, finished_at=now or utcnow())
    )
    if isinstance(engine, Connection):
        engine.execute(query)
        return
    with engine.begin() as conn:
        conn.execute(query)


def audit(engine: Engine, audit_id: int) -> AuditRecord:
    """One audit record by id (UserError naming it when there is none)."""
    with engine.connect() as conn:
        row = conn.execute(select(audit_log).where(audit_log.c.id == audit_id)).first()
    if row is None:
        raise UserError(f"audit record #{audit_id}: not found")
    return _audit_from_row(row)


def audits(
    engine: Engine,
    *,
    recommendation_id: str | None = None,
    results: tuple[str, ...] | None = None,
    actions: tuple[str, ...] | None = None,
    dry_run: bool | None = False,
) -> list[AuditRecord]:
    """Audit records, newest first, filtered as asked."""
    query = select(audit_log).order_by(audit_log.c.started_at.desc(), audit_log.c.id.desc())
    if recommendation_id is not None:
        query = query.where(audit_log.c.recommendation_id == recommendation_id)
    if results:
        query = query.where(audit_log.c.result.in_(list(results)))
    if actions:
        query = query.where(audit_log.c.action.in_(list(actions)))
    if dry_run is not None:
        query = query.where(audit_log.c.dry_run == dry_run)
    with engine.connect() as conn:
        return [_audit_from_row(row) for row in conn.execute(query)]
