"""Stuck-job limits: cancel jobs that block a queue's head for reasons capacity will not fix.

A job no compute environment of its queue can host (no instance type fits its shape,
MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT; or one fits but not within any CE's maxvCpus,
MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE) stays RUNNABLE at the head of its queue and the
jobs behind it wait, until someone cancels it. A `jobStateTimeLimitActions` entry for that reason
(state RUNNABLE, action CANCEL, maxTimeSeconds 600..86400) makes Batch cancel it after
`max_time_s` and let the next job advance (the user guide's "Automatic remediation with
jobStateTimeLimitActions"). Capacity shortages (CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY) are not
proposed here: capacity comes back, and cancelling those jobs loses work.

Which queues: those whose history has jobs that never started with one of those reasons
(`optimizer.simulate.never_started`; not MNP jobs, whose placement the replay decides and whose
spot-only block no action matches: `mnp-on-demand` takes those), or whose replay blocks a head
(the replay decides hostability from the queue's CEs, `optimizer.simulate.head_blocking`), and that have no
entry for the reason yet. The replay runs both sides with the same owner cancel delay
(`simulation.blockedJobCancelSeconds`): how long the history's blocked jobs stayed before someone
cancelled them (their median; `assumed_owner_cancel_s` when the history has none, marked assumed),
and the proposal adds the entries. The figure is the replay's cost change (the minimum capacity a
blocked queue kept idle, stated apart as `idle_usd_while_blocked`, and the instances its held jobs
launched later); what it buys is the queue's
p95 wait, which must improve by `min_p95_wait_improvement_s`, stated as `evidence.wait_improvement`
so the headline shows a wait-only improvement apart from the dollars (`recommend/headline.py`).

Metadata: low effort (one UpdateJobQueue), running jobs are not restarted (the action touches only
RUNNABLE jobs), reversible (the rollback restores the queue's previous actions list).
"""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from pydantic import Field

from optimizer.domain import Recommendation, UpdateKind
from optimizer.recommend.base import QueueStrategy, StrategySettings, make_recommendation
from optimizer.recommend.estate import account_of, is_active, order_names
from optimizer.recommend.inputs_model import RecommendInputs
from optimizer.recommend.savings import ReplayBaseline
from optimizer.simulate.never_started import is_multinode_row, never_started_blocked
from optimizer.simulate.results import ReplayResult, blocked_heads
from optimizer.simulate.timeouts import (
    COMPUTE_ENVIRONMENT_MAX_RESOURCE,
    JOB_RESOURCE_REQUIREMENT,
    MAX_STATE_TIME_S,
    MIN_STATE_TIME_S,
)

STRATEGY = "stuck-job-limits"
METADATA = {"implementation_effort": "low", "restarts_running_jobs": False, "reversible": True}
CAPACITY_WILL_NOT_FIX = (JOB_RESOURCE_REQUIREMENT, COMPUTE_ENVIRONMENT_MAX_RESOURCE)


class StuckJobLimitSettings(StrategySettings):
    max_time_s: int = Field(default=MIN_STATE_TIME_S, ge=MIN_STATE_TIME_S, le=MAX_STATE_TIME_S)
    """How long a job no CE can host stays at the head before Batch cancels it: Batch's minimum by
    default, since no amount of waiting lets capacity run it."""
    min_p95_wait_improvement_s: float = Field(default=300.0, ge=0.0)
    """The queue's p95 wait must improve by at least this much in the replay."""
    assumed_owner_cancel_s: float = Field(default=86400.0, gt=0.0, le=30 * 86400.0)
    """How long a blocked job stays before its owner cancels it, when the history shows none."""


def blocked_history(jobs: pd.DataFrame, window_end: pd.Timestamp | None) -> pd.DataFrame:
    """The history's jobs that never started because no CE could host them, with the reason and how
    long each stayed RUNNABLE (until it stopped, else until the end of the window)."""
    if jobs.empty or "status_reason" not in jobs:
        return jobs.iloc[0:0].assign(reason=[], stayed_s=[])
    # MNP jobs are not this strategy's: the replay decides where a gang can run (`gangs.py`), and
    # one that never started on a spot-only queue has no reason a time limit action can match
    # (`never_started.py`, `mnp-on-demand` proposes an on-demand CE for it).
    mask = jobs["started_at"].isna() & never_started_blocked(jobs["status_reason"]) & ~is_multinode_row(jobs)
    found = jobs[mask]
    reasons = [
        next((r for r in CAPACITY_WILL_NOT_FIX if r in str(text)), JOB_RESOURCE_REQUIREMENT)
        for text in found["status_reason"]
    ]
    return found.assign(reason=reasons, stayed_s=stayed_runnable_s(found, window_end).to_numpy())


