"""Attempt timeouts: stop runaway attempts at a multiple of a job definition's usual runtime.

Batch runs an attempt until its container exits unless the job definition sets
`timeout.attemptDurationSeconds`; a job stuck in a loop holds its instance for hours. For each
latest ACTIVE revision without a timeout whose history has runaway jobs, the timeout is
`multiplier` x the `quantile` runtime of its jobs, rounded up to a minute (at least Batch's 60 s),
and never below the longest job that SUCCEEDED (`spare_succeeded`, on by default: a long job
that finished did work someone wanted, and stopping it is not a saving). Runaways are the jobs
that ran longer than the timeout: with `spare_succeeded` only jobs that failed anyway. It is priced
by replaying the history with a new revision carrying the timeout
(`simulation.jobDefinitionRevisions`): the runaways stop there (and Batch does not retry a
timed-out attempt), so what they cost beyond it, their retries and what their dependents would
have cost, is the saving. The risk states how many jobs of the history the timeout would have
stopped and how many of those had succeeded (none with `spare_succeeded`).

Both replays bill the capacity kept for minvCpus until the same second (`billUntilSeconds`, the
current replay's end): runaways make the current replay end later, and without it the idle minimum
capacity of every CE would be billed longer there and counted as saved.

Metadata: low effort (a new revision; jobs submitted by name pick it up), running jobs are not
restarted (running attempts keep the revision they started with), reversible (deregistering the
revision makes the previous one the latest again).
"""

from __future__ import annotations

import copy
import math
from dataclasses import replace
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from pydantic import Field

from optimizer.domain import Recommendation, UpdateKind
from optimizer.recommend.base import Strategy, StrategySettings, make_recommendation
from optimizer.recommend.estate import account_of
from optimizer.recommend.inputs_model import RecommendInputs
from optimizer.recommend.savings import Comparison, ReplayBaseline
from optimizer.recommend.workload import histogram
from optimizer.simulate.timeouts import MIN_ATTEMPT_DURATION_S, TIMEOUT_REASON

METADATA = {"implementation_effort": "low", "restarts_running_jobs": False, "reversible": True}


class AttemptTimeoutSettings(StrategySettings):
    quantile: float = Field(default=0.99, gt=0.5, lt=1.0)
    """The runtime the definition's jobs usually stay under."""
    multiplier: float = Field(default=3.0, ge=1.5, le=100.0)
    """How far beyond the usual runtime an attempt is a runaway (and is stopped)."""
    min_jobs: int = Field(default=20, ge=5)
    """Fewer jobs than this say too little about the usual runtime."""
    max_runaway_share: float = Field(default=0.02, gt=0.0, lt=0.5)
    """More runaways than this are not runaways but a second, longer kind of job."""
    spare_succeeded: bool = True
    """Never propose a timeout that would have stopped a job of the history that succeeded."""


def definition_has_timeout(item: dict[str, Any]) -> bool:
    return bool((item.get("timeout") or {}).get("attemptDurationSeconds"))


def proposed_timeout_s(runtimes: np.ndarray, quantile: float, multiplier: float) -> int:
    """`multiplier` x the `quantile` runtime, rounded up to a whole minute, at least 60 s."""
    usual = float(np.quantile(runtimes, quantile))
    return max(MIN_ATTEMPT_DURATION_S, math.ceil(usual * multiplier / 60.0 - 1e-9) * 60)


