"""The demo history's rule 5 (`optimizer/demo/history.py`): what the Batch-settings strategies look for,
each a stated, seeded rule on the real traces."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from optimizer.demo import history as h

DAYS = 30


@pytest.fixture(scope="module")
def cpu() -> pd.DataFrame:
    jobs, _ = h.cpu_jobs(DAYS, {}, (4, 8192))
    return jobs


@pytest.fixture(scope="module")
def pods() -> pd.DataFrame:
    jobs, _ = h.gpu_jobs(DAYS, 61440, {})
    return h.misrouted(jobs, DAYS)


def _user_number(jobs: pd.DataFrame) -> pd.Series:
    return pd.to_numeric(jobs["user"].astype(str).str.lstrip("u"))


def test_short_requests_go_to_the_shared_queue_and_one_user_in_four_long_ones_to_the_pipeline(
    cpu: pd.DataFrame,
) -> None:
    requested = h.requested_times()
    trace_id = cpu["job_name"].str.rsplit("-", n=1).str[-1]
    short = cpu[cpu["queue"] == h.SHARED_QUEUE]
    assert len(short) > 1000
    assert (trace_id[short.index].map(requested) <= h.SHORT_REQUEST_S).all()
    memory_user = (_user_number(short) % h.MEMORY_USER_MODULUS == 0) & (short["vcpus"] <= h.MEMORY_MAX_VCPUS)
    assert not memory_user.any()
    pipeline = cpu[cpu["queue"] == h.PIPELINE_QUEUE]
    assert len(pipeline) > 50
    assert (_user_number(pipeline) % h.MEMORY_USER_MODULUS == h.PIPELINE_USER_REMAINDER).all()
    assert (trace_id[pipeline.index].map(requested) > h.SHORT_REQUEST_S).all()
    assert set(zip(pipeline["vcpus"], pipeline["memory_mib"], strict=True)) == {(4.0, 8192.0)}


def test_three_teams_share_the_short_queue_and_the_busiest_users_team_floods_it(cpu: pd.DataFrame) -> None:
    short = cpu[cpu["queue"] == h.SHARED_QUEUE]
    assert set(short["team"]) == set(h.TEAMS)
    assert cpu.loc[cpu["queue"] != h.SHARED_QUEUE, "team"].isna().all()
    busiest = short["user"].value_counts().idxmax()
    per_team = short["team"].value_counts()
    assert per_team.idxmax() == short.loc[short["user"] == busiest, "team"].iloc[0]
    assert per_team.max() > 2 * per_team.min()


def test_runaways_are_seeded_failed_wide_jobs_of_the_shared_queue(cpu: pd.DataFrame) -> None:
    runaways = cpu[cpu["runtime_s"] == h.RUNAWAY_RUNTIME_S]
    assert len(runaways) == h.RUNAWAY_JOBS
    assert set(runaways["queue"]) == {h.SHARED_QUEUE}
    assert (runaways["status"] == "FAILED").all() and runaways["vcpus"].between(
        h.RUNAWAY_MIN_VCPUS, h.RUNAWAY_MAX_VCPUS
    ).all()
    again, _ = h.cpu_jobs(DAYS, {}, (4, 8192))
    assert sorted(again.loc[again["runtime_s"] == h.RUNAWAY_RUNTIME_S, "job_id"]) == sorted(
        runaways["job_id"]
    )


def test_gpu_pods_sent_to_the_cpu_queue_and_pods_without_a_gpu_on_spot_etl(pods: pd.DataFrame) -> None:
    sent = pods[pods["queue"] == h.SHARED_QUEUE]
    assert len(sent) == len(h.MISROUTED_DAYS_BEFORE_END)
    assert (sent["gpus"] >= 1).all()
    cutoffs = sorted((DAYS - before) * h.DAY for before in h.MISROUTED_DAYS_BEFORE_END)
    gpu = pods[pods["gpus"] >= 1]
    for cutoff, submit in zip(cutoffs, sorted(sent["submit_s"]), strict=True):
        assert submit == gpu.loc[gpu["submit_s"] >= cutoff, "submit_s"].min()
    etl = pods[pods["queue"] == h.ETL_QUEUE]
    assert len(etl) > 100 and (etl["gpus"] == 0).all()
    assert np.array_equal(etl["vcpus"], np.ceil(etl["vcpus"]))
    assert set(pods["queue"]) == {"gpu-training", h.ETL_QUEUE, h.SHARED_QUEUE}
