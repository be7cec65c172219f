"""The report's tables as rows of display strings, shared by the HTML and Markdown renderers.

Keeping the selection (top N, "others" rows) and the wording here means both formats always show
the same content; only the markup differs.
"""

from __future__ import annotations

from dataclasses import dataclass

from optimizer.analysis.rollup import SPOT_SHARES, VCPU_ALLOCATION
from optimizer.report import fmt
from optimizer.report.model import DIMENSIONS, DRIVERS, WASTE_CLASSES, BreakdownRow, WeeklyReport


@dataclass(frozen=True)
class Table:
    title: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    empty: str = "Nothing to show."
    numeric: tuple[int, ...] = ()  # column indexes to right-align


def summary(report: WeeklyReport) -> Table:
    rows: list[tuple[str, str]] = []
    total = report.total
    if total is not None:
        rows += [
            ("Total spend", fmt.money(total.current)),
            ("Previous week", f"{fmt.money(total.previous)} ({fmt.change(total, 'previous')})"),
            (
                fmt.average_label(report).capitalize(),
                f"{fmt.money(total.average_4w)} ({_average_basis(report)})",
            ),
        ]
    u = report.utilization
    if u is not None:
        rows += [
            (VCPU_ALLOCATION, fmt.pct(u.utilization)),
            ("Idle cost", f"{fmt.money(u.idle_usd)} ({fmt.pct(u.idle_share)} of spend)"),
        ]
    s = report.spot
    if s is not None:
        rows += [
            (SPOT_SHARES["spend"], fmt.pct(s.spot_share)),
            (SPOT_SHARES["instance_vcpu_hours"], fmt.pct(s.spot_vcpu_hour_share)),
            (SPOT_SHARES["job_vcpu_hours"], fmt.pct(s.spot_job_vcpu_hour_share)),
            (
                "Work lost to spot reclaims",
                f"{s.reclaimed_attempts} attempt(s), {fmt.number(s.reclaimed_vcpu_hours)} vCPU-hours, "
                f"{fmt.money(s.reclaim_usd)}",
            ),
        ]
    if report.waste_by_class:
        rows.append(("Total waste", fmt.money(sum(report.waste_by_class.values()))))
    if report.savings_headline_usd is not None:
        rows.append(("Identified savings / month", fmt.money(report.savings_headline_usd)))
    return Table("Summary", ("Figure", "Value"), tuple(rows), "No cost data for this week.", (1,))


def _average_basis(report: WeeklyReport) -> str:
    """The change vs the average and, when fewer than four, which full weeks it is over."""
    assert report.total is not None
    text = fmt.change(report.total, "average")
    weeks = report.average_weeks
    if weeks and len(weeks) < 4:
        text += f"; over {len(weeks)} full week{'s' if len(weeks) > 1 else ''}: {', '.join(weeks)}"
    return text


def why(report: WeeklyReport) -> Table:
    """The week-over-week change by driver (`optimizer.report.why`); the parts sum to the total row."""
    change = report.why
    title = "Why spend changed vs the previous week"
    if change is None:
        empty = "No previous week with data to compare with." if report.has_data else "No cost data."
        return Table(title, ("Driver", "Change", "What moved"), (), empty, (1,))
    rows = tuple((DRIVERS[d.key], fmt.money(d.usd), d.detail) for d in change.drivers)
    rows += (
        (
            "Total change",
            fmt.money(change.change_usd),
            f"{fmt.money(change.previous_usd)} → {fmt.money(change.current_usd)}",
        ),
    )
    if change.previous_partial:
        title += " (the previous week is partial: history begins in it)"
    return Table(title, ("Driver", "Change", "What moved"), rows, numeric=(1,))


