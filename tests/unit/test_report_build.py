"""The pure builder on hand-made daily aggregates: comparisons, anomalies and the no-data rules."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optimizer.report.build import build_weekly_report
from optimizer.report.inputs import DAILY_COLUMNS, ReportInputs
from optimizer.report.model import WeeklyReport
from optimizer.report.render_markdown import render_markdown
from optimizer.report.weeks import IsoWeek

pytestmark = pytest.mark.any_date  # dates are fixed and "now" is injected: the same on any date

WEEK = IsoWeek(2026, 47)
GENERATED = datetime(2026, 11, 23, 8)


def row(
    day: date, usd: float, queue: str = "q", jobdef: str = "jd", ce: str = "ce", cap: str = "ON_DEMAND"
) -> dict:
    idle = queue == "(idle)"
    return {
        "day": pd.Timestamp(day),
        "queue": queue,
        "compute_environment_arn": ce,
        "job_definition_name": jobdef,
        "instance_type": "m5.large",
        "capacity_type": cap,
        "total_usd": usd,
        "attributed_usd": 0.0 if idle else usd,
        "idle_usd": usd if idle else 0.0,
        "over_requested_usd": 0.0,
        "spot_reclaim_usd": 0.0,
        "failed_usd": 0.0,
        "oom_usd": 0.0,
        "vcpu_hours": 10.0,
        "attempts": 0 if idle else 1,
    }


def build(rows: list[dict], threshold: float = 0.25) -> WeeklyReport:
    inputs = ReportInputs(daily=pd.DataFrame(rows, columns=list(DAILY_COLUMNS)))
    return build_weekly_report(inputs, WEEK, generated_at=GENERATED, anomaly_threshold=threshold)


def monday(weeks_back: int = 0) -> date:
    return WEEK.monday - timedelta(weeks=weeks_back)


def test_threshold_and_materiality_decide_what_is_an_anomaly() -> None:
    rows = [
        row(monday(1), 100.0, queue="big"),
        row(monday(0), 120.0, queue="big"),  # +20%: under a 25% threshold
        row(monday(1), 0.02, queue="tiny"),
        row(monday(0), 0.05, queue="tiny"),  # +150% but 3 cents: not material
        row(monday(1), 10.0, queue="mid"),
        row(monday(0), 20.0, queue="mid"),  # +100% and $10: an anomaly
    ]
    flagged = {(a.dimension, a.key) for a in build(rows).anomalies}
    assert ("queue", "mid") in flagged
    assert ("queue", "big") not in flagged and ("queue", "tiny") not in flagged
    assert ("queue", "big") in {(a.dimension, a.key) for a in build(rows, threshold=0.1).anomalies}
    # The floor that left "tiny" out is stated with the threshold: 1 % of the larger weekly total
    # ($140.05 this week), at least $1.
    report = build(rows)
    assert report.anomaly_floor_usd == pytest.approx(1.4005)
    assert "Anomalies (threshold ±25% and at least $1.40)" in render_markdown(report)
    bigger = [*rows, row(monday(0), 10_000.0, queue="huge"), row(monday(1), 10_000.0, queue="huge")]
    assert build(bigger).anomaly_floor_usd == pytest.approx(0.01 * (10_000.0 + 140.05))


def test_new_expensive_job_definition_needs_history_to_be_new() -> None:
    rows = [
        row(monday(2), 50.0, jobdef="old"),
        row(monday(0), 50.0, jobdef="old"),
        row(monday(0), 30.0, jobdef="fresh"),
    ]
    report = build(rows)
    new = [a for a in report.anomalies if a.kind == "new-job-definition"]
    assert [a.key for a in new] == ["fresh"]
    # the previous week has no data at all: no week-over-week comparison, never "+inf%" or "-100%"
    assert report.total is not None and report.total.previous is None
    assert report.total.average_4w == 50.0
    assert not [a for a in report.anomalies if a.kind == "week-over-week"]
    # with no history at all nothing can be "new"
    assert build([row(monday(0), 30.0, jobdef="fresh")]).anomalies == ()


def test_a_key_absent_last_week_is_a_true_zero_when_last_week_had_data() -> None:
    report = build([row(monday(1), 10.0, queue="a"), row(monday(0), 10.0, queue="b")])
    rows = {r.key: r.spend for r in report.breakdowns["queue"]}
    assert rows["b"].previous == 0.0 and rows["b"].change_vs_previous is None
    assert rows["a"].current == 0.0 and rows["a"].previous == 10.0


def test_no_data_week_is_said_and_not_zeroed() -> None:
    report = build([row(monday(1), 10.0)])
    assert not report.has_data and report.total is None and report.daily == ()
    assert report.weekly_history[-1] == (WEEK.label, None)
    assert report.weekly_history[-2] == (WEEK.shifted(-1).label, 10.0)
    text = render_markdown(report)
    assert "**No data.**" in text and "Total spend" not in text


days = st.integers(min_value=0, max_value=34)  # the window: the week and the four before it
rows_strategy = st.lists(
    st.tuples(
        days,
        st.floats(min_value=0.0, max_value=1000.0, allow_nan=False),
        st.sampled_from(["q1", "q2", "(idle)"]),
        st.sampled_from(["a", "b", "c"]),
        st.sampled_from(["SPOT", "ON_DEMAND"]),
    ),
    max_size=40,
)


@settings(max_examples=40, deadline=None)
@given(rows_strategy)
def test_breakdowns_always_add_up_to_the_total(spec: list[tuple[int, float, str, str, str]]) -> None:
    start = WEEK.shifted(-4).monday
    rows = [row(start + timedelta(days=d), usd, queue=q, jobdef=j, cap=c) for d, usd, q, j, c in spec]
    report = build(rows)
    in_week = [r for r in rows if WEEK.start <= r["day"].to_pydatetime() < WEEK.end]
    assert report.has_data == bool(in_week)
    if not in_week:
        assert report.total is None
        return
    total = sum(r["total_usd"] for r in in_week)
    assert report.total is not None and abs(report.total.current - total) < 1e-6
    for rows_of_dim in report.breakdowns.values():
        assert abs(sum(r.spend.current for r in rows_of_dim) - total) < 1e-6
    previous_week = [r for r in rows if WEEK.shifted(-1).start <= r["day"].to_pydatetime() < WEEK.start]
    assert (report.total.previous is None) == (not previous_week)
    assert report.spot is not None
    assert abs(report.spot.spot_usd + report.spot.on_demand_usd - total) < 1e-6
    for anomaly in report.anomalies:
        if anomaly.kind == "week-over-week" and anomaly.previous_usd:
            assert abs(anomaly.current_usd / anomaly.previous_usd - 1) > report.anomaly_threshold


def test_changes_are_measured_on_whole_days_around_the_change() -> None:
    ce = "arn:aws:batch:us-east-1:1:compute-environment/ce"
    rows = [row(monday(0) - timedelta(days=d), 10.0, ce=ce) for d in range(1, 8)]  # $1/vCPU-h before
    rows += [row(monday(0) + timedelta(days=d), 5.0, ce=ce) for d in range(3, 7)]  # $0.5/vCPU-h after
    rows += [row(monday(0) + timedelta(days=2), 999.0, ce=ce)]  # the change day itself is left out
    audit = pd.DataFrame(
        [
            {
                "id": 1,
                "action": "apply",
                "actor": "bob",
                "started_at": datetime(2026, 11, 18, 9),
                "finished_at": None,
                "result": "succeeded",
                "message": None,
                "recommendation_id": "r",
                "target_kind": "compute-environment",
                "target_arn": ce,
                "target_name": "ce",
                "title": "t",
            },
            {
                "id": 2,
                "action": "apply",
                "actor": "bob",
                "started_at": datetime(2026, 11, 19, 9),
                "finished_at": datetime(2026, 11, 19, 9, 5),
                "result": "succeeded",
                "message": float("nan"),
                "recommendation_id": None,
                "target_kind": None,
                "target_arn": None,
                "target_name": None,
                "title": None,
            },
            {
                "id": 3,
                "action": "apply",
                "actor": "bob",
                "started_at": datetime(2026, 11, 22, 9),
                "finished_at": datetime(2026, 11, 22, 9),
                "result": "succeeded",
                "message": None,
                "recommendation_id": "r",
                "target_kind": "compute-environment",
                "target_arn": ce,
                "target_name": "ce",
                "title": "t",
            },
        ]
    )
    inputs = ReportInputs(daily=pd.DataFrame(rows, columns=list(DAILY_COLUMNS)), audit=audit)
    measured, unknown, last_day = build_weekly_report(inputs, WEEK, generated_at=GENERATED).changes
    assert measured.at == datetime(2026, 11, 18, 9)  # no finish time: its start
    assert measured.before_usd_per_vcpu_hour == 1.0 and measured.after_usd_per_vcpu_hour == 0.5
    assert measured.realized_savings_usd == (1.0 - 0.5) * 40.0
    assert unknown.target == "(unknown target)" and unknown.realized_savings_usd is None
    assert "not measured" in unknown.note
    assert last_day.realized_savings_usd is None and "no complete day" in last_day.note


def test_a_day_without_rows_is_quiet_only_when_the_collectors_read_it() -> None:
    rows = [row(monday(0) + timedelta(days=d), 10.0) for d in (0, 1, 2, 3, 4)]  # nothing Sat, Sun
    runs = pd.DataFrame(
        [
            {
                "source": s,
                "target": "t",
                "region": "r",
                "started_at": datetime(2026, 11, 16, 1),
                "finished_at": datetime(2026, 11, 16, 1),
                "status": "succeeded",
                "error": None,
            }
            for s in ("jobs", "instances")
        ]
    )

    def report_with(last: dict[str, datetime]) -> WeeklyReport:
        frame = pd.DataFrame({"source": list(last), "last_success": list(last.values())})
        inputs = ReportInputs(
            daily=pd.DataFrame(rows, columns=list(DAILY_COLUMNS)), runs=runs, last_success=frame
        )
        return build_weekly_report(inputs, WEEK, generated_at=GENERATED)

    # both cost sources succeeded after Sunday: the weekend had no instance, a true zero
    quiet = report_with({"jobs": datetime(2026, 11, 23, 1), "instances": datetime(2026, 11, 23, 2)}).coverage
    assert quiet.quiet_days == (date(2026, 11, 21), date(2026, 11, 22)) and quiet.days_without_data == ()
    assert not quiet.partial
    # instances last read on Saturday afternoon: Saturday and Sunday are unknown
    partial = report_with(
        {"jobs": datetime(2026, 11, 23, 1), "instances": datetime(2026, 11, 21, 15)}
    ).coverage
    assert partial.quiet_days == () and partial.days_without_data == (date(2026, 11, 21), date(2026, 11, 22))
    assert partial.partial and any("instances" in n for n in partial.notes)


def test_slack_summary_escapes_mrkdwn_in_names() -> None:
    from optimizer.report.render import render_all
    from optimizer.report.sink_slack import slack_payload

    rows = [row(monday(1), 10.0, queue="a<b>&c"), row(monday(0), 50.0, queue="a<b>&c")]
    payload = slack_payload(render_all(build(rows)))
    text = payload["blocks"][0]["text"]["text"]
    assert "a&lt;b&gt;&amp;c" in text and "a<b>" not in text
