"""Fair share: a scheduling policy for a queue shared by teams where one team starves the others.

A FIFO queue runs jobs in submission order: a team that submits a burst of long jobs holds the
queue's capacity, and another team's few short jobs wait behind the whole burst. A fair-share
scheduling policy (share identifiers, weights, decay, compute reservation, as the Batch user guide
defines them) gives each share capacity in inverse proportion to its weight, judged on its usage
over the last `shareDecaySeconds`.

Which queues: FIFO queues (the estate's scheduling policies are not collected, so a queue that has
one cannot be replayed as it schedules today and is left out) with at least two shares
(`optimizer.simulate.shares`: the jobs' shareIdentifier, else their team/user tag) of
`min_jobs_per_share` started jobs each, where one share starves: its p95 wait in the history is at
least `min_p95_wait_s`, and its p95 slowdown (p95 wait / mean runtime: how many of its own job
lengths it waits) at least `min_wait_ratio` times another share's. Under FIFO everyone waits behind
a burst, but the team with short jobs waits dozens of its job lengths while the bursting team waits
a few of its own; the slowdown tells the starved share from the one that holds the capacity.

The policy, and why each value:
- `weightFactor`: two candidates are replayed and the fairer kept (the lower worst p95 slowdown
  over the shares after the change, then the lower sum of them; demand on a tie): weights from
  each share's demand (vCPU-seconds in the window: the busiest share 1.0, a share with a tenth of
  its demand 10.0; a lower weight gets more capacity), so each share is entitled to capacity in
  proportion to what it asks for and none can hold all of it; or equal weights (1.0 each), so
  every active share gets the same capacity, which serves a flooded queue's quiet teams sooner.
  The evidence keeps both;
- `shareDecaySeconds` = 4 x the queue's mean job runtime, within 600 (Batch's minimum window)
  .. 604800: usage is remembered over a few job lengths, so a share that just ran a burst of long
  jobs yields to the others until its usage decays, and the AWS guidance to raise it for jobs
  longer than ten minutes is followed;
- `computeReservation` so that, with one share active, the capacity held back for shares not yet
  active (computeReservation/100 ^ active shares of maxvCpus) is the smallest share's p95
  concurrent vCPUs: a quiet team's first jobs find room without waiting for a burst to drain; with
  more shares active the reserve shrinks geometrically, as Batch defines it.

Pricing: both replays run the same jobs (with their shares) on the same compute environments; the
proposed one gives the queue the policy. The figure the recommendation is judged on is the change
in each share's p95 wait (`optimizer.simulate.results.share_waits`): the starved share's p95 must
improve by `min_p95_wait_improvement_s`. Capacity is unchanged, but not always its cost: when the
shares' jobs interleave, instances host mixed shapes and pack less well, so the replay's cost change
is the monthly figure (at most `max_monthly_cost_usd`). A change within the model's error reads as
"faster at the same cost" in the headline, a larger one as "faster, costs $X" (`headline.py`).

Applying it: a FIFO queue cannot be given a policy (botocore's CreateJobQueue model: "can't have a
fair-share scheduling policy added"), so the proposal is a new policy and a new queue on the same
compute environments (`optimizer.apply.queue_settings`), and jobs must be submitted there with a
shareIdentifier (the team's name without its non-alphanumeric characters, as Batch requires; the
replay keeps the team names, `evidence.fair_share.share_identifiers` maps them): high effort. The
new queue and policy share one name, the queue's name + `name_suffix`, with "-2", "-3", ... when a
queue or a policy one of the estate's queues uses has it, within botocore's name rule. (The
planner also updates an existing policy in place, for a recommendation that names one.) Running
jobs are not restarted; reversible (the new queue is disabled and deleted, the policy deleted).
"""

from __future__ import annotations

import copy
import math
import re
from dataclasses import replace
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from pydantic import Field

from optimizer.domain import Recommendation, UpdateKind
from optimizer.recommend.base import QueueStrategy, StrategySettings, make_recommendation
from optimizer.recommend.estate import account_of, is_active, order_names
from optimizer.recommend.inputs_model import RecommendInputs
from optimizer.recommend.savings import Comparison, ReplayBaseline
from optimizer.recommend.workload import concurrency
from optimizer.simulate.fair_share import (
    DEFAULT_DECAY_S,
    MAX_DECAY_S,
    MAX_NAME_LENGTH,
    MAX_WEIGHT,
    MIN_WEIGHT,
    RESOURCE_NAME,
)
from optimizer.simulate.shares import MAX_SHARE_LENGTH, shares_of

