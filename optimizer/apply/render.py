"""Plain-text views of plans and execution reports (the CLI prints them; the dashboard can too)."""

from __future__ import annotations

import json

from optimizer.apply.executor import ExecutionReport
from optimizer.domain import ChangePlan


def plan_text(plan: ChangePlan) -> str:
    lines = [
        f"plan {plan.id} ({plan.kind}) for recommendation {plan.recommendation_id}",
        f"target:      {plan.target_arn}",
        f"update kind: {plan.update_kind}",
        f"fingerprint: {plan.fingerprint}",
        "calls:",
    ]
    for number, call in enumerate(plan.calls, start=1):
        lines.append(f"  {number}. {call.service}.{call.operation} [{call.update_kind}] {call.description}")
        for text in json.dumps(call.params, indent=2, sort_keys=True).splitlines():
            lines.append(f"       {text}")
    lines.append("IAM permissions: " + ", ".join(plan.permissions))
    return "\n".join(lines)


def report_text(report: ExecutionReport) -> str:
    mode = "DRY RUN" if report.dry_run else report.action.upper()
    lines = [f"{mode} {report.plan.id}: {report.result} (audit #{report.audit_id})"]
    if report.dry_run:
        lines += [f"  would call {c.operation}: {c.description}" for c in report.plan.calls]
        lines += [f"  refused on execute: {r}" for r in report.refusals] or ["  checks passed"]
        lines.append("  add --execute to apply" if report.action == "apply" else "  add --execute to run it")
    else:
        for outcome in report.outcomes:
            state = "landed" if outcome.landed else ("NOT APPLIED" if outcome.sent else "not sent")
            lines.append(f"  {outcome.operation}: {state} - {outcome.detail}")
        if report.rollback_plan_id:
            lines.append(
                f"  rollback plan: {report.rollback_plan_id}"
                f" (batchopt rollback {report.plan.recommendation_id})"
            )
    return "\n".join(lines)
