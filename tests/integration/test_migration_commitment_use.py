"""Migration 0011 (each bill instance-day's commitment use) up and down on SQLite and PostgreSQL,
keeping rows."""

from __future__ import annotations

from sqlalchemy import Engine, text

from optimizer.store.engine import current_revision, upgrade
from tests.integration.test_migration_efa import _columns, _downgrade, empty_store

__all__ = ["empty_store"]  # the fixture, one database of each kind

BEFORE, AFTER = "0010_job_timeout", "0011_instance_commitment_use"


def test_commitment_use_migration_up_and_down_keeps_rows(empty_store: Engine) -> None:
    upgrade(empty_store, BEFORE)
    with empty_store.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO bill_instances (billing_period, day, instance_id, account_id, region, "
                "billed_usd, effective_usd, list_usd, instance_hours) VALUES "
                "('2026-11-01 00:00:00', '2026-11-02 00:00:00', 'i-1', '1', 'us-east-1', 1, 1, 1, 1)"
            )
        )
    assert "commitment_used_usd" not in _columns(empty_store, "bill_instances")

    upgrade(empty_store, AFTER)
    assert current_revision(empty_store) == AFTER
    with empty_store.begin() as conn:
        # Months imported before it: their commitment use is unknown (a re-import fills it), not 0.
        assert conn.execute(text("SELECT commitment_used_usd FROM bill_instances")).scalar_one() is None

    _downgrade(empty_store, BEFORE)
    assert "commitment_used_usd" not in _columns(empty_store, "bill_instances")
    with empty_store.connect() as conn:
        assert conn.execute(text("SELECT instance_id FROM bill_instances")).scalar_one() == "i-1"
    upgrade(empty_store)
    assert "commitment_used_usd" in _columns(empty_store, "bill_instances")
