"""The held-out benchmark on any trace: its window rule (8 usable weeks, the most MNP work, or a
clear stop) and its on-demand estate, which must run a trace's widest gangs, not queue them forever.

The product is checked on real HPC logs that are not bundled (gaps of weeks in the log, traces
shorter than two months, machines whose widest job fits one node); the rule must pick a window or
say in one line why there is none, never replay a window half of which is a hole in the log.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from benchmarks import mnp_heldout
from benchmarks.mnp_heldout import DAY, WindowError, estate_max_vcpus, pick_window, usable_starts
from optimizer.catalog.provider import bundled_catalog
from optimizer.simulate import catalog_from_provider, parse_config, replay
from optimizer.traces import TraceMapping
from optimizer.traces.files import parse_text


def _line(job: int, day: float, procs: int, run: int = 3600) -> str:
    fields = [job, int(day * DAY + 3600), -1, run, procs, -1, -1, -1, -1, -1, 1, 1, -1, -1, -1, -1, -1, -1]
    return " ".join(str(f) for f in fields)


def _trace(days: list[int], wide: dict[int, int], per_node: float = 16.0) -> pd.DataFrame:
    """One 4-processor job on each of `days`, plus a job of `wide[day]` processors on those days."""
    lines, job = [], 0
    for day in days:
        job += 1
        lines.append(_line(job, day, 4))
        if day in wide:
            job += 1
            lines.append(_line(job, day + 0.5, wide[day]))
    return parse_text("\n".join(lines), "swf", "t.swf", TraceMapping(max_vcpus_per_node=per_node)).jobs


def test_the_window_avoids_a_gap_in_the_log_and_takes_the_most_mnp_work() -> None:
    days = [*range(0, 20), *range(40, 111)]  # weeks 20-40 are missing from the log
    wide = {d: 32 for d in days} | {45: 1024}  # a 32-processor gang a day, one 1,024-wide on day 45
    jobs = _trace(days, wide)
    starts = usable_starts(jobs)
    # From day 34 no week of a window falls in the gap; day 55 is the last start the log covers.
    assert starts.tolist() == list(range(34, 56))
    # Windows from day 40 to 45 hold the wide job and 56 days of gangs; the earliest of them wins.
    assert pick_window(jobs) == 40 * DAY


def test_a_trace_shorter_than_eight_weeks_is_refused_in_one_line() -> None:
    jobs = _trace(list(range(50)), {d: 64 for d in range(50)})
    with pytest.raises(WindowError, match=r"span 49\.5 days; the held-out check needs 56"):
        pick_window(jobs)


def test_a_mapping_without_mnp_jobs_is_refused() -> None:
    jobs = _trace(list(range(70)), {d: 64 for d in range(70)}, per_node=64.0)
    with pytest.raises(WindowError, match="no job is wider than one node"):
        pick_window(jobs)


def test_mnp_jobs_only_in_the_first_month_leave_no_window() -> None:
    jobs = _trace(list(range(70)), {d: 64 for d in range(20)})
    with pytest.raises(WindowError, match="MNP jobs in both halves"):
        pick_window(jobs)


def test_the_estate_never_runs_out_of_vcpus_for_wide_gangs() -> None:
    catalog = catalog_from_provider(bundled_catalog("us-east-1"))
    assert estate_max_vcpus(10, catalog) == mnp_heldout.ESTATE_MAX_VCPUS
    # 200 node jobs, each on a 96-vCPU c5/m5/r5 .24xlarge at worst, all at once.
    assert estate_max_vcpus(200, catalog) == 200 * 96


def test_the_estate_starts_every_gang_of_a_1024_processor_trace() -> None:
    lines = [_line(1, 0, 1024, run=7200), _line(2, 0.01, 1024), _line(3, 0.02, 2048), _line(4, 0.03, 4)]
    jobs = parse_text("\n".join(lines), "swf", "t.swf", TraceMapping(max_vcpus_per_node=16.0)).jobs
    catalog = catalog_from_provider(bundled_catalog("us-east-1"))
    estate = mnp_heldout.on_demand_estate(estate_max_vcpus(len(jobs), catalog))
    result = replay(jobs, parse_config(estate, catalog))
    assert result.jobs["started_at"].notna().all(), result.jobs["status_reason"].unique()
    # The three gangs (64, 64 and 128 nodes, up to 4,608 vCPUs on c5.9xlarge) overlap; each waits
    # only for its instances to boot, never for the estate's cap.
    wait = result.jobs["started_at"] - result.jobs["submitted_at"]
    assert wait.max() <= 600


def test_the_command_exits_2_with_one_line_on_a_trace_it_cannot_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "short.swf"
    path.write_text("\n".join(_line(j, j, 128) for j in range(1, 30)) + "\n")
    monkeypatch.setattr("sys.argv", ["mnp_heldout", "--trace", str(path), "--max-vcpus-per-node", "16"])
    assert mnp_heldout.main() == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "the held-out check needs 56" in err[0]


def test_cost_by_kind_splits_instances_between_gang_nodes_packed_jobs_and_idle() -> None:
    """i1 ($1.00, 8 vCPUs) ran packed jobs a (2 vCPUs, 100 s) and b (2 vCPUs, 300 s): a weighs 200
    and b 600 vCPU-seconds, so $0.25 and $0.75. i2 ($2.00, 16 vCPUs) held node g#0 (4 vCPUs asked,
    the whole instance held): gang $2.00. i3 ($0.50) ran nothing: idle."""
    jobs = pd.DataFrame(
        {"job_id": ["a", "b", "g#0"], "vcpus": [2.0, 2.0, 4.0], "mnp_parent": [None, None, "g"]}
    )
    attempts = pd.DataFrame(
        {
            "job_id": ["a", "b", "g#0"],
            "instance_id": [1, 1, 2],
            "vcpus": [2.0, 2.0, 4.0],
            "started_at": [0.0, 0.0, 0.0],
            "ended_at": [100.0, 300.0, 50.0],
        }
    )
    instances = pd.DataFrame(
        {"instance_id": [1, 2, 3], "vcpus": [8.0, 16.0, 2.0], "cost_usd": [1.0, 2.0, 0.5]}
    )
    split = mnp_heldout.cost_by_kind(jobs, attempts, instances)
    assert split == pytest.approx({"gang": 2.0, "packed": 1.0, "idle": 0.5})


def test_the_drift_splits_exactly_into_mix_and_rate() -> None:
    """In sample the estate costs gang $60 + packed $40 and the plan $30 + $16 (savings 50 % and
    60 %, 54 % in all); out of sample $70 + $30 and $35 + $15 (50 % and 50 %, 50 % in all): 4
    points of drift. Mix: gang (0.6 - 0.7) x 0.5 = -5, packed (0.4 - 0.3) x 0.55 = +5.5; rate:
    gang 0.65 x 0 = 0, packed 0.35 x 0.1 = +3.5; +0.5 + 3.5 = 4 points."""

    def side(gang: tuple[float, float], packed: tuple[float, float]) -> dict:
        return {
            "on_demand_estate": {
                "cost_usd": gang[0] + packed[0],
                "cost_by_kind": {"gang": gang[0], "packed": packed[0], "idle": 0.0},
            },
            "plan": {"cost_by_kind": {"gang": gang[1], "packed": packed[1], "idle": 0.0}},
        }

    split = mnp_heldout.drift_by_kind(side((60, 30), (40, 16)), side((70, 35), (30, 15)))
    assert split["mix_points"] == pytest.approx(0.005)
    assert split["rate_points"] == pytest.approx(0.035)
    assert split["kinds"]["packed"]["saving"] == pytest.approx([0.6, 0.5])
    assert split["kinds"]["idle"]["saving"] == [None, None]
