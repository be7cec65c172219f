"""The one savings headline: open items only, costs apart, savings inside the model's error and
overlaps not counted, each with the reason; the applied figure by the same rules, and an open item
pricing an applied one's dollars out of the headline; calibration figures from hand sums."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pandas as pd
import pytest

from optimizer.dashboard.recommendation_view import before_after_table
from optimizer.domain import Recommendation, RiskLevel, UpdateKind
from optimizer.recommend.calibration import Calibration, within_error
from optimizer.recommend.headline import (
    APPLIED,
    COMMITMENT_ADVICE,
    COMMITMENT_APART,
    COSTS_MONEY,
    COUNTED,
    NOT_OPEN,
    OVERLAPS,
    OVERLAPS_APPLIED,
    WITHIN_ERROR,
    evidence_window,
    savings_headline,
)
from optimizer.recommend.savings import Comparison, failed_jobs, reclaimed_hours, tradeoffs

# Replay $1,030 vs measured $1,000 over 15 days: +3 %, $30 x 30/15 = $60/month of error.
CAL = Calibration(observed_usd=1000.0, replayed_usd=1030.0, window_days=15.0)


def _rec(rec_id: str, saving: float, target: str, calibration: Calibration | None = CAL) -> Recommendation:
    return Recommendation(
        id=rec_id,
        strategy="scaling",
        target_arn=f"arn:aws:batch:us-east-1:1:compute-environment/{target}",
        target_kind="compute-environment",
        title=f"{target} {rec_id}",
        current={},
        proposed={},
        monthly_savings_usd=saving,
        risk={},
        risk_level=RiskLevel.LOW,
        confidence=0.9,
        effort="low",
        update_kind=UpdateKind.SCALING,
        evidence={} if calibration is None else {"replay": {"calibration": calibration.to_json()}},
    )


def test_a_queue_item_that_revises_a_definition_overlaps_that_definitions_items() -> None:
    """The demo counted a timeout for cpu-short-job ($594.64) beside retry-and-spot on the cpu-short
    queue ($547.99), which also revises cpu-short-job (a retry strategy): both price its jobs."""
    definition = "arn:aws:batch:us-east-1:1:job-definition/short-job"
    timeout = replace(
        _rec("timeout", 594.64, "x"), target_arn=f"{definition}:1", target_kind="job-definition"
    )
    retry = replace(
        _rec("retry", 547.99, "x"),
        target_arn="arn:aws:batch:us-east-1:1:job-queue/short",
        target_kind="job-queue",
        current={
            "compute_environment_order": ["short-od"],
            "job_definition_revisions": [{"job_definition": f"{definition}:1", "retry_strategy": None}],
        },
    )
    other = replace(_rec("other", 100.0, "x"), target_arn=f"{definition}-b", target_kind="job-definition")
    unrevised = replace(_rec("mnp", 70.0, "x"), target_arn=definition, target_kind="job-definition")
    headline = savings_headline([(timeout, "open"), (retry, "open"), (other, "open"), (unrevised, "open")])
    verdicts = {i.id: (i.verdict, i.overlaps_with) for i in headline.items}
    assert verdicts["retry"] == (OVERLAPS, "timeout")
    assert verdicts["other"] == (COUNTED, None)  # another definition
    assert verdicts["mnp"] == (OVERLAPS, "timeout")  # the same definition without its revision
    assert headline.total_usd_per_month == pytest.approx(594.64 + 100.0)


def test_calibration_figures() -> None:
    assert CAL.error_usd == pytest.approx(30.0)
    assert CAL.error_fraction == pytest.approx(0.03)
    assert CAL.monthly_error_usd == pytest.approx(60.0)
    assert CAL.to_json()["error_pct"] == 3.0
    assert within_error(60.0, CAL) and not within_error(60.01, CAL)
    unmeasured = Calibration(observed_usd=None, replayed_usd=5.0, window_days=3.0)
    assert unmeasured.monthly_error_usd is None and not within_error(0.5, unmeasured)


def test_headline_counts_each_saving_once_and_says_why() -> None:
    recs = [
        (_rec("a", 500.0, "gpu"), "open"),
        (_rec("b", 300.0, "gpu"), "open"),  # same CE as a: overlaps it
        (_rec("c", 200.0, "cpu"), "open"),
        (_rec("d", 59.0, "mem"), "open"),  # below the $60 error
        (_rec("e", -538.1, "gpu-wait"), "open"),  # costs money
        (_rec("f", 900.0, "old"), "rolled-back"),
        (_rec("g", 80.0, "nocal", calibration=None), "open"),  # uncalibrated: stands
    ]
    headline = savings_headline(recs)
    assert headline.total_usd_per_month == 500.0 + 200.0 + 80.0
    verdicts = {i.id: i.verdict for i in headline.items}
    assert verdicts == {
        "f": NOT_OPEN,
        "a": COUNTED,
        "b": OVERLAPS,
        "c": COUNTED,
        "g": COUNTED,
        "d": WITHIN_ERROR,
        "e": COSTS_MONEY,
    }
    assert headline.item("b").overlaps_with == "a"
    assert headline.item("e").label() == "faster, costs $538.10/month"
    assert headline.item("d").label() == "within model error (±$60/month): not counted"
    assert headline.costs_money_usd_per_month == 538.1
    assert [i.id for i in headline.items] == ["f", "a", "b", "c", "g", "d", "e"]
    summary = headline.to_json()
    assert summary["identified_savings_usd_per_month"] == 780.0
    assert (summary["counted"], summary["within_model_error"], summary["overlapping"]) == (3, 1, 1)


def test_discount_ratio_scales_every_saving() -> None:
    headline = savings_headline([(_rec("a", 1000.0, "x"), "open")], discount_ratio=0.7)
    assert headline.total_usd_per_month == 700.0


def test_tradeoffs_name_each_queue_whose_wait_changes() -> None:
    current = {
        "queue_wait_s": {
            "ALL": {"p95_s": 100.0},
            "gpu": {"p95_s": 3240.0},
            "cpu": {"p95_s": 60.0},
        },
        "spot_reclaims": 0,
        "failed": 4,
    }
    proposed = {
        "queue_wait_s": {"ALL": {"p95_s": 900.0}, "gpu": {"p95_s": 38520.0}, "cpu": {"p95_s": 60.4}},
        "spot_reclaims": 12,
        "failed": 5,
    }
    out = tradeoffs(current, proposed, window_days=15.0)
    assert out["queues"] == [{"queue": "gpu", "p95_wait_before_s": 3240.0, "p95_wait_after_s": 38520.0}]
    assert out["interruptions_per_month"] == 24.0
    assert out["failed_jobs_delta"] == 1


def test_evidence_window_is_the_replay_window() -> None:
    rec = _rec("a", 10.0, "x")
    rec.evidence["replay"].update(window_start="2026-11-03T21:17:17", window_days=30.0)
    assert evidence_window([_rec("b", 1.0, "y", calibration=None), rec]) == (
        datetime(2026, 11, 3, 21, 17, 17),
        datetime(2026, 12, 3, 21, 17, 17),
    )
    assert evidence_window([]) is None


def test_the_discount_applies_to_replayed_savings_only() -> None:
    advice = _rec("sp", 1000.0, "commitment", calibration=None)  # no replay: priced from the bill
    headline = savings_headline([(advice, "open"), (_rec("a", 500.0, "x"), "open")], discount_ratio=0.5)
    assert headline.item("sp").monthly_savings_usd == 1000.0
    assert headline.item("a").monthly_savings_usd == 250.0


def test_lost_work_is_the_run_time_of_reclaimed_attempts_per_month() -> None:
    attempts = pd.DataFrame(
        {
            "started_at": [0.0, 100.0, 7200.0],
            "ended_at": [3600.0, 5500.0, 9000.0],
            "is_spot_reclaim": [True, False, True],
        }
    )
    hours = reclaimed_hours(SimpleNamespace(attempts=attempts))  # type: ignore[arg-type]
    assert hours == pytest.approx(1.5)  # 3,600 s + 1,800 s
    out = tradeoffs({}, {"spot_reclaims": 2}, window_days=15.0, lost_work_hours=hours)
    assert out["interruptions_per_month"] == 4.0 and out["lost_work_hours_per_month"] == 3.0


def test_every_surface_prints_the_headlines_figure_for_an_item() -> None:
    """The dashboard, `recommend`, the demo summary and the report print one figure per item: the
    headline's, after the bill's discounts (0.5 here) for a replayed saving; a recommendation the
    headline does not hold (not open) keeps its figure at list prices."""
    advice = _rec("sp", 1000.0, "commitment", calibration=None)
    headline = savings_headline([(advice, "open"), (_rec("a", 500.0, "x"), "open")], discount_ratio=0.5)
    assert headline.monthly_savings_of("a", 500.0) == 250.0
    assert headline.monthly_savings_of("sp", 1000.0) == 1000.0
    assert headline.monthly_savings_of("gone", 80.0) == 80.0


def test_a_failed_multi_node_job_counts_once_in_every_failed_jobs_figure() -> None:
    """Two failed gangs of 16 nodes and 2 failed single jobs: 34 failed rows, 4 failed jobs. The same
    gangs at 6 nodes are 14 rows: the same 4 failed jobs, so the change neither gains nor loses one
    (the node count alone read 20 fewer failures); the dashboard's table reads the same function."""
    before = {"failed": 34, "mnp_jobs_failed": 2, "mnp_node_jobs_failed": 32}
    after = {"failed": 14, "mnp_jobs_failed": 2, "mnp_node_jobs_failed": 12}
    assert (failed_jobs(before), failed_jobs(after), failed_jobs({"failed": 3})) == (4, 4, 3)
    assert Comparison(current=before, proposed=after, monthly_savings_usd=0.0, evidence={}).failed_delta == 0
    assert tradeoffs(before, after, window_days=15.0)["failed_jobs_delta"] == 0
    table = before_after_table({"replay": {"current_summary": before, "proposed_summary": after}})
    assert table.set_index("Measure").loc["Failed jobs (an MNP job counts once)"].tolist() == ["4", "4"]