STRATEGY = "fair-share"
METADATA = {"implementation_effort": "high", "restarts_running_jobs": False, "reversible": True}
"""High: submitters move to a new queue and tag their jobs with a shareIdentifier."""


class FairShareSettings(StrategySettings):
    min_monthly_savings_usd: float = Field(default=0.0, ge=0.0)
    """Not used: a policy is judged on waits (`min_p95_wait_improvement_s`), not dollars."""
    min_jobs_per_share: int = Field(default=10, ge=1)
    min_p95_wait_s: float = Field(default=1800.0, ge=0.0)
    """The starved share's p95 wait in the history must be at least this long..."""
    min_wait_ratio: float = Field(default=4.0, ge=1.0)
    """...and its p95 slowdown (wait / mean runtime) this many times the least slowed share's."""
    min_p95_wait_improvement_s: float = Field(default=600.0, ge=0.0)
    """The worst share's p95 wait must improve by at least this much in the replay."""
    max_monthly_cost_usd: float = Field(default=500.0, ge=0.0)
    """What the policy may cost a month (packing mixed shapes) for the starved share's wait."""
    decay_runtimes: float = Field(default=4.0, gt=0.0, le=100.0)
    """shareDecaySeconds in mean job runtimes."""
    name_suffix: str = Field(default="-fairshare", pattern=r"^[A-Za-z0-9_-]{1,16}$")


def history_shares(jobs: pd.DataFrame) -> pd.Series:
    """Each store job's share (`optimizer.simulate.shares`), aligned with `jobs`."""
    share_ids = jobs["share_identifier"] if "share_identifier" in jobs else [None] * len(jobs)
    tags = jobs["tags"] if "tags" in jobs else [None] * len(jobs)
    return pd.Series(shares_of(share_ids, tags), index=jobs.index, dtype=object)


def share_stats(jobs: pd.DataFrame, shares: pd.Series) -> pd.DataFrame:
    """Per share of one queue's history: started jobs, p95 wait, demand (vCPU-s) and p95 concurrent
    vCPUs, the inputs of the starvation test and of the policy."""
    rows = []
    for share, group in jobs.groupby(shares, dropna=True):
        started = group[group["started_at"].notna() & group["stopped_at"].notna()]
        if started.empty:
            continue
        wait = (
            pd.to_datetime(started["started_at"]) - pd.to_datetime(started["created_at"])
        ).dt.total_seconds()
        runtime = (
            pd.to_datetime(started["stopped_at"]) - pd.to_datetime(started["started_at"])
        ).dt.total_seconds()
        vcpus = pd.to_numeric(started["vcpus"], errors="coerce").fillna(0.0)
        durations, levels = concurrency(started)
        rows.append(
            {
                "share": str(share),
                "jobs": len(started),
                "p95_wait_s": float(np.quantile(wait.clip(lower=0).to_numpy(), 0.95)),
                "demand_vcpu_s": float((runtime.clip(lower=0) * vcpus).sum()),
                "p95_vcpus": _time_quantile(durations, levels, 0.95),
                "mean_runtime_s": float(runtime.clip(lower=0).mean()),
                "p95_slowdown": float(np.quantile(wait.clip(lower=0).to_numpy(), 0.95))
                / max(float(runtime.clip(lower=0).mean()), 1.0),
            }
        )
    columns = ["share", "jobs", "p95_wait_s", "demand_vcpu_s", "p95_vcpus", "mean_runtime_s", "p95_slowdown"]
    return pd.DataFrame(rows, columns=columns)


def _time_quantile(durations: np.ndarray, levels: np.ndarray, q: float) -> float:
    if durations.size == 0:
        return 0.0
    order = np.argsort(levels)
    cumulative = np.cumsum(durations[order]) / durations.sum()
    return float(levels[order][min(int(np.searchsorted(cumulative, q)), len(order) - 1)])


