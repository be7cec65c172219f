"""Which share (team, user) each job of a history belongs to, for fair-share replays and advice.

A job submitted to a fair-share queue carries Batch's `shareIdentifier`. A FIFO queue's jobs carry
none (Batch refuses one there), so the team a job belongs to is read from its tags, the first of
`SHARE_TAG_KEYS` it has: the names teams commonly tag jobs with (and `user`, which imported traces
keep). The replay's history (`datasets.load_dataset`) and the `fair-share` strategy read shares
through this one rule, so a recommendation's evidence command replays the same shares it priced.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

SHARE_TAG_KEYS = ("shareIdentifier", "team", "user", "owner", "project")
MAX_SHARE_LENGTH = 255
"""Batch's limit on a share identifier (ShareAttributes in the API reference)."""


def share_of(share_identifier: Any, tags: Any) -> str | None:
    """The job's share: its shareIdentifier, else its first tag of `SHARE_TAG_KEYS`, else None."""
    if isinstance(share_identifier, str) and share_identifier:
        return share_identifier[:MAX_SHARE_LENGTH]
    if isinstance(tags, dict):
        for key in SHARE_TAG_KEYS:
            value = tags.get(key)
            if isinstance(value, str) and value:
                return value[:MAX_SHARE_LENGTH]
    return None


def shares_of(share_identifiers: Iterable[Any], tags: Iterable[Any]) -> list[str | None]:
    return [share_of(s, t) for s, t in zip(share_identifiers, tags, strict=True)]
