"""Utilization per CE and hour, fragmentation, and right-sizing evidence on hand-made estates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optimizer.analysis.rightsizing import name_pattern, rightsizing_evidence
from optimizer.analysis.utilization import _nothing_fits, fragmentation, hourly_utilization
from optimizer.catalog.requirements import UNRESTRICTED
from tests import analysis_helpers as h

pytestmark = pytest.mark.any_date  # dates are fixed and "now" is injected: the same on any date


def test_hourly_utilization_ratios() -> None:
    util = hourly_utilization(h.instances(), h.attempts(), h.jobs(), h.instance_types())
    od = util[util["compute_environment_arn"] == "ce-od"].set_index("hour")
    # hour 0: both 1-vCPU jobs on the 2-vCPU m5.large; hour 1: one of them
    assert od["vcpu_allocation"].tolist() == [1.0, 0.5]
    # only j-a has usage (0.5 of 1 vCPU): used/requested counts known attempts only
    assert od["vcpu_used_per_requested"].tolist() == [0.5, 0.5]
    assert util["capacity_vcpu_hours"].sum() == pytest.approx(2 * 2 + 4 * 2 + 8 * 4 + 4 * 1)


def _fragmented_estate() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    instances = pd.DataFrame(
        {
            "instance_id": ["i-1", "i-2"],
            "region": "us-east-1",
            "availability_zone": "us-east-1a",
            "compute_environment_arn": "ce",
            "instance_type": "m5.large",
            "capacity_type": "ON_DEMAND",
            "launch_time": [h.at(0), h.at(2)],
            "first_seen": [h.at(0), h.at(2)],
            "last_seen": [h.at(2), h.at(3)],
            "terminated_at": [h.at(2), h.at(3)],
        }
    )
    jobs = pd.DataFrame(
        {
            "job_id": ["small", "wide"],
            "queue": "q",
            "job_definition_name": "d",
            "job_name": ["small", "wide"],
            "created_at": [h.at(0), h.at(0)],
            "vcpus": [1.0, 2.0],
            "memory_mib": [4000, 1000],
            "gpus": 0,
        }
    )
    attempts = pd.DataFrame(
        {
            "job_id": ["small", "wide"],
            "attempt": 0,
            "instance_id": ["i-1", "i-2"],
            "started_at": [h.at(0), h.at(2)],
            "stopped_at": [h.at(2), h.at(3)],
            "exit_code": 0,
        }
    )
    return instances, attempts, jobs


def test_free_capacity_no_waiting_job_fits_is_fragmentation() -> None:
    instances, attempts, jobs = _fragmented_estate()
    frag = fragmentation(instances, attempts, jobs, h.instance_types()).set_index("hour")
    # hours 0 and 1: 1 vCPU free on i-1, the waiting job needs 2
    assert frag.loc[h.at(0), "fragmented_vcpu_hours"] == pytest.approx(1.0)
    assert frag.loc[h.at(1), "fragmented_vcpu_hours"] == pytest.approx(1.0)
    assert frag.loc[h.at(0), "waiting_jobs"] == 1
    # hour 2: nothing waits any more
    assert frag.loc[h.at(2), "fragmented_vcpu_hours"] == 0.0


def test_free_capacity_a_waiting_job_fits_is_not_fragmentation() -> None:
    instances, attempts, jobs = _fragmented_estate()
    jobs.loc[jobs["job_id"] == "wide", "vcpus"] = 1.0
    frag = fragmentation(instances, attempts, jobs, h.instance_types())
    assert frag["fragmented_vcpu_hours"].sum() == 0.0


def test_name_patterns_strip_variable_parts() -> None:
    assert name_pattern("align-sample-0042") == "align-sample-#"
    assert name_pattern("run_3f2a9c1d7e_x") == "run_#_x"
    assert name_pattern("job-123e4567-e89b-12d3-a456-426614174000") == "job-#"
    assert name_pattern(None) == "(none)"


def test_rightsizing_evidence_splits_heterogeneous_definitions_and_finds_the_cliff() -> None:
    rng = np.random.default_rng(3)
    n = 30
    names = [f"small-{i}" for i in range(n)] + [f"big-{i}" for i in range(n)]
    jobs = pd.DataFrame(
        {
            "job_id": names,
            "job_definition_name": "align",
            "job_name": names,
            "vcpus": 2.0,
            "memory_mib": 8192,
        }
    )
    peaks = np.r_[rng.uniform(800, 1000, n), rng.uniform(5000, 6000, n)]
    attempts = pd.DataFrame(
        {
            "job_id": names,
            "attempt": 0,
            "peak_memory_mib": peaks,
            "peak_vcpus": 1.0,
            "is_oom": [False] * (2 * n - 1) + [True],
        }
    )
    ev = rightsizing_evidence(jobs, attempts, h.instance_types()).set_index("name_pattern")
    assert set(ev.index) == {"*", "small-#", "big-#"}
    assert bool(ev.loc["*", "heterogeneous"])
    assert ev.loc["*", "oom_kills"] == 1
    assert ev.loc["big-#", "peak_memory_mib_max"] == pytest.approx(peaks[n:].max())
    # 8192 MiB sits just above the m5.large's 8000 allocatable: it forces an m5.xlarge
    assert ev.loc["*", "cliff_type"] == "m5.large"
    assert bool(ev.loc["*", "cliff_fits_p99"])
    assert ev.loc["*", "vcpu_p95_per_requested"] == pytest.approx(0.5)


def test_peak_per_request_is_each_jobs_own_ratio_not_p95_peak_over_median_request() -> None:
    # 19 jobs ask 60 GiB and use 30; one asks 480 GiB and uses 240: every job uses half its ask.
    # The p95 peak (~240 GiB) over the median request (60 GiB) would read ~400 %.
    names = [f"gpu-{i}" for i in range(20)]
    requests = np.r_[np.full(19, 61440.0), 491520.0]
    jobs = pd.DataFrame(
        {
            "job_id": names,
            "job_definition_name": "train",
            "job_name": names,
            "vcpus": 8.0,
            "memory_mib": requests,
        }
    )
    attempts = pd.DataFrame(
        {
            "job_id": names,
            "attempt": 0,
            "peak_memory_mib": requests / 2,
            "peak_vcpus": np.r_[np.full(19, 2.0), 8.0],
            "is_oom": False,
        }
    )
    ev = rightsizing_evidence(jobs, attempts, h.instance_types()).set_index("name_pattern")
    assert ev.loc["*", "memory_p95_per_requested"] == pytest.approx(0.5)
    # vCPU: 19 jobs at 2/8 and one at 8/8; the p95 of those 20 ratios (linear interpolation)
    assert ev.loc["*", "vcpu_p95_per_requested"] == pytest.approx(0.25 + 0.05 * 0.75)


@settings(max_examples=40, deadline=None)
@given(
    shapes=st.lists(
        st.tuples(
            st.integers(0, 2),
            st.integers(0, 1),
            st.floats(0.25, 8),
            st.floats(0.5, 32),
            st.sampled_from([0, 1]),
        ),
        min_size=1,
        max_size=25,
    ),
    rows=st.lists(
        st.tuples(
            st.integers(0, 2), st.integers(0, 1), st.floats(0, 8), st.floats(0, 32), st.sampled_from([0, 1])
        ),
        min_size=1,
        max_size=25,
    ),
)
def test_staircase_fit_check_matches_brute_force(shapes, rows) -> None:
    shape_frame = pd.DataFrame(shapes, columns=["bucket", "ce_code", "vcpus", "memory_gib", "gpus"]).assign(
        jobs=1
    )
    per = pd.DataFrame(rows, columns=["bucket", "ce_code", "free_vcpu", "free_mem_gib", "free_gpu"])
    fragmented, waiting = _nothing_fits(per, shape_frame)
    for i, (b, c, fv, fm, fg) in enumerate(rows):
        mine = [s for s in shapes if s[0] == b and s[1] == c]
        fits = any(v <= fv + 1e-9 and m <= fm + 1e-9 and g <= fg + 1e-9 for _, _, v, m, g in mine)
        assert waiting[i] == len(mine)
        assert fragmented[i] == (bool(mine) and not fits)


def _cliff_jobs(memory_mib: float, vcpus: float, gpus: int | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    names = [f"j-{i}" for i in range(10)]
    jobs = pd.DataFrame(
        {
            "job_id": names,
            "job_definition_name": "d",
            "job_name": names,
            "vcpus": vcpus,
            "memory_mib": memory_mib,
        }
    )
    if gpus is not None:
        jobs["gpus"] = gpus
    attempts = pd.DataFrame(
        {"job_id": names, "attempt": 0, "peak_memory_mib": memory_mib / 2, "peak_vcpus": 1.0, "is_oom": False}
    )
    return jobs, attempts


def _cliff_catalogue() -> pd.DataFrame:
    """m4.xlarge (previous generation) allocates the most under 16,800 MiB; m5.xlarge a little less;
    p3.2xlarge (a previous-generation GPU type) and g5.2xlarge (current GPU) sit under 62,000."""
    return pd.DataFrame(
        {
            "instance_type": ["m5.xlarge", "m4.xlarge", "g5.2xlarge", "p3.2xlarge", "r5.2xlarge"],
            "vcpus": [4, 4, 8, 8, 8],
            "allocatable_memory_mib": [15800, 16000, 59000, 60000, 61000],
            "gpus": [0, 0, 1, 1, 0],
        }
    )


def test_memory_cliff_names_only_a_current_generation_type() -> None:
    jobs, attempts = _cliff_jobs(16800, 4, None)
    ev = rightsizing_evidence(jobs, attempts, _cliff_catalogue()).set_index("name_pattern")
    assert ev.loc["*", "cliff_type"] == "m5.xlarge"  # not m4.xlarge, though it allocates more
    anything = rightsizing_evidence(jobs, attempts, _cliff_catalogue(), requirements=UNRESTRICTED)
    assert anything.set_index("name_pattern").loc["*", "cliff_type"] == "m4.xlarge"


def test_memory_cliff_of_a_gpu_job_names_a_gpu_type_and_of_a_cpu_job_none() -> None:
    gpu_jobs, attempts = _cliff_jobs(62000, 8, 1)
    ev = rightsizing_evidence(gpu_jobs, attempts, _cliff_catalogue()).set_index("name_pattern")
    assert ev.loc["*", "cliff_type"] == "g5.2xlarge"  # not p3 (previous generation), not r5 (no GPU)
    assert ev.loc["*", "requested_gpus"] == 1
    cpu_jobs, attempts = _cliff_jobs(62000, 8, 0)
    ev = rightsizing_evidence(cpu_jobs, attempts, _cliff_catalogue()).set_index("name_pattern")
    assert ev.loc["*", "cliff_type"] == "r5.2xlarge"  # a CPU job is kept off the GPU types


def test_memory_cliff_names_a_type_of_the_architecture_the_jobs_ran_on() -> None:
    # m6g.xlarge (Graviton) allocates the most under 16,800 MiB, then m5.xlarge (x86_64).
    catalogue = pd.concat(
        [
            _cliff_catalogue(),
            pd.DataFrame(
                {"instance_type": ["m6g.xlarge"], "vcpus": [4], "allocatable_memory_mib": [16200], "gpus": 0}
            ),
        ],
        ignore_index=True,
    )
    jobs, attempts = _cliff_jobs(16800, 4, None)
    # No attempt names its instance: the jobs are taken as x86_64 (the plans' default), not arm64.
    ev = rightsizing_evidence(jobs, attempts, catalogue).set_index("name_pattern")
    assert (ev.loc["*", "cliff_type"], ev.loc["*", "architectures"]) == ("m5.xlarge", "x86_64")
    # Jobs that ran on Graviton instances get the Graviton type.
    on_arm = attempts.assign(instance_type="m6g.2xlarge")
    ev = rightsizing_evidence(jobs, on_arm, catalogue).set_index("name_pattern")
    assert (ev.loc["*", "cliff_type"], ev.loc["*", "architectures"]) == ("m6g.xlarge", "arm64")
