"""Job-definition right-sizing: memory and vCPUs from measured peaks, registered as a new revision.

Memory is the conformal (1 - alpha) quantile of the definition's peak memory (`optimizer.ml.usage.
DefinitionQuantiles`: at most alpha of future jobs exceed it on exchangeable data) plus `headroom`,
rounded up to 128 MiB. Out-of-memory-aware: when more than `max_oom_rate` of attempts were OOM-killed
(their measured peak is censored at the limit), the advice is to raise memory by `oom_growth`
instead, whatever the quantile says. vCPUs come down to the quantile of peak vCPUs (whole vCPUs).
Savings replay the history with the definition's jobs carrying the new requests; a configuration
document cannot express that, so the evidence lists the change to the jobs instead of a command.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd
from pydantic import Field

from optimizer.analysis.rightsizing import rightsizing_evidence
from optimizer.domain import Recommendation, UpdateKind
from optimizer.ml.usage import MEMORY_STEP_MIB, DefinitionQuantiles, usage_frame
from optimizer.recommend.base import Strategy, StrategySettings, make_recommendation
from optimizer.recommend.estate import account_of
from optimizer.recommend.inputs_model import RecommendInputs
from optimizer.recommend.workload import histogram

if TYPE_CHECKING:  # a type only: the replay's savings module reads the store
    from optimizer.recommend.savings import Comparison


class RightSizingSettings(StrategySettings):
    alpha: float = Field(default=0.01, gt=0.0, lt=0.5)
    headroom: float = Field(default=0.10, ge=0.0, le=2.0)
    min_cut: float = Field(default=0.10, gt=0.0, lt=1.0)
    """Smallest relative cut worth a new revision."""
    max_oom_rate: float = Field(default=0.01, ge=0.0, le=1.0)
    oom_growth: float = Field(default=1.5, gt=1.0)


def definition_requests(item: dict[str, Any]) -> tuple[float, int, int] | None:
    """(vCPUs, memory MiB, GPUs) of a single-container job definition revision."""
    if item.get("type", "container") != "container":
        return None
    return container_requests(item.get("containerProperties") or {})


def container_requests(container: dict[str, Any]) -> tuple[float, int, int] | None:
    """(vCPUs, memory MiB, GPUs) one container asks for (`resourceRequirements`, else the legacy
    `vcpus` / `memory`), or None when a value is unreadable or vCPUs or memory are missing."""
    reqs = {r.get("type"): r.get("value") for r in container.get("resourceRequirements") or []}
    try:
        vcpus = float(reqs.get("VCPU", container.get("vcpus", 0)) or 0)
        memory = int(float(reqs.get("MEMORY", container.get("memory", 0)) or 0))
        gpus = int(float(reqs.get("GPU", 0) or 0))
    except (TypeError, ValueError):
        return None
    if vcpus <= 0 or memory <= 0:
        return None
    return vcpus, memory, gpus


def definition_key(arn: str) -> str:
    head, _, tail = arn.rpartition("/")
    return f"{head}/{tail.split(':', 1)[0]}"


def _round_up(value: float, step: int) -> int:
    return int(math.ceil(value / step - 1e-9) * step)


class RightSizingStrategy(Strategy[RightSizingSettings]):
    name: ClassVar[str] = "job-definition-rightsizing"
    settings_class: ClassVar[type[StrategySettings]] = RightSizingSettings

    def run(self, inputs: RecommendInputs) -> list[Recommendation]:
        if inputs.jobs.empty or inputs.attempts.empty or not inputs.baseline.can_replay:
            return []
        usage = usage_frame(inputs.jobs, inputs.attempts)
        if usage.empty:
            return []
        model = DefinitionQuantiles(alpha=self.settings.alpha).fit(usage)
        oom = self._oom_rates(inputs)
        cliffs = self._cliffs(inputs)
        out = []
        for item in inputs.job_definitions:
            name = item["jobDefinitionName"]
            if "FARGATE" in (item.get("platformCapabilities") or []):
                continue  # Fargate sizes come in fixed steps; not sized here
            requests = definition_requests(item)
            if requests is None:
                continue
            rec = self._recommend(
                inputs, item, requests, usage, model, oom.get(name, (0, 0.0)), cliffs.get(name)
            )
            if rec is not None:
                out.append(rec)
        return out

    @staticmethod
    def _cliffs(inputs: RecommendInputs) -> dict[str, dict[str, Any]]:
        """The analysis layer's memory-cliff evidence per definition (a request just above a type's
        allocatable memory forces the next size up), naming only types the policy's instance
        requirements let the definition's jobs use."""
        types = pd.DataFrame(
            [
                {
                    "instance_type": spec.instance_type,
                    "vcpus": spec.vcpus,
                    "memory_mib": spec.memory_mib,
                    "allocatable_memory_mib": spec.allocatable_memory_mib,
                    "gpus": spec.gpus,
                }
                for spec in inputs.baseline.catalog.types.values()
            ]
        )
        evidence = rightsizing_evidence(inputs.jobs, inputs.attempts, types, requirements=inputs.requirements)
        if evidence.empty:
            return {}
        whole = evidence[evidence["name_pattern"] == "*"]
        out = {}
        for row in whole.itertuples(index=False):
            if isinstance(row.cliff_type, str):
                out[str(row.job_definition_name)] = {
                    "type": row.cliff_type,
                    "allocatable_mib": float(row.cliff_allocatable_mib),
                    "p99_fits": bool(row.cliff_fits_p99),
                }
        return out

    @staticmethod
    def _oom_rates(inputs: RecommendInputs) -> dict[str, tuple[int, float]]:
        if "is_oom" not in inputs.attempts:
            return {}
        frame = inputs.attempts[["job_id", "is_oom"]].merge(
            inputs.jobs[["job_id", "job_definition_name"]], on="job_id", how="inner"
        )
        grouped = frame.groupby("job_definition_name")["is_oom"]
        return {str(k): (len(g), float(g.fillna(False).astype(bool).mean())) for k, g in grouped}

    def _recommend(
        self,
        inputs: RecommendInputs,
        item: dict[str, Any],
        requests: tuple[float, int, int],
        usage: pd.DataFrame,
        model: DefinitionQuantiles,
        oom: tuple[int, float],
        cliff: dict[str, Any] | None,
    ) -> Recommendation | None:
        """New requests for one job definition, kept when its jobs' replay saves money, unblocks
        jobs no type could host, or raises memory for OOM kills."""
        name = item["jobDefinitionName"]
        vcpus, memory, _gpus = requests
        peaks = usage.loc[usage["job_definition_name"] == name, "peak_memory_mib"].to_numpy(np.float64)
        sizing = self._new_requests(name, vcpus, memory, len(peaks), model, oom)
        if sizing is None:
            return None
        proposed, reason = sizing
        new_memory = int(proposed.get("memory_mib", memory))
        new_vcpus = float(proposed.get("vcpus", vcpus))
        mask = inputs.baseline.jobs["job_definition_name"] == name
        if not mask.any():
            return None
        changed_requests = {k: float(v) for k, v in proposed.items() if k in ("memory_mib", "vcpus")}
        comparison = inputs.baseline.compare(
            inputs.baseline.current_document, resize=(name, changed_requests)
        )
        if comparison is None:
            return None
        raising = new_memory > memory
        # Jobs that no instance type can host never run (stuck RUNNABLE); letting them run is worth
        # a recommendation even though running them costs money.
        unblocks = comparison.failed_delta < 0
        if (
            not raising
            and not unblocks
            and comparison.monthly_savings_usd < self.settings.min_monthly_savings_usd
        ):
            return None
        comparison.evidence["jobs_changed"] = {
            "job_definition": name,
            "jobs": int(mask.sum()),
            "memory_mib": new_memory,
            "vcpus": new_vcpus,
        }
        resized = _Resize(name, vcpus, memory, new_vcpus, new_memory, reason, peaks, oom, cliff)
        return self._recommendation(inputs, item, proposed, resized, model, comparison)

    def _new_requests(
        self,
        name: str,
        vcpus: float,
        memory: int,
        measured: int,
        model: DefinitionQuantiles,
        oom: tuple[int, float],
    ) -> tuple[dict[str, Any], str] | None:
        """(proposed requests, why): memory grown by `oom_growth` when OOM kills pass
        `max_oom_rate`, else cut to the conformal peak quantile plus headroom (and vCPUs to theirs)
        when that cuts at least `min_cut`; None when nothing changes or too few jobs were measured."""
        s = self.settings
        oom_attempts, oom_rate = oom
        proposed: dict[str, Any] = {}
        if oom_rate > s.max_oom_rate:
            proposed["memory_mib"] = _round_up(memory * s.oom_growth, MEMORY_STEP_MIB)
            reason = f"{oom_rate:.1%} of {oom_attempts} attempts were OOM-killed"
        else:
            quantile = model.memory_mib.get(name)
            if quantile is None:
                return None  # too few measured jobs for the alpha guarantee
            wanted = _round_up(quantile * (1.0 + s.headroom), MEMORY_STEP_MIB)
            if wanted <= memory * (1.0 - s.min_cut):
                proposed["memory_mib"] = wanted
            cpu = model.vcpus.get(name)
            if cpu is not None and vcpus >= 1 and cpu <= vcpus * (1.0 - s.min_cut):
                proposed["vcpus"] = float(cpu)
            reason = f"p{100 * (1 - s.alpha):g} peak {quantile:,.0f} MiB of {measured} measured jobs"
        return (proposed, reason) if proposed else None

    def _recommendation(
        self,
        inputs: RecommendInputs,
        item: dict[str, Any],
        proposed: dict[str, Any],
        r: _Resize,
        model: DefinitionQuantiles,
        comparison: Comparison,
    ) -> Recommendation:
        s = self.settings
        name, peaks = r.name, r.peaks
        oom_attempts, oom_rate = r.oom
        raising = r.new_memory > r.memory
        unblocks = comparison.failed_delta < 0
        exceed = float((peaks > r.new_memory).mean()) if len(peaks) else 0.0
        changes = ", ".join(
            f"{k} {v_now:g} -> {v_new:g}"
            for k, v_now, v_new in (("memory_mib", r.memory, r.new_memory), ("vcpus", r.vcpus, r.new_vcpus))
            if v_now != v_new
        )
        return make_recommendation(
            strategy=self.name,
            target_arn=definition_key(item["jobDefinitionArn"]),
            target_kind="job-definition",
            target_name=name,
            title=f"{name}: {changes} ({r.reason})",
            current={"vcpus": r.vcpus, "memory_mib": r.memory},
            proposed=proposed,
            monthly_savings_usd=comparison.monthly_savings_usd,
            risk={
                "oom": (
                    f"{oom_rate:.1%} OOM-killed now; memory raised"
                    if raising
                    else f"{exceed:.2%} of measured peaks exceed {r.new_memory} MiB (target {s.alpha:.0%})"
                ),
                "interruption": "none (capacity type unchanged)",
                "queue_wait": (
                    f"{-comparison.failed_delta} jobs no CE type could host now run"
                    if unblocks
                    else "smaller jobs pack more densely; waits do not grow"
                ),
            },
            risk_scores={"oom": 0.0 if raising else min(1.0, 10.0 * max(exceed, s.alpha))},
            confidence=min(0.95, 0.5 + len(peaks) / 1000.0),
            effort="low",
            update_kind=UpdateKind.NEW_REVISION,
            evidence={
                "replay": comparison.evidence,
                "usage": {
                    "measured_jobs": len(peaks),
                    "peak_memory_mib_p50": float(np.percentile(peaks, 50)) if len(peaks) else None,
                    "peak_memory_mib_p99": float(np.percentile(peaks, 99)) if len(peaks) else None,
                    "peak_memory_mib_max": float(peaks.max()) if len(peaks) else None,
                    "conformal_memory_mib": model.memory_mib.get(name),
                    "conformal_vcpus": model.vcpus.get(name),
                    "alpha": s.alpha,
                    "headroom": s.headroom,
                    "oom_attempts": oom_attempts,
                    "oom_rate": oom_rate,
                    "revision": item.get("revision"),
                    "memory_cliff": r.cliff,
                },
                "chart": {
                    "peak_memory_mib": histogram(peaks),
                    "requested_memory_mib": r.memory,
                    "proposed_memory_mib": r.new_memory,
                },
            },
            account_id=account_of(item["jobDefinitionArn"]),
            region=inputs.region,
        )


@dataclass(frozen=True)
class _Resize:
    """One definition's requests now and proposed, why, and the usage behind them."""

    name: str
    vcpus: float
    memory: int
    new_vcpus: float
    new_memory: int
    reason: str
    peaks: np.ndarray
    oom: tuple[int, float]  # (attempts, share OOM-killed)
    cliff: dict[str, Any] | None
