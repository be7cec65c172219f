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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd
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
from optimizer.simulate.catalog import InstanceSpec

if TYPE_CHECKING:  # a type only: the replay's savings module reads the store
    from optimizer.recommend.savings import Comparison

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
        """Spot ahead of on-demand, when the queue tolerates reclaims and the replay says it saves."""
        fit = self._spot_fit(inputs, queue)
        if fit is None:
            return None
        spot_ce = self._spot_copy(inputs, queue, fit.base)
        if spot_ce is None:
            return None
        new_name, body = spot_ce
        new_order = [new_name, *fit.order]
        document = edit_queue(inputs.baseline.current_document, queue["jobQueueName"], new_order, [body])
        comparison = inputs.baseline.compare(document)
        if comparison is None or comparison.monthly_savings_usd < self.settings.min_monthly_savings_usd:
            return None
        return self._recommendation(inputs, queue, fit, new_name, new_order, comparison)

    def _spot_fit(self, inputs: RecommendInputs, queue: dict[str, Any]) -> _SpotFit | None:
        """The queue's case for spot: on-demand managed EC2 only, enough retry-tolerant single-node
        jobs, and little work expected to re-run at the worst reclaim rate of its types."""
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
        types = _spot_priced_types(inputs, base)
        if not types:
            return None
        # The estate's own measured (shrunk) rate where it ran these types on spot, else the band.
        rates = {
            spec.instance_type: inputs.spot_rates.get(spec.instance_type, spec.spot_hazard_per_hour)
            for spec in types
        }
        rate = max(rates.values())
        measured = sorted(t for t in rates if t in inputs.spot_rates)
        runtimes = runtimes_s(jobs)
        lost = expected_lost_share(runtimes, rate)
        p95 = float(np.percentile(runtimes, 95)) if len(runtimes) else 0.0
        if lost > s.max_lost_share or p95 > s.max_runtime_p95_s or not inputs.baseline.can_replay:
            return None
        return _SpotFit(order, base, jobs, tolerant, len(types), rates, rate, measured, runtimes, lost, p95)

    def _spot_copy(
        self, inputs: RecommendInputs, queue: dict[str, Any], base: dict[str, Any]
    ) -> tuple[str, dict[str, Any]] | None:
        """(name, createComputeEnvironment body) of the spot copy of `base`, or None when a CE of
        that name exists already (a person set spot up differently; leave it)."""
        suffix = self.settings.name_suffix
        base_name = base["computeEnvironmentName"]
        # One spot CE per queue when the on-demand CE serves several queues: each recommendation
        # then creates its own and applying one never collides with another's.
        shared = len(queues_using(inputs.job_queues, base_name)) > 1
        stem = f"{base_name[:60]}-{queue['jobQueueName'][:60]}" if shared else base_name
        new_name = f"{stem[: 128 - len(suffix)]}{suffix}"
        if inputs.ce_named(new_name) is not None:
            return None
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
        return new_name, body

    def _recommendation(
        self,
        inputs: RecommendInputs,
        queue: dict[str, Any],
        fit: _SpotFit,
        new_name: str,
        new_order: list[str],
        comparison: Comparison,
    ) -> Recommendation:
        base_name = fit.base["computeEnvironmentName"]
        monthly = 1.0 - float(np.exp(-fit.rate * HOURS_PER_MONTH))
        name = queue["jobQueueName"]
        return make_recommendation(
            strategy=self.name,
            target_arn=queue["jobQueueArn"],
            target_kind="job-queue",
            target_name=name,
            title=f"{name}: run on spot first ({new_name} ahead of {base_name})",
            current={"compute_environment_order": fit.order},
            proposed={
                "compute_environment_order": new_order,
                "new_compute_environment": {
                    "name": new_name,
                    "based_on": base_name,
                    "platform": "SPOT",
                    "allocation_strategy": SPOT_STRATEGY,
                    "min_vcpus": 0,
                },
            },
            monthly_savings_usd=comparison.monthly_savings_usd,
            risk={
                "interruption": (
                    f"{fit.lost:.1%} of work expected to re-run (worst of {fit.type_count} types:"
                    f" {monthly:.1%} reclaims a month); replay: {comparison.proposed.get('spot_reclaims', 0)}"
                    " reclaimed attempts"
                ),
                "queue_wait": comparison.wait_text(),
                "oom": "none (job sizes unchanged)",
            },
            risk_scores={
                "interruption": min(1.0, 4.0 * fit.lost),
                "failures": max(0.0, comparison.failed_delta / max(1, len(fit.jobs))),
            },
            confidence=min(0.9, 0.5 + 0.4 * fit.tolerant),
            effort="low",
            update_kind=UpdateKind.QUEUE_ORDER,
            evidence={
                "replay": comparison.evidence,
                "tolerance": fit.evidence(),
                "chart": {"runtime_s": histogram(fit.runtimes)},
            },
            account_id=account_of(queue["jobQueueArn"]),
            region=inputs.region,
        )


@dataclass(frozen=True)
class _SpotFit:
    """Why a queue suits spot: its CEs, jobs, retry tolerance and the reclaim rates of its types."""

    order: list[str]
    base: dict[str, Any]
    jobs: pd.DataFrame
    tolerant: float
    type_count: int  # instance types the CE may launch that have a spot price
    rates: dict[str, float]
    rate: float  # the worst of `rates`
    measured: list[str]  # types whose rate is the estate's own
    runtimes: np.ndarray
    lost: float  # expected share of work re-run at `rate`
    p95: float

    def evidence(self) -> dict[str, Any]:
        runtimes = self.runtimes
        return {
            "jobs": len(self.jobs),
            "retry_tolerant_share": round(self.tolerant, 4),
            "runtime_p50_s": float(np.percentile(runtimes, 50)) if len(runtimes) else None,
            "runtime_p95_s": self.p95,
            "reclaims_per_instance_hour": self.rate,
            "rates_by_type": self.rates,
            "measured_types": self.measured,
            "expected_lost_share": round(self.lost, 6),
        }


def _spot_priced_types(inputs: RecommendInputs, base: dict[str, Any]) -> list[InstanceSpec]:
    """The instance types `base` may launch that have a spot price; families and aliases
    ("optimal", "m5") stand for their concrete types, as Batch reads them."""
    entries = base["computeResources"].get("instanceTypes") or []
    catalog = inputs.baseline.catalog.types
    return [
        spec
        for name in expand_instance_types(entries, catalog)
        for spec in [catalog.get(name)]
        if spec is not None and spec.spot_price is not None
    ]
