"""Save, load and list recommendations in the store's `recommendations` table (their savings are
summed by one set of rules in `headline.py`, for open and applied ones alike).

Saving is an upsert on the stable id that refreshes the figures (savings, risk, evidence) but keeps
`status`, `status_reason` and `created_at`: a recommendation a person dismissed, or that was applied,
is not reopened by the next strategy run that produces it again. A person's dismissal or reopening
goes through `ApplyService.dismiss` / `reopen` (gated by apply.enabled and audited), for the CLI and
the dashboard alike; this module only holds the status primitive (`set_status`) and the refusals.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, select, update

from optimizer.domain import Recommendation, RiskLevel, UpdateKind
from optimizer.errors import UserError
from optimizer.recommend.statuses import STATUSES
from optimizer.runtime.clock import utc_now
from optimizer.store.read import read_frame
from optimizer.store.schema import recommendations
from optimizer.store.upsert import bulk_upsert

_FIELDS = (
    "id",
    "strategy",
    "target_arn",
    "target_name",
    "target_kind",
    "account_id",
    "region",
    "title",
    "current",
    "proposed",
    "monthly_savings_usd",
    "risk",
    "risk_level",
    "confidence",
    "effort",
    "update_kind",
    "evidence",
    "applicable",
)


@dataclass(frozen=True, slots=True)
class StoredRecommendation:
    """A recommendation as the store holds it: the record plus its lifecycle."""

    recommendation: Recommendation
    status: str
    status_reason: str | None
    created_at: datetime
    updated_at: datetime

    @property
    def id(self) -> str:
        return self.recommendation.id

    def to_json(self) -> dict[str, Any]:
        rec = self.recommendation
        data = {name: getattr(rec, name) for name in _FIELDS}
        data["risk_level"] = str(rec.risk_level)
        data["update_kind"] = str(rec.update_kind)
        data.update(
            status=self.status,
            status_reason=self.status_reason,
            created_at=self.created_at.isoformat(),
            updated_at=self.updated_at.isoformat(),
        )
        return data


def _to_row(rec: Recommendation, now: datetime) -> dict[str, Any]:
    row = {name: getattr(rec, name) for name in _FIELDS}
    row["risk_level"] = str(rec.risk_level)
    row["update_kind"] = str(rec.update_kind)
    row["monthly_savings_usd"] = float(rec.monthly_savings_usd)
    row["confidence"] = float(rec.confidence)
    row.update(status="open", status_reason=None, created_at=now, updated_at=now)
    return row


def _from_row(row: Any) -> StoredRecommendation:
    m = row._mapping
    rec = Recommendation(
        id=m["id"],
        strategy=m["strategy"],
        target_arn=m["target_arn"],
        target_kind=m["target_kind"],
        title=m["title"],
        current=m["current"] or {},
        proposed=m["proposed"] or {},
        monthly_savings_usd=float(m["monthly_savings_usd"]),
        risk=m["risk"] or {},
        risk_level=RiskLevel(m["risk_level"]),
        confidence=float(m["confidence"]),
        effort=m["effort"],
        update_kind=UpdateKind(m["update_kind"]),
        evidence=m["evidence"] or {},
        target_name=m["target_name"],
        account_id=m["account_id"],
        region=m["region"],
        applicable=bool(m["applicable"]),
    )
    return StoredRecommendation(rec, m["status"], m["status_reason"], m["created_at"], m["updated_at"])


def save_recommendations(
    engine: Engine, recs: Iterable[Recommendation], *, now: datetime | None = None
) -> int:
    """Upsert `recs` in one transaction; returns rows inserted or changed (0 for an identical re-run).

    `updated_at` moves only when a value really changed, so an identical re-run writes nothing.
    """
    rows = [_to_row(rec, now or utc_now()) for rec in recs]
    if not rows:
        return 0
    with engine.begin() as conn:
        existing = {
            r.id: r
            for r in conn.execute(
                select(recommendations).where(recommendations.c.id.in_([r["id"] for r in rows]))
            )
        }
        for row in rows:
            old = existing.get(row["id"])
            if old is not None and all(_same(old._mapping[f], row[f]) for f in _FIELDS):
                row["updated_at"] = old._mapping["updated_at"]
        return bulk_upsert(
            conn, recommendations, rows, keep_existing=("status", "status_reason", "created_at")
        )


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and abs(float(a) - float(b)) < 1e-9
    return bool(a == b)


def resolve_id(engine: Engine, ident: str) -> str:
    """The full id for `ident` (an id or a unique prefix of one, like git's short hashes)."""
    with engine.connect() as conn:
        found = [
            r.id
            for r in conn.execute(
                select(recommendations.c.id).where(recommendations.c.id.startswith(ident)).limit(2)
            )
        ]
    if not found:
        raise UserError(f"recommendation {ident}: not found (see `batchopt recommend`)")
    if len(found) > 1 and ident not in found:
        raise UserError(f"recommendation {ident}: ambiguous prefix, give more characters")
    return ident if ident in found else found[0]


def get_recommendation(engine: Engine, ident: str) -> StoredRecommendation:
    rec_id = resolve_id(engine, ident)
    with engine.connect() as conn:
        row = conn.execute(select(recommendations).where(recommendations.c.id == rec_id)).one()
    return _from_row(row)


def list_recommendations(engine: Engine, statuses: Sequence[str] | None = None) -> list[StoredRecommendation]:
    """Recommendations with these statuses (all when None), largest monthly saving first."""
    query = select(recommendations).order_by(
        recommendations.c.monthly_savings_usd.desc(), recommendations.c.id
    )
    if statuses:
        unknown = set(statuses) - set(STATUSES)
        if unknown:
            raise UserError(f"status {sorted(unknown)[0]!r}: expected one of {', '.join(STATUSES)}")
        query = query.where(recommendations.c.status.in_(list(statuses)))
    with engine.connect() as conn:
        return [_from_row(row) for row in conn.execute(query)]


def find_recommendation(engine: Engine, rec_id: str) -> StoredRecommendation | None:
    """The recommendation with exactly this id, or None (no prefix matching: a page follows ids)."""
    with engine.connect() as conn:
        row = conn.execute(select(recommendations).where(recommendations.c.id == rec_id)).first()
    return _from_row(row) if row is not None else None


def recommendations_frame(
    engine: Engine,
    columns: Sequence[str],
    *,
    statuses: Sequence[str] = (),
    target_kind: str | None = None,
    limit: int | None = None,
) -> pd.DataFrame:
    """These columns of the recommendations with these statuses (all when empty) and target kind,
    largest monthly saving first (ties by id), at most `limit` rows: a page's or a report's table."""
    r = recommendations.c
    query = select(*[r[c] for c in columns]).order_by(r.monthly_savings_usd.desc(), r.id)
    if statuses:
        query = query.where(r.status.in_(list(statuses)))
    if target_kind is not None:
        query = query.where(r.target_kind == target_kind)
    if limit is not None:
        query = query.limit(limit)
    return read_frame(engine, query)


def set_status(
    conn: Connection, rec_id: str, status: str, reason: str | None = None, *, now: datetime | None = None
) -> None:
    """Move a recommendation to `status` inside the caller's transaction."""
    if status not in STATUSES:
        raise ValueError(f"unknown recommendation status {status!r}")
    result = conn.execute(
        update(recommendations)
        .where(recommendations.c.id == rec_id)
        .values(status=status, status_reason=reason, updated_at=now or utc_now())
    )
    if result.rowcount == 0:
        raise UserError(f"recommendation {rec_id}: not found")


def dismissal_refusal(rec: StoredRecommendation) -> str | None:
    """Why `rec` cannot be dismissed now, or None when it can (an applied change is rolled back first)."""
    if rec.status == "applied":
        return f"recommendation {rec.id} is applied; roll it back before dismissing it"
    return None


def reopen_refusal(rec: StoredRecommendation) -> str | None:
    """Why `rec` cannot be reopened, or None when it can (only a dismissed one can)."""
    if rec.status != "dismissed":
        return f"recommendation {rec.id} is {rec.status}, not dismissed"
    return None
