"""Blast radius: smaller spot instances where one reclaim kills many jobs at once.

A spot reclaim ends every attempt on the instance. On a large instance packed with long jobs that
is many hours of work lost at one stroke, and the whole batch retries at once (AWS's genomics
guidance tuned instance types to "2-4 jobs each" for this reason). For each managed SPOT CE whose
replay puts more than `max_jobs_per_instance` jobs on one instance at once, the proposal restricts
the CE's `instanceTypes` to the sizes of the same families that host at most that many jobs of the
CE's most common shape (and at least one of its largest job), keeping the allocation strategy.

The figure is the replay's: the same history on today's CE and on the smaller sizes, spot
reclaims drawn by the replay's seeded generator at each type's interruption hazard
(`simulate/replay_engine.py`), so the re-run attempts and the instances' cost are both in it and the
evidence command reproduces it. A reclaim is a rare event (a few per thousand instance-hours),
so the sampled reclaims of one replay say little about lost work; the evidence also states the
expected lost work of each replay's placements (`expected_lost_work`: for every attempt on a spot
instance, the expected run time lost to a reclaim at that type's hazard, priced at the attempt's
vCPU share of the instance), and the largest number of jobs one instance ran at once before and
after (`largest_blast`), which is what one reclaim can kill.

Smaller instances are often dearer per vCPU on spot; then the change costs money and is proposed
only when `max_monthly_cost_usd` allows that much for the smaller blast radius (the headline lists
it as "costs money", never as a saving). With the default 0 only a change the replay finds at least
`min_monthly_savings_usd` cheaper is proposed (the usual case where it is: big instances kept up
for the last long job of a burst).

Metadata: low effort (an infrastructure update of the CE's instance types, in place for the
service-linked role and a SPOT_* allocation strategy, blue/green otherwise), running jobs are not
restarted (the update policy lets them finish), reversible (the previous instance types are put
back the same way).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd
from pydantic import Field

from optimizer.catalog.batch_rules import UPDATABLE_STRATEGIES, uses_service_linked_role
from optimizer.domain import Recommendation, UpdateKind
from optimizer.errors import ConfigError
from optimizer.recommend.base import Strategy, StrategySettings, make_recommendation
from optimizer.recommend.estate import account_of, edit_ce, is_active, is_managed, platform_of, queues_using
from optimizer.recommend.inputs_model import RecommendInputs
from optimizer.recommend.savings import DAYS_PER_MONTH, MIN_WINDOW_DAYS
from optimizer.simulate import Catalog, ReplayResult, parse_config
from optimizer.simulate.allocation import jobs_per_instance
from optimizer.simulate.catalog import InstanceSpec

STRATEGY = "blast-radius"
METADATA = {"implementation_effort": "low", "restarts_running_jobs": False, "reversible": True}


class BlastRadiusSettings(StrategySettings):
    max_jobs_per_instance: int = Field(default=4, ge=1, le=64)
    """At most this many jobs of the CE's common shape per instance (AWS's advice: 2-4)."""
    min_runtime_p50_s: float = Field(default=1800.0, ge=0.0)
    """Short jobs lose little to a reclaim: CEs whose median attempt is shorter are left alone."""
    max_monthly_cost_usd: float = Field(default=0.0, ge=0.0)
    """What a smaller blast radius may cost a month; 0: only changes the replay finds cheaper."""


def expected_lost_work(result: ReplayResult, ce_name: str, catalog: Catalog) -> tuple[float, float]:
    """(run-hours, USD) a reclaim is expected to destroy among a replay's attempts on spot instances
    of `ce_name`: an attempt of d hours on a type of hazard h loses (1 - e^-hd (1 + hd)) / h hours
    in expectation (the run time at the reclaim, when one comes first), priced at the attempt's vCPU
    share of its instance's spot price."""
    attempts = result.attempts
    mine = attempts[(attempts["compute_environment"] == ce_name) & (attempts["capacity_type"] == "SPOT")]
    if mine.empty:
        return 0.0, 0.0
    specs = [catalog.types.get(str(t)) for t in mine["instance_type"]]
    hazard = np.asarray([s.spot_hazard_per_hour if s else 0.0 for s in specs], dtype=float)
    price = np.asarray([(s.spot_price or 0.0) if s else 0.0 for s in specs], dtype=float)
    size = np.asarray([s.vcpus if s else 1.0 for s in specs], dtype=float)
    hours = ((mine["ended_at"] - mine["started_at"]).clip(lower=0).fillna(0.0) / 3600.0).to_numpy(float)
    hd = hazard * hours
    with np.errstate(divide="ignore", invalid="ignore"):
        lost = np.where(hazard > 0, (1.0 - np.exp(-hd) * (1.0 + hd)) / np.where(hazard > 0, hazard, 1.0), 0.0)
    share = np.minimum(mine["vcpus"].to_numpy(float) / size, 1.0)
    return float(lost.sum()), float((lost * price * share).sum())


