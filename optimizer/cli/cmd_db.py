"""`batchopt db upgrade|current`: migrate the store and show its revision."""

from __future__ import annotations

import argparse

from optimizer.cli.context import CliContext


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("db", help="migrate the store (SQLite or PostgreSQL) and show its revision")
    actions = parser.add_subparsers(dest="db_action", metavar="ACTION", required=True)
    up = actions.add_parser("upgrade", help="create or migrate the schema to this version (idempotent)")
    up.set_defaults(handler=run_upgrade)
    cur = actions.add_parser("current", help="print the store's revision and the one this version needs")
    cur.set_defaults(handler=run_current)


def run_upgrade(args: argparse.Namespace, ctx: CliContext) -> int:
    from optimizer.store.engine import upgrade

    before, after = upgrade(ctx.raw_engine)
    where = ctx.raw_engine.url.render_as_string(hide_password=True)
    if before == after:
        print(f"store {where}: already at revision {after}")
    else:
        print(f"store {where}: migrated {before or 'empty'} -> {after}")
    return 0


def run_current(args: argparse.Namespace, ctx: CliContext) -> int:
    """Print the revisions; a SQLite file that does not exist is reported, not created by looking
    (a mistyped path once left an empty 4 KB store behind and answered "current: empty")."""
    from optimizer.store.engine import current_revision, head_revision, sqlite_file

    path = sqlite_file(ctx.raw_engine)
    if path is not None and not path.exists():
        print(f"current: no store (file {path} does not exist)\nhead: {head_revision()}")
        return 0
    print(f"current: {current_revision(ctx.raw_engine) or 'empty'}\nhead: {head_revision()}")
    return 0
