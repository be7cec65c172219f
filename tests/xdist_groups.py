"""`--dist loadgroup` (scripts/run-tests.sh) grouping that works on the pytest this suite runs on.

pytest-xdist sends every test marked `xdist_group(name)` to one worker by appending `@name` to the
test's node id on the worker, which its scheduler then splits off. pytest 9.2 keeps node ids as a
structured `_id` and no longer reads the `_nodeid` field xdist 3.8 writes, so the suffix is lost
and nothing is grouped: tests of one group ran on both workers, each paying for a session fixture
the group exists to share (the headless demo, `tests/e2e/conftest.py`). Upstream: pytest-dev/
pytest-xdist#1386 (open, fix proposed in #1388). This writes the same suffix where pytest 9.2 reads
it, only when xdist's own did not take, so a fixed xdist makes it a no-op.
"""

from __future__ import annotations

import pytest


def group_suffix(item: pytest.Item) -> str | None:
    """`@<group>` as xdist spells it (several groups joined by `_`), or None for an ungrouped test."""
    names = {
        str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
        for mark in item.iter_markers("xdist_group")
    }
    return "@" + "_".join(sorted(names)) if names else None


def apply_xdist_groups(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On an xdist worker under `--dist loadgroup`, give each grouped test its `@<group>` node id."""
    if not getattr(config.option, "loadgroup", False):
        return
    for item in items:
        suffix = group_suffix(item)
        if suffix is None or item.nodeid.endswith(suffix):
            continue
        grouped = item.nodeid + suffix
        if hasattr(item, "_id"):  # pytest >= 9.2: the structured id is what `nodeid` reads
            from _pytest.nodeid import NodeId

            item._id = NodeId.parse(grouped)
        else:
            item._nodeid = grouped
