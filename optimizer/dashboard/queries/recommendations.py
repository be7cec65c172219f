"""Recommendations, their change plans and audit trail, as the pages read them.

Each is the recommendations repository's or the apply records' own reader: the detail row, the
latest plan and the history are the ones `batchopt recommend|plan|audit` print. The savings figures
are the headline's (`headline_view.py`).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from optimizer.apply import records
from optimizer.dashboard.queries.cache import cached
from optimizer.dashboard.state import engine_for
from optimizer.recommend import repository

HISTORY_COLUMNS = (
    "id",
    "plan_id",
    "action",
    "actor",
    "dry_run",
    "started_at",
    "finished_at",
    "result",
    "message",
)
PROPOSAL_COLUMNS = (
    "id",
    "target_name",
    "title",
    "current",
    "proposed",
    "risk",
    "risk_level",
    "confidence",
    "monthly_savings_usd",
    "status",
)


@cached
def stored_recommendations(url: str) -> int:
    """How many recommendations the store holds, any status: whether `batchopt recommend` has run
    and left something (an empty filtered list then means the filter, not missing data)."""
    return len(repository.recommendations_frame(engine_for(url), ["id"]))


@cached
def recommendations_for_target_kind(url: str, target_kind: str) -> pd.DataFrame:
    """Recommendations of one kind (job-definition for right-sizing) with their proposals."""
    return repository.recommendations_frame(engine_for(url), PROPOSAL_COLUMNS, target_kind=target_kind)


def recommendation_row(url: str, rec_id: str) -> dict[str, Any] | None:
    """One recommendation with its JSON fields (not cached: the detail view follows actions live)."""
    stored = repository.find_recommendation(engine_for(url), rec_id)
    return stored.to_json() if stored is not None else None


def recommendation_history(url: str, rec_id: str) -> pd.DataFrame:
    """Audit records of a recommendation (applies, rollbacks, dismissals, dry runs), newest first."""
    trail = records.audits(engine_for(url), recommendation_id=rec_id, dry_run=None)
    return pd.DataFrame(
        [[getattr(r, c) for c in HISTORY_COLUMNS] for r in trail], columns=list(HISTORY_COLUMNS)
    )


def latest_change_plan(url: str, rec_id: str, kind: str = "apply") -> dict[str, Any] | None:
    """The newest stored change plan of a recommendation (what the last dry-run/apply planned)."""
    return records.latest_plan_row(engine_for(url), rec_id, kind)
