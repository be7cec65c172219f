"""Dashboard figures say which span they cover and are readable in full: the What-if's plan and
replay tables and its offerings, and a recommendation's replayed evidence (pure)."""

from __future__ import annotations

import pytest

from optimizer.analysis.rollup import VCPU_ALLOCATION
from optimizer.dashboard.plan_scope import plan_window_note
from optimizer.dashboard.replay_compare import ON_DEMAND_AT_LIST, replay_note, summary_rows


def _summary(spot: float, on_demand: float, covered: float, fees: float) -> dict:
    return {
        "jobs": 225,
        "total_cost_usd": spot + on_demand - covered + fees,
        "cost_by_capacity_type": {"SPOT": spot, "ON_DEMAND": on_demand},
        "commitment_usd": fees,
        "commitment_covered_usd": covered,
    }


def _usd(text: str) -> float:
    return float(text.lstrip("$").replace(",", ""))


def test_the_replays_cost_rows_add_up_as_the_note_above_them_says() -> None:
    """The demo's mpi-parallel replay: $102.92 of on-demand at list, $2.04 of it covered, $31.58 of
    fees: $132.46. The on-demand row once read "on-demand cost" and did not add up to the cost."""
    summaries = {"current configuration": _summary(0.0, 102.92, 2.04, 31.58)}
    rows = summary_rows(summaries).set_index("measure")["current configuration"]
    parts = (
        _usd(rows["spot cost (USD)"])
        + _usd(rows[ON_DEMAND_AT_LIST])
        - _usd(rows["on-demand covered by commitments (USD)"])
        + _usd(rows["commitment fees (USD)"])
    )
    assert parts == pytest.approx(_usd(rows["cost (USD)"]))
    # the Overview's name for requested / instance vCPU-hours, which the replay's "vcpu" figure is
    assert VCPU_ALLOCATION.startswith("vCPU allocation") and VCPU_ALLOCATION in rows.index
    note = replay_note("mpi-parallel", 28, summaries)
    assert "225 jobs of mpi-parallel submitted in the 28 days" in note and "not the plan's window" in note


def test_the_plan_table_says_it_covers_the_plans_hours() -> None:
    problem = {"buckets": 663, "bucket_seconds": 3600.0}
    assert "663 h of demand" in plan_window_note(problem)
    assert "1,440 h" in plan_window_note({"buckets": 5760, "bucket_seconds": 900.0})


def test_the_evidences_replayed_cost_says_the_days_it_covers() -> None:
    """The demo's gpu-training scale-in: $19,764.41 -> $16,712.35 over 29.99 days, under a saving
    of $3,052.62 "per month" (30 days); the row read "over the window" with no span."""
    from optimizer.dashboard.recommendation_view import before_after_table

    summary = {"spot_reclaims": 0, "failed": 0}
    evidence = {
        "replay": {
            "window_start": "2026-11-05T06:57:00",
            "window_days": 29.994398,
            "current_cost_usd": 19764.41,
            "proposed_cost_usd": 16712.35,
            "current_summary": summary,
            "proposed_summary": summary,
        }
    }
    table = before_after_table(evidence).set_index("Measure")
    row = "Replayed cost over the 30.0 days from 2026-11-05 06:57 UTC"
    assert table.loc[row].tolist() == ["$19,764.41", "$16,712.35"]
    del evidence["replay"]["window_days"]
    assert "Replayed cost over the window" in before_after_table(evidence)["Measure"].tolist()


def test_the_evidence_shows_the_instance_types_the_saving_comes_from() -> None:
    """The demo's gpu-training maxvCpus 512 -> 1370 saved $3,052.62 a month at "low" risk, and
    nothing on the page said why: at the old cap the backlog had g5.48xlarge started for the
    queued jobs. The types whose replayed cost moved most are listed, largest move first."""
    from optimizer.dashboard.recommendation_view import before_after_table

    def summary(costs: dict[str, float]) -> dict:
        return {"spot_reclaims": 0, "failed": 0, "cost_by_instance_type": costs}

    before = {"g5.48xlarge": 11987.42, "g5.4xlarge": 1828.12, "g5.8xlarge": 813.11, "r6i.8xlarge": 1637.18}
    after = {"g5.48xlarge": 5420.64, "g5.4xlarge": 4989.67, "g5.8xlarge": 1062.27, "r6i.8xlarge": 1637.18}
    after["g5.12xlarge"] = 115.03
    evidence = {"replay": {"current_summary": summary(before), "proposed_summary": summary(after)}}
    table = before_after_table(evidence)
    rows = table[table["Measure"].str.startswith("Replayed cost at list on")]
    assert rows.values.tolist() == [
        ["Replayed cost at list on g5.48xlarge", "$11,987.42", "$5,420.64"],
        ["Replayed cost at list on g5.4xlarge", "$1,828.12", "$4,989.67"],
        ["Replayed cost at list on g5.8xlarge", "$813.11", "$1,062.27"],
        ["Replayed cost at list on g5.12xlarge", "$0.00", "$115.03"],
    ]  # (r6i.8xlarge did not move)


def test_the_what_if_lists_each_plans_offerings_in_full_and_counts_them_in_the_comparison() -> None:
    """Eight offerings joined in one cell (150 characters) were cut off at a third of them."""
    from optimizer.dashboard.what_if_model import compare, offering_rows

    stored = {"status": "FEASIBLE", "selected": ["m5.24xlarge/SPOT", "m5a.12xlarge/ON_DEMAND"]}
    what_if = {"status": "FEASIBLE", "selected": ["m5a.12xlarge/ON_DEMAND", "r6in.large/SPOT"]}
    row = next(r for r in compare(stored, what_if) if r["measure"] == "instance types")
    assert row["stored plan"] == row["what-if"] == "2 (listed below)"
    listed = offering_rows(stored, what_if).set_index("offering")
    assert listed.to_dict("index") == {
        "m5.24xlarge/SPOT": {"stored plan": "yes", "what-if": "no"},
        "m5a.12xlarge/ON_DEMAND": {"stored plan": "yes", "what-if": "yes"},
        "r6in.large/SPOT": {"stored plan": "no", "what-if": "yes"},
    }
