"""AWS Batch's instance-type aliases and allocation strategies: one table the whole product reads.

Source: the Batch API reference as shipped in botocore's service model (`batch` 2016-08-10,
botocore 1.44: `ComputeResource.instanceTypes`, `CRAllocationStrategy`, `CRUpdateAllocationStrategy`,
`CRType`). A test compares these tables with the installed botocore, so a strategy or CE type AWS
adds is noticed by the suite; at run time an unknown value is refused for that one compute
environment with a message naming it, never a crash of the region.

Aliases: `optimal` is "semantically equivalent to default_x86_64" since the change AWS announced for
2025-11-01 (before it, c4/m4/r4 and later c5/m5/r5); `default_x86_64` is m6i, c6i, r6i and c7i;
`default_arm64` is m6g, c6g, r6g and c7g. Batch may pick an older family of a bundle where a region
lacks the newer one; the replay takes every family of the bundle that the region's catalogue has.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from optimizer.catalog.instance_kinds import architecture
from optimizer.errors import ConfigError

INSTANCE_ALIASES: Mapping[str, tuple[str, ...]] = {
    "default_x86_64": ("m6i", "c6i", "r6i", "c7i"),
    "default_arm64": ("m6g", "c6g", "r6g", "c7g"),
    "optimal": ("m6i", "c6i", "r6i", "c7i"),
}

EC2_CE_TYPES = ("EC2", "SPOT")
FARGATE_CE_TYPES = ("FARGATE", "FARGATE_SPOT")
#: Every `computeResources.type` botocore knows; ECS_MANAGED_INSTANCES has no replay model yet.
CE_TYPES = (*EC2_CE_TYPES, *FARGATE_CE_TYPES, "ECS_MANAGED_INSTANCES")

#: Fargate's valid (vCPU, memory MiB) sizes: the VCPU table of `ResourceRequirement.value` in the
#: Batch API reference (botocore's model). 0.25 vCPU takes 512, 1024 or 2048 MiB (not 1536); 32 vCPU
#: takes 61440, 122880 or 249856 MiB. The replay rounds a job up to the first size that holds it and
#: the planner refuses a Fargate revision whose pair is not listed, so both read this one table.
FARGATE_SIZES: tuple[tuple[float, tuple[int, ...]], ...] = (
    (0.25, (512, 1024, 2048)),
    (0.5, tuple(range(1024, 4097, 1024))),
    (1.0, tuple(range(2048, 8193, 1024))),
    (2.0, tuple(range(4096, 16385, 1024))),
    (4.0, tuple(range(8192, 30721, 1024))),
    (8.0, tuple(range(16384, 61441, 4096))),
    (16.0, tuple(range(32768, 122881, 8192))),
    (32.0, (61440, 122880, 249856)),
)


def is_fargate_size(vcpus: float, memory_mib: int) -> bool:
    """Whether Batch accepts this VCPU/MEMORY pair for a Fargate job."""
    return any(abs(v - vcpus) < 1e-9 and memory_mib in memories for v, memories in FARGATE_SIZES)


@dataclass(frozen=True)
class AllocationStrategy:
    """What one strategy means for the replay, the planner and the advice.

    - `capacity_types`: the CE types it is valid for (AWS: "only available for Spot Instance compute
      resources", "only available for On-Demand Instance (EC2) compute resources").
    - `ordered`: Batch prefers the types in the order of `instanceTypes` (strictly for
      BEST_FIT_PROGRESSIVE_ORDERED, best effort behind capacity for SPOT_CAPACITY_OPTIMIZED_PRIORITIZED).
    - `infrastructure_updates`: the CE can be updated in place beyond its scaling fields (every
      strategy but BEST_FIT, which also cannot be an update's target: `CRUpdateAllocationStrategy`).
    - `strict_max_on_demand`: on EC2 it never exceeds maxvCpus (AWS: "any allocation strategy except
      BEST_FIT using On-Demand ... might need to exceed maxvCpus ... by a single instance").
    """

    name: str
    capacity_types: tuple[str, ...]
    ordered: bool = False
    infrastructure_updates: bool = True
    strict_max_on_demand: bool = False


ALLOCATION_STRATEGIES: Mapping[str, AllocationStrategy] = {
    s.name: s
    for s in (
        AllocationStrategy(
            "BEST_FIT", ("EC2", "SPOT"), infrastructure_updates=False, strict_max_on_demand=True
        ),
        AllocationStrategy("BEST_FIT_PROGRESSIVE", ("EC2", "SPOT")),
        AllocationStrategy("BEST_FIT_PROGRESSIVE_ORDERED", ("EC2",), ordered=True),
        AllocationStrategy("SPOT_CAPACITY_OPTIMIZED", ("SPOT",)),
        AllocationStrategy("SPOT_PRICE_CAPACITY_OPTIMIZED", ("SPOT",)),
        AllocationStrategy("SPOT_CAPACITY_OPTIMIZED_PRIORITIZED", ("SPOT",), ordered=True),
    )
}
DEFAULT_STRATEGY = "BEST_FIT"
#: Strategies a CE can be updated to in place (botocore's `CRUpdateAllocationStrategy`).
UPDATABLE_STRATEGIES = frozenset(n for n, s in ALLOCATION_STRATEGIES.items() if s.infrastructure_updates)
#: Where Batch's service-linked role lives; a CE with no serviceRole uses it too.
SERVICE_LINKED_ROLE_PATH = "aws-service-role/batch.amazonaws.com/"


def uses_service_linked_role(ce: dict[str, Any]) -> bool:
    """Infrastructure updates (in-place changes of types, strategy, ...) need the service-linked role."""
    role = ce.get("serviceRole")
    return not role or SERVICE_LINKED_ROLE_PATH in role


def allocation_strategy(
    name: str | None, ce_type: str, where: str = "allocationStrategy"
) -> AllocationStrategy:
    """The rule for `name` on a CE of `ce_type`; ConfigError naming `where` when Batch would refuse it."""
    key = name or DEFAULT_STRATEGY
    rule = ALLOCATION_STRATEGIES.get(key)
    if rule is None:
        raise ConfigError(
            f"{where}: unknown allocation strategy {key!r} (known: {', '.join(ALLOCATION_STRATEGIES)})"
        )
    if ce_type not in rule.capacity_types:
        raise ConfigError(
            f"{where}: {key} is not valid for {ce_type} compute environments "
            f"(valid for {', '.join(rule.capacity_types)})"
        )
    return rule


def families_of_entry(entry: str) -> tuple[str, ...]:
    """An `instanceTypes` entry that is not a concrete type -> the families it stands for."""
    return INSTANCE_ALIASES.get(entry, (entry,))


def entry_architectures(entries: Iterable[str]) -> frozenset[str]:
    """The CPU architectures a CE's `instanceTypes` entries (types, families, aliases) launch."""
    return frozenset(architecture(f) for entry in entries for f in families_of_entry(entry))


def expand_instance_types(entries: Iterable[str], catalog: Iterable[str]) -> list[str]:
    """CE `instanceTypes` entries (types, families, aliases) -> concrete types of `catalog`, in the
    order Batch would consider them for an ordered strategy (explicit types keep their place and
    leave their family's expansion, as the API reference says of BEST_FIT_PROGRESSIVE_ORDERED)."""
    names = list(catalog)
    by_family: dict[str, list[str]] = {}
    for name in names:
        by_family.setdefault(name.split(".", 1)[0], []).append(name)
    entries = list(entries)
    explicit = {e for e in entries if "." in e}
    out: list[str] = []
    for entry in entries:
        if "." in entry:
            members = [entry] if entry in by_family.get(entry.split(".", 1)[0], ()) else []
        else:
            members = [m for f in families_of_entry(entry) for m in by_family.get(f, []) if m not in explicit]
        out.extend(m for m in members if m not in out)
    return out