def _breakdown_rows(rows: tuple[BreakdownRow, ...], top_n: int) -> tuple[tuple[str, ...], ...]:
    shown = rows[:top_n]
    out = [
        (
            fmt.short_arn(r.key),
            fmt.money(r.spend.current),
            fmt.money(r.spend.previous),
            fmt.change(r.spend, "previous"),
            fmt.change(r.spend, "average"),
            fmt.pct(r.share),
        )
        for r in shown
    ]
    rest = rows[top_n:]
    if rest:
        current = sum(r.spend.current for r in rest)
        previous = [r.spend.previous for r in rest]
        prev = None if any(p is None for p in previous) else sum(p or 0.0 for p in previous)
        share = sum(r.share for r in rest)
        out.append((f"{len(rest)} others", fmt.money(current), fmt.money(prev), "", "", fmt.pct(share)))
    return tuple(out)


def breakdowns(report: WeeklyReport, top_n: int) -> list[Table]:
    headers = (
        "Name",
        "This week",
        "Previous week",
        "vs previous",
        f"vs {fmt.average_label(report, short=True)}",
        "Share",
    )
    return [
        Table(
            f"Spend by {label.lower()}",
            headers,
            _breakdown_rows(report.breakdowns.get(dim, ()), top_n),
            numeric=(1, 2, 3, 4, 5),
        )
        for dim, label in DIMENSIONS.items()
        if report.has_data
    ]


def anomalies(report: WeeklyReport, top_n: int) -> Table:
    """The largest anomalies first (new job definitions lead); the CSV keeps every one."""
    rows = tuple(
        ("New job definition" if a.kind == "new-job-definition" else "Week over week", a.message)
        for a in report.anomalies[:top_n]
    )
    hidden = len(report.anomalies) - len(rows)
    if hidden > 0:
        rows += (("", f"... and {hidden} more in the anomalies CSV"),)
    floor = "" if report.anomaly_floor_usd is None else f" and at least {fmt.money(report.anomaly_floor_usd)}"
    empty = (
        f"No change beyond ±{report.anomaly_threshold:.0%}{floor} week over week "
        "and no new expensive job definition."
        if report.has_data
        else "No cost data: nothing to compare."
    )
    title = f"Anomalies (threshold ±{report.anomaly_threshold:.0%}{floor})"
    return Table(title, ("Kind", "What"), rows, empty)


def waste(report: WeeklyReport) -> Table:
    rows = tuple(
        (
            DIMENSIONS.get(w.dimension, w.dimension),
            fmt.short_arn(w.key),
            fmt.money(w.waste_usd),
            fmt.pct(w.waste_share),
            WASTE_CLASSES[w.main_class],
        )
        for w in report.top_waste
    )
    return Table(
        "Top waste",
        ("Where", "Name", "Waste", "Share of its spend", "Mostly"),
        rows,
        "No waste recorded." if report.has_data else "No cost data for this week.",
        (2, 3),
    )


def recommendations(report: WeeklyReport) -> Table:
    rows = tuple(
        (
            r.title,
            fmt.short_arn(r.target),
            fmt.money(r.monthly_savings_usd),
            r.headline or "n/a",
            r.wait_change or "n/a",
            r.risk_level,
            fmt.pct(r.confidence),
            r.update_kind,
        )
        for r in report.recommendations
    )
    title = "Top open recommendations"
    if report.savings_headline_usd is not None:
        title += f": {fmt.money(report.savings_headline_usd)}/month identified"
        if report.savings_note:
            title += f" ({report.savings_note})"
    return Table(
        title,
        (
            "Recommendation",
            "Target",
            "Savings / month",
            "In headline",
            "Trade-offs (queue p95 wait now → proposed; interruptions)",
            "Risk",
            "Confidence",
            "Change",
        ),
        rows,
        "No open recommendations.",
        (2, 6),
    )


def _rate(value: float | None) -> str:
    return fmt.MISSING if value is None else f"${value:,.4f}"


def changes(report: WeeklyReport) -> Table:
    rows = tuple(
        (
            fmt.stamp(c.at),
            c.action,
            fmt.short_arn(c.target),
            c.result,
            _rate(c.before_usd_per_vcpu_hour),
            _rate(c.after_usd_per_vcpu_hour),
            fmt.money(c.realized_savings_usd),
            c.note,
        )
        for c in report.changes
    )
    return Table(
        "Changes applied this week",
        # (dollars saved up to the week's end, not a monthly pace as on the Overview)
        (
            "When",
            "Action",
            "Target",
            "Result",
            "$/vCPU-h before",
            "$/vCPU-h after",
            "Realized to week end",
            "Note",
        ),
        rows,
        "No change was applied this week.",
        (4, 5, 6),
    )


