"""Field parsing shared by the CSV-based trace readers: one wording for every bad-value error.

Each error names the file, the line and the column, so a user can fix the input without a traceback.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Sequence

from optimizer.errors import InputError


def dict_rows(lines: Iterable[str], source: str, required: Sequence[str]) -> tuple[csv.DictReader, list[str]]:
    """A DictReader over `lines` and its header; fails on line 1 when a required column is missing."""
    reader = csv.DictReader(iter(lines))
    header = list(reader.fieldnames or [])
    missing = [c for c in required if c not in header]
    if missing:
        raise InputError(f"{source} line 1: missing column(s) {', '.join(missing)}")
    return reader, header


def parse_float(text: str, column: str, source: str, lineno: int, *, positive: bool = False) -> float:
    """A finite number >= 0 (> 0 when `positive`)."""
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{source} line {lineno}: field {column!r}: not a number: {text!r}") from None
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        rule = "a positive number" if positive else "a non-negative number"
        raise InputError(f"{source} line {lineno}: field {column!r}: must be {rule}: {text!r}")
    return value


def plain_number(value: float) -> str:
    """A time or size for an error message at full precision (`:g` shows 9957352 and 9957353 alike)."""
    # (past 1e15 a whole number is printed as Python writes it: 1e+300, not 301 digits)
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


def parse_int(text: str, column: str, source: str, lineno: int, low: int, high: int) -> int:
    """A whole number in [low, high]."""
    try:
        value = int(text)
    except ValueError:
        raise InputError(f"{source} line {lineno}: field {column!r}: not a whole number: {text!r}") from None
    if not low <= value <= high:
        raise InputError(f"{source} line {lineno}: field {column!r}: must be in [{low}, {high}]: {value}")
    return value
