"""Where a rendered report goes. Every sink is tried; one failing never stops the others.

A sink is anything with a `name` and `deliver(rendered) -> str` (a one-line description of what it
did); it raises on failure. `deliver_all` turns each outcome into a `SinkResult` for the caller
to print, log and turn into an exit code.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from optimizer.report.render import RenderedReport

log = logging.getLogger(__name__)


class Sink(Protocol):
    name: str

    def deliver(self, rendered: RenderedReport) -> str: ...


@dataclass(frozen=True)
class SinkResult:
    sink: str
    ok: bool
    detail: str


def deliver_all(sinks: Sequence[Sink], rendered: RenderedReport) -> list[SinkResult]:
    results = []
    for sink in sinks:
        try:
            detail = sink.deliver(rendered)
        except Exception as exc:  # a sink's failure is reported, never fatal to the others
            message = f"{type(exc).__name__}: {exc}".strip().splitlines()[0][:300]
            log.warning("report sink %s failed: %s", sink.name, message)
            results.append(SinkResult(sink.name, False, message))
        else:
            log.info("report sink %s: %s", sink.name, detail)
            results.append(SinkResult(sink.name, True, detail))
    return results


def write_files(directory: Path, files: dict[str, bytes]) -> list[Path]:
    """Write each file atomically (temp file + rename), so a reader never sees half a report."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in files.items():
        final = directory / name
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=directory)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
            os.replace(tmp, final)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        written.append(final)
    return written


@dataclass
class DirectorySink:
    """The default sink: the HTML, Markdown and CSV files in a local folder."""

    directory: Path
    name: str = "dir"

    def deliver(self, rendered: RenderedReport) -> str:
        written = write_files(self.directory, rendered.files)
        return f"wrote {len(written)} files to {self.directory}"