def sources(report: WeeklyReport) -> Table:
    rows = tuple(
        (s.source, str(s.runs), str(s.failed_runs), fmt.stamp(s.last_success), s.last_error or "")
        for s in report.coverage.sources
    )
    return Table(
        "Collectors",
        ("Source", "Runs this week", "Failed", "Last success", "Last error"),
        rows,
        "No collector runs recorded.",
        (1, 2),
    )


def coverage_facts(report: WeeklyReport) -> list[str]:
    """The coverage lines both formats print under "Data coverage and freshness"."""
    c = report.coverage
    days = f"Days with cost data: {len(c.days_with_data)} of 7"
    if c.days_without_data:
        days += f" (missing: {', '.join(fmt.day(d) for d in c.days_without_data)})"
    lines = [days, f"Latest day with cost data: {fmt.day(c.latest_data_day)}"]
    if c.fallback_priced_usd is not None:
        lines.append(f"Spend priced from fallback prices: {fmt.money(c.fallback_priced_usd)}")
    return lines


def bill_days(report: WeeklyReport) -> str:
    """Which days of the week the imported bill covers, e.g. "5 of 7: Mon 16 Nov 2026 – Fri 20 Nov 2026"."""
    bill = report.bill
    if bill is None:
        return ""
    days = bill.covered_days
    count = f"{len(days)} of {bill.window_days}"
    if len(days) > 1 and (days[-1] - days[0]).days == len(days) - 1:
        return f"{count}: {fmt.day(days[0])} – {fmt.day(days[-1])}"
    return f"{count}: {', '.join(fmt.day(d) for d in days)}"


COMMITMENT_MONEY = ("Billed, all imported months", "Effective, all imported months")


def bill_vs_model(report: WeeklyReport) -> list[Table]:
    """ "Bill vs model" and the commitments the bill names; no table at all without a bill."""
    bill = report.bill
    if bill is None:
        return []
    rows = (
        ("Days the bill covers", bill_days(report)),
        ("Billed (unblended, as invoiced)", fmt.money(bill.billed_usd)),
        ("Effective (amortised)", fmt.money(bill.effective_usd)),
        ("Modelled (instance lifetimes x prices)", fmt.money(bill.modelled_usd)),
        ("Residual (billed - modelled)", fmt.money(bill.residual_usd)),
        ("Unused commitment (in effective)", fmt.money(bill.unused_commitment_usd)),
        ("Commitment utilization (used / committed)", fmt.pct(bill.commitment_utilization)),
        ("EC2 commitment coverage (at on-demand value)", fmt.pct(bill.commitment_coverage)),
    )
    figures = Table("Bill vs model", ("Figure", "Value"), rows, numeric=(1,))
    causes = Table(
        "Where the residual comes from",
        ("Cause", "USD"),
        tuple((c.cause, fmt.money(c.usd)) for c in bill.causes),
        "No modelled cost for these days, so no residual to explain.",
        (1,),
    )
    commitments = Table(
        "Commitments from the bill",
        (
            *("Commitment", "Kind", "Offering", "Hourly commitment", "Term", "Payment"),
            *("Utilization, these days", *COMMITMENT_MONEY),
        ),
        tuple(
            (
                fmt.short_arn(c.arn),
                c.kind.replace("_", " "),
                c.offering_type or fmt.MISSING,
                _rate(c.hourly_commitment_usd),
                c.term or fmt.MISSING,
                c.payment_option or fmt.MISSING,
                fmt.pct(c.utilization),
                fmt.money(c.billed_usd),
                fmt.money(c.effective_usd),
            )
            for c in bill.commitments
        ),
        "The bill names no Savings Plan or Reserved Instance in these days.",
        (3, 6, 7, 8),
    )
    return [figures, causes, commitments]
