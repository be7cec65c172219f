"""Opening trace files (plain or gzip) and dispatching to the parser of their format.

This is the only module of `optimizer.traces` that touches the file system; the parsers take
text, so tests and the store import path feed them directly.
"""

from __future__ import annotations

import codecs
import gzip
from collections.abc import Callable
from pathlib import Path

from optimizer.errors import InputError
from optimizer.traces.alibaba_gpu import parse_alibaba_gpu
from optimizer.traces.alibaba_pai_2020 import parse_alibaba_pai_2020
from optimizer.traces.batch_json import parse_batch_json
from optimizer.traces.csv_format import parse_csv
from optimizer.traces.formats import FORMATS
from optimizer.traces.mapping import TraceMapping
from optimizer.traces.schema import Trace
from optimizer.traces.swf import parse_swf


def _read_text(path: Path, fmt: str) -> str:
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
        # utf-8-sig: spreadsheet exports (Excel) start with a byte-order mark, which is not part of
        # the first column's name or the first SWF line; it is dropped when present.
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if fmt == "swf":
            return _decode_swf(raw, path)
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError(f"{path} line {line}: not UTF-8 text") from None


def _decode_swf(raw: bytes, path: Path) -> str:
    """SWF text whose `;` comment lines may be in any encoding; data lines must still be UTF-8.

    SWF data lines are ASCII numbers, but header comments are free text that archive logs write
    in their site's encoding (a Latin-1 name in `; Acknowledge:`). The parser reads only
    `UnixStartTime` from comments, so an undecodable byte there becomes U+FFFD instead of
    failing the import; U+FFFD, unlike a Latin-1 decoding (byte 0x85 is NEL), never adds a line
    break, so line numbers in later errors stay right.
    """
    text: list[str] = []
    for lineno, line in enumerate(raw.removeprefix(codecs.BOM_UTF8).split(b"\n"), start=1):
        try:
            text.append(line.decode("utf-8"))
        except UnicodeDecodeError:
            if not line.lstrip().startswith(b";"):
                raise InputError(f"{path} line {lineno}: not UTF-8 text") from None
            text.append(line.decode("utf-8", errors="replace"))
    return "\n".join(text)


def parse_text(text: str, fmt: str, source: str, mapping: TraceMapping | None = None) -> Trace:
    """Parse already-read text in the named format."""
    parsers: dict[str, Callable[[str], Trace]] = {
        "swf": lambda t: parse_swf(t.splitlines(), source, mapping),
        "alibaba-gpu": lambda t: parse_alibaba_gpu(t.splitlines(), source, mapping),
        "alibaba-pai-2020": lambda t: parse_alibaba_pai_2020(t.splitlines(), source, mapping),
        "batch-json": lambda t: parse_batch_json(t, source, mapping),
        "csv": lambda t: parse_csv(t.splitlines(), source, mapping),
    }
    if fmt not in parsers:
        raise InputError(f"trace format {fmt!r}: must be one of {', '.join(FORMATS)}")
    trace = parsers[fmt](text)
    if trace.jobs.empty:
        # Say why when every job was skipped, so "no jobs" is not mistaken for an empty or unread file.
        why = ", ".join(f"{n} {reason}" for reason, n in trace.skipped.items())
        raise InputError(f"{source}: no replayable jobs in the file" + (f" (skipped: {why})" if why else ""))
    return trace


def read_trace(path: str | Path, fmt: str, mapping: TraceMapping | None = None) -> Trace:
    """Read a trace file (gzip detected by its magic bytes, not its name) in the named format."""
    path = Path(path)
    return parse_text(_read_text(path, fmt), fmt, str(path), mapping)
