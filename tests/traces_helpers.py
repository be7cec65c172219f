"""Test helpers for the trace and replay tests: where the shared real data lives."""

from __future__ import annotations

from pathlib import Path

SHARED_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


def shared_data(relative: str) -> Path:
    """Path of a file in ../shared/data, failing loudly (never skipping) when it is missing."""
    path = SHARED_DATA / relative
    if not path.exists():
        raise FileNotFoundError(f"shared reference data missing: {path} (CI keeps ../shared/data there)")
    return path
