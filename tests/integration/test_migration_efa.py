"""Migration 0009 (EFA and bandwidth columns) up and down on SQLite and PostgreSQL, keeping rows."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, create_engine, inspect, text

from optimizer.store.engine import alembic_config, create_store_engine, current_revision, upgrade
from tests.conftest import PG_ADMIN_URL

BEFORE, EFA = "0008_analysis_mnp_figures", "0009_efa"


def _downgrade(engine: Engine, revision: str) -> None:
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def _columns(engine: Engine, table: str) -> set[str]:
    return {c["name"] for c in inspect(engine).get_columns(table)}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty database of each kind (its own PostgreSQL database: this test migrates down)."""
    if request.param == "sqlite":
        engine = create_store_engine(f"sqlite:///{tmp_path / 'store.db'}")
        yield engine
        engine.dispose()
        return
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    try:
        with admin.connect() as conn:
            name = f"batchopt_mig_{uuid.uuid4().hex[:12]}"
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # the server is not there
        admin.dispose()
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL not answering at {PG_ADMIN_URL} (CI is set): {exc}")
        pytest.skip(f"PostgreSQL not answering at {PG_ADMIN_URL}")
    engine = create_store_engine(PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}")
    yield engine
    engine.dispose()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_efa_migration_up_and_down_keeps_rows(empty_store: Engine) -> None:
    upgrade(empty_store, BEFORE)
    with empty_store.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO instance_types (region, instance_type, vcpus, memory_mib, "
                "allocatable_memory_mib, gpus, arch) VALUES ('us-east-1', 'c5n.18xlarge', 72, 196608, "
                "190000, 0, 'x86_64')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO jobs (job_id, dataset, status, created_at) "
                "VALUES ('j-1', 'aws', 'SUCCEEDED', '2026-11-01 00:00:00')"
            )
        )
    assert "efa_supported" not in _columns(empty_store, "instance_types")

    upgrade(empty_store, EFA)
    assert current_revision(empty_store) == EFA
    assert {"efa_supported", "network_bandwidth_mbps"} <= _columns(empty_store, "instance_types")
    assert "efa_devices" in _columns(empty_store, "jobs")
    with empty_store.begin() as conn:
        # Rows from before the migration say nothing about EFA: unknown, not "no".
        assert conn.execute(text("SELECT efa_supported FROM instance_types")).scalar_one() is None
        conn.execute(text("UPDATE instance_types SET efa_supported = :v"), {"v": True})
        conn.execute(text("UPDATE jobs SET efa_devices = 1"))
        assert bool(conn.execute(text("SELECT efa_supported FROM instance_types")).scalar_one()) is True

    _downgrade(empty_store, BEFORE)
    assert current_revision(empty_store) == BEFORE
    assert not {"efa_supported", "network_bandwidth_mbps"} & _columns(empty_store, "instance_types")
    assert "efa_devices" not in _columns(empty_store, "jobs")
    with empty_store.connect() as conn:
        assert conn.execute(text("SELECT instance_type FROM instance_types")).scalar_one() == "c5n.18xlarge"
        assert conn.execute(text("SELECT job_id FROM jobs")).scalar_one() == "j-1"

    upgrade(empty_store)  # and back up to the head
    assert "efa_supported" in _columns(empty_store, "instance_types")