class AttemptTimeoutStrategy(Strategy[AttemptTimeoutSettings]):
    name: ClassVar[str] = "attempt-timeouts"
    settings_class: ClassVar[type[StrategySettings]] = AttemptTimeoutSettings

    def run(self, inputs: RecommendInputs) -> list[Recommendation]:
        jobs = inputs.baseline.jobs
        if jobs.empty or "job_definition_name" not in jobs or not inputs.baseline.can_replay:
            return []
        # A job kept though it never started has no measured runtime (0, or a gang's estimate from
        # the very runs counted here): it says nothing of the definition's usual runtime.
        ran = ~jobs["never_started"].fillna(False).astype(bool) if "never_started" in jobs else True
        out = []
        for item in inputs.job_definitions:
            if definition_has_timeout(item):
                continue
            mine = jobs[(jobs["job_definition_name"] == item["jobDefinitionName"]) & ran]
            rec = self._recommend(inputs, item, mine)
            if rec is not None:
                out.append(rec)
        return out

    def _recommend(
        self, inputs: RecommendInputs, item: dict[str, Any], jobs: pd.DataFrame
    ) -> Recommendation | None:
        s = self.settings
        if len(jobs) < s.min_jobs:
            return None
        runtimes = jobs["runtime_s"].to_numpy(np.float64)
        timeout = proposed_timeout_s(runtimes, s.quantile, s.multiplier)
        succeeded = (
            (jobs["status"].astype(str) == "SUCCEEDED").to_numpy()
            if "status" in jobs
            else np.ones(len(jobs), dtype=bool)
        )
        if s.spare_succeeded and succeeded.any():
            longest = float(runtimes[succeeded].max())
            timeout = max(timeout, math.ceil(longest / 60.0 + 1e-9) * 60)
        runaway = runtimes > timeout
        if not runaway.any() or runaway.mean() > s.max_runaway_share:
            return None
        name = item["jobDefinitionName"]
        comparison = _compare_over_the_same_span(
            inputs.baseline, {name: {"timeout": {"attemptDurationSeconds": timeout}}}
        )
        if comparison is None or comparison.monthly_savings_usd < s.min_monthly_savings_usd:
            return None
        runaway_hours = float((runtimes[runaway] - timeout).sum()) / 3600.0
        succeeded_runaways = int((runaway & succeeded).sum())
        usual = float(np.quantile(runtimes, s.quantile))
        share = float(runaway.mean())
        return make_recommendation(
            strategy=self.name,
            target_arn=item["jobDefinitionArn"],
            target_kind="job-definition",
            target_name=name,
            title=(
                f"{name}: stop attempts after {timeout // 60:,} min ({int(runaway.sum())} of {len(jobs)}"
                f" jobs ran {s.multiplier:g}x past the usual {usual / 60:,.1f} min)"
            ),
            current={"timeout": None},
            proposed={"timeout": {"attemptDurationSeconds": timeout}},
            monthly_savings_usd=comparison.monthly_savings_usd,
            risk={
                "failures": (
                    f"{int(runaway.sum())} jobs of the history ran past {timeout:,} s and would fail with"
                    f" '{TIMEOUT_REASON}' (not retried); {succeeded_runaways} of them had succeeded"
                ),
                "queue_wait": comparison.wait_text(),
            },
            risk_scores={"failures": min(1.0, succeeded_runaways / max(1, len(jobs)) * 10.0)},
            confidence=min(0.9, 0.5 + 0.4 * (1.0 - share / s.max_runaway_share)),
            effort="low",
            update_kind=UpdateKind.NEW_REVISION,
            evidence={
                "replay": comparison.evidence,
                "metadata": METADATA,
                "runtimes": {
                    "jobs": len(jobs),
                    "quantile": s.quantile,
                    "usual_runtime_s": round(usual, 1),
                    "multiplier": s.multiplier,
                    "timeout_s": timeout,
                    "runaway_jobs": int(runaway.sum()),
                    "runaway_succeeded": succeeded_runaways,
                    "runaway_hours_beyond_timeout": round(runaway_hours, 3),
                    "longest_runaway_s": float(runtimes[runaway].max()),
                },
                "chart": {"runtime_s": histogram(runtimes)},
            },
            account_id=account_of(item["jobDefinitionArn"]),
            region=inputs.region,
        )


def _compare_over_the_same_span(baseline: ReplayBaseline, revisions: dict[str, Any]) -> Comparison | None:
    """Today's estate against the revisions, both billed until the current replay's end."""
    ends = baseline.current().attempts["ended_at"]
    until = math.ceil(float(ends.max())) if len(ends) and ends.notna().any() else 0
    current = copy.deepcopy(baseline.current_document)
    current.setdefault("simulation", {})["billUntilSeconds"] = until
    proposed = copy.deepcopy(current)
    proposed["simulation"]["jobDefinitionRevisions"] = revisions
    return replace(baseline, current_document=current).compare(proposed)
