"""Demand profile: peak concurrency per shape and bucket, checked against a direct count."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optimizer.analysis.demand_profile import ShapeGrid, demand_profile, round_up_to_grid
from optimizer.errors import InputError

pytestmark = pytest.mark.any_date  # dates are fixed and "now" is injected: the same on any date


def _jobs(rows: list[tuple[float, float, float, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "job_id": [str(i) for i in range(len(rows))],
            "submit_s": [r[0] for r in rows],
            "runtime_s": [r[1] for r in rows],
            "vcpus": [r[2] for r in rows],
            "memory_mib": [r[3] for r in rows],
            "gpus": 0,
            "queue": "q",
            "job_name": "j",
            "arch": None,
        }
    )


def test_requests_round_up_to_the_grid() -> None:
    got = round_up_to_grid(np.array([0.5, 1, 1.01, 3, 200]), [1, 2, 4, 8])
    np.testing.assert_array_equal(got, [1, 1, 2, 4, 200])


def test_peak_not_sum_and_back_to_back_jobs_do_not_overlap() -> None:
    # Two jobs back to back in bucket 0 (peak 1), then two overlapping in bucket 1 (peak 2), one
    # job spanning buckets 1-3 carried through bucket 2 and 3 without events there.
    jobs = _jobs(
        [(0, 10, 1, 500), (10, 10, 1, 500), (100, 50, 1, 500), (120, 50, 1, 500), (100, 300, 1, 500)]
    )
    prof = demand_profile(jobs, bucket_seconds=100, start_s=0, end_s=400)
    assert prof.counts.tolist() == [[1, 3, 1, 1]]
    assert prof.shapes.loc[0, "vcpus"] == 1 and prof.shapes.loc[0, "memory_mib"] == 1024


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 50), st.integers(1, 30), st.sampled_from([1, 2, 3]), st.sampled_from([500, 3000])
        ),
        min_size=1,
        max_size=25,
    )
)
def test_counts_match_a_direct_sweep(rows: list[tuple[int, int, int, int]]) -> None:
    jobs = _jobs([tuple(float(x) for x in r) for r in rows])
    grid = ShapeGrid(vcpus=(1, 2, 4), memory_mib=(1024, 4096))
    prof = demand_profile(jobs, bucket_seconds=10, start_s=0, end_s=80, grid=grid)
    ids = list(prof.shapes["shape_id"])
    for s, sid in enumerate(ids):
        v = float(sid.split("-")[0][1:])
        m = int(sid.split("-")[1][1:])
        mine = [(a, a + d) for a, d, vc, mem in rows if round_up_to_grid(np.array([vc]), grid.vcpus)[0] == v
                and round_up_to_grid(np.array([mem]), grid.memory_mib)[0] == m]  # fmt: skip
        for t in range(prof.n_buckets):
            lo, hi = 10 * t, 10 * t + 10
            # Peak over integer instants and the bucket start (all event times are integers).
            peak = max(sum(1 for a, b in mine if a <= x < b) for x in range(lo, hi))
            assert prof.counts[s, t] == peak, (sid, t)


def test_bad_jobs_name_the_row_and_field() -> None:
    jobs = _jobs([(0, 10, 1, 500), (5, float("nan"), 1, 500)])
    with pytest.raises(InputError, match=r"row 1 .*'runtime_s'"):
        demand_profile(jobs)
    with pytest.raises(InputError, match="missing column"):
        demand_profile(jobs.drop(columns=["vcpus"]))
