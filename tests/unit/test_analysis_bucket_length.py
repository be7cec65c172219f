"""Choosing a queue's bucket length from its jobs: the measure, the rule and the note."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from optimizer.analysis.bucket_length import (
    HELD_TOLERANCE,
    MAX_BUCKETS,
    bucket_note,
    candidates,
    choose_bucket_seconds,
    coarsen,
    held_vcpu_hours,
)
from optimizer.analysis.demand_profile import demand_profile


def _jobs(start: np.ndarray, runtime: np.ndarray, vcpus: np.ndarray) -> pd.DataFrame:
    n = len(start)
    return pd.DataFrame(
        {
            "job_id": [f"j{i}" for i in range(n)],
            "submit_s": start,
            "runtime_s": runtime,
            "vcpus": vcpus,
            "memory_mib": 2048.0,
            "gpus": 0,
            "arch": "x86_64",
        }
    )


def _random_jobs(seed: int, n: int, runtime_range: tuple[float, float]) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return _jobs(
        rng.uniform(0, 86400, n).round(),
        rng.uniform(*runtime_range, n).round(),
        rng.choice([1.0, 2.0, 4.0], n),
    )


def test_candidates_divide_the_longest_down_to_the_shortest() -> None:
    assert candidates(3600, 300) == [3600, 1800, 1200, 900, 600, 300]
    assert candidates(3600, 3600) == [3600]
    # A shortest above the longest keeps the longest (a fixed length).
    assert candidates(600, 3600) == [600]


def test_coarsened_peaks_are_the_profile_at_the_longer_bucket() -> None:
    jobs = _random_jobs(3, 400, (30, 9000))
    fine = demand_profile(jobs, bucket_seconds=300, start_s=0, end_s=90000)
    for length in (600, 900, 1800, 3600):
        coarse = demand_profile(jobs, bucket_seconds=length, start_s=0, end_s=90000)
        assert np.array_equal(coarsen(fine.counts, length // 300), coarse.counts), length


def test_held_hours_at_the_finest_bucket_approach_the_jobs_own_hours() -> None:
    """The measure's anchor: per-second billing of instances that come and go with the jobs holds
    exactly the jobs' vCPU-hours, and bucket peaks converge to it as the buckets shrink."""
    jobs = _random_jobs(5, 300, (60, 1200))
    work = float((jobs["runtime_s"] * jobs["vcpus"]).sum()) / 3600.0
    held = []
    for length in (3600, 600, 60, 1):
        prof = demand_profile(jobs, bucket_seconds=length, start_s=0, end_s=90000)
        held.append(held_vcpu_hours(prof.counts, prof.shapes["vcpus"].to_numpy(), length))
    assert held == sorted(held, reverse=True)
    assert held[-1] == pytest.approx(work, rel=1e-3)
    assert held[0] > 2 * work


def test_short_bursts_get_short_buckets() -> None:
    # Every 2 hours a burst of 6 jobs of 8 minutes: an hour bucket holds them 7.5x what they run.
    starts = np.repeat(np.arange(24) * 7200.0, 6)
    jobs = _jobs(starts, np.full(len(starts), 480.0), np.full(len(starts), 4.0))
    choice = choose_bucket_seconds(jobs, longest=3600, shortest=300)
    assert choice.over_hold[3600] == pytest.approx(3600 / 480)
    # 8 minutes are held 10 in 5- and in 10-minute buckets, the least any candidate holds (beyond
    # the tolerance): the longer of the two, half the buckets for the same hold.
    assert choice.over_hold[300] == choice.over_hold[600] == pytest.approx(600 / 480)
    assert choice.seconds == 600 and choice.longest_seconds == 3600
    assert choice.n_buckets == (23 * 2 + 1) * 6  # the window ends with the last burst's hour


def test_long_jobs_keep_the_hour() -> None:
    jobs = _random_jobs(7, 200, (6 * 3600, 12 * 3600))
    choice = choose_bucket_seconds(jobs, longest=3600, shortest=300)
    assert choice.seconds == 3600
    assert choice.over_hold[3600] <= 1.0 + HELD_TOLERANCE


def test_the_longest_length_within_the_tolerance_wins() -> None:
    # Jobs of exactly 10 minutes starting on 10-minute marks: 10-minute buckets hold them exactly.
    starts = np.arange(0, 86400, 3600.0)
    jobs = _jobs(starts, np.full(len(starts), 600.0), np.ones(len(starts)))
    choice = choose_bucket_seconds(jobs, longest=3600, shortest=300)
    assert choice.seconds == 600
    assert choice.over_hold[600] == pytest.approx(1.0) and choice.over_hold[900] > 1.0 + HELD_TOLERANCE


def test_the_bucket_budget_bounds_the_choice() -> None:
    # 40 days of 1-minute jobs every 2 hours: 5-minute buckets would be 11,520 buckets.
    starts = np.arange(0, 40 * 86400, 7200.0)
    jobs = _jobs(starts, np.full(len(starts), 60.0), np.ones(len(starts)))
    choice = choose_bucket_seconds(jobs, longest=3600, shortest=300)
    assert choice.n_buckets <= MAX_BUCKETS
    # 1-minute jobs are held 5x in 5-minute buckets, beyond the tolerance at any length; the
    # budget leaves 10 minutes the shortest (and least held) length.
    assert choice.seconds == 600


def test_the_note_says_why_a_plan_is_not_hourly() -> None:
    counts = np.zeros((1, 12), dtype=np.int64)
    counts[0, 0] = 6  # 6 jobs of 4 vCPUs in one 5-minute bucket of the hour
    vcpus = np.array([4.0])
    note = bucket_note(300.0, counts, vcpus)
    assert note is not None and "5 min long, not an hour" in note
    assert "12.00x the instance vCPU-hours for the same demand (24 against 2)" in note
    assert bucket_note(3600.0, counts[:, :1], vcpus) is None
    longer = bucket_note(7200.0, counts[:, :1], vcpus)
    assert longer == "This plan's time buckets are 2 h long (as configured or asked for)."
