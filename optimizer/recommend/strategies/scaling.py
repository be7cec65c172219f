"""min/max vCPUs of managed CEs: minvCpus that keeps idle instances, maxvCpus that caps a backlog.

- minvCpus above the capacity the CE's queues keep busy almost all the time pays for idle instances:
  propose the measured floor (the time-weighted `floor_quantile` of running vCPUs), usually 0.
- maxvCpus below what the queues ask at their peak makes a backlog (long queue waits in the replay):
  propose the peak times `headroom`. A maxvCpus far above it (`cap_factor` x) lets a runaway
  submission scale out without limit: propose the same cap.
Each proposal is replayed; it is kept when it saves money or cuts the p95 queue wait of the CE's
own queues (the worst of them, `worst_queue_wait`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from pydantic import Field

from optimizer.catalog.batch_rules import expand_instance_types
from optimizer.domain import Recommendation, UpdateKind
from optimizer.recommend.base import Strategy, StrategySettings, make_recommendation
from optimizer.recommend.estate import (
    account_of,
    edit_ce,
    is_active,
    is_managed,
    platform_of,
    queues_by_first_ce,
    queues_using,
    resources_of,
)
from optimizer.recommend.inputs_model import RecommendInputs
from optimizer.recommend.workload import bucket_means, concurrency_steps, time_weighted_quantile

if TYPE_CHECKING:  # a type only: the replay's savings module reads the store
    from optimizer.recommend.savings import Comparison


class ScalingSettings(StrategySettings):
    floor_quantile: float = Field(default=0.05, ge=0.0, le=0.5)
    headroom: float = Field(default=1.25, ge=1.0)
    cap_factor: float = Field(default=4.0, ge=1.5)
    min_wait_improvement: float = Field(default=0.25, gt=0.0, le=1.0)
    """Relative p95 queue-wait cut that justifies a higher maxvCpus even when it costs more."""
    min_jobs: int = Field(default=20, ge=1)


class ScalingStrategy(Strategy[ScalingSettings]):
    name: ClassVar[str] = "ce-scaling"
    settings_class: ClassVar[type[StrategySettings]] = ScalingSettings

    def run(self, inputs: RecommendInputs) -> list[Recommendation]:
        out = []
        first = queues_by_first_ce(inputs.job_queues)
        for ce in inputs.compute_environments:
            if not is_managed(ce) or not is_active(ce) or platform_of(ce) in ("FARGATE", "FARGATE_SPOT"):
                continue
            jobs = inputs.jobs_of_queues(first.get(ce["computeEnvironmentName"], []))
            if len(jobs) < self.settings.min_jobs:
                continue
            rec = self._recommend(inputs, ce, jobs)
            if rec is not None:
                out.append(rec)
        return out

    def _recommend(self, inputs: RecommendInputs, ce: dict[str, Any], jobs: Any) -> Recommendation | None:
        """New min/max vCPUs from the measured demand, kept when the replay saves money or wait."""
        res = resources_of(ce)
        current = {"min_vcpus": int(res.get("minvCpus") or 0), "max_vcpus": int(res.get("maxvCpus") or 0)}
        demand = self._demand(inputs, res, jobs)
        proposed = self._limits(current, demand)
        if not proposed or not inputs.baseline.can_replay:
            return None
        document = edit_ce(
            inputs.baseline.current_document, ce["computeEnvironmentName"], _set_limits(proposed)
        )
        comparison = inputs.baseline.compare(document)
        if comparison is None:
            return None
        queues = queues_using(inputs.job_queues, ce["computeEnvironmentName"])
        wait_now, wait_then = worst_queue_wait(comparison, queues)
        wait_cut = (wait_now - wait_then) / wait_now if wait_now > 0 else 0.0
        s = self.settings
        if comparison.monthly_savings_usd < s.min_monthly_savings_usd and wait_cut < s.min_wait_improvement:
            return None
        return self._recommendation(inputs, ce, jobs, current, proposed, demand, comparison, queues)

    def _demand(self, inputs: RecommendInputs, res: dict[str, Any], jobs: Any) -> _Demand:
        """The running vCPUs of the CE's jobs over time: the floor they keep busy, their peak, and
        the cap (peak x headroom, never below one instance of the CE's largest type)."""
        s = self.settings
        starts, durations, levels = concurrency_steps(jobs)
        floor = math.floor(time_weighted_quantile(durations, levels, s.floor_quantile))
        peak = time_weighted_quantile(durations, levels, 1.0)
        # A cap below one instance of the CE's largest type would stop it from launching anything.
        # (Families and `optimal` expanded as Batch does: they counted as no type at all.)
        types = inputs.baseline.catalog.types
        specs = [types[t] for t in expand_instance_types(res.get("instanceTypes") or [], types)]
        largest = max((math.ceil(x.vcpus) for x in specs), default=1)
        smallest = min((math.ceil(x.vcpus) for x in specs), default=1)
        cap = max(largest, math.ceil(peak * s.headroom))
        dearest = max((x.ondemand_price / x.vcpus for x in specs if x.vcpus > 0), default=0.0)
        return _Demand(starts, durations, levels, floor, peak, cap, max(smallest, 1), dearest)

    def _limits(self, current: dict[str, int], demand: _Demand) -> dict[str, int]:
        """min_vcpus down to the floor when above it; max_vcpus to the cap when below the peak or
        more than `cap_factor` x the cap (never below the min it leaves)."""
        proposed: dict[str, int] = {}
        # Batch keeps whole instances to reach minvCpus: with 16-vCPU types, 8 and 4 both keep one,
        # so only a floor that keeps fewer of the smallest instances changes anything (the demo
        # proposed gpu-training's 8 -> 4 beside its g5.4xlarge, a change Batch would not see).
        if _instances_kept(demand.floor, demand.smallest) < _instances_kept(
            current["min_vcpus"], demand.smallest
        ):
            proposed["min_vcpus"] = demand.floor
        if current["max_vcpus"] < demand.peak or current["max_vcpus"] > self.settings.cap_factor * demand.cap:
            proposed["max_vcpus"] = max(demand.cap, proposed.get("min_vcpus", current["min_vcpus"]))
        return proposed

    def _recommendation(
        self,
        inputs: RecommendInputs,
        ce: dict[str, Any],
        jobs: Any,
        current: dict[str, int],
        proposed: dict[str, int],
        demand: _Demand,
        comparison: Comparison,
        queues: list[str],
    ) -> Recommendation:
        s = self.settings
        name = ce["computeEnvironmentName"]
        wait_now, wait_then = worst_queue_wait(comparison, queues)
        wait_cut = (wait_now - wait_then) / wait_now if wait_now > 0 else 0.0
        wait_risk = max(0.0, (wait_then - wait_now) / max(wait_now, 60.0))
        parts = [f"{k} {current[k]} -> {v}" for k, v in proposed.items()]
        if comparison.monthly_savings_usd < s.min_monthly_savings_usd:
            # Not a saving: a trade of money for queue wait, and the title must say so.
            parts.append(f"p95 queue wait {wait_now:,.0f}s -> {wait_then:,.0f}s (costs more)")
        return make_recommendation(
            strategy=self.name,
            target_arn=ce["computeEnvironmentArn"],
            target_kind="compute-environment",
            target_name=name,
            title=f"{name}: " + ", ".join(parts),
            current={k: current[k] for k in proposed},
            proposed=proposed,
            monthly_savings_usd=comparison.monthly_savings_usd,
            risk={
                "queue_wait": (
                    f"p95 wait of {', '.join(queues)} (the worst) {wait_now:,.0f}s now,"
                    f" {wait_then:,.0f}s in the replay"
                ),
                "interruption": "none (capacity type unchanged)",
                "oom": "none (job sizes unchanged)",
                **_spend_ceiling(current, proposed, demand),
            },
            risk_scores={"queue_wait": min(1.0, wait_risk)},
            confidence=0.8 if len(jobs) >= 200 else 0.6,
            effort="low",
            update_kind=UpdateKind.SCALING,
            evidence={
                "replay": comparison.evidence,
                "demand": {
                    "jobs": len(jobs),
                    "floor_vcpus": demand.floor,
                    "floor_quantile": s.floor_quantile,
                    "peak_vcpus": demand.peak,
                    "headroom": s.headroom,
                    "wait_p95_cut": round(wait_cut, 4),
                },
                "chart": {"running_vcpus": bucket_means(demand.starts, demand.durations, demand.levels)},
            },
            account_id=account_of(ce["computeEnvironmentArn"]),
            region=inputs.region,
        )


@dataclass(frozen=True)
class _Demand:
    """Running vCPUs as steps (`concurrency_steps`) and what the limits are judged against."""

    starts: np.ndarray
    durations: np.ndarray
    levels: np.ndarray
    floor: int
    peak: float
    cap: int
    smallest: int  # vCPUs of the CE's smallest instance type (what minvCpus is kept in)
    dearest_per_vcpu: float  # the highest on-demand $/vCPU-hour among its types


def _instances_kept(min_vcpus: int, smallest: int) -> int:
    """Instances of the smallest type Batch keeps running for `min_vcpus` (a lower bound: it may
    keep larger ones)."""
    return math.ceil(min_vcpus / smallest)


def _spend_ceiling(current: dict[str, int], proposed: dict[str, int], demand: _Demand) -> dict[str, str]:
    """A maxvCpus change moves the most the CE can spend an hour, a limit operators set on purpose:
    said beside the wait and the saving (a 2.7x higher cap on the demo's gpu-training read as a
    plain saving at low risk)."""
    if "max_vcpus" not in proposed or demand.dearest_per_vcpu <= 0:
        return {}
    before, after = (demand.dearest_per_vcpu * v for v in (current["max_vcpus"], proposed["max_vcpus"]))
    verb = "raises" if after > before else "lowers"
    return {
        "spend_ceiling": (
            f"{verb} the most this CE can spend from ${before:,.2f}/h to ${after:,.2f}/h"
            f" (maxvCpus x its dearest type's on-demand price per vCPU)"
        )
    }


def worst_queue_wait(comparison: Comparison, queues: list[str]) -> tuple[float, float]:
    """(now, in the replay): the worst p95 queue wait among `queues`, the queues that dispatch to
    the CE. A CE's limits change its own queues' waits; the estate-wide p95 dilutes them among every
    other queue's jobs (the demo's gpu-training: 517 s -> 180 s while the estate's p95 stayed 180 s),
    which would hide both the wait a higher maxvCpus cuts and the wait a lower one adds."""

    def worst(which: str) -> float:
        return max((comparison.wait_p95(which, q) or 0.0 for q in queues), default=0.0)

    return worst("current"), worst("proposed")


def _set_limits(proposed: dict[str, int]) -> Callable[[dict[str, Any]], None]:
    """The edit of a CE body that sets the proposed minvCpus / maxvCpus."""

    def edit(body: dict[str, Any]) -> None:
        if "min_vcpus" in proposed:
            body["minvCpus"] = proposed["min_vcpus"]
        if "max_vcpus" in proposed:
            body["maxvCpus"] = proposed["max_vcpus"]

    return edit
