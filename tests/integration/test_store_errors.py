"""A store that is missing or empty is refused with an error that names the store it looked at (the
absolute file for SQLite) and how to point at the right one; looking creates nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from optimizer.errors import StoreNotReadyError
from optimizer.store.engine import create_store_engine, require_current_schema, upgrade


def test_missing_sqlite_file_is_named_and_not_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    engine = create_store_engine("sqlite:///var/batchopt.db")
    with pytest.raises(StoreNotReadyError) as raised:
        require_current_schema(engine)
    message = str(raised.value)
    assert message.startswith(
        f"no store at sqlite:///var/batchopt.db (file {tmp_path / 'var' / 'batchopt.db'})"
    )
    assert "source <workdir>/demo.env" in message and "BATCHOPT_DATABASE_URL" in message
    assert not (tmp_path / "var" / "batchopt.db").exists()


def test_store_without_tables_says_so(tmp_path: Path) -> None:
    file = tmp_path / "empty.db"
    file.touch()
    engine = create_store_engine(f"sqlite:///{file}")
    with pytest.raises(StoreNotReadyError, match=rf"store sqlite:///{file} \(file {file}\) has no tables"):
        require_current_schema(engine)
    upgrade(engine)
    require_current_schema(engine)
