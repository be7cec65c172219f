"""The bound that sees `max_instance_types` computed in a child process, beside the plan search.

Under a type cap with spot rows the plan search (offering subsets, `solve.py`) is single-threaded,
and the selection bound (`selection_bound.py`) used to get only what the subsets left at the end
(2.5 s, about 3 of the KTH week's rounds, 1.8 s of them on the second core's idle time). Started
right after the LP in a forked child it runs on the machine's other core for the whole solve,
while the parent keeps the whole time for plans.

Why fork: the child inherits the prepared arrays, the pattern pool and the LP's columns as they
are (copy on write, nothing pickled) and starts in milliseconds; a spawned interpreter re-imports
numpy, scipy and the compiled kernels first (1.1-1.4 s of CPU, 4.4 s of wall time at load 5, on
the 2-core machine), which is most of what a 9 s solve can give it. Where fork is unavailable
(not POSIX) or refused (a daemonic process may not have children) `start` returns None and the
caller computes the bound in-process as before. A fork from a threaded process (the dashboard)
copies only the calling thread; a lock another thread held at that moment could hang the child,
which then certifies nothing and is killed at the deadline like any other: never a hang of the
solve (Python 3.12 warns about such forks; the outcome is the same).

Validity wherever it is stopped: every value the child sends is a complete certificate
(`selection_bound`'s `on_bound`, a Lagrangian bound valid for any multipliers), sent the moment it
is proven, so the parent takes the largest value received and kills the child at its deadline.
A child that crashes, is killed, or is starved of CPU by a loaded machine just sends fewer values:
the caller's bound then stays the LP bound, never a wrong one.

Beside the certificates the child sends each restricted LP's selection values y (which offerings
the capped LP picks): the best subset rule the plan search has under a cap with spot rows (the
top k by y; `type_cap_subsets.selection_subset`), so the parent may wait a little for the first
one (`wait_for_selection`) before choosing its subsets. They only steer the plan search; a late or
missing y leaves the subsets as they were without it.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING

import numpy as np

from optimizer.solver.capped_class_bound import capped_class_bound
from optimizer.solver.columns import Columns, PatternPool, Prepared
from optimizer.solver.plan import Plan
from optimizer.solver.selection_bound import selection_bound

if TYPE_CHECKING:
    from optimizer.solver.committed_master import MasterPlan

#: Longest the parent waits in one poll of the pipe (real seconds) between checks of its clock.
POLL_SECONDS = 0.05
#: Longest the parent waits for a killed child to be reaped. A SIGKILL always ends it, so the wait
#: returns as soon as the kernel has torn it down; with 1 s, a fresh-clone test run sharing the 2
#: cores with another busy process twice found the child still there after `collect`.
JOIN_SECONDS = 5.0
#: Niceness the child adds before the integer per-class phase (19: the lowest priority).
NICE_INCREMENT = 19


def _selection_work(
    send: Callable[[object], None],
    prep: Prepared,
    pool: PatternPool,
    cols: Columns,
    seed: Callable[[], Plan | None],
    deadline: float,
    clock: Callable[[], float],
    first: Callable[[], float | None] | None = None,
) -> None:
    """Runs in the child: the `first` bound when given (the per-class partition bound, where the
    LP stopped unconverged), the seed plan, the selection bound, then (when the capped LP converged
    before the deadline) its integer per-class raise (`capped_class_bound.py`), each certified
    value sent."""
    if first is not None:
        value = first()
        if value is not None:
            send(("partition", value))
    plan = seed()
    selected = selection_bound(
        prep,
        pool,
        cols,
        plan,
        deadline=deadline,
        clock=clock,
        on_bound=send,
        on_selection=lambda y: send(("selection", y)),
    )
    if selected is not None and clock() < deadline:
        # The capped LP converged with time left: whole instances per class raise it, on idle
        # CPU only. At the same priority these class MIPs took the core the parent's plan
        # search needed on a loaded machine (KTH README at load 3-4: plans $465.60-475.61
        # against $462.67-463.47 without them, for a bound of $451.59-451.72).
        lower_priority()
        capped_class_bound(
            prep,
            selected.master,
            selected.master_columns,
            selected.min_rc,
            deadline=deadline,
            clock=clock,
            on_bound=send,
        )


def _task_child(send: Connection, task: Callable[[Callable[[object], None]], None]) -> None:
    """Runs in the child: `task`, which hands each certified bound (or a tagged message) to the
    callback it is given; an error and the end are always reported."""
    try:
        task(send.send)
    except Exception as exc:
        send.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        send.send(("done", None))
        send.close()


def lower_priority(increment: int = NICE_INCREMENT) -> None:
    """The calling process (a child) yields the CPU to other processes from now on: to every
    other at the default increment (19), in part at a smaller one."""
    with contextlib.suppress(OSError):  # not permitted: the work then runs as it is
        os.nice(increment)


@dataclass
class BackgroundBound:
    """A running child computing the selection bound; `collect` ends it and returns its best."""

    process: multiprocessing.process.BaseProcess
    receive: Connection
    started: float  # real seconds (time.monotonic) when the fork returned, for the stats
    best: float | None = None
    error: str | None = None
    finished: bool = False
    selection: np.ndarray | None = None  # (O,) the latest restricted LP's y
    selections: int = 0  # how many restricted LPs sent their y (rounds solved)
    partition: float | None = None  # the `first` bound's value, when it ran and finished
    #: The committed LP's child (`committed_lp.start_committed_lp`): how many classes its exact
    #: bills raised above the LP in the best bound it sent (`committed_class_bills.py`); None
    #: when the bills raised none.
    whole_classes: int | None = None
    #: The committed LP's child: its columns solved as an integer program
    #: (`committed_master.MasterPlan`), when the time limit left it the seconds for one.
    master_plan: MasterPlan | None = None
    master_due: bool = False  # the child will solve that integer program (it said so)

    @classmethod
    def start(
        cls,
        prep: Prepared,
        pool: PatternPool,
        cols: Columns,
        seed: Callable[[], Plan | None],
        *,
        deadline: float,
        clock: Callable[[], float],
        first: Callable[[], float | None] | None = None,
    ) -> BackgroundBound | None:
        """Fork the child (it stops itself at `deadline` on `clock`, the same clock as the
        parent's: fork keeps it); None when this process cannot fork one. `first`: a bound the
        child computes before the selection bound (a valid one, like every value it sends)."""
        return cls.start_task(
            lambda send: _selection_work(send, prep, pool, cols, seed, deadline, clock, first)
        )

    @classmethod
    def start_task(cls, task: Callable[[Callable[[object], None]], None]) -> BackgroundBound | None:
        """Fork a child running `task`, which calls the callback it is given with each bound it
        certifies (each must be valid on its own) and stops itself at its own deadline; None when
        this process cannot fork one. `collect` then works as for the selection bound."""
        if "fork" not in multiprocessing.get_all_start_methods():
            return None
        ctx = multiprocessing.get_context("fork")
        receive, send = ctx.Pipe(duplex=False)
        process = ctx.Process(target=_task_child, args=(send, task), daemon=True)
        try:
            process.start()
        except (AssertionError, OSError):  # a daemonic parent, or no resources for a process
            receive.close()
            send.close()
            return None
        send.close()  # the child holds the write end: EOF once it exits
        return cls(process, receive, time.monotonic())

    def poll(self) -> None:
        """Read what the child has sent so far, without waiting."""
        self._drain(0.0)

    def _drain(self, timeout: float) -> None:
        """Read what the child sent, waiting at most `timeout` real seconds for the first message."""
        try:
            while not self.finished and self.receive.poll(timeout):
                timeout = 0.0
                message = self.receive.recv()
                if isinstance(message, tuple):
                    kind, detail = message
                    if kind == "error":
                        self.error = detail
                    elif kind == "selection":
                        self.selection = np.asarray(detail, dtype=float)
                        self.selections += 1
                    elif kind == "done":
                        self.finished = True
                    elif kind == "partition":
                        self.partition = float(detail)
                        self._certified(self.partition)
                    elif kind == "master_due":
                        self.master_due = True
                    elif kind == "master_plan":
                        self.master_plan = detail
                    elif kind == "class_bills":
                        value, raised = detail
                        self.whole_classes = int(raised)
                        self._certified(float(value))
                else:
                    self._certified(float(message))
        except (EOFError, OSError):  # the child died without saying so (killed, out of memory)
            self.finished = True

    def _certified(self, value: float) -> None:
        self.best = value if self.best is None else max(self.best, value)

    def wait_for_selection(self, *, deadline: float, clock: Callable[[], float]) -> np.ndarray | None:
        """The latest selection values y the child sent, waiting for the first until `clock`
        reaches `deadline` or the child ends; None when it sent none by then. Certificates that
        arrive meanwhile are kept for `collect`."""
        self._drain(0.0)
        while self.selection is None and not self.finished and clock() < deadline:
            self._drain(POLL_SECONDS)
        return self.selection

    def collect(
        self, *, deadline: float, clock: Callable[[], float], real_seconds: float | None = None
    ) -> float | None:
        """Wait for the child until it finishes, `clock` reaches `deadline` or, when given,
        `real_seconds` of real time pass, then kill it and return the best bound it certified (None
        when it certified none). `real_seconds` caps a wait on an injected clock, which a starved
        child (niced, on a busy machine) would otherwise stretch to a real second per poll."""
        until = None if real_seconds is None else time.monotonic() + real_seconds
        while not self.finished and clock() < deadline and (until is None or time.monotonic() < until):
            self._drain(POLL_SECONDS)
        self._drain(0.0)
        self.stop()
        return self.best

    def stop(self) -> None:
        """Kill the child (by its pid) and reap it; safe to call more than once."""
        if self.process.is_alive():
            self.process.kill()
        self.process.join(JOIN_SECONDS)
        self.receive.close()
        self.finished = True
