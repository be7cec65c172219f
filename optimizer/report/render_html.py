"""The report as one self-contained HTML page that survives email clients.

Email clients drop <style> blocks, scripts and external resources, so: inline `style` attributes
only, layout with tables, charts as PNG data URIs (the email sink turns those into inline CID
attachments, which Gmail and Outlook display), system fonts, a fixed 720 px column.
"""

from __future__ import annotations

import base64
from html import escape

from optimizer.report import fmt, sections
from optimizer.report.charts import all_charts
from optimizer.report.model import WeeklyReport

WIDTH = 720
FONT = "font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;"
TEXT = "#1d1d1f"
MUTED = "#6e6e73"
BORDER = "#d2d2d7"
WARN_BG = "#fff4e5"
WARN_BORDER = "#f0a030"
NODATA_BG = "#fdecea"
CHART_TITLES = {
    "weekly-trend": "Total spend, this week and the four before it",
    "daily-spend": "Spend per day by capacity type",
    "top-queues": "Largest job queues against the previous week",
    "waste": "Waste by class",
}


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _banner(text: str, background: str, border: str) -> str:
    return (
        f'<p style="{FONT}margin:12px 0;padding:10px 12px;background:{background};'
        f'border-left:4px solid {border};color:{TEXT};font-size:14px;">{text}</p>'
    )


def _heading(text: str, level: int = 2) -> str:
    size = 18 if level == 2 else 15
    return (
        f'<h{level} style="{FONT}color:{TEXT};font-size:{size}px;margin:24px 0 8px 0;">'
        f"{escape(text)}</h{level}>"
    )


def table(t: sections.Table, level: int = 2) -> str:
    parts = [_heading(t.title, level)]
    if not t.rows:
        parts.append(f'<p style="{FONT}color:{MUTED};font-size:13px;margin:4px 0;">{escape(t.empty)}</p>')
        return "\n".join(parts)
    cell = f"{FONT}font-size:13px;padding:5px 8px;border-bottom:1px solid {BORDER};color:{TEXT};"

    def align(i: int) -> str:
        return "text-align:right;white-space:nowrap;" if i in t.numeric else "text-align:left;"

    head = "".join(
        f'<th style="{cell}{align(i)}font-weight:600;background:#f5f5f7;">{escape(h)}</th>'
        for i, h in enumerate(t.headers)
    )
    body = "".join(
        "<tr>"
        + "".join(f'<td style="{cell}{align(i)}">{escape(c)}</td>' for i, c in enumerate(row))
        + "</tr>"
        for row in t.rows
    )
    parts.append(
        f'<table role="presentation" cellpadding="0" cellspacing="0" width="100%" '
        f'style="border-collapse:collapse;width:100%;"><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table>"
    )
    return "\n".join(parts)


def _charts(charts: dict[str, bytes]) -> str:
    out = []
    for name, png in charts.items():
        alt = CHART_TITLES.get(name, name)
        out.append(
            f'<p style="margin:12px 0;"><img src="{data_uri(png)}" alt="{escape(alt)}" '
            f'data-chart="{escape(name)}" width="{WIDTH - 40}" '
            f'style="display:block;width:100%;max-width:{WIDTH - 40}px;height:auto;border:0;"></p>'
        )
    return "\n".join(out)


def _coverage(report: WeeklyReport) -> str:
    c = report.coverage
    items = sections.coverage_facts(report)
    lis = [f"<li><strong>Warning:</strong> {escape(n)}</li>" for n in c.notes]
    lis += [f"<li>{escape(i)}</li>" for i in items + list(c.info)]
    return "\n".join(
        [
            _heading("Data coverage and freshness"),
            f'<ul style="{FONT}font-size:13px;color:{TEXT};margin:4px 0;padding-left:20px;">'
            f"{''.join(lis)}</ul>",
            table(sections.sources(report), level=3),
        ]
    )


def render_html(report: WeeklyReport, top_n: int = 10, charts: dict[str, bytes] | None = None) -> str:
    charts = all_charts(report) if charts is None else charts
    body: list[str] = [
        f'<h1 style="{FONT}color:{TEXT};font-size:22px;margin:0 0 4px 0;">{escape(report.heading)}</h1>',
        f'<p style="{FONT}color:{MUTED};font-size:13px;margin:0 0 8px 0;">'
        f"{escape(fmt.week_span(report))} · generated {escape(fmt.stamp(report.generated_at))}</p>",
    ]
    if not report.has_data:
        body.append(
            _banner(
                "<strong>No data.</strong> The store has no cost data for this week, so there are no "
                "totals, comparisons or anomalies. See <em>Data coverage</em> for what the collectors did.",
                NODATA_BG,
                "#d64545",
            )
        )
    elif report.coverage.partial:
        notes = " ".join(escape(n) for n in report.coverage.notes)
        body.append(_banner(f"<strong>Partial data.</strong> {notes}", WARN_BG, WARN_BORDER))
    body.append(table(sections.summary(report)))
    body.append(table(sections.why(report)))
    body += [table(t) for t in sections.bill_vs_model(report)]
    if charts:
        body.append(_charts(charts))
    body.append(table(sections.anomalies(report, top_n)))
    body += [table(t) for t in sections.breakdowns(report, top_n)]
    body.append(table(sections.waste(report)))
    body.append(table(sections.recommendations(report)))
    body.append(table(sections.changes(report)))
    body.append(_coverage(report))
    content = "\n".join(body)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(report.heading)}</title></head>\n"
        f'<body style="margin:0;padding:0;background:#f5f5f7;">\n'
        '<table role="presentation" cellpadding="0" cellspacing="0" width="100%" '
        'style="background:#f5f5f7;">'
        f'<tr><td align="center" style="padding:16px;">\n'
        f'<table role="presentation" cellpadding="0" cellspacing="0" width="{WIDTH}" '
        f'style="width:{WIDTH}px;max-width:100%;background:#ffffff;border:1px solid {BORDER};">'
        f'<tr><td style="padding:20px;">\n{content}\n</td></tr></table>\n'
        "</td></tr></table>\n</body></html>\n"
    )
