"""Fixtures every area shares: the local AWS emulator, and the store on SQLite and PostgreSQL.

- `moto_server`: moto's ThreadedMotoServer on 127.0.0.1 on a free port for the whole session, with
  Batch set to run without Docker; `aws_endpoint` resets its state for each test that uses it.
- `sqlite_engine` / `pg_engine`: a migrated store; `store_engine` runs a test on both. PostgreSQL is
  127.0.0.1:5432 with a fresh database per test session; when `CI` is set and the server does not
  answer, PostgreSQL tests fail instead of skipping.
- Clocks (tests/clock.py): a test marked `any_date` runs on the real clock and again with the clock
  travelled to each of `ANY_DATES`; `BATCHOPT_TEST_CLOCK=<ISO time>` travels every test process.
"""

from __future__ import annotations

import json
import os
import socket
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from optimizer.store.engine import create_store_engine, upgrade
from tests.clock import ANY_DATES, CLOCK_ENV
from tests.isolation import isolate_from_real_aws
from tests.xdist_groups import apply_xdist_groups

PG_ADMIN_URL = os.environ.get(
    "BATCHOPT_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def pytest_configure(config: pytest.Config) -> None:
    """`BATCHOPT_TEST_CLOCK` set: this process (each xdist worker too) runs on a travelled clock,
    started before collection so module-level times see it as well."""
    destination = os.environ.get(CLOCK_ENV)
    if destination:
        import time_machine

        traveller = time_machine.travel(destination, tick=True)
        traveller.start()
        config.add_cleanup(traveller.stop)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `xdist_group` share a worker under `--dist loadgroup` (`tests/xdist_groups.py`)."""
    apply_xdist_groups(config, items)


def pytest_report_header(config: pytest.Config) -> str | None:
    destination = os.environ.get(CLOCK_ENV)
    return f"clock travelled to {destination} ({CLOCK_ENV})" if destination else None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """An `any_date` test runs on the real clock and once per date in `ANY_DATES`."""
    if metafunc.definition.get_closest_marker("any_date") is not None:
        metafunc.parametrize(
            "_test_clock", ["real-clock", *ANY_DATES], indirect=True, ids=["real-clock", *ANY_DATES]
        )


@pytest.fixture(autouse=True)
def _test_clock(request: pytest.FixtureRequest) -> Iterator[None]:
    """Travels the clock for an `any_date` test's travelled runs (time keeps ticking from there)."""
    destination = getattr(request, "param", "real-clock")
    if destination == "real-clock":
        yield
        return
    import time_machine

    with time_machine.travel(destination, tick=True):
        yield


@pytest.fixture(autouse=True)
def _no_real_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never reach a real AWS account: fake credentials, no profiles, a fixed region."""
    isolate_from_real_aws(monkeypatch)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _post_json(url: str, payload: object) -> None:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """The emulator's base URL, e.g. http://127.0.0.1:40123."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    _post_json(f"{url}/moto-api/config", {"batch": {"use_docker": False}})
    yield url
    server.stop()


@pytest.fixture
def aws_endpoint(moto_server: str) -> str:
    """A clean emulator for this test (state reset, Batch still without Docker)."""
    _post_json(f"{moto_server}/moto-api/reset", {})
    _post_json(f"{moto_server}/moto-api/config", {"batch": {"use_docker": False}})
    return moto_server


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = create_store_engine(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


def _pg_answers() -> bool:
    try:
        engine = create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def pg_database_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session (dropped afterwards)."""
    if not _pg_answers():
        message = f"PostgreSQL not answering at {PG_ADMIN_URL}"
        if os.environ.get("CI"):
            pytest.fail(f"{message} (CI is set: PostgreSQL tests must run)")
        pytest.skip(message)
    name = f"batchopt_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def pg_engine(pg_database_url: str) -> Iterator[Engine]:
    """A migrated PostgreSQL store, emptied after the test so tests stay independent."""
    engine = create_store_engine(pg_database_url)
    upgrade(engine)
    yield engine
    from optimizer.store.schema import metadata

    with engine.begin() as conn:
        names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY"))
    engine.dispose()


@pytest.fixture
def cli_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A migrated SQLite store the CLI (`optimizer.cli.main.main`) uses through BATCHOPT_DATABASE_URL."""
    from optimizer.cli.main import main

    url = f"sqlite:///{tmp_path / 'store.db'}"
    monkeypatch.setenv("BATCHOPT_DATABASE_URL", url)
    assert main(["db", "upgrade"]) == 0
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_engine(request: pytest.FixtureRequest) -> Engine:
    """Runs the test once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_engine")
    return request.getfixturevalue("pg_engine")
