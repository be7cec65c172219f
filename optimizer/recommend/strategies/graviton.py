"""Graviton (arm64): the same CE on equivalent arm64 instance types where they are cheaper.

For each x86_64 type a CE lists, the cheapest arm64 type with at least its vCPUs and allocatable
memory (no GPUs, not burstable) stands in, when it is cheaper. Only CEs whose jobs do not pin x86_64 (no job
of their queues says arch x86_64) qualify. Whether the job images are multi-architecture cannot be
seen from Batch, so this is advice until a person confirms it by tagging the CE with
`confirmation_tag` = "true"; the proposal keeps the planner's keys, so once confirmed it is an
instance-type change (in place or blue/green by the planner's rule).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from optimizer.catalog.batch_rules import UPDATABLE_STRATEGIES, uses_service_linked_role
from optimizer.catalog.requirements import InstanceRequirements
from optimizer.domain import Recommendation, UpdateKind
from optimizer.recommend.base import Strategy, StrategySettings, make_recommendation
from optimizer.recommend.estate import account_of, edit_ce, is_active, is_managed, platform_of, queues_using
from optimizer.recommend.inputs_model import RecommendInputs
from optimizer.simulate.catalog import Catalog, InstanceSpec

if TYPE_CHECKING:  # a type only: the replay's savings module reads the store
    from optimizer.recommend.savings import Comparison


class GravitonSettings(StrategySettings):
    confirmation_tag: str = "batchopt:multiarch-confirmed"
    """A CE tagged with this key = "true" has had its queues' images confirmed multi-architecture by
    a person; its Graviton recommendation is then applicable (an instance-type change)."""


def _price(spec: InstanceSpec, spot: bool) -> float | None:
    return spec.spot_price if spot else spec.ondemand_price


def arm_equivalent(
    spec: InstanceSpec, catalog: Catalog, spot: bool, requirements: InstanceRequirements | None = None
) -> InstanceSpec | None:
    """The cheapest arm64 type at least as large as `spec` that the instance requirements allow, if
    it is cheaper than `spec`."""
    allowed = requirements or InstanceRequirements()
    own = _price(spec, spot)
    if own is None or spec.gpus:
        return None
    candidates = [
        other
        for other in catalog.types.values()
        if other.arch == "arm64"
        and other.gpus == 0
        and allowed.allows_type(other.instance_type, other.gpus)
        and other.vcpus >= spec.vcpus
        and other.allocatable_memory_mib >= spec.allocatable_memory_mib
        and _price(other, spot) is not None
    ]
    if not candidates:
        return None
    best = min(candidates, key=lambda o: (_price(o, spot), o.vcpus, o.instance_type))
    price = _price(best, spot)
    return best if price is not None and price < own else None


def _pins_x86(jobs: Any) -> bool:
    if jobs.empty or "tags" not in jobs:
        return False
    return any(isinstance(t, dict) and t.get("arch") in ("x86_64", "amd64") for t in jobs["tags"])


class GravitonStrategy(Strategy[GravitonSettings]):
    name: ClassVar[str] = "graviton"
    settings_class: ClassVar[type[StrategySettings]] = GravitonSettings

    def run(self, inputs: RecommendInputs) -> list[Recommendation]:
        out = []
        for ce in inputs.compute_environments:
            if not is_managed(ce) or not is_active(ce) or platform_of(ce) not in ("EC2", "SPOT"):
                continue
            rec = self._recommend(inputs, ce)
            if rec is not None:
                out.append(rec)
        return out

    def _recommend(self, inputs: RecommendInputs, ce: dict[str, Any]) -> Recommendation | None:
        """Each x86 type swapped for its arm64 equivalent, when the queues allow and the replay saves."""
        spot = platform_of(ce) == "SPOT"
        current_types = list(ce["computeResources"].get("instanceTypes") or [])
        mapping = _arm_mapping(inputs, current_types, spot)
        if mapping is None:
            return None
        queues = queues_using(inputs.job_queues, ce["computeEnvironmentName"])
        jobs = inputs.jobs_of_queues(queues)
        if jobs.empty or _pins_x86(jobs) or not inputs.baseline.can_replay:
            return None
        new_types = sorted({v.instance_type for v in mapping.values()})
        document = edit_ce(
            inputs.baseline.current_document, ce["computeEnvironmentName"], _set_types(new_types)
        )
        comparison = inputs.baseline.compare(document)
        if comparison is None or comparison.monthly_savings_usd < self.settings.min_monthly_savings_usd:
            return None
        return self._recommendation(inputs, ce, current_types, new_types, mapping, queues, comparison)

    def _update_kind(self, ce: dict[str, Any]) -> tuple[bool, UpdateKind]:
        """(confirmed, kind): advice until the CE carries the confirmation tag; then an in-place
        infrastructure update where Batch allows one, else blue-green."""
        tags = ce.get("tags") or {}
        confirmed = str(tags.get(self.settings.confirmation_tag, "")).lower() in ("true", "yes", "1")
        in_place = (ce["computeResources"].get("allocationStrategy") in UPDATABLE_STRATEGIES) and (
            uses_service_linked_role(ce)
        )
        if not confirmed:
            return confirmed, UpdateKind.ADVICE
        return confirmed, UpdateKind.INFRASTRUCTURE if in_place else UpdateKind.BLUE_GREEN

    def _recommendation(
        self,
        inputs: RecommendInputs,
        ce: dict[str, Any],
        current_types: list[str],
        new_types: list[str],
        mapping: dict[str, InstanceSpec],
        queues: list[str],
        comparison: Comparison,
    ) -> Recommendation:
        catalog = inputs.baseline.catalog
        spot = platform_of(ce) == "SPOT"
        name = ce["computeEnvironmentName"]
        confirmed, kind = self._update_kind(ce)
        return make_recommendation(
            strategy=self.name,
            target_arn=ce["computeEnvironmentArn"],
            target_kind="compute-environment",
            target_name=name,
            title=f"{name}: Graviton (arm64) {', '.join(new_types)} instead of {', '.join(current_types)}",
            current={"instance_types": current_types},
            proposed={"instance_types": new_types},
            monthly_savings_usd=comparison.monthly_savings_usd,
            risk={
                "compatibility": (
                    f"images confirmed multi-architecture ({self.settings.confirmation_tag} tag)"
                    if confirmed
                    else "every image the queues run must be multi-architecture (or arm64); confirm,"
                    f" then tag the CE {self.settings.confirmation_tag}=true to make this applicable"
                ),
                "interruption": "unchanged capacity type",
                "oom": "arm64 types chosen with at least the same allocatable memory",
            },
            risk_scores={"compatibility": 0.05 if confirmed else 0.25},
            confidence=0.7 if confirmed else 0.5,
            effort="medium",
            update_kind=kind,
            evidence={
                "replay": comparison.evidence,
                "equivalents": {
                    k: {
                        "arm64": v.instance_type,
                        "price_now": _price(catalog.types[k], spot),
                        "price_arm64": _price(v, spot),
                    }
                    for k, v in mapping.items()
                },
                "queues": queues,
            },
            account_id=account_of(ce["computeEnvironmentArn"]),
            region=inputs.region,
            applicable=confirmed,
        )


def _arm_mapping(
    inputs: RecommendInputs, current_types: list[str], spot: bool
) -> dict[str, InstanceSpec] | None:
    """Each of the CE's concrete x86 types -> its arm64 equivalent, or None when one has none (or
    the CE lists families, aliases, unknown or already-arm types: nothing to map one to one)."""
    catalog = inputs.baseline.catalog
    specs = [catalog.types.get(t) for t in current_types]
    if not specs or any(s is None or s.arch != "x86_64" for s in specs):
        return None
    mapping = {
        s.instance_type: arm_equivalent(s, catalog, spot, inputs.requirements) for s in specs if s is not None
    }
    if any(v is None for v in mapping.values()):
        return None
    return {k: v for k, v in mapping.items() if v is not None}


def _set_types(new_types: list[str]) -> Callable[[dict[str, Any]], None]:
    """The edit of a CE body that sets its instance types."""

    def edit(body: dict[str, Any]) -> None:
        body["instanceTypes"] = list(new_types)

    return edit
