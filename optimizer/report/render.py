"""Render a `WeeklyReport` into every format once; the sinks only move these bytes around."""

from __future__ import annotations

from dataclasses import dataclass

from optimizer.report.charts import all_charts
from optimizer.report.fmt import headline
from optimizer.report.model import WeeklyReport
from optimizer.report.render_csv import render_csv
from optimizer.report.render_html import render_html
from optimizer.report.render_markdown import render_markdown

FILE_PREFIX = "batchopt-report"


@dataclass(frozen=True)
class RenderedReport:
    report: WeeklyReport
    headline: str
    html: str
    markdown: str
    charts: dict[str, bytes]
    files: dict[str, bytes]  # file name -> content: the HTML, the Markdown and one CSV per table

    @property
    def html_name(self) -> str:
        return f"{FILE_PREFIX}-{self.report.week.label}.html"


def render_all(
    report: WeeklyReport, top_n: int = 10, *, pdf: bool = False, chromium_path: str | None = None
) -> RenderedReport:
    """Every format; the PDF (printed by Chromium from the same HTML) only when asked for."""
    charts = all_charts(report)
    html = render_html(report, top_n, charts)
    markdown = render_markdown(report, top_n)
    stem = f"{FILE_PREFIX}-{report.week.label}"
    files = {f"{stem}.html": html.encode("utf-8"), f"{stem}.md": markdown.encode("utf-8")}
    files.update({f"{stem}-{name}.csv": content for name, content in render_csv(report).items()})
    if pdf:
        from optimizer.report.render_pdf import html_to_pdf

        files[f"{stem}.pdf"] = html_to_pdf(html, chromium_path)
    return RenderedReport(
        report=report, headline=headline(report), html=html, markdown=markdown, charts=charts, files=files
    )
