"""Fleet-mix recommendations (pure): a solver plan for a queue, checked by replay, as a Recommendation.

A plan (`optimizer.solver`) says which instance types and capacity type a queue's jobs should run
on; `recommend_environments` turns it into compute environments. When that is one environment, it
is a change the apply planner can make to the queue's current compute environment (instance types,
allocation strategy, capacity type, vCPU limits: in place when Batch allows, blue/green otherwise).
The saving is the replay's, not the solver's: the same history replayed on the current and on the
proposed configuration, scaled to a month. A plan that needs two environments (spot and on-demand)
is kept as advice, since it is not one change to one environment.

Risk follows the capacity: all on-demand is low; spot is medium, high when a selected pool's
monthly interruption rate is 15% or more (Spot Advisor bands 3-4).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from optimizer.domain import Recommendation, RiskLevel, UpdateKind
from optimizer.recommend.ids import recommendation_id

STRATEGY = "fleet-mix"
IN_PLACE_STRATEGIES = frozenset(
    {"BEST_FIT_PROGRESSIVE", "SPOT_CAPACITY_OPTIMIZED", "SPOT_PRICE_CAPACITY_OPTIMIZED"}
)
HIGH_INTERRUPTION_RATE = 0.15


@dataclass(frozen=True)
class ReplayEvidence:
    """The replay that backs a saving: the queue's instance cost on both configurations."""

    current_usd: float
    proposed_usd: float
    days: float
    jobs: int

    @property
    def monthly_savings_usd(self) -> float:
        return (self.current_usd - self.proposed_usd) * 30.4375 / self.days


def _ce_values(resources: dict[str, Any]) -> dict[str, Any]:
    return {
        "instance_types": list(resources.get("instanceTypes") or []),
        "allocation_strategy": resources.get("allocationStrategy", "BEST_FIT"),
        "platform": resources.get("type", "EC2"),
        "min_vcpus": int(resources.get("minvCpus", 0)),
        "max_vcpus": int(resources.get("maxvCpus", 0)),
    }


def fleet_mix_recommendation(
    *,
    queue: str,
    environment: dict[str, Any],
    planned: dict[str, Any],
    plan: dict[str, Any],
    evidence: ReplayEvidence,
    interruption_rates: dict[str, float],
    account_id: str | None = None,
    region: str | None = None,
) -> Recommendation:
    """`environment` is the DescribeComputeEnvironments item the queue uses now; `planned` is the
    plan's environments (`recommend_environments`), `plan` the solver's plan document."""
    resources = environment.get("computeResources") or {}
    current = _ce_values(resources)
    bodies = planned.get("computeEnvironments") or []
    applicable = len(bodies) == 1
    target = bodies[0]["computeResources"] if bodies else {}
    proposed = _ce_values(target) if target else {}
    if proposed:
        proposed["desired_vcpus"] = proposed["min_vcpus"]
    spot = proposed.get("platform") == "SPOT" or any(
        b["computeResources"].get("type") == "SPOT" for b in bodies
    )
    worst = max((interruption_rates.get(t, 0.0) for t in proposed.get("instance_types", [])), default=0.0)
    risk_level = (
        RiskLevel.LOW if not spot else RiskLevel.HIGH if worst >= HIGH_INTERRUPTION_RATE else RiskLevel.MEDIUM
    )
    in_place = (
        current["allocation_strategy"] in IN_PLACE_STRATEGIES
        and proposed.get("allocation_strategy") in IN_PLACE_STRATEGIES
        and current["platform"] == proposed.get("platform")
    )
    kind = (
        UpdateKind.ADVICE
        if not applicable
        else UpdateKind.INFRASTRUCTURE
        if in_place
        else UpdateKind.BLUE_GREEN
    )
    types = proposed.get("instance_types") or [
        t for b in bodies for t in b["computeResources"]["instanceTypes"]
    ]
    gap = float(plan.get("gap") or 0.0)
    title = (
        f"{queue}: run on {len(types)} {'spot' if spot else 'on-demand'} instance types "
        f"({', '.join(types[:3])}{', ...' if len(types) > 3 else ''})"
    )
    arn = str(environment["computeEnvironmentArn"])
    return Recommendation(
        id=recommendation_id(STRATEGY, arn, proposed or {"environments": bodies}),
        strategy=STRATEGY,
        target_arn=arn,
        target_name=str(environment.get("computeEnvironmentName") or arn.rsplit("/", 1)[-1]),
        target_kind="compute-environment",
        title=title,
        current=current,
        proposed=proposed or {"environments": bodies},
        monthly_savings_usd=round(evidence.monthly_savings_usd, 2),
        risk={
            "spot": spot,
            "worst_monthly_interruption_rate": worst,
            "replacement": "blue/green: a new environment, the queue switched, the old one drained"
            if kind == UpdateKind.BLUE_GREEN
            else "Batch replaces instances as running jobs finish",
        },
        risk_level=risk_level,
        confidence=0.8 if plan.get("status") == "OPTIMAL" or gap <= 0.05 else 0.6,
        effort="low" if applicable else "medium",
        update_kind=kind,
        evidence={
            "plan_status": plan.get("status"),
            "plan_cost_usd": plan.get("cost_usd"),
            "plan_gap": gap,
            "replay_current_usd": round(evidence.current_usd, 2),
            "replay_proposed_usd": round(evidence.proposed_usd, 2),
            "replay_days": evidence.days,
            "replay_jobs": evidence.jobs,
        },
        account_id=account_id,
        region=region,
        applicable=applicable,
    )
