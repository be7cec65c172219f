"""Keep HiGHS's stray debug line off the process's standard output.

The HiGHS inside OR-Tools prints "HighsMipSolverData::transformNewIntegerFeasibleSolution
tmpSolver.run();" with C `printf` from its MIP postsolve whenever a presolved incumbent needs a
re-solve, whatever `output_flag` says: under coupling policies that is dozens of lines in the middle
of `batchopt demo`'s progress, and in the MIP worker it would land in the pipe that carries the
result proto. Around a solve, file descriptor 1 points at /dev/null; C's buffers are flushed into it
before it is restored, so nothing printed during the solve surfaces later. One solve at a time holds
the redirect (a lock), and Python's own buffered output is flushed first so none of it is lost.
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_LOCK = threading.Lock()
_LIBC = ctypes.CDLL(None)


@contextmanager
def highs_stdout_silenced() -> Iterator[None]:
    """Run the block with C-level stdout discarded (Python's stdout is flushed before and after)."""
    with _LOCK:
        try:
            sys.stdout.flush()
            saved = os.dup(1)
        except (OSError, ValueError):  # no stdout at all (closed, or a daemon): nothing to guard
            yield
            return
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 1)
            yield
        finally:
            _LIBC.fflush(None)
            os.dup2(saved, 1)
            os.close(saved)
            os.close(devnull)