def largest_blast(result: ReplayResult, ce_name: str) -> int:
    """The most attempts one instance of `ce_name` ran at the same time in a replay: what a single
    reclaim of that instance could have killed."""
    attempts = result.attempts
    mine = attempts[(attempts["compute_environment"] == ce_name) & attempts["instance_id"].notna()]
    if mine.empty:
        return 0
    events = pd.DataFrame(
        {
            "instance": np.concatenate([mine["instance_id"].to_numpy(object)] * 2),
            "t": np.concatenate([mine["started_at"].to_numpy(float), mine["ended_at"].to_numpy(float)]),
            # At one instant an ending attempt frees its place before a starting one takes it.
            "delta": np.concatenate([np.ones(len(mine)), -np.ones(len(mine))]),
        }
    ).sort_values(["instance", "t", "delta"], kind="stable")
    running = events.groupby("instance", sort=False)["delta"].cumsum()
    return int(running.max())


def smaller_sizes(
    current: tuple[InstanceSpec, ...],
    catalog: Catalog,
    common: tuple[float, float, int],
    largest: tuple[float, float, int],
    cap: int,
) -> list[str]:
    """Types of the CE's families (with a spot price) hosting 1..`cap` jobs of the `common` shape
    and at least one of the `largest` job, smallest first."""
    families = {s.family for s in current}
    arches = {s.arch for s in current}
    out = [
        spec
        for spec in catalog.types.values()
        if spec.family in families
        and spec.arch in arches
        and spec.spot_price is not None
        and 1 <= jobs_per_instance(spec, *common) <= cap
        and jobs_per_instance(spec, *largest) >= 1
    ]
    return [s.instance_type for s in sorted(out, key=lambda s: (s.vcpus, s.instance_type))]


