"""Open recommendations and the changes applied in the week, with the savings realized since.

Realized savings are measured by `optimizer.analysis.realized` (the definition the dashboard uses
too): cost per requested vCPU-hour of the changed target before and after the change, the after
period's work priced at the old rate, (before - after) x after vCPU-hours, here up to the week's end.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from optimizer.analysis.realized import measure_change
from optimizer.report.model import AppliedChange, RecommendationItem
from optimizer.report.weeks import IsoWeek

APPLYING_ACTIONS = ("apply", "rollback", "auto-rollback")


def top_recommendations(recs: pd.DataFrame, top_n: int) -> tuple[RecommendationItem, ...]:
    if recs.empty:
        return ()
    ordered = recs.sort_values(["monthly_savings_usd", "id"], ascending=[False, True]).head(top_n)
    return tuple(
        RecommendationItem(
            id=str(r["id"]),
            title=str(r["title"]),
            target=str(r["target_name"] or r["target_arn"]),
            monthly_savings_usd=float(r["monthly_savings_usd"]),
            risk_level=str(r["risk_level"]),
            confidence=float(r["confidence"]),
            update_kind=str(r["update_kind"]),
            headline=str(r.get("headline") or ""),
            wait_change=str(r.get("wait_change") or ""),
        )
        for r in ordered.to_dict("records")
    )


def _short_name(arn: str) -> str:
    """`arn:...:job-queue/name` -> name; `job-definition/name:3` -> name."""
    tail = arn.rsplit("/", 1)[-1]
    return tail.split(":", 1)[0] if ":" in tail and "job-definition/" in arn else tail


def _scope(daily: pd.DataFrame, kind: str, arn: str, name: str | None) -> pd.Series | None:
    """Rows of the aggregate that belong to the changed target; None for kinds we cannot scope."""
    if kind == "compute-environment":
        return daily["compute_environment_arn"].astype(object) == arn
    if kind == "job-queue":
        return daily["queue"].astype(object) == (name or _short_name(arn))
    if kind == "job-definition":
        return daily["job_definition_name"].astype(object) == (name or _short_name(arn))
    return None


def _text(value: object) -> str:
    """A cell as text; None and NaN (how pandas reads SQL NULLs) are empty."""
    return "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value).strip()


def _when(row: dict[str, object]) -> datetime:
    """When the change took effect: its finish time, else its start (always set)."""
    for key in ("finished_at", "started_at"):
        value = row.get(key)
        if value is not None and not pd.isna(value):  # type: ignore[call-overload]
            return pd.Timestamp(value).to_pydatetime()  # type: ignore[arg-type]
    raise ValueError(f"audit record {row.get('id')} has no start time")


def _measure(daily: pd.DataFrame, mask: pd.Series, at: datetime, week: IsoWeek) -> dict[str, object]:
    """The change measured on its target's rows (`analysis.realized`, as on the dashboard), within
    the report's week."""
    saving = measure_change(daily[mask], at, until=week.end)
    return {
        "before_usd_per_vcpu_hour": saving.before_usd_per_vcpu_hour,
        "after_usd_per_vcpu_hour": saving.after_usd_per_vcpu_hour,
        "after_vcpu_hours": saving.after_vcpu_hours,
        "realized_savings_usd": saving.saving_usd,
        "note": saving.note,
    }


def applied_change(daily: pd.DataFrame, row: dict[str, object], week: IsoWeek) -> AppliedChange:
    at = _when(row)
    kind, arn, name = (
        _text(row.get("target_kind")),
        _text(row.get("target_arn")),
        _text(row.get("target_name")),
    )
    result = _text(row.get("result"))
    unmeasured: dict[str, object] = {
        "before_usd_per_vcpu_hour": None,
        "after_usd_per_vcpu_hour": None,
        "after_vcpu_hours": 0.0,
        "realized_savings_usd": None,
    }
    if result != "succeeded":
        message = _text(row.get("message"))
        measured = {**unmeasured, "note": f"{result}: {message}" if message else result}
    else:
        mask = _scope(daily, kind, arn, name or None)
        if mask is None:
            measured = {**unmeasured, "note": f"savings not measured for target kind {kind or 'unknown'}"}
        else:
            measured = _measure(daily, mask, at, week)
    return AppliedChange(
        audit_id=int(str(row["id"])),
        at=at,
        action=_text(row.get("action")),
        actor=_text(row.get("actor")),
        result=result,
        target=name or arn or "(unknown target)",
        title=_text(row.get("title")),
        **measured,  # type: ignore[arg-type]
    )


def applied_changes(daily: pd.DataFrame, audit: pd.DataFrame, week: IsoWeek) -> tuple[AppliedChange, ...]:
    if audit.empty:
        return ()
    rows = audit[audit["action"].isin(APPLYING_ACTIONS)].sort_values(["started_at", "id"])
    return tuple(applied_change(daily, r, week) for r in rows.to_dict("records"))
