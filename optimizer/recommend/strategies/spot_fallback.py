"""Spot fallback: an on-demand CE behind spot, for queues that run on spot alone.

When spot capacity runs short, a spot-only queue's jobs wait RUNNABLE until it returns (several
pipelines hand-build spot -> on-demand fallback queues for this). The proposal is a copy of the
queue's first spot CE as an on-demand CE (BEST_FIT_PROGRESSIVE, minvCpus 0, the same instance
types, networking and roles) placed last in the queue's order: Batch sends a job there only when
no spot CE of the queue can take it.

The history shows no shortages (a launch that never happened leaves no record), so both sides are
replayed with the same assumed shortages (`shortages`, the replay's `simulation.capacityShortages`
rules, seeded per pool: both replays meet the same spans). The figure is the replay's cost change:
on-demand hours cost more than the spot hours they replace, so it is usually a cost ("faster,
costs $X/month" in the headline, never a saving); what it buys is the change in the queue's p95
wait, which must improve by at least `min_p95_wait_improvement_s`. The evidence keeps both
documents, shortages included, so its command reproduces the figure.

The "after N attempts" variant (`fallback_after_attempts`) is priced next to it: the queue's
definitions retry host reclaims N times on spot (exiting on application errors, the rule
`retry-and-spot` proposes), and the workflow manager resubmits a job that still failed on a reclaim
to an on-demand queue over the same on-demand CE (Batch cannot switch a job's CE between
attempts). The replay prices it in two stages (`optimizer.simulate.resubmit`): the estate with the
revisions, then the resubmitted jobs alone on the on-demand CE; the evidence's `variants` gives both
figures, their p95 waits and which is cheaper, with the commands that reproduce each stage. Under
shortages it buys no wait (a job that waits for spot has no failed attempt to resubmit); what it
buys is that reclaims no longer fail jobs. The recommendation's change is the CE behind spot, the
one Batch's API applies alone; the variant needs the workflow manager's resubmission rule.

Metadata: low effort (a new CE and a queue update), running jobs are not restarted, reversible
(the queue order is restored and the new CE disabled).
"""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from optimizer.domain import Recommendation, UpdateKind
from optimizer.recommend.base import QueueStrategy, StrategySettings, make_recommendation
from optimizer.recommend.estate import account_of, edit_queue, is_active, is_managed, order_names, platform_of
from optimizer.recommend.inputs_model import RecommendInputs
from optimizer.recommend.savings import DAYS_PER_MONTH, Comparison, ReplayBaseline
from optimizer.recommend.strategies.retry_and_spot import EXIT_ON_APPLICATION_ERRORS, HOST_RECLAIM_RULE
from optimizer.simulate import parse_config, replay
from optimizer.simulate.resubmit import fallback_document, resubmitted_jobs

STRATEGY = "spot-fallback"
ON_DEMAND_STRATEGY = "BEST_FIT_PROGRESSIVE"
METADATA = {"implementation_effort": "low", "restarts_running_jobs": False, "reversible": True}


class ShortageSettings(BaseModel):
    """One `simulation.capacityShortages` rule (`optimizer.simulate.shortages`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    capacity_type: str = Field(default="SPOT", pattern=r"^(SPOT|ON_DEMAND)$")
    instance_types: tuple[str, ...] = Field(default=("*",), min_length=1)
    """Type names or globs ("c5.*")."""
    per_day: float = Field(default=1.0, gt=0.0)
    """Shortages a day in each pool (type x capacity type)."""
    mean_duration_s: float = Field(default=7200.0, gt=0.0)

    def to_api(self) -> dict[str, Any]:
        return {
            "capacityType": self.capacity_type,
            "instanceTypes": list(self.instance_types),
            "perDay": self.per_day,
            "meanDurationSeconds": self.mean_duration_s,
        }


class SpotFallbackSettings(StrategySettings):
    shortages: tuple[ShortageSettings, ...] = Field(default=(ShortageSettings(),), min_length=1)
    """The assumed shortages both replays meet (an assumption: AWS publishes no shortage rates)."""
    min_p95_wait_improvement_s: float = Field(default=600.0, ge=0.0)
    """The fallback must cut the queue's p95 wait by at least this much in the replay."""
    max_monthly_cost_usd: float = Field(default=1000.0, ge=0.0)
    """What the on-demand hours may cost a month for that wait."""
    min_jobs: int = Field(default=20, ge=1)
    name_suffix: str = Field(default="-ondemand", pattern=r"^[A-Za-z0-9_-]{1,16}$")
    fallback_after_attempts: int = Field(default=3, ge=0, le=10)
    """N of the "after N attempts" variant priced next to the CE behind spot; 0: not priced."""


