"""Files a command writes: checked before the work that fills them, written atomically.

`optimize --out` into a folder that did not exist failed with a traceback after a 31 s solve, whose
plan was then lost; `simulate --out` into a directory path failed after the replay. Each output path
is now checked (its folder made, a directory or an unwritable place refused, naming the flag) before
the work starts, and written through a temporary file in the same folder, so a failure leaves no
half-written file behind.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

from optimizer.errors import InputError


def prepare_output(flag: str, path: str | os.PathLike[str] | None) -> None:
    """Refuse, naming `flag`, an output path that cannot be written: an existing directory, or a
    folder that cannot be made or written to. Makes the missing folders (as `simulate` always did)."""
    if path is None:
        return
    target = Path(path)
    if target.is_dir():
        raise InputError(f"{flag} {target}: is a directory; give a file name")
    prepare_folder(target.parent, f"{flag} {target}", f"its folder {target.parent}")


def prepare_folder(folder: str | os.PathLike[str], where: str, called: str) -> None:
    """Make `folder` (and its parents), or refuse one that cannot be made or written to:
    "`where`: cannot make `called`: why" / "`where`: `called` is not writable"."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{where}: cannot make {called}: {exc.strerror or exc}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(f"{where}: {called} is not writable")


def write_atomic(path: str | os.PathLike[str], write: Callable[[IO[str]], object]) -> None:
    """Write through a temporary file in the same folder, then rename it over `path`."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            write(handle)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
