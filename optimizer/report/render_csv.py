"""The report's detail tables as CSV files (raw numbers, full length: no top-N cut, no formatting).

Missing values are empty cells, never 0, for the same reason the other formats print a dash. Numbers
are rounded to 6 decimals (micro-dollars): a sum's float noise read as "unused commitment
2.1316282072803006e-14" on every day of the demo's bill, and "3201.240000000026" beside it.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence

from optimizer.report.model import DIMENSIONS, WeeklyReport


def _csv(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(headers)
    for row in rows:
        writer.writerow([_cell(v) for v in row])
    return buffer.getvalue().encode("utf-8")


#: Decimals a number keeps in the CSV files.
DECIMALS = 6


def _cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""  # (missing, as None is)
        return round(value, DECIMALS) + 0.0  # (+ 0.0: -0.0 reads as 0.0)
    return value


def summary(report: WeeklyReport) -> bytes:
    t, u, s = report.total, report.utilization, report.spot
    rows: list[tuple[str, object]] = [
        ("week", report.week.label),
        ("has_data", report.has_data),
        ("partial", report.coverage.partial),
        ("total_usd", t.current if t else None),
        ("previous_week_usd", t.previous if t else None),
        # (the mean of the full weeks among the four before, named by `average_weeks`: "4w" in
        # the name read as a 4-week mean over the demo's two weeks)
        ("average_usd", t.average_4w if t else None),
        ("average_weeks", " ".join(report.average_weeks)),
        ("change_vs_previous", t.change_vs_previous if t else None),
        ("change_vs_average", t.change_vs_average if t else None),
        ("requested_vcpu_hours", u.requested_vcpu_hours if u else None),
        ("idle_vcpu_hours", u.idle_vcpu_hours if u else None),
        # (requested / instance vCPU-hours, as the HTML and the Overview name it: `rollup`'s
        # VCPU_ALLOCATION; "utilization" was the dropped name, which read as measured use)
        ("vcpu_allocation", u.utilization if u else None),
        ("idle_usd", u.idle_usd if u else None),
        ("spot_usd", s.spot_usd if s else None),
        ("on_demand_usd", s.on_demand_usd if s else None),
        ("spot_share_of_spend", s.spot_share if s else None),
        ("spot_share_of_instance_vcpu_hours", s.spot_vcpu_hour_share if s else None),
        ("spot_share_of_job_vcpu_hours", s.spot_job_vcpu_hour_share if s else None),
        ("reclaimed_attempts", s.reclaimed_attempts if s else None),
        ("reclaimed_vcpu_hours", s.reclaimed_vcpu_hours if s else None),
        ("reclaim_usd", s.reclaim_usd if s else None),
    ]
    # The waste classes, less one already written (idle is also a utilization row): a key twice
    # in a metric,value file is a dict that silently keeps one of them.
    written = {key for key, _ in rows}
    rows += [(key, value) for key, value in report.waste_by_class.items() if key not in written]
    return _csv(("metric", "value"), rows)


def why(report: WeeklyReport) -> bytes:
    """The change vs the previous week by driver, then the total row the parts add up to."""
    change = report.why
    rows: list[tuple[object, ...]] = []
    if change is not None:
        rows = [(d.key, d.usd, d.previous, d.current, d.unit) for d in change.drivers]
        rows.append(("total", change.change_usd, change.previous_usd, change.current_usd, "USD"))
    return _csv(("driver", "usd", "previous_week", "this_week", "unit"), rows)


def breakdown(report: WeeklyReport) -> bytes:
    rows = [
        (
            dim,
            r.key,
            r.spend.current,
            r.spend.previous,
            r.spend.average_4w,
            r.spend.change_vs_previous,
            r.spend.change_vs_average,
            r.share,
        )
        for dim in DIMENSIONS
        for r in report.breakdowns.get(dim, ())
    ]
    headers = ("dimension", "key", "usd", "previous_week_usd", "average_usd")
    return _csv((*headers, "change_vs_previous", "change_vs_average", "share"), rows)


def daily(report: WeeklyReport) -> bytes:
    rows = [(d.day.isoformat(), d.on_demand_usd, d.spot_usd, d.other_usd) for d in report.daily]
    return _csv(("day", "on_demand_usd", "spot_usd", "other_usd"), rows)


def waste(report: WeeklyReport) -> bytes:
    rows = [
        (w.dimension, w.key, w.waste_usd, w.total_usd, w.waste_share, w.main_class) for w in report.top_waste
    ]
    return _csv(("dimension", "key", "waste_usd", "total_usd", "waste_share", "main_class"), rows)


def anomalies(report: WeeklyReport) -> bytes:
    rows = [(a.kind, a.dimension, a.key, a.current_usd, a.previous_usd, a.message) for a in report.anomalies]
    return _csv(("kind", "dimension", "key", "usd", "previous_week_usd", "message"), rows)


def recommendations(report: WeeklyReport) -> bytes:
    rows = [
        (
            r.id,
            r.title,
            r.target,
            r.monthly_savings_usd,
            r.headline,
            r.wait_change,
            r.risk_level,
            r.confidence,
            r.update_kind,
        )
        for r in report.recommendations
    ]
    return _csv(
        (
            "id",
            "title",
            "target",
            "monthly_savings_usd",
            "headline",
            "queue_p95_wait",
            "risk_level",
            "confidence",
            "update_kind",
        ),
        rows,
    )


def changes(report: WeeklyReport) -> bytes:
    rows = [
        (
            c.audit_id,
            c.at.isoformat(),
            c.action,
            c.actor,
            c.result,
            c.target,
            c.title,
            c.before_usd_per_vcpu_hour,
            c.after_usd_per_vcpu_hour,
            c.after_vcpu_hours,
            c.realized_savings_usd,
            c.note,
        )
        for c in report.changes
    ]
    headers = ("audit_id", "at", "action", "actor", "result", "target", "title")
    rates = ("before_usd_per_vcpu_hour", "after_usd_per_vcpu_hour", "after_vcpu_hours")
    return _csv((*headers, *rates, "realized_savings_usd", "note"), rows)


def coverage(report: WeeklyReport) -> bytes:
    c = report.coverage
    rows: list[tuple[object, ...]] = [("day", d.isoformat(), "data", "", "") for d in c.days_with_data]
    rows += [("day", d.isoformat(), "no data", "", "") for d in c.days_without_data]
    rows += [("day", d.isoformat(), "no instance ran", "", "") for d in c.quiet_days]
    rows += [
        ("source", s.source, s.runs, s.failed_runs, s.last_success.isoformat() if s.last_success else None)
        for s in c.sources
    ]
    rows += [("warning", n, "", "", "") for n in c.notes]
    return _csv(("kind", "name", "value_or_runs", "failed_runs", "last_success"), rows)


def bill(report: WeeklyReport) -> bytes:
    """Billed, effective, modelled and residual per day the bill covers, then the week's totals."""
    b = report.bill
    assert b is not None
    rows: list[tuple[object, ...]] = [
        (
            d.day.isoformat(),
            d.billed_usd,
            d.effective_usd,
            d.modelled_usd,
            d.residual_usd,
            d.unused_commitment_usd,
        )
        for d in b.days
    ]
    rows.append(
        ("total", b.billed_usd, b.effective_usd, b.modelled_usd, b.residual_usd, b.unused_commitment_usd)
    )
    headers = ("day", "billed_usd", "effective_usd", "modelled_usd", "residual_usd", "unused_commitment_usd")
    return _csv(headers, rows)


