"""Spot adoption: a spot CE ahead of the on-demand CE in a queue's order, for queues whose jobs
tolerate interruption.

A queue qualifies when none of its jobs is multi-node parallel (Batch does not run those on spot),
at least `min_tolerant_share` of its jobs retry after a host loss (attempts > 1, or an evaluateOnExit
RETRY rule matching "Host EC2*"), the expected share of work re-run after reclaims, from its
runtime distribution and the instance types' Spot Advisor bands, is at most `max_lost_share`, and
its p95 runtime is at most `max_runtime_p95_s` (one reclaim of a very long job is costly however
rare). The
spot CE is a copy of the on-demand one (same instance types, networking and roles) with
SPOT_PRICE_CAPACITY_OPTIMIZED and minvCpus 0; on-demand stays behind it for what spot cannot supply.
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from optimizer.catalog.batch_rules import expand_instance_types
from optimizer.domain import Recommendation, UpdateKind
from optimizer.recommend.base import QueueStrategy, StrategySettings, make_recommendation
from optimizer.recommend.estate import (
    account_of,
    edit_queue,
    is_active,
    is_managed,
    order_names,
    platform_of,
    queues_using,
)
from optimizer.recommend.inputs_model import RecommendInputs
from optimizer.recommend.workload import (
    HOURS_PER_MONTH,
    expected_lost_share,
    has_multinode,
    histogram,
    runtimes_s,
    tolerant_share,
)

SPOT_STRATEGY = "SPOT_PRICE_CAPACITY_OPTIMIZED"


class SpotAdoptionSettings(StrategySettings):
    min_tolerant_share: float = Field(default=0.95, ge=0.0, le=1.0)
    max_lost_share: float = Field(default=0.05, gt=0.0, le=1.0)
    max_runtime_p95_s: float = Field(default=4 * 3600.0, gt=0.0)
    """Beyond this a single reclaim throws away hours of work, whatever the average says."""
    min_jobs: int = Field(default=20, ge=1)
    name_suffix: str = Field(default="-spot", pattern=r"^[A-Za-z0-9_-]{1,16}$")


class SpotAdoptionStrategy(QueueStrategy[SpotAdoptionSettings]):
    name: ClassVar[str] = "spot-adoption"
    settings_class: ClassVar[type[StrategySettings]] = SpotAdoptionSettings

    def _recommend(self, inputs: RecommendInputs, queue: dict[str, Any]) -> Recommendation | None:
        s = self.settings
        order = order_names(queue)
        ces = [inputs.ce_named(n) for n in order]
        if not order or len(order) >= 3 or not is_active(queue) or any(ce is None for ce in ces):
            return None
        if any(platform_of(ce) != "EC2" or not is_managed(ce) for ce in ces if ce is not None):
            return None  # already has spot (or Fargate, or unmanaged capacity): nothing to adopt
        base = ces[0]
        assert base is not None
        jobs = inputs.jobs_of_queues([queue["jobQueueName"]])
        if len(jobs) < s.min_jobs or has_multinode(jobs):
            return None
        tolerant = tolerant_share(jobs)
        if tolerant < s.min_tolerant_share:
            return None
        # Families and aliases ("optimal", "m5") stand for their concrete types, as Batch reads them.
        entries = base["computeResources"].get("instanceTypes") or []
        types = [
            spec
            for name in expand_instance_types(entries, inputs.baseline.catalog.types)
            for spec in [inputs.baseline.catalog.types.get(name)]
            if spec is not None and spec.spot_price is not None
        ]
        if not types:
            return None
        # The estate's own measured (shrunk) rate where it ran these types on spot, else the band.
        rates = {
            spec.instance_type: inputs.spot_rates.get(spec.instance_type, spec.spot_hazard_per_hour)
            for spec in types
        }
        rate = max(rates.values())
        monthly = 1.0 - float(np.exp(-rate * HOURS_PER_MONTH))
        measured = sorted(t for t in rates if t in inputs.spot_rates)
        runtimes = runtimes_s(jobs)
        lost = expected_lost_share(runtimes, rate)
        p95 = float(np.percentile(runtimes, 95)) if len(runtimes) else 0.0
        if lost > s.max_lost_share or p95 > s.max_runtime_p95_s or not inputs.baseline.can_replay:
            return None
        base_name = base["computeEnvironmentName"]
        # One spot CE per queue when the on-demand CE serves several queues: each recommendation
        # then creates its own and applying one never collides with another's.
        shared = len(queues_using(inputs.job_queues, base_name)) > 1
        stem = f"{base_name[:60]}-{queue['jobQueueName'][:60]}" if shared else base_name
        new_name = f"{stem[: 128 - len(s.name_suffix)]}{s.name_suffix}"
        if inputs.ce_named(new_name) is not None:
            return None  # a CE of that name exists: a person set spot up differently; leave it
        body = next(
            (
                copy.deepcopy(b)
                for b in inputs.baseline.current_document["computeEnvironments"]
                if b["computeEnvironmentName"] == base_name
            ),
            None,
        )
        if body is None:
            return None
        body["computeEnvironmentName"] = new_name
        body["computeResources"].update(type="SPOT", allocationStrategy=SPOT_STRATEGY, minvCpus=0)
        new_order = [new_name, *order]
        document = edit_queue(inputs.baseline.current_document, queue["jobQueueName"], new_order, [body])
        comparison = inputs.baseline.compare(document)
        if comparison is None or comparison.monthly_savings_usd < s.min_monthly_savings_usd:
            return None
        proposed = {
            "compute_environment_order": new_order,
            "new_compute_environment": {
                "name": new_name,
                "based_on": base_name,
                "platform": "SPOT",
                "allocation_strategy": SPOT_STRATEGY,
                "min_vcpus": 0,
            },
        }
        wait_now = comparison.wait_p95("current") or 0.0
        wait_then = comparison.wait_p95("proposed") or 0.0
        name = queue["jobQueueName"]
        return make_recommendation(
            strategy=self.name,
            target_arn=queue["jobQueueArn"],
            target_kind="job-queue",
            target_name=name,
            title=f"{name}: run on spot first ({new_name} ahead of {base_name})",
            current={"compute_environment_order": order},
            proposed=proposed,
            monthly_savings_usd=comparison.monthly_savings_usd,
            risk={
                "interruption": (
                    f"{lost:.1%} of work expected to re-run (worst of {len(types)} types:"
                    f" {monthly:.1%} reclaims a month); replay: {comparison.proposed.get('spot_reclaims', 0)}"
                    " reclaimed attempts"
                ),
                "queue_wait": f"p95 wait {wait_now:,.0f}s now, {wait_then:,.0f}s in the replay",
                "oom": "none (job sizes unchanged)",
            },
            risk_scores={
                "interruption": min(1.0, 4.0 * lost),
                "failures": max(0.0, comparison.failed_delta / max(1, len(jobs))),
            },
            confidence=min(0.9, 0.5 + 0.4 * tolerant),
            effort="low",
            update_kind=UpdateKind.QUEUE_ORDER,
            evidence={
                "replay": comparison.evidence,
                "tolerance": {
                    "jobs": len(jobs),
                    "retry_tolerant_share": round(tolerant, 4),
                    "runtime_p50_s": float(np.percentile(runtimes, 50)) if len(runtimes) else None,
                    "runtime_p95_s": p95,
                    "reclaims_per_instance_hour": rate,
                    "rates_by_type": rates,
                    "measured_types": measured,
                    "expected_lost_share": round(lost, 6),
                },
                "chart": {"runtime_s": histogram(runtimes)},
            },
            account_id=account_of(queue["jobQueueArn"]),
            region=inputs.region,
        )
