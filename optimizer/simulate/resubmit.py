"""Resubmission after N attempts: a spot queue's jobs that run out of retries on reclaims go on demand.

Batch has no per-attempt switch of compute environment: a job's attempts all run on its queue's
CEs. The "after N attempts" fallback that pipelines build by hand (securebio/nao-mgs-workflow,
AlexsLemonade/scpca-nf) is two settings and a rule outside Batch: the job definition retries host
reclaims N times on the spot queue, and the workflow manager resubmits a job that still failed on
a reclaim to an on-demand queue, at the second it failed.

The replay prices it in two stages, each an ordinary replay:

1. the estate with the spot queue's definitions retrying reclaims N times
   (`simulation.jobDefinitionRevisions`); the jobs of that queue that ended FAILED with a host
   reclaim as their status reason are the ones the workflow manager resubmits
   (`resubmitted_jobs`);
2. those jobs alone, submitted when they failed, on a document holding only the fallback queue and
   its on-demand CE (`fallback_document`).

The fallback CE serves nothing but resubmitted jobs (minvCpus 0), so the two stages share no
instance and no queue: the sum of their costs is what one replay holding both would charge. What
the stages do not carry: dependents of a resubmitted job fail in stage 1 as they would in Batch
(the workflow manager resubmits them too; the demo and most histories have no dependencies), and
the commitments of stage 1 are not applied again to stage 2's on-demand hours (list price: a
conservative cost).
"""

from __future__ import annotations

import copy
from typing import Any

import pandas as pd

from optimizer.simulate.results import ReplayResult
from optimizer.simulate.retry import RECLAIM_REASON_PREFIX

RESUBMIT_SUFFIX = "#on-demand"
"""Appended to a resubmitted job's id: a new submission is a new job."""


def exhausted_on_reclaims(result: ReplayResult, queue: str) -> pd.DataFrame:
    """The jobs of `queue` that a replay ended FAILED because a host reclaim ended their last
    allowed attempt (their status reason is Batch's `Host EC2 (instance ...) terminated.`)."""
    jobs = result.jobs
    reason = jobs["status_reason"].astype("string").fillna("")
    mask = (
        (jobs["queue"] == queue) & (jobs["status"] == "FAILED") & reason.str.startswith(RECLAIM_REASON_PREFIX)
    )
    return jobs.loc[mask, ["job_id", "ended_at", "attempt_count"]]


def resubmitted_jobs(result: ReplayResult, jobs: pd.DataFrame, queue: str, to_queue: str) -> pd.DataFrame:
    """The history rows the workflow manager resubmits to `to_queue` after `result` (stage 1): same
    shape, runtime and outcome, submitted at the second the spot attempts ran out, without the
    dependencies the first submission had (they are done or failed by then)."""
    failed = exhausted_on_reclaims(result, queue)
    if failed.empty:
        return jobs.iloc[0:0].copy()
    when = failed.set_index("job_id")["ended_at"]
    out = jobs[jobs["job_id"].astype(str).isin(when.index)].copy()
    out["submit_s"] = out["job_id"].astype(str).map(when).astype(float)
    out["queue"] = to_queue
    out["job_id"] = out["job_id"].astype(str) + RESUBMIT_SUFFIX
    if "depends_on" in out:
        out["depends_on"] = None
    return out.sort_values("submit_s", kind="stable").reset_index(drop=True)


def fallback_document(
    document: dict[str, Any], queue_name: str, compute_environment: dict[str, Any]
) -> dict[str, Any]:
    """Stage 2's document: `document`'s simulation options (seed, shortages, delays) with one queue,
    `queue_name`, over the one on-demand CE `compute_environment` (a CreateComputeEnvironment body)."""
    ce = copy.deepcopy(compute_environment)
    simulation = copy.deepcopy(document.get("simulation") or {})
    simulation.pop("jobDefinitionRevisions", None)  # a resubmission runs the definition as registered
    simulation.pop("billUntilSeconds", None)
    out: dict[str, Any] = {
        "computeEnvironments": [ce],
        "jobQueues": [
            {
                "jobQueueName": queue_name,
                "state": "ENABLED",
                "priority": 1,
                "computeEnvironmentOrder": [{"order": 1, "computeEnvironment": ce["computeEnvironmentName"]}],
            }
        ],
    }
    if simulation:
        out["simulation"] = simulation
    return out