def spot_attempts_strategy(current: dict[str, Any] | None, attempts: int) -> dict[str, Any]:
    """The revision's retry strategy in the "after N attempts" variant: `attempts` attempts, host
    reclaims retried, the definition's own rules after that, else exit on application errors."""
    rules = [copy.deepcopy(r) for r in (current or {}).get("evaluateOnExit") or []]
    return {
        "attempts": attempts,
        "evaluateOnExit": [HOST_RECLAIM_RULE, *(rules[:4] or [EXIT_ON_APPLICATION_ERRORS])],
    }


def with_shortages(baseline: ReplayBaseline, rules: list[dict[str, Any]]) -> ReplayBaseline:
    """The baseline whose current side (and every proposal built from it) meets `rules`."""
    document = copy.deepcopy(baseline.current_document)
    document.setdefault("simulation", {})["capacityShortages"] = rules
    return replace(baseline, current_document=document)


class SpotFallbackStrategy(QueueStrategy[SpotFallbackSettings]):
    name: ClassVar[str] = STRATEGY
    settings_class: ClassVar[type[StrategySettings]] = SpotFallbackSettings

    def _recommend(self, inputs: RecommendInputs, queue: dict[str, Any]) -> Recommendation | None:
        s = self.settings
        name = queue["jobQueueName"]
        order = order_names(queue)
        ces = [inputs.ce_named(n) for n in order]
        if not order or len(order) >= 3 or not is_active(queue) or any(ce is None for ce in ces):
            return None
        if any(not is_managed(ce) or platform_of(ce) != "SPOT" for ce in ces if ce is not None):
            return None  # on-demand (or Fargate, or unmanaged) capacity is already there
        if len(inputs.jobs_of_queues([name])) < s.min_jobs or not inputs.baseline.can_replay:
            return None
        base_name = order[0]
        new_name = f"{base_name[: 128 - len(s.name_suffix)]}{s.name_suffix}"
        if inputs.ce_named(new_name) is not None:
            return None  # a CE of that name exists: someone set this up differently
        baseline = with_shortages(inputs.baseline, [rule.to_api() for rule in s.shortages])
        body = next(
            (
                copy.deepcopy(b)
                for b in baseline.current_document["computeEnvironments"]
                if b["computeEnvironmentName"] == base_name
            ),
            None,
        )
        if body is None:
            return None  # the replay cannot model the spot CE
        body["computeEnvironmentName"] = new_name
        resources = body["computeResources"]
        resources.update(type="EC2", allocationStrategy=ON_DEMAND_STRATEGY, minvCpus=0)
        resources.pop("bidPercentage", None)
        new_order = [*order, new_name]
        comparison = baseline.compare(edit_queue(baseline.current_document, name, new_order, [body]))
        if comparison is None:
            return None
        wait_now = comparison.wait_p95("current", name)
        wait_then = comparison.wait_p95("proposed", name)
        if wait_now is None or wait_then is None:
            return None
        improvement = wait_now - wait_then
        saving = comparison.monthly_savings_usd
        if improvement < s.min_p95_wait_improvement_s or saving < -s.max_monthly_cost_usd:
            return None
        behind = {
            "variant": "on-demand CE behind spot",
            "monthly_savings_usd": round(saving, 2),
            "p95_wait_s": round(wait_then, 1),
            "command": comparison.evidence["command"],
        }
        variants = [behind]
        after = None
        if s.fallback_after_attempts:
            after = after_attempts_variant(
                inputs, baseline, name, body, s.fallback_after_attempts, f"{name[:100]}{s.name_suffix}"
            )
        if after is not None:
            variants.append(after)
        cheaper = max(variants, key=lambda v: v["monthly_savings_usd"])["variant"]
        return make_recommendation(
            strategy=self.name,
            target_arn=queue["jobQueueArn"],
            target_kind="job-queue",
            target_name=name,
            title=(
                f"{name}: on-demand fallback behind spot ({new_name}); p95 wait"
                f" {wait_now / 60:,.0f} -> {wait_then / 60:,.0f} min under spot shortages"
                + (
                    ""
                    if after is None
                    else _variant_text(after, s.fallback_after_attempts, cheaper == after["variant"])
                )
            ),
            current={"compute_environment_order": order},
            proposed={
                "compute_environment_order": new_order,
                "new_compute_environment": {
                    "name": new_name,
                    "based_on": base_name,
                    "platform": "EC2",
                    "allocation_strategy": ON_DEMAND_STRATEGY,
                    "min_vcpus": 0,
                },
            },
            monthly_savings_usd=saving,
            risk={
                "interruption": "unchanged (spot stays first; on-demand runs only what spot cannot)",
                "queue_wait": f"p95 wait {wait_now:,.0f}s now, {wait_then:,.0f}s with the fallback",
                "capacity": _shortage_text(comparison),
            },
            risk_scores={},
            confidence=0.5,  # the shortages are assumed, not measured
            effort="low",
            update_kind=UpdateKind.QUEUE_ORDER,
            evidence={
                "replay": comparison.evidence,
                "metadata": METADATA,
                "variants": variants,
                "cheaper_variant": cheaper,
                "shortages": {
                    "rules": [rule.to_api() for rule in s.shortages],
                    "assumed": True,
                    "p95_wait_before_s": round(wait_now, 1),
                    "p95_wait_after_s": round(wait_then, 1),
                    "current": comparison.current.get("capacity_shortages"),
                    "proposed": comparison.proposed.get("capacity_shortages"),
                    "on_demand_cost_usd": (comparison.proposed.get("cost_by_capacity_type") or {}).get(
                        "ON_DEMAND", 0.0
                    ),
                },
            },
            account_id=account_of(queue["jobQueueArn"]),
            region=inputs.region,
        )


