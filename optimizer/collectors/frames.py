"""Helpers for building the collectors' large frames."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while building millions of rows.

    Bulk loops allocate millions of tuples and lists that never form cycles, and every
    generational pass would re-scan all the live input records too; reference counting still
    frees everything, and the collector is back on when the block ends.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