def weights_from_demand(stats: pd.DataFrame) -> list[dict[str, Any]]:
    """shareDistribution: the busiest share 1.0, the others busiest/own demand (see the docstring)."""
    top = float(stats["demand_vcpu_s"].max())
    out = []
    for share, demand in sorted(zip(stats["share"], stats["demand_vcpu_s"], strict=True)):
        weight = top / demand if demand > 0 else MAX_WEIGHT
        out.append(
            {"shareIdentifier": share, "weightFactor": round(min(max(weight, MIN_WEIGHT), MAX_WEIGHT), 4)}
        )
    return out


def batch_share_identifier(share: str) -> str:
    """The shareIdentifier jobs of `share` are submitted with: Batch takes up to 255 alphanumeric
    characters (ShareAttributes in the API reference), so a team tag "team-a" becomes "teama"."""
    return re.sub(r"[^A-Za-z0-9]", "", share)[:MAX_SHARE_LENGTH]


def equal_weights(stats: pd.DataFrame) -> list[dict[str, Any]]:
    """shareDistribution giving every share the same capacity (Batch's default weight, listed)."""
    return [{"shareIdentifier": share, "weightFactor": 1.0} for share in sorted(stats["share"])]


def decay_seconds(mean_runtime_s: float, runtimes: float) -> int:
    """shareDecaySeconds: `runtimes` mean job runtimes, whole minutes, within Batch's range."""
    wanted = math.ceil(runtimes * max(mean_runtime_s, 0.0) / 60.0) * 60
    return int(min(max(wanted, DEFAULT_DECAY_S), MAX_DECAY_S))  # Batch's minimum window is its default


def compute_reservation(smallest_p95_vcpus: float, max_vcpus: float) -> int:
    """computeReservation (0..99): with one share active, Batch holds back reservation/100 of the
    maximum vCPUs for inactive shares; that reserve is the smallest share's p95 concurrent vCPUs."""
    if max_vcpus <= 0 or smallest_p95_vcpus <= 0:
        return 0
    return int(min(99, max(0, round(100.0 * smallest_p95_vcpus / max_vcpus))))


def with_fair_share(
    document: dict[str, Any], queue: str, policy_name: str, policy: dict[str, Any]
) -> dict[str, Any]:
    """A copy of `document` where `queue` schedules by the fair-share policy `policy` (the API's
    fairsharePolicy), given as a CreateSchedulingPolicy body and the queue's schedulingPolicyArn."""
    out = copy.deepcopy(document)
    out["schedulingPolicies"] = [
        *[p for p in out.get("schedulingPolicies") or [] if p.get("name") != policy_name],
        {"name": policy_name, "fairsharePolicy": copy.deepcopy(policy)},
    ]
    for body in out["jobQueues"]:
        if body["jobQueueName"] == queue:
            body["schedulingPolicyArn"] = policy_name
    return out


def estate_policy_names(queues: list[dict[str, Any]]) -> set[str]:
    """The names of the scheduling policies the estate's queues use (the end of each
    `schedulingPolicyArn`, "...:scheduling-policy/NAME"). The policies themselves are not
    collected, so a clash with one no queue uses shows only when the plan's first call,
    CreateSchedulingPolicy, runs (before the new queue is created)."""
    arns = (str(q.get("schedulingPolicyArn") or "") for q in queues)
    return {arn.rsplit(":scheduling-policy/", 1)[1] for arn in arns if ":scheduling-policy/" in arn}


def new_resource_name(base: str, suffix: str, taken: set[str], attempts: int = 99) -> str | None:
    """A name for the new fair-share queue and its policy (they share it): `base` + `suffix`, else
    with "-2", "-3", ... appended, the first that no queue or known policy has. `base` is cut so
    the name stays within botocore's limit (`RESOURCE_NAME`: up to 128 letters, numbers, - and _);
    None when none of `attempts` is free or valid."""
    for n in range(1, attempts + 1):
        tail = suffix if n == 1 else f"{suffix}-{n}"
        name = f"{base[: MAX_NAME_LENGTH - len(tail)]}{tail}"
        if RESOURCE_NAME.fullmatch(name) and name not in taken:
            return name
    return None