def test_the_risks_wait_is_the_trade_offs_queue_whose_wait_grows_most() -> None:
    """The demo's risk texts read the estate-wide p95: "180s now, 180s in the replay" beside the
    trade-off column's "cpu-short: 57 min -> 9 min", and "180s now, 3,147s" beside "gpu-training:
    9 min -> 2.1 h". The risk now names the changed queue whose wait grows most (falls least)."""

    def waits(**p95: float) -> dict:
        return {"queue_wait_s": {q.replace("_", "-"): {"p95_s": v} for q, v in p95.items()}}

    def compare(before: dict, after: dict) -> Comparison:
        return Comparison(current=before, proposed=after, monthly_savings_usd=0.0, evidence={})

    grows = compare(
        waits(ALL=180, gpu_training=517.3, cpu_short=3422), waits(ALL=3147, gpu_training=7631, cpu_short=3422)
    )
    assert grows.worst_wait() == ("gpu-training", 517.3, 7631.0)
    assert grows.wait_text() == "p95 wait of gpu-training 517s now, 7,631s in the replay"
    falls = compare(waits(ALL=180, cpu_short=3422, spot_etl=180), waits(ALL=180, cpu_short=540, spot_etl=120))
    assert falls.worst_wait() == ("spot-etl", 180.0, 120.0)  # the one that falls least
    same = compare(waits(ALL=180, cpu_short=3422), waits(ALL=180, cpu_short=3422))
    assert same.wait_text() == "p95 wait of all queues 180s now, 180s in the replay"


