"""The change a recommendation proposes, as rows a person can review: field, current, proposed.

Pure (no Streamlit) so the detail page and the tests read the same diff. Nested dicts are flattened
to dotted paths; lists are compared as whole values, because for Batch fields such as
`instanceTypes` the whole list is what gets sent.

A recommendation's `proposed` names only the fields it changes (the apply planner sends those and
leaves the rest as they are), so the proposed side is `current` with those fields replaced
(`after_change`): shown raw, a field the change keeps, such as an instance-mix change's allocation
strategy, read as removed ("(not set)" and a `-` line in the diff).
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MISSING = "(not set)"


@dataclass(frozen=True)
class FieldChange:
    field: str
    current: str
    proposed: str
    changed: bool


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, Mapping) and value:
        out: dict[str, Any] = {}
        for key in sorted(value, key=str):
            path = f"{prefix}.{key}" if prefix else str(key)
            out.update(_flatten(value[key], path))
        return out
    return {prefix or "(value)": value}


def _show(value: Any) -> str:
    if value is MISSING:
        return MISSING
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, default=str)


def after_change(current: Mapping[str, Any] | None, proposed: Mapping[str, Any] | None) -> dict[str, Any]:
    """The resource's settings once the change is applied: `current` with the top-level fields
    `proposed` names replaced (a field it names is sent whole, nested values included)."""
    return {**dict(current or {}), **dict(proposed or {})}


def field_changes(current: Mapping[str, Any] | None, proposed: Mapping[str, Any] | None) -> list[FieldChange]:
    """Every field of either side, changed ones first, each side rendered as compact JSON."""
    cur = _flatten(dict(current or {}))
    new = _flatten(after_change(current, proposed))
    rows = []
    for name in sorted(set(cur) | set(new)):
        before = cur.get(name, MISSING)
        after = new.get(name, MISSING)
        rows.append(FieldChange(name, _show(before), _show(after), _show(before) != _show(after)))
    return sorted(rows, key=lambda r: (not r.changed, r.field))


def unified_diff(current: Any, proposed: Any, *, labels: tuple[str, str] = ("current", "proposed")) -> str:
    """A unified diff of the settings before and after the change as sorted, indented JSON (what a
    reviewer pastes in a ticket)."""
    a = json.dumps(current, indent=2, sort_keys=True, default=str).splitlines()
    b = json.dumps(after_change(current, proposed), indent=2, sort_keys=True, default=str).splitlines()
    return "\n".join(difflib.unified_diff(a, b, fromfile=labels[0], tofile=labels[1], lineterm=""))
