"""Migration 0012 (the dataset of each fleet plan) up and down on SQLite and PostgreSQL: plans stored
before it are the collected history's (the only dataset `optimize --queue` and the demo stored
plans of correctly), and their rows stay."""

from __future__ import annotations

from sqlalchemy import Engine, text

from optimizer.store.engine import current_revision, upgrade
from tests.integration.test_migration_efa import _columns, _downgrade, empty_store

__all__ = ["empty_store"]  # the fixture, one database of each kind

BEFORE, AFTER = "0011_instance_commitment_use", "0012_fleet_plan_dataset"


def test_fleet_plan_dataset_migration_up_and_down_keeps_rows(empty_store: Engine) -> None:
    upgrade(empty_store, BEFORE)
    with empty_store.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO fleet_plans (scope, created_at, status, problem, plan) "
                "VALUES ('etl', '2026-11-01 00:00:00', 'OPTIMAL', '{}', '{}')"
            )
        )
    upgrade(empty_store, AFTER)
    assert current_revision(empty_store) == AFTER
    with empty_store.connect() as conn:
        assert conn.execute(text("SELECT scope, dataset FROM fleet_plans")).one() == ("etl", "aws")
    _downgrade(empty_store, BEFORE)
    assert "dataset" not in _columns(empty_store, "fleet_plans")
    with empty_store.connect() as conn:
        assert conn.execute(text("SELECT scope FROM fleet_plans")).scalar_one() == "etl"
    upgrade(empty_store)
    assert "dataset" in _columns(empty_store, "fleet_plans")
