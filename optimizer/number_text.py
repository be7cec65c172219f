"""Dollar amounts and percentages as every surface prints them (dashboard, report, CLI,
recommendation texts), so a figure reads the same wherever a person holds it against Cost
Explorer: "-$123.23", never "$-123.23", and float noise (-1e-16) never as "-$0.00" or "-0.0%"."""

from __future__ import annotations

import math
from typing import Any


def usd_text(value: float, cents: bool = True) -> str:
    text = f"${abs(value):,.2f}" if cents else f"${abs(value):,.0f}"
    # the sign only when the amount shown has one
    return f"-{text}" if value < 0 and any(ch in "123456789" for ch in text) else text


def percent_text(value: float, signed: bool = False) -> str:
    """One decimal; a value that rounds to zero reads 0.0% (+0.0% signed), never -0.0%."""
    value = value if round(value * 1000) else 0.0
    return f"{value:+.1%}" if signed else f"{value:.1%}"


def commitment_level_text(
    kind: str, usd_per_hour: float | None, count: int | None, instance_type: str | None
) -> str:
    """A commitment's level as a problem carries it: "2 x m5.large" for a Reserved Instance, the
    $/h to four decimals for a Savings Plan (a queue's share can be a fraction of a cent)."""
    if kind == "RESERVED_INSTANCE":
        return f"{int(count or 0)} x {instance_type}"
    return f"${float(usd_per_hour or 0.0):,.4f}"


def measure_text(value: Any, kind: str) -> str:
    """One cell of a table with a measure per row (a What-if comparison, a replay summary), where a
    column format cannot apply: `usd`, `percent` (a fraction), `seconds`, `number` or `text`; a
    missing value reads "n/a"."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if kind == "usd":
        return usd_text(float(value))
    if kind == "percent":
        return percent_text(float(value))
    if kind == "seconds":
        return f"{float(value):,.2f}"
    if kind == "number":
        return f"{float(value):,.0f}"
    return str(value)


def count_text(n: int, noun: str, plural: str | None = None) -> str:
    """`1 job`, `2 jobs`, `1,234 line items` (thousands separated): never "1 jobs"."""
    return f"{n:,} {noun if n == 1 else (plural or noun + 's')}"
