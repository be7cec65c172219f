"""Retry and spot: for a queue spot adoption refuses only because its jobs do not survive a reclaim.

Spot adoption (`spot.py`) rightly leaves a queue alone when its jobs are not retried after a host
loss: on spot, every reclaim would fail a job. The fix is two changes applied together, and this
strategy prices them together:

1. a new revision of each job definition the queue runs whose retry strategy does not retry host
   reclaims, with `attempts` = max(its own, `attempts`) and `evaluateOnExit`
   `[{"onStatusReason": "Host EC2*", "action": "RETRY"}, {"onReason": "*", "action": "EXIT"}]`
   (retry reclaims, exit on application errors: a failing job fails once, as it does today); a
   definition with rules of its own keeps them after the reclaim rule (Batch takes at most 5);
2. the spot CE ahead of on-demand that spot adoption proposes (same copy, same naming, same risk
   rules on runtime and expected lost work), judged as if the revisions were in place.

The replay runs the proposal as `simulation.jobDefinitionRevisions` plus the new queue order, so the
extra attempts reclaims cause, their cost and the change in p95 queue wait are in the figure and in
the evidence, and the evidence command reproduces it. The current side replays the estate as it is.

Metadata: medium effort (revisions and a new CE), running jobs are not restarted (they keep their
revision and their on-demand instances; new jobs go to spot first), reversible (the queue order is
restored, the spot CE disabled, the revisions deregistered).
"""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any, ClassVar

from pydantic import Field

from optimizer.domain import Recommendation, UpdateKind
from optimizer.recommend.base import QueueStrategy, StrategySettings, make_recommendation
from optimizer.recommend.inputs_model import RecommendInputs
from optimizer.recommend.savings import ReplayBaseline
from optimizer.recommend.strategies.spot import SpotAdoptionSettings, SpotAdoptionStrategy
from optimizer.recommend.workload import retries_host_loss, tolerant_share

STRATEGY = "retry-and-spot"
HOST_RECLAIM_RULE = {"onStatusReason": "Host EC2*", "action": "RETRY"}
EXIT_ON_APPLICATION_ERRORS = {"onReason": "*", "action": "EXIT"}
METADATA = {"implementation_effort": "medium", "restarts_running_jobs": False, "reversible": True}


class RetryAndSpotSettings(StrategySettings):
    attempts: int = Field(default=3, ge=2, le=10)
    """Attempts of the new revisions: enough for a job to survive a reclaim or two."""
    spot: SpotAdoptionSettings = Field(default_factory=SpotAdoptionSettings)
    """The spot CE's rules (runtime, expected lost work, naming), as spot adoption applies them."""


def reclaim_retry_strategy(current: dict[str, Any] | None, attempts: int) -> dict[str, Any]:
    """The retry strategy of the new revision (see the module docstring)."""
    current = current or {}
    own = int(current.get("attempts") or 1)
    rules = [copy.deepcopy(r) for r in current.get("evaluateOnExit") or []]
    tail = rules[:4] if rules else [EXIT_ON_APPLICATION_ERRORS]
    return {"attempts": max(own, attempts), "evaluateOnExit": [HOST_RECLAIM_RULE, *tail]}


