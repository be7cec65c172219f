"""The run time a never-started MNP job is replayed for: the median of the completed runs most like
it (same job definition and node count, then same definition, then same queue and node count),
capped at the job's own attemptDurationSeconds; none found keeps 0 s and says so."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pandas as pd
import pytest

from optimizer.collectors.jobs_transform import transform_jobs
from optimizer.simulate.gang_runtime import (
    BASIS_DEFINITION,
    BASIS_DEFINITION_AND_NODES,
    BASIS_NONE,
    BASIS_QUEUE_AND_NODES,
    completed_gang_runs,
    describe_estimate,
    estimate_gang_runtimes,
)

T0 = datetime(2026, 3, 2, 8, 0)


def runs(*rows: tuple[str | None, int, str, float]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["job_definition_name", "node_count", "queue", "runtime_s"])


def gang(job_id: str, definition: str | None, nodes: int, queue: str = "hpc", timeout: Any = None) -> dict:
    return {
        "job_id": job_id,
        "job_definition_name": definition,
        "node_count": nodes,
        "queue": queue,
        "timeout_s": timeout,
    }


HISTORY = runs(
    ("mpi-solver", 4, "hpc-old", 3600.0),
    ("mpi-solver", 4, "hpc-old", 7200.0),
    ("mpi-solver", 4, "hpc-old", 90000.0),  # one hung run: the median ignores it
    ("mpi-solver", 8, "hpc-old", 14400.0),
    ("cfd", 2, "hpc", 600.0),
    ("cfd", 2, "hpc", 1200.0),
    ("cfd", 6, "hpc", 5000.0),
)


def test_each_level_is_taken_only_when_the_more_alike_ones_have_no_run() -> None:
    found = estimate_gang_runtimes(
        HISTORY,
        pd.DataFrame(
            [
                gang("same-def-and-nodes", "mpi-solver", 4),
                gang("same-def", "mpi-solver", 16),
                gang("same-queue-and-nodes", "weather", 2),
                gang("nothing", "weather", 3),
                gang("no-definition", None, 6),
            ]
        ),
    )
    assert found.loc["same-def-and-nodes", ["basis", "samples", "runtime_s"]].tolist() == [
        BASIS_DEFINITION_AND_NODES,
        3,
        7200.0,
    ]
    # Every revision's and node count's runs of mpi-solver: 3600, 7200, 14400, 90000.
    assert found.loc["same-def", ["basis", "samples", "runtime_s"]].tolist() == [BASIS_DEFINITION, 4, 10800.0]
    # No run of weather: the 2-node runs of its queue (cfd's 600 and 1200).
    assert found.loc["same-queue-and-nodes", ["basis", "samples", "runtime_s"]].tolist() == [
        BASIS_QUEUE_AND_NODES,
        2,
        900.0,
    ]
    assert found.loc["nothing", ["basis", "samples", "runtime_s"]].tolist() == [BASIS_NONE, 0, 0.0]
    assert pd.isna(found.loc["nothing", "median_s"]) and not found.loc["nothing", "capped"]
    # A job with no definition name still finds its queue's runs of its node count.
    assert found.loc["no-definition", ["basis", "runtime_s"]].tolist() == [BASIS_QUEUE_AND_NODES, 5000.0]


def test_the_jobs_own_attempt_timeout_caps_the_estimate() -> None:
    found = estimate_gang_runtimes(
        HISTORY,
        pd.DataFrame(
            [
                gang("capped", "mpi-solver", 4, timeout=3000),
                gang("above", "mpi-solver", 4, timeout=86400),
                gang("empty", "mpi-solver", 4, timeout=float("nan")),
                gang("unknown-capped", "weather", 3, timeout=3000),
            ]
        ),
    )
    capped = found.loc["capped"]
    assert (capped["runtime_s"], capped["median_s"], capped["cap_s"], capped["capped"]) == (
        3000.0,
        7200.0,
        3000.0,
        True,
    )
    assert found.loc["above", ["runtime_s", "capped"]].tolist() == [7200.0, False]
    assert found.loc["empty", "runtime_s"] == 7200.0 and pd.isna(found.loc["empty", "cap_s"])
    # No run to estimate from: 0 s, and a cap lowers nothing.
    assert found.loc["unknown-capped", ["runtime_s", "capped"]].tolist() == [0.0, False]


def test_no_history_or_no_gangs() -> None:
    none = estimate_gang_runtimes(runs(), pd.DataFrame([gang("g", "mpi-solver", 4)]))
    assert none.loc["g", ["basis", "runtime_s"]].tolist() == [BASIS_NONE, 0.0]
    assert estimate_gang_runtimes(HISTORY, pd.DataFrame([], columns=list(gang("g", "x", 1)))).empty


def test_the_text_names_the_runs_the_definition_and_the_cap() -> None:
    found = estimate_gang_runtimes(
        HISTORY,
        pd.DataFrame(
            [
                gang("a", "mpi-solver", 4),
                gang("b", "mpi-solver", 4, timeout=3000),
                gang("c", "mpi-solver", 16),
                gang("d", "weather", 2),
                gang("e", "weather", 3),
            ]
        ),
    )
    text = {k: describe_estimate(found.loc[k]) for k in found.index}
    assert text["a"] == "run time 2.0 h estimated from 3 completed runs of mpi-solver with 4 nodes (median)"
    assert text["b"] == (
        "run time 50 min estimated from 3 completed runs of mpi-solver with 4 nodes"
        " (median 2.0 h, capped at the job's attemptDurationSeconds)"
    )
    assert "4 completed runs of mpi-solver (any node count; none with 16)" in text["c"]
    assert "2 completed runs of 2-node jobs in queue hpc (none of weather)" in text["d"]
    assert text["e"] == (
        "run time unknown (no completed run of job definition weather, nor of a 3-node job in queue hpc):"
        " replayed for 0 s"
    )


def store_row(job_id: str, **fields: Any) -> dict[str, Any]:
    """A store `jobs` row of an MNP parent that ran 2 h (override fields to vary it)."""
    base: dict[str, Any] = {
        "job_id": job_id,
        "job_definition_name": "mpi-solver",
        "queue": "hpc",
        "status": "SUCCEEDED",
        "started_at": T0,
        "stopped_at": T0 + timedelta(hours=2),
        "array_parent_id": None,
        "node_count": 4,
        "is_multinode": True,
    }
    return {**base, **fields}


def test_completed_runs_are_succeeded_mnp_parents_with_a_start_and_a_stop() -> None:
    rows = pd.DataFrame(
        [
            store_row("ran"),
            store_row("failed", status="FAILED"),  # the replay runs a stuck gang as one that succeeds
            store_row("stuck", status="RUNNABLE", started_at=None, stopped_at=None),
            store_row("ran#0", array_parent_id="ran", node_count=None),  # a node job: its parent counts
            store_row("single", is_multinode=False, node_count=None),
            store_row("retried", node_count=8),
        ]
    )
    seconds = pd.Series([7200.0, 60.0, None, 7200.0, 300.0, 1800.0], index=rows.index)
    found = completed_gang_runs(rows, seconds)
    assert found.to_dict("list") == {
        "job_definition_name": ["mpi-solver", "mpi-solver"],
        "node_count": [4, 8],
        "queue": ["hpc", "hpc"],
        "runtime_s": [7200.0, 1800.0],
    }
    assert completed_gang_runs(rows.drop(columns=["is_multinode"]), seconds).empty


@pytest.mark.parametrize(("timeout", "stored"), [({"attemptDurationSeconds": 7200}, 7200), (None, None)])
def test_the_collector_keeps_the_jobs_own_attempt_timeout(timeout: Any, stored: Any) -> None:
    record: dict[str, Any] = {
        "jobId": "j-1",
        "jobName": "solve",
        "jobQueue": "arn:aws:batch:us-east-1:123456789012:job-queue/hpc",
        "jobDefinition": "arn:aws:batch:us-east-1:123456789012:job-definition/mpi-solver:3",
        "status": "RUNNABLE",
        "createdAt": 1_700_000_000_000,
        "nodeProperties": {"numNodes": 4, "mainNode": 0, "nodeRangeProperties": []},
        **({"timeout": timeout} if timeout else {}),
    }
    jobs, _ = transform_jobs([record], "123456789012", "us-east-1")
    assert jobs["timeout_seconds"].iat[0] == stored
