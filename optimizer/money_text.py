"""Dollar amounts as every surface prints them (dashboard, report, CLI, recommendation texts), so a
figure reads the same wherever a person holds it against Cost Explorer: "-$123.23", never
"$-123.23", and float noise (-1e-16) never as "-$0.00"."""

from __future__ import annotations


def usd_text(value: float, cents: bool = True) -> str:
    text = f"${abs(value):,.2f}" if cents else f"${abs(value):,.0f}"
    # the sign only when the amount shown has one
    return f"-{text}" if value < 0 and any(ch in "123456789" for ch in text) else text
