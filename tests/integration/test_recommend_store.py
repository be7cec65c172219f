"""The recommendations repository on SQLite and PostgreSQL: stable ids, upserts that keep status."""

from __future__ import annotations

import dataclasses
from datetime import datetime

import pytest
from sqlalchemy import Engine

from optimizer.errors import UserError
from optimizer.recommend.ids import recommendation_id
from optimizer.recommend.repository import (
    get_recommendation,
    list_recommendations,
    resolve_id,
    save_recommendations,
    set_status,
)
from tests.apply_helpers import make_recommendation

pytestmark = pytest.mark.any_date  # dates are fixed and "now" is injected: the same on any date

QUEUE = "arn:aws:batch:us-east-1:123456789012:job-queue/main"
T0 = datetime(2026, 11, 1, 12, 0)
T1 = datetime(2026, 11, 2, 12, 0)


def test_ids_depend_on_the_proposal_not_on_the_figures() -> None:
    a = recommendation_id("spot", QUEUE, {"order": ["a", "b"], "x": 1})
    assert a == recommendation_id("spot", QUEUE, {"x": 1, "order": ["a", "b"]})
    assert a != recommendation_id("spot", QUEUE, {"order": ["b", "a"], "x": 1})


def test_round_trip_and_upsert_keeps_dismissed_status(store_engine: Engine) -> None:
    rec = make_recommendation("spot", QUEUE, "job-queue", {"compute_environment_order": ["a", "b"]})
    other = make_recommendation("mix", QUEUE, "job-queue", {"priority": 5}, monthly_savings_usd=900.0)
    assert save_recommendations(store_engine, [rec, other], now=T0) == 2
    assert save_recommendations(store_engine, [rec, other], now=T1) == 0, "an identical re-run writes nothing"
    stored = get_recommendation(store_engine, rec.id)
    assert stored.recommendation == rec and stored.status == "open" and stored.updated_at == T0

    with store_engine.begin() as conn:  # as ApplyService.dismiss does, behind its gate
        set_status(conn, rec.id, "dismissed", "we need on-demand for compliance", now=T1)
    refreshed = dataclasses.replace(rec, monthly_savings_usd=321.5, evidence={"replay": "x"})
    assert save_recommendations(store_engine, [refreshed], now=T1) == 1
    stored = get_recommendation(store_engine, rec.id)
    assert stored.status == "dismissed" and stored.status_reason == "we need on-demand for compliance"
    assert stored.recommendation.monthly_savings_usd == 321.5 and stored.created_at == T0

    assert [s.id for s in list_recommendations(store_engine, ["open"])] == [other.id]
    assert [s.id for s in list_recommendations(store_engine)] == [other.id, rec.id], "largest saving first"
    assert list_recommendations(store_engine, ["dismissed"])[0].to_json()["status"] == "dismissed"
    with store_engine.begin() as conn:
        set_status(conn, rec.id, "open", now=T1)
    assert get_recommendation(store_engine, rec.id).status == "open"


def test_unknown_and_ambiguous_ids_are_user_errors(sqlite_engine: Engine) -> None:
    with pytest.raises(UserError, match="not found"):
        resolve_id(sqlite_engine, "rec-nope")
    save_recommendations(
        sqlite_engine,
        [make_recommendation("a", QUEUE, "job-queue", {"priority": p}) for p in range(40)],
    )
    with pytest.raises(UserError, match="ambiguous"):
        resolve_id(sqlite_engine, "rec-")
