"""The dashboard's buttons, wired to the SAME apply workflow as `batchopt plan|apply|rollback`.

`optimizer.apply.service.ApplyService` (which owns how it reaches AWS: the configured targets'
sessions) plans against the live resource, stores the plan, and hands it to the one executor that
may change AWS; dismissing and reopening go through the same service, behind the same gate
(`apply.enabled`, the sign-in) and into the same audit log. Nothing here writes to the store itself or
builds a session, a client or an API call.

Every action returns an `Outcome` (text to show, ok or not) instead of raising, because a refusal or a
bad input must be shown on the page, not as a traceback.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from optimizer.apply.render import plan_text, report_text
from optimizer.apply.service import ApplyService
from optimizer.config import Settings
from optimizer.dashboard.state import engine_for
from optimizer.errors import UserError


@dataclass(frozen=True)
class Outcome:
    ok: bool
    summary: str
    detail: str = ""
    data: dict[str, Any] | None = None


def _service(url: str, settings: Settings) -> ApplyService:
    return ApplyService.for_settings(engine_for(url), settings)


def dry_run(url: str, settings: Settings, rec_id: str, actor: str) -> Outcome:
    """Plan against the resource as Batch reports it now, and run the executor's checks without
    changing anything (what `batchopt plan ID` then `batchopt apply ID` do)."""
    try:
        service = _service(url, settings)
        _, plan = service.plan(rec_id)
        report = service.apply(rec_id, execute=False, actor=actor)
    except UserError as exc:
        return Outcome(False, f"Dry run refused: {exc}")
    return Outcome(
        True,
        f"Dry run of plan {plan.id}: {report.result}",
        plan_text(plan) + "\n\n" + report_text(report, dashboard=True),
        _jsonable(report.to_json()),
    )


def apply(url: str, settings: Settings, rec_id: str, actor: str) -> Outcome:
    """Apply the recommendation's latest stored plan for real (the executor re-checks everything)."""
    try:
        report = _service(url, settings).apply(rec_id, execute=True, actor=actor)
    except UserError as exc:
        return Outcome(False, f"Apply refused: {exc}")
    ok = report.result == "succeeded"
    text = report_text(report, dashboard=True)
    return Outcome(ok, f"Apply: {report.result}", text, _jsonable(report.to_json()))


def rollback(url: str, settings: Settings, rec_id: str, actor: str) -> Outcome:
    """Run the rollback plan recorded when the recommendation was applied."""
    try:
        report = _service(url, settings).rollback(rec_id, execute=True, actor=actor)
    except UserError as exc:
        return Outcome(False, f"Rollback refused: {exc}")
    ok = report.result == "succeeded"
    text = report_text(report, dashboard=True)
    return Outcome(ok, f"Rollback: {report.result}", text, _jsonable(report.to_json()))


def dismiss(url: str, settings: Settings, rec_id: str, reason: str, actor: str) -> Outcome:
    """Dismiss with a reason, audited; `reopen` undoes it."""
    if not reason.strip():
        return Outcome(False, "Say why you dismiss it: the reason is kept with the recommendation.")
    try:
        _service(url, settings).dismiss(rec_id, reason, actor=actor)
    except UserError as exc:
        return Outcome(False, f"Dismiss refused: {exc}")
    return Outcome(True, f"Dismissed {rec_id}.")


def reopen(url: str, settings: Settings, rec_id: str, actor: str) -> Outcome:
    """Undo a dismissal: the recommendation is open again, and the audit log says who reopened it."""
    try:
        _service(url, settings).reopen(rec_id, actor=actor)
    except UserError as exc:
        return Outcome(False, f"Reopen refused: {exc}")
    return Outcome(True, f"Reopened {rec_id}.")


def _jsonable(value: Any) -> dict[str, Any]:
    return json.loads(json.dumps(value, default=str))