def commitments(report: WeeklyReport) -> bytes:
    b = report.bill
    assert b is not None
    rows = [
        (
            c.arn,
            c.kind,
            c.offering_type,
            c.hourly_commitment_usd,
            c.count,
            c.term,
            c.payment_option,
            c.starts_at.isoformat() if c.starts_at else None,
            c.ends_at.isoformat() if c.ends_at else None,
            c.billed_usd,
            c.effective_usd,
            c.used_usd,
            c.unused_usd,
            c.utilization,
        )
        for c in b.commitments
    ]
    headers = ("arn", "kind", "offering_type", "hourly_commitment_usd", "count", "term", "payment_option")
    # billed/effective: every imported month; used/unused/utilization: the week's covered days
    week = ("used_usd", "unused_usd", "utilization")
    return _csv((*headers, "starts_at", "ends_at", "billed_usd", "effective_usd", *week), rows)


def render_csv(report: WeeklyReport) -> dict[str, bytes]:
    """CSV name (without the week prefix) -> content; "bill" and "commitments" only with a bill."""
    bill_files = {"bill": bill(report), "commitments": commitments(report)} if report.bill else {}
    return {
        "summary": summary(report),
        "why": why(report),
        "breakdown": breakdown(report),
        "daily": daily(report),
        "waste": waste(report),
        "anomalies": anomalies(report),
        "recommendations": recommendations(report),
        "changes": changes(report),
        "coverage": coverage(report),
        **bill_files,
    }