def stayed_runnable_s(found: pd.DataFrame, window_end: pd.Timestamp | None) -> pd.Series:
    """How long each job that never started stayed (created -> stopped, else -> `window_end`)."""
    created = pd.to_datetime(found["created_at"])
    end = pd.to_datetime(found["stopped_at"])
    if window_end is not None:
        end = end.fillna(window_end)
    return (end - created).dt.total_seconds().clip(lower=0)


def owner_cancel_s(stayed: pd.Series | np.ndarray) -> float | None:
    """The owner's cancel delay a history shows: the median stay of its jobs that never started
    (None when it has none, or none stayed at all). The replay leaves a blocked head that no time
    limit action removes for this long (`with_owner_cancel`)."""
    measured = np.asarray(stayed, dtype=float)
    measured = measured[~np.isnan(measured)]
    return float(np.median(measured)) if measured.size and measured.max() > 0 else None


def waits_behind(jobs: pd.DataFrame, blocked: pd.DataFrame) -> dict[str, Any]:
    """History: the p95 wait (created -> started) of the queue's jobs submitted while a blocked job
    stayed RUNNABLE, against the others'."""
    started = jobs[jobs["started_at"].notna()]
    if started.empty or blocked.empty:
        return {"jobs_behind": 0}
    # Compared as pandas timestamps: the store may return them with or without a time zone.
    created = pd.to_datetime(started["created_at"])
    wait = (pd.to_datetime(started["started_at"]) - created).dt.total_seconds()
    behind = np.zeros(len(started), dtype=bool)
    for begin, stayed in zip(pd.to_datetime(blocked["created_at"]), blocked["stayed_s"], strict=True):
        until = begin + pd.Timedelta(seconds=float(stayed))
        behind |= ((created >= begin) & (created < until)).to_numpy()
    waits = wait.to_numpy()
    out: dict[str, Any] = {"jobs_behind": int(behind.sum())}
    if behind.any():
        out["p95_wait_behind_s"] = round(float(np.quantile(waits[behind], 0.95)), 1)
    if (~behind).any():
        out["p95_wait_others_s"] = round(float(np.quantile(waits[~behind], 0.95)), 1)
    return out


def idle_cost_while_blocked(result: ReplayResult, ce_names: list[str], heads: pd.DataFrame) -> float:
    """What the queue's compute environments' instances cost, unused, while a blocked job held the
    queue's head in a replay: each instance's price x its idle vCPU share over those windows (the
    minimum capacity a blocked queue keeps waiting, and whatever was left running)."""
    if heads.empty:
        return 0.0
    windows = list(zip(heads["head_at_s"], heads["head_at_s"] + heads["blocked_s"], strict=True))
    instances = result.instances[result.instances["compute_environment"].isin(ce_names)]
    attempts = result.attempts[result.attempts["instance_id"].isin(instances["instance_id"])]
    busy = attempts.groupby("instance_id")
    total = 0.0
    for row in instances.itertuples():
        span = sum(_overlap(row.launched_at, row.terminated_at, a, b) for a, b in windows)
        if span <= 0:
            continue
        used = 0.0
        if row.instance_id in busy.groups:
            for attempt in busy.get_group(row.instance_id).itertuples():
                seconds = sum(_overlap(attempt.started_at, attempt.ended_at, a, b) for a, b in windows)
                used += seconds * float(attempt.vcpus)
        idle_share = max(0.0, 1.0 - used / (span * float(row.vcpus))) if row.vcpus else 0.0
        total += span * idle_share * float(row.price_per_hour) / 3600.0
    return total


def _overlap(start: float, end: float, low: float, high: float) -> float:
    return max(0.0, min(float(end), high) - max(float(start), low))


def with_owner_cancel(baseline: ReplayBaseline, seconds: float) -> ReplayBaseline:
    """The baseline whose replays leave a blocked job at its queue's head for `seconds` when no
    time limit action matches (both sides, so only the proposed actions differ)."""
    document = copy.deepcopy(baseline.current_document)
    document.setdefault("simulation", {})["blockedJobCancelSeconds"] = round(float(seconds), 3)
    return replace(baseline, current_document=document)


def with_time_limits(document: dict[str, Any], queue: str, actions: list[dict[str, Any]]) -> dict[str, Any]:
    out = copy.deepcopy(document)
    for body in out["jobQueues"]:
        if body["jobQueueName"] == queue:
            body["jobStateTimeLimitActions"] = copy.deepcopy(actions)
    return out