def test_commitment_advice_is_listed_apart_not_added_to_the_changes_it_overlaps() -> None:
    """A Savings Plan sized on today's on-demand usage discounts the dollars the scale-in and spot
    items remove: the demo's headline once added $4,927 of it to $4,752 of changes (the plan plus
    the existing one about equal to all of today's on-demand spend at list)."""
    from optimizer.recommend.headline import COMMITMENT_ADVICE, COMMITMENT_APART
    from optimizer.recommend.strategies.commitments import CommitmentAdviceStrategy

    assert CommitmentAdviceStrategy.name == COMMITMENT_ADVICE
    advice = replace(_rec("sp", 1000.0, "commitment", calibration=None), strategy=COMMITMENT_ADVICE)
    headline = savings_headline([(advice, "open"), (_rec("a", 500.0, "x"), "open")])
    assert headline.total_usd_per_month == 500.0
    assert headline.item("sp").verdict == COMMITMENT_APART
    assert headline.monthly_savings_of("sp", 1000.0) == 1000.0  # its own figure stays
    assert "commitment advice $1,000.00/month" in headline.describe()
    assert headline.to_json()["commitment_advice_usd_per_month"] == 1000.0


def test_commitment_advice_says_which_on_demand_usage_it_was_sized_on() -> None:
    from optimizer.recommend.headline import COMMITMENT_ADVICE

    today = replace(_rec("sp", 1000.0, "commitment", calibration=None), strategy=COMMITMENT_ADVICE)
    after = replace(today, evidence={"sized_after_recommendations": ["a"]})
    for advice, words in (
        (today, "today's on-demand usage"),
        (after, "the on-demand usage the counted recommendations leave"),
    ):
        headline = savings_headline([(advice, "open"), (_rec("a", 500.0, "x"), "open")])
        assert headline.item("sp").label() == f"commitment advice, sized on {words}: not in the $ total"
        assert headline.total_usd_per_month == 500.0  # still listed apart


