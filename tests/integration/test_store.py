"""The store on SQLite and PostgreSQL: migrations, idempotent upserts, the migration gate."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, func, inspect, select

from optimizer.errors import StoreNotReadyError
from optimizer.store.engine import (
    create_store_engine,
    current_revision,
    head_revision,
    require_current_schema,
    upgrade,
)
from optimizer.store.read import jobs_frame
from optimizer.store.schema import instances, jobs, metadata
from optimizer.store.upsert import bulk_upsert


def _jobs(n: int, **overrides: object) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "job_id": [f"job-{i:06d}" for i in range(n)],
            "dataset": "aws",
            "status": "SUCCEEDED",
            "created_at": pd.date_range("2026-11-01", periods=n, freq="min"),
            "started_at": pd.date_range("2026-11-01 00:00:30", periods=n, freq="min"),
            "vcpus": np.full(n, 2.0),
            "memory_mib": np.full(n, 4096),
            "tags": [{"team": "genomics", "i": i} for i in range(n)],
            "depends_on": [[] for _ in range(n)],
            "is_multinode": False,
        }
    )
    for key, value in overrides.items():
        frame[key] = value
    return frame


def test_upgrade_creates_every_table_and_is_idempotent(store_engine: Engine) -> None:
    assert current_revision(store_engine) == head_revision()
    assert set(metadata.tables) <= set(inspect(store_engine).get_table_names())
    before, after = upgrade(store_engine)
    assert before == after == head_revision()


def test_upsert_is_keyed_and_counts_only_real_changes(store_engine: Engine) -> None:
    frame = _jobs(500)
    with store_engine.begin() as conn:
        assert bulk_upsert(conn, jobs, frame) == 500
    with store_engine.begin() as conn:
        assert bulk_upsert(conn, jobs, frame) == 0
    changed = frame.copy()
    changed.loc[7, "vcpus"] = 8.0
    changed.at[9, "tags"] = {"team": "other"}
    with store_engine.begin() as conn:
        assert bulk_upsert(conn, jobs, changed) == 2
    with store_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(jobs)).scalar_one() == 500
    back = jobs_frame(store_engine).set_index("job_id")
    assert back.loc["job-000007", "vcpus"] == 8.0
    assert back.loc["job-000009", "tags"] == {"team": "other"}
    assert back.loc["job-000001", "tags"] == {"team": "genomics", "i": 1}
    assert back.loc["job-000003", "created_at"] == pd.Timestamp("2026-11-01 00:03:00")
    assert pd.isna(back.loc["job-000003", "stopped_at"])


def test_time_window_reads(store_engine: Engine) -> None:
    with store_engine.begin() as conn:
        bulk_upsert(conn, jobs, _jobs(120))
    window = jobs_frame(
        store_engine,
        since=pd.Timestamp("2026-11-01 00:30").to_pydatetime(),
        until=pd.Timestamp("2026-11-01 01:00").to_pydatetime(),
    )
    assert sorted(window.job_id)[0] == "job-000030" and len(window) == 30


def test_keep_existing_columns(store_engine: Engine) -> None:
    first = pd.DataFrame(
        [
            {
                "instance_id": "i-1",
                "instance_type": "m5.large",
                "capacity_type": "SPOT",
                "first_seen": pd.Timestamp("2026-11-01 00:00"),
                "last_seen": pd.Timestamp("2026-11-01 00:00"),
            }
        ]
    )
    later = first.assign(first_seen=pd.Timestamp("2026-11-02"), last_seen=pd.Timestamp("2026-11-02"))
    with store_engine.begin() as conn:
        assert bulk_upsert(conn, instances, first, keep_existing=["first_seen"]) == 1
    with store_engine.begin() as conn:
        assert bulk_upsert(conn, instances, later, keep_existing=["first_seen"]) == 1
    with store_engine.connect() as conn:
        row = conn.execute(select(instances)).one()
    assert row.first_seen == pd.Timestamp("2026-11-01").to_pydatetime()
    assert row.last_seen == pd.Timestamp("2026-11-02").to_pydatetime()


def test_failed_transaction_writes_nothing(store_engine: Engine) -> None:
    with pytest.raises(ValueError, match="unknown columns"), store_engine.begin() as conn:
        bulk_upsert(conn, jobs, _jobs(10))
        bulk_upsert(conn, jobs, _jobs(3).assign(bogus=1))
    with store_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(jobs)).scalar_one() == 0


def test_unmigrated_store_is_refused(tmp_path: Path) -> None:
    engine = create_store_engine(f"sqlite:///{tmp_path / 'sub' / 'empty.db'}")
    with pytest.raises(StoreNotReadyError, match="batchopt db upgrade"):
        require_current_schema(engine)
    upgrade(engine)
    require_current_schema(engine)


def test_migrations_match_the_table_modules(store_engine: Engine) -> None:
    """A table module changed without its migration would leave deployed stores behind."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    with store_engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), metadata)
    assert diff == []