def with_shares(baseline: ReplayBaseline, store_jobs: pd.DataFrame) -> ReplayBaseline:
    """The baseline whose history carries each job's share (`share_identifier`), when the loaded
    history does not have it yet (the loader reads the same rule)."""
    if "share_identifier" in baseline.jobs:
        return baseline
    by_id = dict(zip(store_jobs["job_id"].astype(str), history_shares(store_jobs), strict=True))
    jobs = baseline.jobs.assign(share_identifier=baseline.jobs["job_id"].astype(str).map(by_id))
    return replace(baseline, jobs=jobs)


class FairShareStrategy(QueueStrategy[FairShareSettings]):
    name: ClassVar[str] = STRATEGY
    settings_class: ClassVar[type[StrategySettings]] = FairShareSettings

    def _recommend(self, inputs: RecommendInputs, queue: dict[str, Any]) -> Recommendation | None:
        s = self.settings
        name = queue["jobQueueName"]
        if not is_active(queue) or not inputs.baseline.can_replay:
            return None
        if not any(body["jobQueueName"] == name for body in inputs.baseline.current_document["jobQueues"]):
            return None
        jobs = inputs.jobs_of_queues([name])
        if jobs.empty:
            return None
        stats = share_stats(jobs, history_shares(jobs))
        stats = stats[stats["jobs"] >= s.min_jobs_per_share]
        if len(stats) < 2:
            return None
        starved = str(stats.loc[stats["p95_slowdown"].idxmax(), "share"])
        worst = stats.loc[stats["share"] == starved].iloc[0]
        least = max(float(stats["p95_slowdown"].min()), 1e-9)
        if worst["p95_wait_s"] < s.min_p95_wait_s or worst["p95_slowdown"] < s.min_wait_ratio * least:
            return None
        if queue.get("schedulingPolicyArn"):
            return None  # policies are not collected: today's scheduling of this queue is unknown
        ids = {str(sh): batch_share_identifier(str(sh)) for sh in stats["share"]}
        if not all(ids.values()) or len(set(ids.values())) < len(ids):
            return None  # the teams' names do not give distinct share identifiers
        taken = {q["jobQueueName"] for q in inputs.job_queues} | estate_policy_names(inputs.job_queues)
        policy_name = new_resource_name(name, s.name_suffix, taken)
        if policy_name is None:
            return None
        max_vcpus = _queue_max_vcpus(inputs, queue)
        mean_runtime = float(np.average(stats["mean_runtime_s"], weights=stats["jobs"]))
        runtime_of = dict(zip(stats["share"], stats["mean_runtime_s"], strict=True))
        baseline = with_shares(inputs.baseline, inputs.jobs)
        tried: dict[str, tuple[tuple[float, float], dict[str, Any], Comparison]] = {}
        for label, weights in (("demand", weights_from_demand(stats)), ("equal", equal_weights(stats))):
            candidate = {
                "shareDecaySeconds": decay_seconds(mean_runtime, s.decay_runtimes),
                "computeReservation": compute_reservation(float(stats["p95_vcpus"].min()), max_vcpus),
                "shareDistribution": weights,
            }
            replayed = baseline.compare(
                with_fair_share(baseline.current_document, name, policy_name, candidate)
            )
            if replayed is None:
                continue
            waits = _share_p95(replayed.proposed, name)
            slowdowns = [waits[sh] / max(runtime_of[sh], 1.0) for sh in waits if sh in runtime_of]
            tried[label] = ((max(slowdowns, default=math.inf), sum(slowdowns)), candidate, replayed)
        if not tried:
            return None
        chosen = min(tried, key=lambda label: (tried[label][0], label != "demand"))
        _, policy, comparison = tried[chosen]
        before = _share_p95(comparison.current, name)
        after = _share_p95(comparison.proposed, name)
        shares = [sh for sh in stats["share"] if sh in before and sh in after]
        if starved not in shares:
            return None
        improvement = before[starved] - after[starved]
        cost_change = -comparison.monthly_savings_usd
        if improvement < s.min_p95_wait_improvement_s or cost_change > s.max_monthly_cost_usd:
            return None
        proposed: dict[str, Any] = {
            "scheduling_policy": {
                "name": policy_name,
                "share_decay_seconds": policy["shareDecaySeconds"],
                "compute_reservation": policy["computeReservation"],
                "share_distribution": [
                    {**entry, "shareIdentifier": ids[entry["shareIdentifier"]]}
                    for entry in policy["shareDistribution"]
                ],
            },
            "new_job_queue": {"name": policy_name, "based_on": name},
        }
        per_share = [
            {
                "share": sh,
                "jobs": int(stats.loc[stats["share"] == sh, "jobs"].iat[0]),
                "history_p95_wait_s": round(float(stats.loc[stats["share"] == sh, "p95_wait_s"].iat[0]), 1),
                "p95_wait_before_s": round(before[sh], 1),
                "p95_wait_after_s": round(after[sh], 1),
            }
            for sh in sorted(shares)
        ]
        how = (
            f"submit to {policy_name} with a shareIdentifier ({', '.join(sorted(ids[sh] for sh in shares))})"
        )
        return make_recommendation(
            strategy=self.name,
            target_arn=queue["jobQueueArn"],
            target_kind="job-queue",
            target_name=name,
            title=(
                f"{name}: fair-share scheduling for {len(shares)} shares; share {starved} p95 wait"
                f" {before[starved] / 60:,.0f} -> {after[starved] / 60:,.0f} min ({how})"
            ),
            current={"scheduling_policy_arn": None},
            proposed=proposed,
            monthly_savings_usd=comparison.monthly_savings_usd,
            risk={
                "queue_wait": "; ".join(
                    f"{e['share']} p95 {e['p95_wait_before_s']:,.0f}s -> {e['p95_wait_after_s']:,.0f}s"
                    for e in per_share
                ),
                "adoption": (
                    f"a FIFO queue cannot be given a policy: {policy_name} is a new queue on the same compute"
                    " environments, and jobs reach it only when submitted there with a shareIdentifier"
                ),
            },
            risk_scores={},
            confidence=0.6,
            effort="high",
            update_kind=UpdateKind.BLUE_GREEN,
            evidence={
                "replay": comparison.evidence,
                "metadata": METADATA,
                "wait_improvement": {
                    "scope": f"share {starved} in queue {name}",
                    "p95_wait_before_s": round(before[starved], 1),
                    "p95_wait_after_s": round(after[starved], 1),
                },
                "fair_share": {
                    "shares": per_share,
                    "policy": policy,
                    "cost_change_usd_per_month": round(cost_change, 2),
                    "weights": chosen,
                    "share_identifiers": ids,
                    "candidates": {
                        label: {
                            "worst_p95_slowdown": round(slowdown[0], 2),
                            "total_p95_slowdown": round(slowdown[1], 2),
                            "p95_wait_after_s": {
                                sh: round(v, 1) for sh, v in _share_p95(replayed.proposed, name).items()
                            },
                            "cost_change_usd_per_month": round(-replayed.monthly_savings_usd, 2),
                        }
                        for label, (slowdown, _, replayed) in sorted(tried.items())
                    },
                    "why": {
                        "weightFactor": (
                            "busiest share's demand (vCPU-s) / the share's own: capacity as demanded"
                            if chosen == "demand"
                            else "1.0 each: every active share the same capacity"
                        )
                        + "; of the two candidates, the lower worst (then total) p95 slowdown in the replay",
                        "shareDecaySeconds": f"{s.decay_runtimes:g} x the mean job runtime"
                        f" ({mean_runtime:,.0f} s), within 600..604800",
                        "computeReservation": "with one share active, the reserve for inactive shares is the"
                        f" smallest share's p95 concurrent vCPUs ({float(stats['p95_vcpus'].min()):g} of"
                        f" {max_vcpus:g} max vCPUs)",
                    },
                },
            },
            account_id=account_of(queue["jobQueueArn"]),
            region=inputs.region,
        )


def _queue_max_vcpus(inputs: RecommendInputs, queue: dict[str, Any]) -> float:
    total = 0.0
    for ce_name in order_names(queue):
        ce = inputs.ce_named(ce_name)
        total += float(((ce or {}).get("computeResources") or {}).get("maxvCpus") or 0)
    return total


def _share_p95(summary: dict[str, Any], queue: str) -> dict[str, float]:
    """Each share's p95 wait in `queue` from a replay summary's `share_wait_s` section (computed by
    `optimizer.simulate.results.share_waits`)."""
    section = (summary.get("share_wait_s") or {}).get(queue) or {}
    return {
        str(share): float(v["p95_s"]) for share, v in section.items() if share and v.get("p95_s") is not None
    }
