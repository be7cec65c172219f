"""The business limits of a fleet-mix problem (`policy` in batchopt.problem/v1) and their JSON form.

Kept apart from `problem` (numpy) so that `batchopt optimize --help`, which lists the policy's keys,
imports nothing heavy; `optimizer.solver.problem` re-exports both names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from optimizer.catalog.requirements import InstanceRequirements, requirements_from_dict, requirements_to_dict

if TYPE_CHECKING:
    from optimizer.config import OptimizationSettings


@dataclass(frozen=True)
class Policy:
    """Business limits on the mix.

    - `max_instance_types`: cap on selected offerings (the total length of the spot and on-demand
      CEs' `instanceTypes`); None = no cap.
    - `min_spot_instance_types`: K >= 2 means no spot offering may provide more than 1/K of the spot
      instance vCPU-hours, so a reclaim wave in one pool takes at most that share (0 or 1 = off).
    - `max_spot_share`: cap on the share of job vCPU-hours that run on spot (work exposed to reclaim).
    - `interruption_cost_factor`: hours of rework one reclaim costs, multiplying the spot
      `interruption_rate` into an expected cost per instance-hour.
    - `gap_target`: relative gap at which the search stops early.
    - `instance_requirements`: which instance types may be chosen at all, and whether accelerated
      types may host jobs that ask for no accelerator (`optimizer.catalog.requirements`).
    """

    max_instance_types: int | None = None
    min_spot_instance_types: int = 0
    max_spot_share: float | None = None
    interruption_cost_factor: float = 1.0
    time_limit_seconds: float = 30.0
    gap_target: float = 0.005
    instance_requirements: InstanceRequirements = field(default_factory=InstanceRequirements)

    @property
    def diversification(self) -> int:
        return self.min_spot_instance_types if self.min_spot_instance_types >= 2 else 0

    @property
    def caps_spot_share(self) -> bool:
        return self.max_spot_share is not None and self.max_spot_share < 1.0

    @property
    def couples_spot(self) -> bool:
        """A spot limit (share cap or diversification) adds rows over all buckets, also in the LP."""
        return self.diversification > 0 or self.caps_spot_share

    @property
    def couples_buckets(self) -> bool:
        """Any limit over all buckets; without one, every bucket class is its own problem."""
        return self.max_instance_types is not None or self.couples_spot


def describe_limits(policy: Policy) -> str:
    """The coupling limits in words, for summaries ("at most 8 instance types, spot over at least 3
    pools, at most 80 % of job vCPU-hours on spot"; "no limits")."""
    parts = []
    if policy.max_instance_types is not None:
        parts.append(f"at most {policy.max_instance_types} instance types")
    if policy.diversification:
        parts.append(f"spot over at least {policy.diversification} pools")
    if policy.caps_spot_share:
        assert policy.max_spot_share is not None
        parts.append(f"at most {policy.max_spot_share:.0%} of job vCPU-hours on spot")
    return ", ".join(parts) or "no limits"


def policy_to_dict(policy: Policy) -> dict[str, Any]:
    return {
        "max_instance_types": policy.max_instance_types,
        "min_spot_instance_types": policy.min_spot_instance_types,
        "max_spot_share": policy.max_spot_share,
        "interruption_cost_factor": policy.interruption_cost_factor,
        "time_limit_seconds": policy.time_limit_seconds,
        "gap_target": policy.gap_target,
        "instance_requirements": requirements_to_dict(policy.instance_requirements),
    }


def policy_from_settings(opt: OptimizationSettings, *, time_limit_seconds: float | None = None) -> Policy:
    """The one mapping from the `[optimization]` settings to a `Policy`: `recommend`, `optimize
    --queue`, the demo, the dashboard and auto-tuning all call it, so a limit set once holds
    everywhere. `time_limit_seconds` caps the configured limit (an interactive page, the demo)."""
    limit = (
        opt.time_limit_seconds
        if time_limit_seconds is None
        else min(opt.time_limit_seconds, time_limit_seconds)
    )
    return Policy(
        max_instance_types=opt.max_instance_types,
        min_spot_instance_types=opt.min_spot_instance_types,
        max_spot_share=None if opt.max_spot_share >= 1.0 else opt.max_spot_share,
        interruption_cost_factor=opt.interruption_cost_factor,
        time_limit_seconds=limit,
        gap_target=opt.gap_target,
        instance_requirements=requirements_from_dict(
            opt.instance_requirements.model_dump(), "optimization.instance_requirements"
        ),
    )
