"""A recommendation's trade-offs as words (one wording for the dashboard, the report and the CLI).

The figures come from the replay evidence (`ReplayBaseline.compare`: `evidence.replay.tradeoffs`);
this module only formats them: waits in the unit a person reads, money with its sign first.
"""

from __future__ import annotations

from typing import Any

from optimizer.number_text import usd_text


def duration(seconds: float | None) -> str:
    """A wait as a person reads it: 45 s, 54 min, 10.7 h, 2.3 d."""
    if seconds is None:
        return "n/a"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def usd(value: float | None) -> str:
    if value is None:
        return "n/a"
    return usd_text(value)


def replay_evidence(evidence: dict[str, Any] | None) -> dict[str, Any]:
    replayed = (evidence or {}).get("replay")
    return replayed if isinstance(replayed, dict) else {}


def wait_changes(evidence: dict[str, Any] | None) -> str:
    """Each affected queue's p95 wait, now and in the proposed replay ("gpu: 54 min → 10.7 h")."""
    queues = (replay_evidence(evidence).get("tradeoffs") or {}).get("queues") or []
    if not queues:
        return "unchanged" if replay_evidence(evidence) else "n/a (no replay)"
    return "; ".join(
        f"{q['queue']}: {duration(q.get('p95_wait_before_s'))} → {duration(q.get('p95_wait_after_s'))}"
        for q in queues
    )


def interruptions(evidence: dict[str, Any] | None) -> str:
    """Spot interruptions per month in the proposed replay, and the run-hours they lose."""
    tradeoffs = replay_evidence(evidence).get("tradeoffs") or {}
    value = tradeoffs.get("interruptions_per_month")
    if value is None:
        return "n/a"
    lost = tradeoffs.get("lost_work_hours_per_month")
    return f"{value:,.1f}" if not value or lost is None else f"{value:,.1f} ({lost:,.1f} h lost)"
