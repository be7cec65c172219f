"""Dismissing and reopening through the apply service: behind apply's gate, audited, reversible.

The dashboard's Dismiss and Reopen buttons call these; a refusal changes neither the status nor the
audit log, and a change moves both in one transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import Engine

from optimizer.apply import records
from optimizer.apply.executor import Executor
from optimizer.apply.service import ApplyService
from optimizer.config import ApplySettings
from optimizer.errors import RefusedError, UserError
from optimizer.recommend.repository import get_recommendation, save_recommendations, set_status
from tests.apply_helpers import make_recommendation

QUEUE = "arn:aws:batch:us-east-1:123456789012:job-queue/q"
T0 = datetime(2026, 3, 2, 9, 0)
T1 = datetime(2026, 3, 2, 10, 30)


def no_aws(service: str, arn: str) -> Any:
    raise AssertionError(f"a status change must not reach AWS ({service} for {arn})")


def service(engine: Engine, *, enabled: bool, at: datetime = T1) -> ApplyService:
    settings = ApplySettings(enabled=enabled)
    return ApplyService(engine, settings, no_aws, executor=Executor(engine, settings, no_aws, now=lambda: at))


@pytest.fixture
def rec_id(store_engine: Engine) -> str:
    rec = make_recommendation("spot", QUEUE, "job-queue", {"compute_environment_order": ["a", "b"]})
    save_recommendations(store_engine, [rec], now=T0)
    return rec.id


def test_dismiss_then_reopen_is_audited_with_the_status_before_and_after(
    store_engine: Engine, rec_id: str
) -> None:
    assert (
        service(store_engine, enabled=True).dismiss(rec_id[:9], "  covered by a savings plan ", actor="ana")
        == rec_id
    )
    stored = get_recommendation(store_engine, rec_id)
    assert (stored.status, stored.status_reason, stored.updated_at) == (
        "dismissed",
        "covered by a savings plan",
        T1,
    )
    later = datetime(2026, 3, 3, 8, 0)
    service(store_engine, enabled=True, at=later).reopen(rec_id, actor="bo")
    stored = get_recommendation(store_engine, rec_id)
    assert (stored.status, stored.status_reason) == ("open", None)
    trail = records.audits(store_engine, recommendation_id=rec_id)
    assert [(r.action, r.actor, r.result, r.plan_id, r.started_at) for r in trail] == [
        ("reopen", "bo", "succeeded", records.NO_PLAN, later),
        ("dismiss", "ana", "succeeded", records.NO_PLAN, T1),
    ]
    assert trail[1].before == {"status": "open", "status_reason": None}
    assert trail[1].after == {"status": "dismissed", "status_reason": "covered by a savings plan"}
    assert trail[0].after == {"status": "open", "status_reason": None}


def test_refusals_change_neither_the_status_nor_the_audit_log(store_engine: Engine, rec_id: str) -> None:
    with pytest.raises(RefusedError, match=r"apply is disabled: set apply.enabled = true"):
        service(store_engine, enabled=False).dismiss(rec_id, "no", actor="ana")
    with pytest.raises(UserError, match="give a reason"):
        service(store_engine, enabled=True).dismiss(rec_id, "   ", actor="ana")
    with pytest.raises(RefusedError, match="is open, not dismissed"):
        service(store_engine, enabled=True).reopen(rec_id, actor="ana")
    with store_engine.begin() as conn:
        set_status(conn, rec_id, "applied", now=T0)
    with pytest.raises(RefusedError, match="roll it back before dismissing it"):
        service(store_engine, enabled=True).dismiss(rec_id, "changed my mind", actor="ana")
    assert get_recommendation(store_engine, rec_id).status == "applied"
    assert records.audits(store_engine, recommendation_id=rec_id) == []


def test_reopening_needs_the_gate_too(store_engine: Engine, rec_id: str) -> None:
    service(store_engine, enabled=True).dismiss(rec_id, "not now", actor="ana")
    with pytest.raises(RefusedError, match="apply is disabled"):
        service(store_engine, enabled=False).reopen(rec_id, actor="ana")
    assert get_recommendation(store_engine, rec_id).status == "dismissed"
    assert [r.action for r in records.audits(store_engine, recommendation_id=rec_id)] == ["dismiss"]