class RetryAndSpotStrategy(QueueStrategy[RetryAndSpotSettings]):
    name: ClassVar[str] = STRATEGY
    settings_class: ClassVar[type[StrategySettings]] = RetryAndSpotSettings

    def _recommend(self, inputs: RecommendInputs, queue: dict[str, Any]) -> Recommendation | None:
        s = self.settings
        name = queue["jobQueueName"]
        jobs = inputs.jobs_of_queues([name])
        if jobs.empty or "job_definition_name" not in jobs or not inputs.baseline.can_replay:
            return None
        if tolerant_share(jobs) >= s.spot.min_tolerant_share:
            return None  # spot adoption's case, not this one
        used = set(jobs["job_definition_name"].dropna().astype(str))
        revisions = {
            item["jobDefinitionName"]: (item, reclaim_retry_strategy(item.get("retryStrategy"), s.attempts))
            for item in inputs.job_definitions
            if item["jobDefinitionName"] in used and not retries_host_loss(item.get("retryStrategy"))
        }
        if not revisions:
            return None
        # Judge the spot CE as spot adoption would with the revisions in place: the queue's jobs
        # carry the new strategies, and the proposal replays them; the current side stays as it is.
        revised_jobs = inputs.jobs.copy()
        for definition, (_, strategy) in revisions.items():
            mask = revised_jobs["job_definition_name"] == definition
            revised_jobs.loc[mask, "retry_strategy"] = [strategy] * int(mask.sum())
        baseline = _with_revisions(
            inputs.baseline, {d: {"retryStrategy": r} for d, (_, r) in revisions.items()}
        )
        spot_rec = SpotAdoptionStrategy(
            s.spot.model_copy(update={"min_monthly_savings_usd": 0.0})
        )._recommend(replace(inputs, jobs=revised_jobs, baseline=baseline), queue)
        if spot_rec is None or spot_rec.monthly_savings_usd < s.min_monthly_savings_usd:
            return None
        evidence = copy.deepcopy(spot_rec.evidence)
        replayed = evidence["replay"]
        replayed["current_config"] = inputs.baseline.current_document
        proposed_summary = replayed.get("proposed_summary", {})
        current_summary = replayed.get("current_summary", {})
        extra_attempts = int(proposed_summary.get("spot_reclaims", 0) or 0)
        evidence["metadata"] = METADATA
        evidence["retry"] = {
            "definitions": sorted(revisions),
            "extra_attempts_from_reclaims": extra_attempts,
            "failed_before": current_summary.get("failed"),
            "failed_after": proposed_summary.get("failed"),
        }
        proposed = {
            **spot_rec.proposed,
            "job_definition_revisions": [
                {"job_definition": item["jobDefinitionArn"], "retry_strategy": strategy}
                for _, (item, strategy) in sorted(revisions.items())
            ],
        }
        current = {
            **spot_rec.current,
            "job_definition_revisions": [
                {"job_definition": item["jobDefinitionArn"], "retry_strategy": item.get("retryStrategy")}
                for _, (item, _) in sorted(revisions.items())
            ],
        }
        new_ce = spot_rec.proposed["new_compute_environment"]["name"]
        risk = {k: v for k, v in spot_rec.risk.items() if k != "scores"}
        risk["failures"] = (
            f"{len(revisions)} definition(s) retry host reclaims ({extra_attempts} extra attempts in the"
            " replay) and exit on application errors"
        )
        return make_recommendation(
            strategy=self.name,
            target_arn=queue["jobQueueArn"],
            target_kind="job-queue",
            target_name=name,
            title=(
                f"{name}: retry host reclaims ({', '.join(sorted(revisions))}),"
                f" then run on spot first ({new_ce})"
            ),
            current=current,
            proposed=proposed,
            monthly_savings_usd=spot_rec.monthly_savings_usd,
            risk=risk,
            risk_scores=spot_rec.risk.get("scores", {}),
            confidence=spot_rec.confidence,
            effort="medium",
            update_kind=UpdateKind.QUEUE_ORDER,
            evidence=evidence,
            account_id=spot_rec.account_id,
            region=inputs.region,
        )


def _with_revisions(baseline: ReplayBaseline, revisions: dict[str, dict[str, Any]]) -> ReplayBaseline:
    """A baseline whose proposals carry the revisions and whose current side is the estate as it is
    (its replay reused, so the comparison is today's estate against revisions + spot)."""
    document = copy.deepcopy(baseline.current_document)
    document.setdefault("simulation", {})["jobDefinitionRevisions"] = revisions
    revised = replace(baseline, current_document=document)
    revised._current = baseline.current()
    return revised
