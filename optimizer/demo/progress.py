"""The demo's per-stage progress display: a live rich view on a terminal, one line per stage otherwise.

Stages report start, done (with a one-line detail), skipped (with the reason) or failed; each shows
its wall time, so a newcomer sees where the three minutes go.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn


@dataclass
class StageRecord:
    name: str
    status: str  # done | skipped | failed
    seconds: float
    detail: str


@dataclass
class StageOutcome:
    """What a stage body sets to describe its result."""

    detail: str = ""


@dataclass
class StageDisplay:
    """Runs stages under a display; `records` keeps what happened for the summary."""

    console: Console
    records: list[StageRecord] = field(default_factory=list)
    _progress: Progress | None = None

    def __enter__(self) -> StageDisplay:
        if self.console.is_terminal:
            self._progress = Progress(
                SpinnerColumn(finished_text="[green]✓[/]"),
                TextColumn("{task.description}"),
                TimeElapsedColumn(),
                console=self.console,
                transient=False,
            )
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    @contextmanager
    def stage(self, name: str, label: str) -> Iterator[StageOutcome]:
        """Run the body as stage `name`; an exception marks it failed and propagates."""
        outcome = StageOutcome()
        task: TaskID | None = None
        if self._progress is not None:
            task = self._progress.add_task(f"{label}...", total=1)
        started = time.monotonic()
        try:
            yield outcome
        except BaseException as exc:
            self._finish(
                name,
                label,
                "failed",
                started,
                str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
                task,
            )
            raise
        self._finish(name, label, "done", started, outcome.detail, task)

    def skip(self, name: str, label: str, reason: str) -> None:
        task = self._progress.add_task(label, total=1) if self._progress is not None else None
        self._finish(name, label, "skipped", time.monotonic(), reason, task)

    def _finish(
        self, name: str, label: str, status: str, started: float, detail: str, task: TaskID | None
    ) -> None:
        seconds = time.monotonic() - started
        self.records.append(StageRecord(name, status, seconds, detail))
        mark = {"done": "[green]✓[/]", "skipped": "[yellow]-[/]", "failed": "[red]✗[/]"}[status]
        text = escape(f"{label}: {detail}" if detail else label)
        if self._progress is not None and task is not None:
            self._progress.update(
                task, description=f"{text}" if status == "done" else f"{mark} {text}", completed=1
            )
        else:
            self.console.print(f"{mark} {text} ({seconds:.1f}s)", highlight=False, soft_wrap=True)