def _queue_rec(rec_id: str, saving: float, dispatches_to: list[str]) -> Recommendation:
    """A spot-adoption item on queue `q` whose order today names these CEs (by name, as Batch may)."""
    return replace(
        _rec(rec_id, saving, "unused"),
        target_arn="arn:aws:batch:us-east-1:1:job-queue/q",
        target_kind="job-queue",
        current={"compute_environment_order": [{"order": 1, "computeEnvironment": n} for n in dispatches_to]},
    )


def test_applied_savings_follow_the_headlines_rules() -> None:
    """Applied at a 0.8 discount: "a" and "b" change one CE (once, the larger), "q" moves the hours
    of CE "cpu" that "c" also prices (once), "d" is inside the $60 error, "e" costs money, "sp" is a
    purchase: 0.8 x (500 + 200) = $560, where the raw sum of the applied rows read $1,737.10."""
    advice = replace(_rec("sp", 900.0, "commitment", calibration=None), strategy=COMMITMENT_ADVICE)
    recs = [
        (_rec("a", 500.0, "gpu"), "applied"),
        (_rec("b", 300.0, "gpu"), "applied"),
        (_rec("c", 200.0, "cpu"), "applied"),
        (_queue_rec("q", 150.0, ["cpu"]), "applied"),
        (_rec("d", 70.0, "mem"), "applied"),  # 0.8 x 70 = $56, inside the $60 error
        (_rec("e", -83.0, "slow"), "applied"),
        (advice, "applied"),
        (_rec("x", 1000.0, "other"), "dismissed"),
    ]
    headline = savings_headline(recs, discount_ratio=0.8)
    assert headline.applied_usd_per_month == pytest.approx(560.0)
    assert headline.total_usd_per_month == 0.0
    verdicts = {i.id: (i.verdict, i.overlaps_with) for i in headline.items}
    assert verdicts == {
        "x": (NOT_OPEN, None),
        "sp": (COMMITMENT_APART, None),
        "a": (APPLIED, None),
        "b": (OVERLAPS, "a"),
        "c": (APPLIED, None),
        "q": (OVERLAPS, "c"),
        "d": (WITHIN_ERROR, None),
        "e": (COSTS_MONEY, None),
    }
    assert headline.item("a").label() == "counted in Applied"
    assert headline.describe_applied() == (
        "Applied: 2 applied recommendation(s) counted once, after the bill's discounts (80.0% of list);"
        " not counted: 2 overlapping a larger applied one, 1 within the model's error, 1 costing money,"
        " 1 commitment advice; an open one priced before them that overlaps them is not also in Identified."
    )
    summary = headline.to_json()
    assert summary["applied_savings_usd_per_month"] == 560.0
    # The identified figure's counts are of open items only: none here.
    assert (summary["counted"], summary["overlapping"], summary["costs_money"]) == (0, 0, 0)


