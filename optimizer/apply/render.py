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


def report_text(report: ExecutionReport, *, dashboard: bool = False, next_step: str | None = None) -> str:
    """The report as the CLI prints it; with `dashboard`, the next step names the dashboard's button
    rather than a CLI flag (the Recommendations page's dry run said "add --execute to apply");
    `next_step` replaces a dry run's next step (`autotune --dry-run`: run it without the flag)."""
    mode = "DRY RUN" if report.dry_run else report.action.upper()
    lines = [f"{mode} {report.plan.id}: {report.result} (audit #{report.audit_id})"]
    if report.dry_run:
        lines += [f"  would call {c.operation}: {c.description}" for c in report.plan.calls]
        lines += [f"  refused on execute: {r}" for r in report.refusals] or ["  checks passed"]
        if next_step is not None:
            lines.append(f"  {next_step}")
        elif dashboard:
            lines.append("  press Apply, then confirm the calls, to apply")
        elif report.action == "apply":
            lines.append("  add --execute to apply")
        else:  # (`batchopt rollback` runs unless --dry-run: it has no --execute)
            lines.append("  run it again without --dry-run to roll back")
    else:
        for outcome in report.outcomes:
            if outcome.landed:
                state = "landed"
            elif outcome.sent:
                state = "NOT APPLIED"
            else:  # (the executor's detail says "rejected" for the call AWS refused)
                state = "REJECTED" if outcome.detail == "rejected" else "not sent"
            detail = "" if outcome.detail.lower() == state.lower() else f" - {outcome.detail}"
            lines.append(f"  {outcome.operation}: {state}{detail}")
        if report.rollback_plan_id:
            rec_id = report.plan.recommendation_id
            how = "the Roll back button" if dashboard else f"batchopt rollback {rec_id}"
            lines.append(f"  rollback plan: {report.rollback_plan_id} ({how})")
    return "\n".join(lines)
