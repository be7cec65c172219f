"""Jobs of a history that never started, kept so the replay can say what they did to their queue.

Two meanings, one list each, because the remedies differ:

- Blocked reasons (`BLOCKED_REASONS`): a job no compute environment of its queue can host blocked
  the head of its queue (`head_blocking.py`) under a reason Batch names and a queue's
  `jobStateTimeLimitActions` entry can match; the `stuck-job-limits` strategy proposes one.
- Never-started multi-node parallel jobs (`never_started_gangs`): Batch documents no reason code
  for an MNP job whose queue reaches only Spot compute environments (it runs none there), so the
  history shows only its shape: a parent that never started, RUNNABLE or ended without an attempt.
  The replay decides what it did (`gangs.py`: placed on an on-demand EC2 CE, or a blocked head
  with the product's `SPOT_ONLY_REASON` that no time limit action matches); the `mnp-on-demand`
  strategy proposes an on-demand compute environment for it, never a time limit.

`datasets.load_dataset` keeps both kinds in the replay's history (a gang with the run time
estimated from completed runs of its kind, `gang_runtime.py`); `stuck-job-limits` reads the first
kind from the store. Pure: the strategies import it without the store.
"""

from __future__ import annotations

import pandas as pd

BLOCKED_REASONS = (
    "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT",
    "MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE",
)
"""The blocked reasons of a job that stayed RUNNABLE because no compute environment of its queue can
host it (the Batch user guide's "Jobs stuck in RUNNABLE due to misconfiguration"). Batch shows one
as the statusReason while the job waits ("MISCONFIGURATION:... - ..."), and quotes it when a
job-state time limit action cancels the job ("... due to reason: MISCONFIGURATION:..."), as does a
replay whose owner cancelled it. Multi-node parallel jobs are not read by it (`is_multinode_row`):
the replay decides where a gang can run."""

NEVER_STARTED_GANG_STATES = ("RUNNABLE", "FAILED")
"""The states of an MNP parent that never started and is replayed as a gang: still RUNNABLE when
last collected (waiting, or blocking its queue's head), or FAILED without an attempt (its owner, or
a time limit action, cancelled it while it waited; a failed dependency also ends a job there, and
the replay fails such a gang again when the dependency is in the history, `replay_engine.py`).
SUBMITTED and PENDING jobs have not reached the queue's head yet: nothing is known of them."""


def never_started_blocked(reasons: pd.Series) -> pd.Series:
    """Which status reasons name a blocked reason (`BLOCKED_REASONS`), wherever in the text."""
    text = reasons.fillna("").astype(str)
    found = pd.Series(False, index=text.index)
    for reason in BLOCKED_REASONS:
        found |= text.str.contains(reason, regex=False)
    return found


def is_multinode_row(rows: pd.DataFrame) -> pd.Series:
    """Which store `jobs` rows belong to a multi-node parallel job (its parent or a node job)."""
    if "is_multinode" not in rows:
        return pd.Series(False, index=rows.index)
    return rows["is_multinode"].fillna(False).astype(bool)


def never_started_gangs(rows: pd.DataFrame) -> pd.Series:
    """Which store `jobs` rows are MNP parents that never started (`NEVER_STARTED_GANG_STATES`, no
    start, no attempt, a node count to form the gang from), whatever their status reason says."""
    parent = is_multinode_row(rows)
    if "array_parent_id" in rows:
        parent &= rows["array_parent_id"].isna()
    attempts = rows["attempt_count"].fillna(0) if "attempt_count" in rows else 0
    nodes = pd.to_numeric(rows["node_count"], errors="coerce") if "node_count" in rows else None
    counted = nodes.fillna(0) > 0 if nodes is not None else False
    return (
        parent
        & rows["started_at"].isna()
        & rows["status"].isin(NEVER_STARTED_GANG_STATES)
        & (attempts == 0)
        & counted
    )


def measured_runtime_s(jobs: pd.DataFrame) -> pd.Series:
    """Canonical jobs' `runtime_s` where it was measured, 0 for a job kept though it never started
    (its runtime is 0 or a gang's estimate): what the history's observed span is read from, so a
    gang stuck at the end of the window does not lengthen it by a run that never happened."""
    runtime = jobs["runtime_s"].astype(float)
    if "never_started" not in jobs:
        return runtime
    return runtime.where(~jobs["never_started"].fillna(False).astype(bool), 0.0)
