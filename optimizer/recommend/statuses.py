"""The statuses a stored recommendation can have (`recommendations.status`); no imports, so the CLI's
argument choices cost nothing."""

from __future__ import annotations

STATUSES = ("open", "dismissed", "applied", "rolled-back")
