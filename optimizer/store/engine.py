"""Engines for the store, and the migration gate every command but `db upgrade` passes through.

SQLite runs in WAL mode so the scheduler can write while the dashboard reads; foreign keys are not
used (collected data arrives in any order), so no pragma for them.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from optimizer.errors import ConfigError, StoreNotReadyError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def create_store_engine(url: str, *, echo: bool = False) -> Engine:
    """An engine for `url`; for a SQLite file, the folder is created and WAL is switched on."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"store.database_url (BATCHOPT_DATABASE_URL): {exc}") from None
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() in ("", "psycopg2"):
        # psycopg 3 is the driver the `postgres` extra installs.
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, echo=echo, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(parsed, echo=echo, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA cache_size=-131072")  # 128 MiB page cache: bulk loads into big indexes
    cursor.execute("PRAGMA temp_store=MEMORY")
    cursor.close()


# Tables other software keeps in the store's database (APScheduler's job store) are not ours to migrate.
FOREIGN_TABLES = frozenset({"apscheduler_jobs"})


def include_object(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    """Alembic filter: leave FOREIGN_TABLES out of autogenerate comparisons."""
    return not (type_ == "table" and name in FOREIGN_TABLES)


def alembic_config() -> Config:
    """Alembic configured from the package (works from an installed wheel: no alembic.ini needed)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def head_revision() -> str:
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    return ",".join(sorted(heads))


def current_revision(engine: Engine) -> str | None:
    try:
        with engine.connect() as conn:
            heads = MigrationContext.configure(conn).get_current_heads()
    except OperationalError as exc:
        raise StoreNotReadyError(
            f"store {engine.url.render_as_string(hide_password=True)}: {exc.orig}"
        ) from None
    return ",".join(sorted(heads)) or None


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str]:
    """Migrate to `revision`; returns (before, after). Running it again changes nothing."""
    before = current_revision(engine)
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    return before, current_revision(engine) or ""


POINT_AT_STORE = (
    "set BATCHOPT_DATABASE_URL (or store.database_url) to the store you mean; for a running "
    "`batchopt demo`, `source <workdir>/demo.env`; `batchopt db upgrade` creates an empty store here"
)


def sqlite_file(engine: Engine) -> Path | None:
    """The absolute file of a file-backed SQLite store (None for other stores and :memory:)."""
    if engine.url.get_backend_name() != "sqlite":
        return None
    database = engine.url.database or ""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).resolve()


def require_current_schema(engine: Engine) -> None:
    """Refuse to run on a store that is not migrated to this version's schema, naming the store
    looked at (a relative SQLite path as the absolute file it resolved to). A missing SQLite file is
    not created by looking: the error says where it looked and how to point at the right store."""
    where = engine.url.render_as_string(hide_password=True)
    path = sqlite_file(engine)
    if path is not None:
        where = f"{where} (file {path})"
        if not path.exists():
            raise StoreNotReadyError(f"no store at {where}: {POINT_AT_STORE}")
    current = current_revision(engine)
    head = head_revision()
    if current is None:
        raise StoreNotReadyError(f"store {where} has no tables: {POINT_AT_STORE}")
    if current != head:
        raise StoreNotReadyError(
            f"store {where} is at revision {current}, this version needs {head}: run `batchopt db upgrade`"
        )
