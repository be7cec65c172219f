"""Build the `WeeklyReport` for one ISO week from `ReportInputs`: pure, no I/O and no clock.

A week without a single cost row is a "no data" report: totals, breakdowns and rates are None or
empty (never zeros), while recommendations, applied changes and coverage are still shown because
they explain *why* there is no data (e.g. every collector run failed).
"""

from __future__ import annotations

from datetime import datetime

from optimizer.report import anomalies, changes, spend, why
from optimizer.report.coverage import coverage
from optimizer.report.inputs import ReportInputs
from optimizer.report.model import WeeklyReport
from optimizer.report.weeks import IsoWeek


def build_weekly_report(
    inputs: ReportInputs,
    week: IsoWeek,
    *,
    generated_at: datetime,
    anomaly_threshold: float = 0.25,
    top_n: int = 10,
    rules: anomalies.AnomalyRules | None = None,
) -> WeeklyReport:
    rules = rules or anomalies.AnomalyRules(threshold=anomaly_threshold)
    window_start = week.shifted(-spend.HISTORY_WEEKS).start
    daily = spend.with_week_labels(inputs.daily)
    daily = daily[(daily["day"] >= window_start) & (daily["day"] < week.end)]
    current = spend.week_slice(daily, week)
    has_data = not current.empty
    cover = coverage(
        daily,
        week,
        inputs.runs,
        inputs.last_success,
        inputs.cost_source,
        inputs.fallback_priced_usd,
        generated_at,
        gaps=inputs.gaps,
    )
    recs = changes.top_recommendations(inputs.recommendations, top_n)
    applied = changes.applied_changes(daily, inputs.audit, week)
    if not has_data:
        return WeeklyReport(
            week=week,
            generated_at=generated_at,
            has_data=False,
            total=None,
            weekly_history=spend.weekly_history(daily, week),
            daily=(),
            breakdowns={},
            utilization=None,
            spot=None,
            waste_by_class={},
            top_waste=(),
            anomalies=(),
            recommendations=recs,
            changes=applied,
            coverage=cover,
            anomaly_threshold=rules.threshold,
            bill=inputs.bill,
            savings_headline_usd=inputs.savings_headline_usd,
            savings_note=inputs.savings_note,
        )
    total = spend.total_comparison(daily, week)
    breakdowns = spend.breakdowns(daily, week)
    return WeeklyReport(
        week=week,
        generated_at=generated_at,
        has_data=True,
        total=total,
        weekly_history=spend.weekly_history(daily, week),
        daily=spend.daily_spend(current),
        breakdowns=breakdowns,
        utilization=spend.utilization(current),
        spot=spend.spot_summary(current, inputs.reclaims),
        waste_by_class=spend.waste_totals(current),
        top_waste=spend.top_waste(current, top_n),
        anomalies=anomalies.detect(daily, week, total, breakdowns, rules),
        anomaly_floor_usd=anomalies.material_floor(total, rules),
        why=why.spend_change(daily, week),
        average_weeks=spend.averaged_weeks(daily, week),
        recommendations=recs,
        changes=applied,
        coverage=cover,
        anomaly_threshold=rules.threshold,
        bill=inputs.bill,
        savings_headline_usd=inputs.savings_headline_usd,
        savings_note=inputs.savings_note,
    )