def _variant_text(after: dict[str, Any], attempts: int, after_is_cheaper: bool) -> str:
    """The other variant in one clause: what it saves or costs, and which of the two is cheaper."""
    which = "cheaper than this" if after_is_cheaper else "this is cheaper"
    return (
        f" (or on-demand after {attempts} spot attempts: {_per_month(after['monthly_savings_usd'])}, {which})"
    )


def _per_month(saving: float) -> str:
    return f"saves ${saving:,.2f}/month" if saving >= 0 else f"costs ${-saving:,.2f}/month"


def _shortage_text(comparison: Comparison) -> str:
    refused = (comparison.current.get("capacity_shortages") or {}).get("launches_refused", 0)
    return (
        f"{refused} spot launch attempt(s) refused by the assumed shortages in the replay of today's"
        " queue (its jobs waited for the shortage to end)"
    )


def after_attempts_variant(
    inputs: RecommendInputs,
    baseline: ReplayBaseline,
    queue: str,
    on_demand_body: dict[str, Any],
    attempts: int,
    fallback_queue: str,
) -> dict[str, Any] | None:
    """The "after N attempts" variant priced in two replays (module docstring,
    `optimizer.simulate.resubmit`); None when the queue's definitions are unknown."""
    jobs = inputs.jobs_of_queues([queue])
    if "job_definition_name" not in jobs:
        return None
    used = set(jobs["job_definition_name"].dropna().astype(str))
    revisions = {
        item["jobDefinitionName"]: {
            "retryStrategy": spot_attempts_strategy(item.get("retryStrategy"), attempts)
        }
        for item in inputs.job_definitions
        if item["jobDefinitionName"] in used
    }
    if not revisions:
        return None
    stage1 = copy.deepcopy(baseline.current_document)
    stage1.setdefault("simulation", {})["jobDefinitionRevisions"] = revisions
    comparison = baseline.compare(stage1)
    if comparison is None:
        return None
    resubmitted = resubmitted_jobs(baseline.replay(stage1), baseline.jobs, queue, fallback_queue)
    stage2 = fallback_document(stage1, fallback_queue, on_demand_body)
    stage2_cost = 0.0
    if not resubmitted.empty:
        stage2_cost = float(
            replay(resubmitted, parse_config(stage2, baseline.catalog)).summary["total_cost_usd"]
        )
    monthly = comparison.monthly_savings_usd - stage2_cost * DAYS_PER_MONTH / baseline.window_days
    wait = comparison.wait_p95("proposed", queue)
    base = f"batchopt simulate --seed {baseline.seed} --region {baseline.catalog.region}"
    return {
        "variant": f"on-demand after {attempts} spot attempts",
        "monthly_savings_usd": round(monthly, 2),
        "p95_wait_s": None if wait is None else round(wait, 1),
        "attempts": attempts,
        "revisions": revisions,
        "resubmitted_jobs": len(resubmitted),
        "stage1": {
            "proposed_config": stage1,
            "command": comparison.evidence["command"],
            "monthly_savings_usd": round(comparison.monthly_savings_usd, 2),
        },
        "stage2": {
            "config": stage2,
            "cost_usd": round(stage2_cost, 6),
            "jobs_csv": resubmitted[
                ["job_id", "submit_s", "runtime_s", "vcpus", "memory_mib", "gpus", "queue"]
            ].to_dict("records"),
            "command": None
            if resubmitted.empty
            else f"{base} --trace resubmitted.csv --format csv --config fallback.json",
        },
    }
