"""Jobs that never started, one classification per meaning: blocked reasons a time limit action can
match (stuck-job-limits), and MNP jobs that never started (a gang the replay places or blocks;
Batch gives no reason code when its queue reaches only Spot). A never-started MNP job without node
rows in the store becomes `node_count` node rows made from its parent."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from optimizer.catalog.provider import bundled_catalog
from optimizer.recommend.savings import ReplayBaseline
from optimizer.recommend.strategies.stuck_job_limits import blocked_history
from optimizer.simulate import catalog_from_provider
from optimizer.simulate.never_started import (
    is_multinode_row,
    measured_runtime_s,
    never_started_blocked,
    never_started_gangs,
)
from optimizer.store.multinode_rows import with_unstarted_nodes

T0 = datetime(2026, 3, 2, 8, 0)
LATER = T0 + timedelta(hours=6)
MISCONFIGURED = "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT - Requested resources exceed the capability"


def row(job_id: str, **fields: Any) -> dict[str, Any]:
    """A store `jobs` row of an MNP parent that never started (override fields to vary it)."""
    base: dict[str, Any] = {
        "job_id": job_id,
        "queue": "hpc",
        "status": "RUNNABLE",
        "status_reason": None,
        "created_at": T0,
        "started_at": pd.NaT,
        "stopped_at": pd.NaT,
        "vcpus": 8.0,
        "memory_mib": 16384,
        "gpus": 0,
        "array_parent_id": None,
        "array_index": None,
        "node_count": 3,
        "attempt_count": 0,
        "is_multinode": True,
        "node_instance_types": ["c5.2xlarge"],
    }
    return {**base, **fields}


def frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(rows)


def test_never_started_gangs_are_mnp_parents_runnable_or_failed_without_an_attempt() -> None:
    rows = frame(
        [
            row("stuck"),  # RUNNABLE when last collected
            row("cancelled", status="FAILED", status_reason="not on spot", stopped_at=LATER),
            row("labelled", status_reason=MISCONFIGURED),  # whatever the reason says: the replay decides
            row("ran", status="SUCCEEDED", started_at=T0, stopped_at=LATER, attempt_count=1),
            row("retried-then-cancelled", status="FAILED", attempt_count=1),
            row("pending", status="PENDING"),  # waiting for a dependency: not at the queue's head
            row("no-count", node_count=None),  # nothing to form a gang from
            row("stuck#0", array_parent_id="stuck", array_index=0, node_count=None),  # a node job
            row("single", is_multinode=False, node_count=None, status_reason=MISCONFIGURED),
        ]
    )
    found = dict(zip(rows["job_id"], never_started_gangs(rows), strict=True))
    assert [k for k, v in found.items() if v] == ["stuck", "cancelled", "labelled"]
    assert list(is_multinode_row(rows)) == [True] * 8 + [False]
    # The time-limit reasons stay a list of their own: an MNP row's text may match it, and the
    # callers leave MNP rows out of it (`is_multinode_row`).
    assert list(never_started_blocked(rows["status_reason"])) == [False, False, True] + [False] * 5 + [True]
    assert not is_multinode_row(pd.DataFrame({"job_id": ["a"]})).any()


def test_missing_node_rows_are_made_from_the_parent_and_stored_ones_kept() -> None:
    rows = frame(
        [
            row("p1"),  # no node rows: all 3 are made
            row("p2", status="FAILED", node_count=2, node_instance_types=None),
            row("p2#1", status="FAILED", array_parent_id="p2", array_index=1, node_count=None, vcpus=16.0),
            row("other", is_multinode=False, node_count=None),
        ]
    )
    out, nodes = with_unstarted_nodes(rows, never_started_gangs(rows))
    made = out.set_index("job_id")
    assert sorted(made.index) == ["other", "p1", "p1#0", "p1#1", "p1#2", "p2", "p2#0", "p2#1"]
    assert sorted(out.loc[nodes, "job_id"]) == ["p1#0", "p1#1", "p1#2", "p2#0", "p2#1"]
    for k in range(3):
        node = made.loc[f"p1#{k}"]
        assert (node["array_parent_id"], node["array_index"], bool(node["is_multinode"])) == ("p1", k, True)
        requests = (node["vcpus"], node["memory_mib"], node["node_instance_types"])
        assert requests == (8.0, 16384, ["c5.2xlarge"])
        assert pd.isna(node["node_count"])
    # The stored node job keeps its own requests; only the missing node 0 is made from the parent.
    assert (made.loc["p2#1", "vcpus"], made.loc["p2#0", "vcpus"]) == (16.0, 8.0)
    unchanged, none = with_unstarted_nodes(rows, pd.Series(False, index=rows.index))
    assert len(unchanged) == len(rows) and not none.any()


def test_stuck_job_limits_reads_no_mnp_row_as_a_time_limit_case() -> None:
    """An MNP job's text may carry a MISCONFIGURATION code; the replay, not the reason, decides where
    a gang runs, and on a spot-only queue no time limit action matches it: blocked_history leaves
    every MNP row out, so stuck-job-limits never labels it JOB_RESOURCE_REQUIREMENT."""
    rows = frame(
        [
            row("gang", status="FAILED", status_reason=MISCONFIGURED),
            row("gang#0", status="FAILED", status_reason=MISCONFIGURED, array_parent_id="gang"),
            row("single", is_multinode=False, node_count=None, status="FAILED", status_reason=MISCONFIGURED),
        ]
    ).assign(stopped_at=T0 + timedelta(hours=2))
    found = blocked_history(rows, None)
    assert found["job_id"].tolist() == ["single"]
    assert found["stayed_s"].tolist() == [7200.0]


def test_a_gang_stuck_at_the_end_does_not_lengthen_the_observed_window() -> None:
    """Two days of jobs, then a gang stuck at the very end, replayed for a 10 h estimate: the
    window the monthly figures scale by is still the two days the history saw."""
    ran = pd.DataFrame({"submit_s": [0.0, 86400.0], "runtime_s": [3600.0, 86400.0], "never_started": False})
    stuck = pd.DataFrame({"submit_s": [172800.0] * 2, "runtime_s": [36000.0] * 2, "never_started": True})
    jobs = pd.concat([ran, stuck], ignore_index=True)
    assert measured_runtime_s(jobs).tolist() == [3600.0, 86400.0, 0.0, 0.0]
    assert measured_runtime_s(jobs.drop(columns=["never_started"])).tolist() == [
        3600.0,
        86400.0,
        36000.0,
        36000.0,
    ]
    baseline = ReplayBaseline(
        dataset="aws",
        jobs=jobs,
        catalog=catalog_from_provider(bundled_catalog("us-east-1")),
        current_document={},
    )
    assert baseline.window_days == 2.0
