"""Static PNG charts (matplotlib, Agg backend) for the report: no scripts, so email clients show them.

Figures are made with `Figure()` directly, not pyplot: no global state and no GUI backend, so the
scheduler thread and the dashboard process can draw at the same time.

Each function returns PNG bytes or None when there is nothing honest to draw (a chart of zeros would
read as "no spend" when it means "no data").
"""

from __future__ import annotations

import io

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from optimizer.report.model import DIMENSIONS, WASTE_CLASSES, WeeklyReport

SPOT_COLOUR = "#2a9d8f"
ON_DEMAND_COLOUR = "#264653"
OTHER_COLOUR = "#adb5bd"
ACCENT = "#e76f51"
DPI = 110


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    return buffer.getvalue()


def _dollars(value: float, _position: object = None) -> str:
    """Tick label: cents for small amounts (a $3 week must not read $2, $2, $3), whole dollars above."""
    return f"${value:,.2f}" if abs(value) < 10 else f"${value:,.0f}"


def _style(ax: Axes, title: str, money_axis: str = "y") -> None:
    ax.set_title(title, loc="left", fontsize=11, fontweight="bold")
    ax.spines[["top", "right"]].set_visible(False)
    ax.tick_params(labelsize=8)
    axis = ax.yaxis if money_axis == "y" else ax.xaxis
    axis.set_major_formatter(FuncFormatter(_dollars))


def daily_spend_chart(report: WeeklyReport) -> bytes | None:
    """Spend per day of the week, stacked by capacity type; days without data are left blank."""
    if not report.daily:
        return None
    by_day = {d.day: d for d in report.daily}
    days = report.week.days()
    labels = [d.strftime("%a\n%d %b") for d in days]
    spot = [by_day[d].spot_usd if d in by_day else 0.0 for d in days]
    od = [by_day[d].on_demand_usd if d in by_day else 0.0 for d in days]
    other = [by_day[d].other_usd if d in by_day else 0.0 for d in days]
    fig = Figure(figsize=(6.4, 2.8))
    ax = fig.subplots()
    ax.bar(labels, od, color=ON_DEMAND_COLOUR, label="On-demand")
    ax.bar(labels, spot, bottom=od, color=SPOT_COLOUR, label="Spot")
    if any(other):
        base = [a + b for a, b in zip(od, spot, strict=True)]
        ax.bar(labels, other, bottom=base, color=OTHER_COLOUR, label="Unknown capacity")
    missing = set(report.coverage.days_without_data)  # a quiet day (no instance ran) is a true $0
    for i, d in enumerate(days):
        if d in missing:
            ax.text(i, 0, "no data", ha="center", va="bottom", fontsize=7, color=ACCENT, rotation=90)
    _style(ax, "Daily spend")
    ax.legend(fontsize=8, frameon=False)
    return _png(fig)


def weekly_trend_chart(report: WeeklyReport) -> bytes | None:
    """Total spend of the report week and the four before it (missing weeks marked, not zeroed)."""
    if not any(v is not None for _, v in report.weekly_history):
        return None
    labels = [label for label, _ in report.weekly_history]
    values = [v or 0.0 for _, v in report.weekly_history]
    colours = [ACCENT if i == len(labels) - 1 else ON_DEMAND_COLOUR for i in range(len(labels))]
    fig = Figure(figsize=(6.4, 2.6))
    ax = fig.subplots()
    ax.bar(labels, values, color=colours)
    for i, (_, v) in enumerate(report.weekly_history):
        if v is None:
            ax.text(i, 0, "no data", ha="center", va="bottom", fontsize=8, color=ACCENT)
    _style(ax, "Weekly spend")
    return _png(fig)


def top_queues_chart(report: WeeklyReport, top_n: int = 8) -> bytes | None:
    """Largest queues this week against the previous week."""
    rows = report.breakdowns.get("queue", ())[:top_n]
    if not rows:
        return None
    names = [r.key for r in rows][::-1]
    current = [r.spend.current for r in rows][::-1]
    previous = [r.spend.previous or 0.0 for r in rows][::-1]
    positions = list(range(len(rows)))
    fig = Figure(figsize=(6.4, 0.45 * len(rows) + 1.0))
    ax = fig.subplots()
    ax.barh([p + 0.2 for p in positions], current, height=0.4, color=ACCENT, label=report.week.label)
    if any(r.spend.previous is not None for r in rows):
        ax.barh([p - 0.2 for p in positions], previous, height=0.4, color=OTHER_COLOUR, label="previous week")
    _style(ax, f"{DIMENSIONS['queue']}s: spend", money_axis="x")
    ax.set_yticks(positions, names)
    ax.legend(fontsize=8, frameon=False)
    return _png(fig)


def waste_chart(report: WeeklyReport) -> bytes | None:
    amounts = {WASTE_CLASSES[k]: v for k, v in report.waste_by_class.items() if v > 0}
    if not amounts:
        return None
    fig = Figure(figsize=(6.4, 0.4 * len(amounts) + 1.0))
    ax = fig.subplots()
    names = list(amounts)[::-1]
    ax.barh(names, [amounts[n] for n in names], color=ACCENT)
    _style(ax, "Waste by class", money_axis="x")
    return _png(fig)


def all_charts(report: WeeklyReport) -> dict[str, bytes]:
    """Chart name -> PNG, only for the charts that have data."""
    made = {
        "weekly-trend": weekly_trend_chart(report),
        "daily-spend": daily_spend_chart(report),
        "top-queues": top_queues_chart(report),
        "waste": waste_chart(report),
    }
    return {name: png for name, png in made.items() if png is not None}
