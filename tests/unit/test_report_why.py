"""The report's "why": the week-over-week change split by driver, full-week averages, one line per move.

Every expected figure is worked out by hand in the comments (Shapley over the orders of switching
volume, shares and prices from last week's to this week's), not by calling the code under test.
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optimizer.report import fmt
from optimizer.report.build import build_weekly_report
from optimizer.report.inputs import DAILY_COLUMNS, ReportInputs
from optimizer.report.model import WeeklyReport
from optimizer.report.render import render_all
from tests.unit.test_report_build import GENERATED, WEEK, monday, row

pytestmark = pytest.mark.any_date  # dates are fixed and "now" is injected: the same on any date


def cell(weeks_back: int, usd: float, vcpu_hours: float, cap: str = "ON_DEMAND", **kw: str) -> dict:
    return {**row(monday(weeks_back), usd, cap=cap, **kw), "vcpu_hours": vcpu_hours}


def build(rows: list[dict]) -> WeeklyReport:
    inputs = ReportInputs(daily=pd.DataFrame(rows, columns=list(DAILY_COLUMNS)))
    return build_weekly_report(inputs, WEEK, generated_at=GENERATED)


# W46: m5.large on-demand 10 vCPU-h for $10 ($1/vCPU-h), idle $2 -> $12
# W47: m5.large on-demand 10 vCPU-h for $12 ($1.2), m5.large spot 10 vCPU-h for $4 ($0.4), idle $5 -> $21
ROWS = [
    cell(1, 10.0, 10.0),
    cell(1, 2.0, 0.0, queue="(idle)", jobdef="(idle)"),
    cell(0, 12.0, 10.0),
    cell(0, 4.0, 10.0, cap="SPOT"),
    cell(0, 5.0, 0.0, queue="(idle)", jobdef="(idle)"),
]


def test_the_change_splits_into_volume_price_mix_and_idle_that_add_up() -> None:
    # f(V, s, p) = V * sum(s * p): f000 10, f100 20, f010 7, f001 12, f110 14, f101 24, f011 8, f111 16
    # volume = (20-10)/3 + (14-7)/6 + (24-12)/6 + (16-8)/3 = 55/6
    # mix    = (7-10)/3 + (14-20)/6 + (8-12)/6 + (16-24)/3 = -16/3
    # price  = (12-10)/3 + (24-20)/6 + (8-7)/6 + (16-14)/3 = 13/6
    change = build(ROWS).why
    assert change is not None
    parts = {d.key: d.usd for d in change.drivers}
    assert list(parts) == ["volume", "price", "mix", "idle"]
    assert parts["volume"] == pytest.approx(55 / 6)
    assert parts["mix"] == pytest.approx(-16 / 3)
    assert parts["price"] == pytest.approx(13 / 6)
    assert parts["idle"] == pytest.approx(3.0)
    assert change.change_usd == pytest.approx(9.0)
    assert sum(parts.values()) == pytest.approx(change.change_usd, abs=1e-12)
    mix = next(d for d in change.drivers if d.key == "mix")
    assert (mix.previous, mix.current) == (0.0, 0.5)  # spot share of work vCPU-hours
    assert "0.0% → 50.0%" in mix.detail


def test_renders_show_the_same_parts() -> None:
    rendered = render_all(build(ROWS))
    assert "## Why spend changed vs the previous week" in rendered.markdown
    for text in ("| Job volume | $9.17 |", "| Price | $2.17 |", "| Idle capacity | $3.00 |"):
        assert text in rendered.markdown
    assert "| Mix (instance types, spot share) | -$5.33 |" in rendered.markdown
    assert "| Total change | $9.00 | $12.00 → $21.00 |" in rendered.markdown
    assert "Why spend changed" in rendered.html and "-$5.33" in rendered.html
    rows = list(csv.DictReader(io.StringIO(rendered.files["batchopt-report-2026-W47-why.csv"].decode())))
    assert [r["driver"] for r in rows] == ["volume", "price", "mix", "idle", "total"]
    assert sum(float(r["usd"]) for r in rows[:-1]) == pytest.approx(float(rows[-1]["usd"]))


def test_a_week_without_work_puts_the_whole_work_change_in_volume() -> None:
    change = build([cell(1, 2.0, 0.0, queue="(idle)", jobdef="(idle)"), cell(0, 6.0, 3.0)]).why
    assert change is not None
    parts = {d.key: d.usd for d in change.drivers}
    assert parts == pytest.approx({"volume": 6.0, "price": 0.0, "mix": 0.0, "idle": -2.0})


def test_no_previous_week_means_no_decomposition() -> None:
    report = build([cell(2, 10.0, 10.0), cell(0, 10.0, 10.0)])
    assert report.why is None
    assert "No previous week with data" in render_all(report).markdown


def test_average_leaves_out_the_week_history_begins_in_mid_week() -> None:
    rows = [
        row(monday(3) + timedelta(days=2), 100.0),  # W44 from Wednesday only: partial
        row(monday(2), 10.0),
        row(monday(1), 20.0),
        row(monday(0), 30.0),
    ]
    report = build(rows)
    assert report.total is not None and report.total.average_4w == pytest.approx(15.0)  # (10 + 20) / 2
    assert report.total.change_vs_average == pytest.approx(1.0)
    assert any("left out as partial" in i and "2026-W44" in i for i in report.coverage.info)
    assert not any("partial" in n for n in report.coverage.notes)  # context, not a warning
    assert report.average_weeks == ("2026-W45", "2026-W46")
    summary = render_all(report).markdown
    # Named by the weeks it is over, everywhere it is named (the headline of the CLI, the email
    # subject and Slack said "vs 4-week average" over this 2-week mean)
    assert "| 2-week average | $15.00 (+100.0%; over 2 full weeks: 2026-W45, 2026-W46) |" in summary
    assert "+100.0% vs 2-week average" in fmt.headline(report)
    assert "vs 2-week avg" in summary and "4-week" not in summary
    queue = report.breakdowns["queue"][0].spend
    assert queue.average_4w == pytest.approx(15.0)


def test_the_previous_week_being_where_history_begins_is_said() -> None:
    report = build([row(monday(1) + timedelta(days=5), 10.0), row(monday(0), 30.0)])
    assert report.why is not None and report.why.previous_partial
    assert report.total is not None and report.total.average_4w is None
    assert "previous week is partial" in render_all(report).markdown


def test_idle_change_is_listed_once() -> None:
    rows = [
        row(monday(1), 100.0, queue="q", jobdef="jd"),
        row(monday(1), 10.0, queue="(idle)", jobdef="(idle)", ce="ce-idle"),
        row(monday(0), 100.0, queue="q", jobdef="jd"),
        row(monday(0), 30.0, queue="(idle)", jobdef="(idle)", ce="ce-idle"),
    ]
    found = build(rows).anomalies
    idle = [a for a in found if "(idle)" in a.key or "Idle" in a.message]
    assert len(idle) == 1
    assert (
        idle[0].message == "Idle capacity: $10.00 -> $30.00 (+200%) (same move: compute environment ce-idle)"
    )


def test_one_move_seen_through_several_dimensions_is_one_line_but_two_queues_stay_two() -> None:
    rows = [
        row(monday(1), 100.0, queue="base", jobdef="base", ce="ce-base"),
        row(monday(1), 10.0, queue="a", jobdef="ja", ce="ce-a"),
        row(monday(1), 10.0, queue="b", jobdef="jb", ce="ce-b"),
        row(monday(0), 100.0, queue="base", jobdef="base", ce="ce-base"),
        row(monday(0), 20.0, queue="a", jobdef="ja", ce="ce-a"),
        row(monday(0), 20.0, queue="b", jobdef="jb", ce="ce-b"),
    ]
    messages = [a.message for a in build(rows).anomalies]
    assert messages == [
        "Job queue a: $10.00 -> $20.00 (+100%) (same move: compute environment ce-a, job definition ja)",
        "Job queue b: $10.00 -> $20.00 (+100%) (same move: compute environment ce-b, job definition jb)",
    ]


cells = st.lists(
    st.tuples(
        st.sampled_from([0, 1]),  # weeks back: this week or the previous one
        st.floats(min_value=0.0, max_value=500.0, allow_nan=False),
        st.sampled_from([0.0, 0.5, 3.0, 40.0]),  # vCPU-hours, zero included
        st.sampled_from(["q1", "(idle)"]),
        st.sampled_from(["m5.large", "c5.xlarge"]),
        st.sampled_from(["SPOT", "ON_DEMAND"]),
    ),
    min_size=2,
    max_size=20,
)


@settings(max_examples=60, deadline=None)
@given(cells)
def test_the_parts_always_add_up_to_the_change(spec: list[tuple[int, float, float, str, str, str]]) -> None:
    rows = [
        {
            **cell(back, usd, hours, cap=cap, queue=queue, jobdef=queue),
            "instance_type": itype,
        }
        for back, usd, hours, queue, itype, cap in spec
    ]
    report = build(rows)
    if {r[0] for r in spec} != {0, 1}:
        assert report.why is None
        return
    change = report.why
    assert change is not None
    expected = sum(r[1] for r in spec if r[0] == 0) - sum(r[1] for r in spec if r[0] == 1)
    assert change.change_usd == pytest.approx(expected, abs=1e-6)
    assert sum(d.usd for d in change.drivers) == pytest.approx(expected, abs=1e-6)


def test_the_three_spot_shares_say_what_each_measures_and_the_mix_reads_the_same_one() -> None:
    """W47 of ROWS plus a spot instance idle for 10 vCPU-hours ($1): spot is 5 of $22 spent
    (22.7%), 20 of 30 instance vCPU-hours (66.7%, idle included) and 10 of 20 job vCPU-hours
    (50.0%). The report printed "Spot share of spend", "Spot share of vCPU-hours" and, in the mix
    driver, a bare "spot share": three figures, none saying what it was of."""
    report = build([*ROWS, cell(0, 1.0, 10.0, cap="SPOT", queue="(idle)", jobdef="(idle)")])
    rendered = render_all(report).markdown
    job_share = "Spot share of job vCPU-hours (what jobs requested; the fleet policy's limit)"
    assert "| Spot share of spend (spot / spot + on-demand instance cost) | 22.7% |" in rendered
    assert "| Spot share of instance vCPU-hours (all running instances, idle included) | 66.7% |" in rendered
    assert f"| {job_share} | 50.0% |" in rendered
    assert report.why is not None and report.spot is not None
    mix = next(d for d in report.why.drivers if d.key == "mix")
    assert mix.current == report.spot.spot_job_vcpu_hour_share == 0.5  # one figure, one function
    assert mix.detail.startswith(f"{job_share} 0.0% → 50.0%;")
