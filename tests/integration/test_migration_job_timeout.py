"""Migration 0010 (the job's own attempt timeout) up and down on SQLite and PostgreSQL, keeping rows."""

from __future__ import annotations

from sqlalchemy import Engine, text

from optimizer.store.engine import current_revision, upgrade
from tests.integration.test_migration_efa import _columns, _downgrade, empty_store

__all__ = ["empty_store"]  # the fixture, one database of each kind

BEFORE, TIMEOUT = "0009_efa", "0010_job_timeout"


def test_job_timeout_migration_up_and_down_keeps_rows(empty_store: Engine) -> None:
    upgrade(empty_store, BEFORE)
    with empty_store.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO jobs (job_id, dataset, status, created_at) "
                "VALUES ('j-1', 'aws', 'RUNNABLE', '2026-11-01 00:00:00')"
            )
        )
    assert "timeout_seconds" not in _columns(empty_store, "jobs")

    upgrade(empty_store, TIMEOUT)
    assert current_revision(empty_store) == TIMEOUT
    with empty_store.begin() as conn:
        # Jobs collected before the migration say nothing of their timeout: unknown, not none.
        assert conn.execute(text("SELECT timeout_seconds FROM jobs")).scalar_one() is None
        conn.execute(text("UPDATE jobs SET timeout_seconds = 7200"))
        assert conn.execute(text("SELECT timeout_seconds FROM jobs")).scalar_one() == 7200

    _downgrade(empty_store, BEFORE)
    assert "timeout_seconds" not in _columns(empty_store, "jobs")
    with empty_store.connect() as conn:
        assert conn.execute(text("SELECT job_id FROM jobs")).scalar_one() == "j-1"
    upgrade(empty_store)  # and back up to the head
    assert "timeout_seconds" in _columns(empty_store, "jobs")