class StuckJobLimitStrategy(QueueStrategy[StuckJobLimitSettings]):
    name: ClassVar[str] = STRATEGY
    settings_class: ClassVar[type[StrategySettings]] = StuckJobLimitSettings

    def _recommend(self, inputs: RecommendInputs, queue: dict[str, Any]) -> Recommendation | None:
        s = self.settings
        name = queue["jobQueueName"]
        baseline = inputs.baseline
        if not is_active(queue) or not baseline.can_replay:
            return None
        if not any(body["jobQueueName"] == name for body in baseline.current_document["jobQueues"]):
            return None  # the replay cannot model its CEs
        jobs = inputs.jobs_of_queues([name])
        history = blocked_history(jobs, history_end(inputs.jobs))
        # Which jobs no CE can host is the replay's to say from the shapes; the shared replay of
        # today's estate (cached for every strategy) lists them, so a queue without any costs nothing.
        known = blocked_heads(baseline.current())
        reasons = sorted(set(known.loc[known["queue"] == name, "reason"]) | set(history["reason"]))
        existing = list(queue.get("jobStateTimeLimitActions") or [])
        covered = {e.get("reason") for e in existing if e.get("state", "RUNNABLE") == "RUNNABLE"}
        missing = [r for r in reasons if r in CAPACITY_WILL_NOT_FIX and r not in covered]
        if not missing:
            return None
        owner_cancel = owner_cancel_s(history["stayed_s"])
        held = with_owner_cancel(baseline, owner_cancel or s.assumed_owner_cancel_s)
        heads = blocked_heads(held.current())
        heads = heads[heads["queue"] == name]
        actions = existing + [
            {"reason": r, "state": "RUNNABLE", "maxTimeSeconds": s.max_time_s, "action": "CANCEL"}
            for r in missing
        ]
        comparison = held.compare(with_time_limits(held.current_document, name, actions))
        if comparison is None:
            return None
        wait_now = comparison.wait_p95("current", name)
        wait_then = comparison.wait_p95("proposed", name)
        if wait_now is None or wait_then is None or wait_now - wait_then < s.min_p95_wait_improvement_s:
            return None
        saving = comparison.monthly_savings_usd
        delayed = int(heads["jobs_delayed"].sum()) if not heads.empty else 0
        evidence = {
            "replay": comparison.evidence,
            "metadata": METADATA,
            "wait_improvement": {
                "scope": f"queue {name}",
                "p95_wait_before_s": round(wait_now, 1),
                "p95_wait_after_s": round(wait_then, 1),
            },
            "blocked": {
                "reasons": missing,
                "history": {
                    "jobs": len(history),
                    "by_reason": {str(k): int(v) for k, v in history["reason"].value_counts().items()},
                    "median_stay_s": None if owner_cancel is None else round(owner_cancel, 1),
                    **waits_behind(jobs, history),
                },
                "replay": {
                    "blocked_heads": len(heads),
                    "jobs_delayed": delayed,
                    "blocked_s": round(float(heads["blocked_s"].sum()), 1) if not heads.empty else 0.0,
                    "idle_usd_while_blocked": round(
                        idle_cost_while_blocked(held.current(), order_names(queue), heads), 2
                    ),
                },
                "owner_cancel_s": round(owner_cancel or s.assumed_owner_cancel_s, 1),
                "owner_cancel_assumed": owner_cancel is None,
            },
        }
        return make_recommendation(
            strategy=self.name,
            target_arn=queue["jobQueueArn"],
            target_kind="job-queue",
            target_name=name,
            title=(
                f"{name}: cancel jobs no compute environment can host after {s.max_time_s // 60} min"
                f" ({', '.join(r.split(':', 1)[1] for r in missing)}); p95 wait"
                f" {wait_now / 60:,.0f} -> {wait_then / 60:,.0f} min"
            ),
            current={"job_state_time_limit_actions": existing},
            proposed={"job_state_time_limit_actions": actions},
            monthly_savings_usd=saving,
            risk={
                "queue_wait": f"p95 wait {wait_now:,.0f}s now, {wait_then:,.0f}s with the limits",
                "failures": (
                    f"{len(heads)} blocked job(s) in the replay are cancelled after {s.max_time_s} s instead"
                    " of by their owner; none of them could ever run on the queue's compute environments"
                ),
            },
            risk_scores={},
            confidence=0.5 if owner_cancel is None else 0.7,
            effort="low",
            update_kind=UpdateKind.QUEUE_SETTINGS,
            evidence=evidence,
            account_id=account_of(queue["jobQueueArn"]),
            region=inputs.region,
        )


def history_end(jobs: pd.DataFrame) -> pd.Timestamp | None:
    """The last moment the history saw (its latest creation, start or stop)."""
    stamps = [pd.to_datetime(jobs[c]).max() for c in ("created_at", "started_at", "stopped_at") if c in jobs]
    stamps = [t for t in stamps if t is not None and not pd.isna(t)]
    return max(stamps) if stamps else None