class BlastRadiusStrategy(Strategy[BlastRadiusSettings]):
    name: ClassVar[str] = STRATEGY
    settings_class: ClassVar[type[StrategySettings]] = BlastRadiusSettings

    def run(self, inputs: RecommendInputs) -> list[Recommendation]:
        if not inputs.baseline.can_replay:
            return []
        out = []
        for ce in inputs.compute_environments:
            if is_managed(ce) and is_active(ce) and platform_of(ce) == "SPOT":
                rec = self._recommend(inputs, ce)
                if rec is not None:
                    out.append(rec)
        return out

    def _recommend(self, inputs: RecommendInputs, ce: dict[str, Any]) -> Recommendation | None:
        s = self.settings
        baseline = inputs.baseline
        name = ce["computeEnvironmentName"]
        try:
            config = parse_config(baseline.current_document, baseline.catalog, source="recommendation")
        except ConfigError:
            return None
        modelled = [c for c in config.compute_environments if c.name == name]
        if not modelled:
            return None  # the replay cannot model this CE (no priced type)
        current = baseline.current()
        attempts = current.attempts[current.attempts["compute_environment"] == name]
        if attempts.empty:
            return None
        runtime = (attempts["ended_at"] - attempts["started_at"]).clip(lower=0)
        if float(runtime.median()) < s.min_runtime_p50_s:
            return None
        blast_now = largest_blast(current, name)
        if blast_now <= s.max_jobs_per_instance:
            return None
        shapes = attempts[["vcpus", "memory_mib", "gpus"]].astype(float)
        common_row = shapes.value_counts().idxmax()
        common = (float(common_row[0]), float(common_row[1]), int(common_row[2]))
        largest = (float(shapes["vcpus"].max()), float(shapes["memory_mib"].max()), int(shapes["gpus"].max()))
        types = smaller_sizes(
            modelled[0].instance_types, baseline.catalog, common, largest, s.max_jobs_per_instance
        )
        current_types = list((ce.get("computeResources") or {}).get("instanceTypes") or [])
        if not types or sorted(types) == sorted(current_types):
            return None

        def edit(body: dict[str, Any]) -> None:
            body["instanceTypes"] = types

        comparison = baseline.compare(edit_ce(baseline.current_document, name, edit))
        if comparison is None:
            return None
        saving = comparison.monthly_savings_usd
        allowed = saving >= s.min_monthly_savings_usd or (
            s.max_monthly_cost_usd > 0 and saving >= -s.max_monthly_cost_usd
        )
        proposed_run = baseline.replay(comparison.evidence["proposed_config"])
        blast_after = largest_blast(proposed_run, name)
        per_month = DAYS_PER_MONTH / max(baseline.window_days, MIN_WINDOW_DAYS)
        lost_now = [v * per_month for v in expected_lost_work(current, name, baseline.catalog)]
        lost_after = [v * per_month for v in expected_lost_work(proposed_run, name, baseline.catalog)]
        if not allowed or blast_after >= blast_now:
            return None
        res = ce.get("computeResources") or {}
        strategy = res.get("allocationStrategy") or "BEST_FIT"
        in_place = strategy in UPDATABLE_STRATEGIES and uses_service_linked_role(ce)
        queues = queues_using(inputs.job_queues, name)
        return make_recommendation(
            strategy=self.name,
            target_arn=ce["computeEnvironmentArn"],
            target_kind="compute-environment",
            target_name=name,
            title=(
                f"{name}: at most {s.max_jobs_per_instance} jobs per spot instance ({', '.join(types)});"
                f" one reclaim could kill up to {blast_now} jobs at once in the replay, {blast_after} after"
            ),
            current={"instance_types": current_types},
            proposed={"instance_types": types},
            monthly_savings_usd=saving,
            risk={
                "interruption": (
                    f"expected lost work {lost_now[0]:,.1f} -> {lost_after[0]:,.1f} run-hours/month"
                    f" (${lost_now[1]:,.2f} -> ${lost_after[1]:,.2f}); up to {blast_now} -> {blast_after}"
                    " jobs per reclaim"
                ),
                "queue_wait": comparison.wait_text(),
                "rollout": "Batch replaces instances (running jobs finish first)"
                if in_place
                else "blue/green: a new CE replaces this one",
            },
            risk_scores={"interruption": 0.0},
            confidence=0.6 if saving >= 0 else 0.5,
            effort="low" if in_place else "medium",
            update_kind=UpdateKind.INFRASTRUCTURE if in_place else UpdateKind.BLUE_GREEN,
            evidence={
                "replay": comparison.evidence,
                "metadata": METADATA,
                "queues": queues,
                "blast_radius": {
                    "max_jobs_per_instance": s.max_jobs_per_instance,
                    "common_shape": {"vcpus": common[0], "memory_mib": common[1], "gpus": common[2]},
                    "largest_job": {"vcpus": largest[0], "memory_mib": largest[1], "gpus": largest[2]},
                    "largest_blast_before": blast_now,
                    "largest_blast_after": blast_after,
                    "median_attempt_s": round(float(runtime.median()), 1),
                    "expected_lost_hours_per_month_before": round(lost_now[0], 3),
                    "expected_lost_hours_per_month_after": round(lost_after[0], 3),
                    "expected_lost_usd_per_month_before": round(lost_now[1], 2),
                    "expected_lost_usd_per_month_after": round(lost_after[1], 2),
                    "sampled_reclaims_before": int(comparison.current.get("spot_reclaims", 0) or 0),
                    "sampled_reclaims_after": int(comparison.proposed.get("spot_reclaims", 0) or 0),
                },
            },
            account_id=account_of(ce["computeEnvironmentArn"]),
            region=inputs.region,
        )
