"""What the Recommendations page shows, as plain tables (pure, so tests check the figures directly).

Trade-offs first: each row says what the saving costs besides money (p95 queue wait of each queue
the change affects, spot interruptions per month), the risk and effort, and whether the saving is in
the headline (`optimizer.recommend.headline`) and why not when it is not. Columns have names a
person reads and money is formatted; the raw figures stay in the evidence.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pandas as pd

from optimizer.domain import Recommendation
from optimizer.recommend.calibration import describe
from optimizer.recommend.headline import SavingsHeadline, evidence_calibration
from optimizer.recommend.repository import StoredRecommendation
from optimizer.recommend.savings import failed_jobs
from optimizer.recommend.tradeoff_text import duration, interruptions, replay_evidence, usd, wait_changes

LIST_COLUMNS = (
    "Title",
    "Saving / month",
    "Risk",
    "In headline",
    "Queue p95 wait (now → proposed)",
    "Interruptions / month",
    "Effort",
    "Status",
    "ID",
)
"""Saving and risk first after the title: at 1400 px they are on screen without scrolling. The ID
last: "In headline" names an overlapped item by it ("overlaps rec-1606e6a57c1b"), as the CLI does."""


def list_table(stored: Sequence[StoredRecommendation], headline: SavingsHeadline) -> pd.DataFrame:
    """One row per recommendation, largest saving first, with its trade-offs and headline verdict."""
    rows = []
    for item in sorted(stored, key=lambda s: (-s.recommendation.monthly_savings_usd, s.id)):
        rec = item.recommendation
        verdict = headline.item(rec.id)
        rows.append(
            {
                "id": rec.id,
                "Title": rec.title,
                # After the bill's discounts when a bill covers the evidence (the headline's figure).
                "Saving / month": usd(headline.monthly_savings_of(rec.id, rec.monthly_savings_usd)),
                "In headline": "not open" if verdict is None else verdict.label(),
                "Queue p95 wait (now → proposed)": wait_changes(rec.evidence),
                "Interruptions / month": interruptions(rec.evidence),
                "Risk": str(rec.risk_level),
                "Effort": rec.effort,
                "Status": item.status,
                "ID": rec.id,
            }
        )
    return pd.DataFrame(rows, columns=["id", *LIST_COLUMNS])


def before_after_table(evidence: dict[str, Any] | None) -> pd.DataFrame:
    """The replay evidence as a person reads it: cost and each queue's waits, before and after."""
    replayed = replay_evidence(evidence)
    before = replayed.get("current_summary") or {}
    after = replayed.get("proposed_summary") or {}
    if not before and not after:
        return pd.DataFrame(columns=["Measure", "Current", "Proposed"])
    rows = [
        *_cost_rows(replayed, before, after),
        *_type_rows(before, after),
        ("Spot interruptions", str(before.get("spot_reclaims", 0)), str(after.get("spot_reclaims", 0))),
        (
            "Failed jobs (an MNP job counts once)",
            str(failed_jobs(before)) if "failed" in before else "n/a",
            str(failed_jobs(after)) if "failed" in after else "n/a",
        ),
    ]
    before_waits = before.get("queue_wait_s") or {}
    after_waits = after.get("queue_wait_s") or {}
    for queue in sorted(set(before_waits) | set(after_waits), key=lambda q: (q == "ALL", q)):
        label = "all queues" if queue == "ALL" else queue
        rows.append(
            (
                f"p95 wait, {label}",
                duration((before_waits.get(queue) or {}).get("p95_s")),
                duration((after_waits.get(queue) or {}).get("p95_s")),
            )
        )
    return pd.DataFrame(rows, columns=["Measure", "Current", "Proposed"])


def _cost_rows(
    replayed: dict[str, Any], before: dict[str, Any], after: dict[str, Any]
) -> list[tuple[str, str, str]]:
    """The replayed cost, and with the commitments in force modelled (`evidence.replay.commitments`)
    the same replay at list as well: the first is then after their discount, while the model error
    beside the saving compares the list figure with the measured cost (the demo: $19,758 replayed,
    $20,948 at list, $21,226 measured, "-1.3 %"); one unlabelled figure read as -6.9 %."""
    cost = (usd(replayed.get("current_cost_usd")), usd(replayed.get("proposed_cost_usd")))
    label = f"Replayed cost over {replay_window_words(replayed)}"
    if not replayed.get("commitments") or "list_cost_usd" not in before:
        return [(label, *cost)]
    return [
        (f"{label}, Savings Plans and RIs applied", *cost),
        (
            "Replayed cost at list (what the model error is measured on)",
            usd(before.get("list_cost_usd")),
            usd(after.get("list_cost_usd")),
        ),
    ]


#: Instance types whose replayed cost moved most, shown under the cost (where the saving comes from).
TYPE_ROWS = 4


def _type_rows(before: dict[str, Any], after: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The instance types whose replayed cost (at list) moved most, largest move first: where the
    saving comes from. Raising the demo's gpu-training maxvCpus saved $3,053 a month, and only the
    types said why: the backlog at the old cap had Batch start g5.48xlarge for the queued jobs
    ($11,987 -> $5,421), without it g5.4xlarge ($1,828 -> $4,990)."""
    b, a = before.get("cost_by_instance_type") or {}, after.get("cost_by_instance_type") or {}
    moved = [(t, float(b.get(t, 0.0)), float(a.get(t, 0.0))) for t in set(b) | set(a)]
    moved = [m for m in moved if abs(m[2] - m[1]) >= 0.5]
    moved.sort(key=lambda m: (-abs(m[2] - m[1]), m[0]))
    return [(f"Replayed cost at list on {t}", usd(x), usd(y)) for t, x, y in moved[:TYPE_ROWS]]


def replay_window_words(replayed: dict[str, Any]) -> str:
    """The span the evidence's replayed costs cover ("the 30.0 days from 2026-11-05 06:57 UTC"), so
    they are not read as the monthly saving above them (which is scaled to 30 days); "the window"
    when the evidence does not say."""
    start, days = replayed.get("window_start"), replayed.get("window_days")
    if not start or not days:
        return "the window"
    return f"the {float(days):,.1f} days from {datetime.fromisoformat(str(start)):%Y-%m-%d %H:%M} UTC"


def saving_basis(stored_usd: float, shown_usd: float, evidence: dict[str, Any] | None) -> str:
    """What the recommendation's stored monthly figure is, for the tooltip of the figure shown: the
    replay's, priced with the Savings Plans and RIs in force when its evidence carries them (then it
    is not a list-price figure: a change that frees covered hours saves less than at list), and
    whether the headline shows it after the bill's discounts instead."""
    basis = (
        "by replay, with the Savings Plans and RIs in force covering on-demand hours"
        if replay_evidence(evidence).get("commitments")
        else "by replay, at on-demand and spot prices"
    )
    after = "" if abs(shown_usd - stored_usd) < 0.005 else "; shown after the bill's discounts"
    return f"{usd(stored_usd)} per month {basis}{after}"


def calibration_line(rec: Recommendation) -> str:
    """The model-error sentence shown next to a saving."""
    return describe(evidence_calibration(rec))
