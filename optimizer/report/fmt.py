"""Formatting shared by the renderers, so HTML, Markdown and Slack say the same thing the same way.

Missing values print as an em dash with no number: a reader must never mistake "unknown" for 0.
"""

from __future__ import annotations

from datetime import date, datetime

from optimizer.number_text import percent_text, usd_text
from optimizer.report.model import Comparison, WeeklyReport

MISSING = "—"


def money(value: float | None, cents: bool = True) -> str:
    if value is None:
        return MISSING
    return usd_text(value, cents)


def pct(value: float | None, signed: bool = False) -> str:
    if value is None:
        return MISSING
    return percent_text(value, signed)


def change(spend: Comparison, against: str) -> str:
    """Relative change, or why there is none ("no data", "new")."""
    base = spend.previous if against == "previous" else spend.average_4w
    rel = spend.change_vs_previous if against == "previous" else spend.change_vs_average
    if base is None:
        return "no data"
    if rel is None:
        return "new" if spend.current else MISSING
    return pct(rel, signed=True)


def number(value: float | None, digits: int = 1) -> str:
    return MISSING if value is None else f"{value:,.{digits}f}"


def day(value: date | None) -> str:
    return MISSING if value is None else value.strftime("%a %d %b %Y")


def stamp(value: datetime | None) -> str:
    return MISSING if value is None else value.strftime("%Y-%m-%d %H:%M UTC")


def short_arn(value: str) -> str:
    """`arn:aws:batch:...:compute-environment/name` -> name (other values unchanged)."""
    return value.rsplit("/", 1)[-1] if value.startswith("arn:") and "/" in value else value


def week_span(report: WeeklyReport) -> str:
    last = report.week.days()[-1]
    return f"{report.week.monday.strftime('%d %b')} – {last.strftime('%d %b %Y')} (UTC days)"


def average_label(report: WeeklyReport, *, short: bool = False) -> str:
    """ "4-week average" as far as it is one: the average is over the full history weeks with data
    (`spend.averaged_weeks`), so with two of them the CLI line, the email subject and the table
    header said "4-week" over a 2-week mean (the demo's W48: +85.6 %)."""
    n = len(report.average_weeks) or 4
    return f"{n}-week avg" if short else f"{n}-week average"


def headline(report: WeeklyReport) -> str:
    """One sentence summing up the week (used by Slack and as the email subject)."""
    if not report.has_data or report.total is None:
        return f"{report.week.label}: no cost data for this week"
    total = report.total
    parts = [f"{report.week.label}: {money(total.current)}"]
    if total.previous is not None:
        parts.append(f"{change(total, 'previous')} vs previous week")
    if total.average_4w is not None:
        parts.append(f"{change(total, 'average')} vs {average_label(report)}")
    text = ", ".join(parts)
    if report.coverage.partial:
        text += " (partial data)"
    return text
