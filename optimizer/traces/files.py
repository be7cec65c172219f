"""Opening trace files (plain or gzip) and dispatching to the parser of their format.

This is the only module of `optimizer.traces` that touches the file system; the parsers take
text, so tests and the store import path feed them directly.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

from optimizer.errors import InputError
from optimizer.traces.alibaba_gpu import parse_alibaba_gpu
from optimizer.traces.batch_json import parse_batch_json
from optimizer.traces.csv_format import parse_csv
from optimizer.traces.formats import FORMATS
from optimizer.traces.mapping import TraceMapping
from optimizer.traces.schema import Trace
from optimizer.traces.swf import parse_swf


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise InputError(f"{path}: corrupt gzip data: {exc}") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError(f"{path} line {line}: not UTF-8 text") from None


def parse_text(text: str, fmt: str, source: str, mapping: TraceMapping | None = None) -> Trace:
    """Parse already-read text in the named format."""
    parsers: dict[str, Callable[[str], Trace]] = {
        "swf": lambda t: parse_swf(t.splitlines(), source, mapping),
        "alibaba-gpu": lambda t: parse_alibaba_gpu(t.splitlines(), source, mapping),
        "batch-json": lambda t: parse_batch_json(t, source, mapping),
        "csv": lambda t: parse_csv(t.splitlines(), source, mapping),
    }
    if fmt not in parsers:
        raise InputError(f"trace format {fmt!r}: must be one of {', '.join(FORMATS)}")
    trace = parsers[fmt](text)
    if trace.jobs.empty:
        raise InputError(f"{source}: no replayable jobs in the file")
    return trace


def read_trace(path: str | Path, fmt: str, mapping: TraceMapping | None = None) -> Trace:
    """Read a trace file (gzip detected by its magic bytes, not its name) in the named format."""
    path = Path(path)
    return parse_text(_read_text(path), fmt, str(path), mapping)
