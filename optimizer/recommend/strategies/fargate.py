"""Fargate or Fargate Spot for queues of small, short jobs, where the replay says it is cheaper.

Small and short jobs waste the most on EC2 (instance launch, idle scale-in tail, fragmentation);
Fargate bills each task per second. A queue qualifies when every job fits Fargate's largest task
size within `max_vcpus` / `max_memory_mib`, uses no GPU, and its p95 runtime is at most
`max_runtime_s`. Fargate Spot is proposed when the jobs retry after an interruption, else Fargate.
It is advice: the queue's job definitions must be registered with platformCapabilities FARGATE (and
a network configuration) before such a queue can run them, which only their owners can do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd
from pydantic import Field

from optimizer.domain import Recommendation, UpdateKind
from optimizer.recommend.base import QueueStrategy, StrategySettings, make_recommendation
from optimizer.recommend.estate import account_of, edit_queue, is_active, is_managed, order_names, platform_of
from optimizer.recommend.inputs_model import RecommendInputs
from optimizer.recommend.workload import has_multinode, histogram, runtimes_s, tolerant_share

if TYPE_CHECKING:  # a type only: the replay's savings module reads the store
    from optimizer.recommend.savings import Comparison


class FargateSettings(StrategySettings):
    max_vcpus: float = Field(default=4.0, gt=0.0, le=16.0)
    max_memory_mib: int = Field(default=30720, gt=0, le=122880)
    max_runtime_s: float = Field(default=3600.0, gt=0.0)
    min_jobs: int = Field(default=20, ge=1)
    min_tolerant_share: float = Field(default=0.95, ge=0.0, le=1.0)


class FargateStrategy(QueueStrategy[FargateSettings]):
    name: ClassVar[str] = "fargate"
    settings_class: ClassVar[type[StrategySettings]] = FargateSettings

    def _recommend(self, inputs: RecommendInputs, queue: dict[str, Any]) -> Recommendation | None:
        """The queue's jobs on a new Fargate (Spot) CE, when they all fit and the replay saves."""
        order = self._managed_ec2_order(inputs, queue)
        if order is None:
            return None
        fit = self._fargate_fit(inputs, queue)
        if fit is None:
            return None
        base = inputs.ce_named(order[0])
        assert base is not None
        new_name, body = _fargate_ce(base, fit.platform)
        if inputs.ce_named(new_name) is not None:
            return None
        document = edit_queue(inputs.baseline.current_document, queue["jobQueueName"], [new_name], [body])
        comparison = inputs.baseline.compare(document)
        if comparison is None or comparison.monthly_savings_usd < self.settings.min_monthly_savings_usd:
            return None
        return self._recommendation(
            inputs, queue, order, base["computeEnvironmentName"], new_name, fit, comparison
        )

    def _managed_ec2_order(self, inputs: RecommendInputs, queue: dict[str, Any]) -> list[str] | None:
        """The active queue's CE order when every CE is managed EC2 or spot capacity, else None."""
        order = order_names(queue)
        ces = [inputs.ce_named(n) for n in order]
        if not order or not is_active(queue) or any(ce is None or not is_managed(ce) for ce in ces):
            return None
        if any(platform_of(ce) not in ("EC2", "SPOT") for ce in ces if ce is not None):
            return None
        return order

    def _fargate_fit(self, inputs: RecommendInputs, queue: dict[str, Any]) -> _FargateFit | None:
        """Enough single-node jobs, each within the task size limits with no GPU, short at p95;
        Fargate Spot when they retry after an interruption, else Fargate."""
        s = self.settings
        jobs = inputs.jobs_of_queues([queue["jobQueueName"]])
        if len(jobs) < s.min_jobs or has_multinode(jobs):
            return None
        vcpus = jobs["vcpus"].astype(float)
        memory = jobs["memory_mib"].astype(float)
        gpus = jobs["gpus"].fillna(0).astype(float) if "gpus" in jobs else vcpus * 0
        runtimes = runtimes_s(jobs)
        if vcpus.max() > s.max_vcpus or memory.max() > s.max_memory_mib or gpus.max() > 0:
            return None
        p95 = float(np.percentile(runtimes, 95)) if len(runtimes) else 0.0
        if p95 > s.max_runtime_s or not inputs.baseline.can_replay:
            return None
        tolerant = tolerant_share(jobs)
        platform = "FARGATE_SPOT" if tolerant >= s.min_tolerant_share else "FARGATE"
        return _FargateFit(platform, len(jobs), vcpus, memory, runtimes, p95, tolerant)

    def _recommendation(
        self,
        inputs: RecommendInputs,
        queue: dict[str, Any],
        order: list[str],
        base_name: str,
        new_name: str,
        fit: _FargateFit,
        comparison: Comparison,
    ) -> Recommendation:
        name, platform = queue["jobQueueName"], fit.platform
        return make_recommendation(
            strategy=self.name,
            target_arn=queue["jobQueueArn"],
            target_kind="job-queue",
            target_name=name,
            title=f"{name}: run its small, short jobs on {platform} ({new_name})",
            current={"compute_environment_order": order},
            proposed={
                "compute_environment_order": [new_name],
                "new_compute_environment": {"name": new_name, "based_on": base_name, "platform": platform},
            },
            monthly_savings_usd=comparison.monthly_savings_usd,
            risk={
                "compatibility": (
                    "the queue's job definitions need platformCapabilities FARGATE, a Fargate task"
                    " size and a network configuration before the switch"
                ),
                "interruption": (
                    f"Fargate Spot tasks can be stopped; {fit.tolerant:.0%} of jobs retry after it"
                    if platform == "FARGATE_SPOT"
                    else "none (on-demand Fargate)"
                ),
                "queue_wait": comparison.wait_text(),
            },
            risk_scores={"compatibility": 0.3, "interruption": 0.05 if platform == "FARGATE_SPOT" else 0.0},
            confidence=0.6,
            effort="medium",
            update_kind=UpdateKind.ADVICE,
            evidence={
                "replay": comparison.evidence,
                "workload": {
                    "jobs": fit.jobs,
                    "max_vcpus": float(fit.vcpus.max()),
                    "max_memory_mib": float(fit.memory.max()),
                    "runtime_p95_s": fit.p95,
                    "retry_tolerant_share": round(fit.tolerant, 4),
                },
                "chart": {
                    "runtime_s": histogram(fit.runtimes),
                    "memory_mib": histogram(fit.memory.to_numpy()),
                },
            },
            account_id=account_of(queue["jobQueueArn"]),
            region=inputs.region,
            applicable=False,
        )


@dataclass(frozen=True)
class _FargateFit:
    """A queue whose jobs all fit Fargate: the platform to propose and the workload behind it."""

    platform: str  # FARGATE_SPOT | FARGATE
    jobs: int
    vcpus: pd.Series
    memory: pd.Series
    runtimes: np.ndarray
    p95: float
    tolerant: float


def _fargate_ce(base: dict[str, Any], platform: str) -> tuple[str, dict[str, Any]]:
    """(name, createComputeEnvironment body) of the Fargate CE next to `base`, as large as it."""
    new_name = f"{base['computeEnvironmentName'][:110]}-{platform.lower().replace('_', '-')}"
    body = {
        "computeEnvironmentName": new_name,
        "type": "MANAGED",
        "state": "ENABLED",
        "computeResources": {
            "type": platform,
            "maxvCpus": int(base["computeResources"].get("maxvCpus") or 0),
        },
    }
    return new_name, body
