"""Job-trace parsers: turn public cluster logs and Batch exports into one canonical jobs table.

Every parser is pure (text in, `Trace` out); `read_trace` in `files.py` is the only part that opens
files. The canonical columns are what the solver's demand builder and the simulator read, so a
trace from any source replays the same way.

`FORMATS` and `TraceMapping` import nothing heavy; the parsers (pandas) load on first use of the
other names, so `batchopt --help`, whose arguments name the formats and mapping defaults, stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from optimizer.traces.formats import FORMATS
from optimizer.traces.mapping import TraceMapping

if TYPE_CHECKING:
    from optimizer.traces.files import read_trace
    from optimizer.traces.schema import CANONICAL_COLUMNS, OPTIONAL_COLUMNS, Trace

_LAZY = {
    "CANONICAL_COLUMNS": "optimizer.traces.schema",
    "OPTIONAL_COLUMNS": "optimizer.traces.schema",
    "Trace": "optimizer.traces.schema",
    "read_trace": "optimizer.traces.files",
}

__all__ = ["CANONICAL_COLUMNS", "FORMATS", "OPTIONAL_COLUMNS", "Trace", "TraceMapping", "read_trace"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
