"""Alembic environment: runs on the connection the caller passes (see optimizer.store.engine.upgrade)."""

from alembic import context

from optimizer.store.engine import include_object
from optimizer.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reachable through the alembic CLI
    raise RuntimeError("run migrations through `batchopt db upgrade`")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=True,
    compare_type=True,
    include_object=include_object,
)
with context.begin_transaction():
    context.run_migrations()