def test_an_open_item_pricing_an_applied_items_dollars_is_not_identified() -> None:
    """CE "gpu" was changed (applied, $500); an open proposal for the same CE ($300) and an open
    spot move on a queue dispatching to it ($250) price the dollars the change took: Identified
    keeps only "c" ($200), not $750 more on top of the $500 in Applied. A queue item overlapping
    the one open item it would otherwise lose to stays an overlap of the applied one."""
    recs = [
        (_rec("a", 500.0, "gpu"), "applied"),
        (_rec("b", 300.0, "gpu"), "open"),
        (_queue_rec("q", 250.0, ["gpu", "cpu"]), "open"),
        (_rec("c", 200.0, "cpu"), "open"),
    ]
    headline = savings_headline(recs)
    assert (headline.total_usd_per_month, headline.applied_usd_per_month) == (200.0, 500.0)
    assert {i.id: (i.verdict, i.overlaps_with) for i in headline.items} == {
        "a": (APPLIED, None),
        "b": (OVERLAPS_APPLIED, "a"),
        "q": (OVERLAPS_APPLIED, "a"),
        "c": (COUNTED, None),  # "q" is not counted, so "c" overlaps nothing counted
    }
    assert headline.item("b").label() == "overlaps applied a: its dollars are in Applied, not counted"
    assert "2 overlapping an applied one (its dollars are in Applied)" in headline.describe()
    assert headline.to_json()["overlapping_applied"] == 2
    # Rolled back, the change is undone: its dollars are on offer again, and in Identified only.
    back = savings_headline([(recs[0][0], "rolled-back"), *recs[1:]])
    assert (back.total_usd_per_month, back.applied_usd_per_month) == (300.0 + 200.0, 0.0)
    assert back.item("q").verdict == OVERLAPS and back.item("q").overlaps_with == "b"


def test_an_open_item_overlapping_only_an_applied_item_that_saves_nothing_stays_identified() -> None:
    """An applied change that cost money or sits inside the model's error put no dollars in Applied,
    so the open item on the same CE is not priced twice and is counted."""
    for applied in (_rec("a", -40.0, "gpu"), _rec("a", 50.0, "gpu")):
        headline = savings_headline([(applied, "applied"), (_rec("b", 300.0, "gpu"), "open")])
        assert (headline.total_usd_per_month, headline.applied_usd_per_month) == (300.0, 0.0)
        assert headline.item("b").verdict == COUNTED


def test_an_open_item_priced_after_the_apply_is_a_saving_of_its_own() -> None:
    """Rule 7 with the store's times: "b" was priced before "a" was applied, so it still prices the
    dollars "a" took; "d", re-priced by a refresh after the apply (on the changed CE), is counted."""
    t0 = datetime(2026, 11, 2, tzinfo=UTC)
    recs = [
        (_rec("a", 500.0, "gpu"), "applied"),
        (_rec("b", 300.0, "gpu"), "open"),
        (_rec("d", 120.0, "gpu"), "open"),
    ]
    priced_at = {"b": t0, "a": t0 + timedelta(hours=1), "d": t0 + timedelta(days=1)}
    headline = savings_headline(recs, priced_at=priced_at)
    assert (headline.total_usd_per_month, headline.applied_usd_per_month) == (120.0, 500.0)
    assert headline.item("b").verdict == OVERLAPS_APPLIED
    assert headline.item("d").verdict == COUNTED
    # Without the times (no store), both stay out: the conservative reading.
    assert savings_headline(recs).total_usd_per_month == 0.0
