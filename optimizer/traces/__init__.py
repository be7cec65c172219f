"""Job-trace parsers: turn public cluster logs and Batch exports into one canonical jobs table.

Every parser is pure (text in, `Trace` out); `read_trace` in `files.py` is the only part that opens
files. The canonical columns are what the solver's demand builder and the simulator read, so a
trace from any source replays the same way.
"""

from optimizer.traces.files import FORMATS, read_trace
from optimizer.traces.mapping import TraceMapping
from optimizer.traces.schema import CANONICAL_COLUMNS, OPTIONAL_COLUMNS, Trace

__all__ = ["CANONICAL_COLUMNS", "FORMATS", "OPTIONAL_COLUMNS", "Trace", "TraceMapping", "read_trace"]
