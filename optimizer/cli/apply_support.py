"""What the plan/apply/rollback commands share: the apply service for this CLI run, and the actor."""

from __future__ import annotations

import getpass
import os
from typing import TYPE_CHECKING

from optimizer.cli.context import CliContext

if TYPE_CHECKING:
    from optimizer.apply.service import ApplyService


def apply_service(ctx: CliContext) -> ApplyService:
    from optimizer.apply.service import ApplyService

    return ApplyService.for_settings(ctx.engine, ctx.settings, ctx.sessions)


def cli_actor() -> str:
    """Who runs this, for the audit log: the OS user (or $BATCHOPT_ACTOR, e.g. set by a CI job)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return os.environ.get("BATCHOPT_ACTOR") or f"cli:{user}"
