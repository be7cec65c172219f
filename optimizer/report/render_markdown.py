"""The report as Markdown (GitHub-flavoured tables): for wikis, pull requests and plain-text email."""

from __future__ import annotations

from optimizer.report import fmt, sections
from optimizer.report.model import WeeklyReport


def _escape(cell: str) -> str:
    return cell.replace("|", "\\|").replace("\n", " ")


def table(t: sections.Table, level: int = 2) -> str:
    lines = [f"{'#' * level} {t.title}", ""]
    if not t.rows:
        return "\n".join([*lines, f"_{t.empty}_", ""])
    align = ["---:" if i in t.numeric else "---" for i in range(len(t.headers))]
    lines.append("| " + " | ".join(_escape(h) for h in t.headers) + " |")
    lines.append("| " + " | ".join(align) + " |")
    lines += ["| " + " | ".join(_escape(c) for c in row) + " |" for row in t.rows]
    return "\n".join([*lines, ""])


def render_markdown(report: WeeklyReport, top_n: int = 10) -> str:
    out = [
        f"# {report.heading}",
        "",
        f"{fmt.week_span(report)} · generated {fmt.stamp(report.generated_at)}",
        "",
    ]
    if not report.has_data:
        out += [
            "> **No data.** The store has no cost data for this week, so there are no totals, "
            "comparisons or anomalies. See *Data coverage* below for what the collectors did.",
            "",
        ]
    elif report.coverage.partial:
        out += ["> **Partial data.** " + " ".join(report.coverage.notes), ""]
    out.append(table(sections.summary(report)))
    out.append(table(sections.why(report)))
    out += [table(t) for t in sections.bill_vs_model(report)]
    out.append(table(sections.anomalies(report, top_n)))
    out += [table(t) for t in sections.breakdowns(report, top_n)]
    out.append(table(sections.waste(report)))
    out.append(table(sections.recommendations(report)))
    out.append(table(sections.changes(report)))
    out.append(coverage(report))
    return "\n".join(out).rstrip() + "\n"


def coverage(report: WeeklyReport) -> str:
    c = report.coverage
    lines = [
        "## Data coverage and freshness",
        "",
    ]
    lines += [f"- {line}" for line in sections.coverage_facts(report)]
    lines += [f"- **Warning:** {n}" for n in c.notes]
    lines += [f"- {n}" for n in c.info]
    lines.append("")
    lines.append(table(sections.sources(report), level=3))
    return "\n".join(lines)
