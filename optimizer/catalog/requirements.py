"""Instance requirements: which instance types a plan, a replay or a strategy may choose.

Modelled on EC2's attribute-based selection (`InstanceRequirements`: instance generations,
burstable performance, bare metal, accelerator types; allowed/excluded instance types) because
operators already know those words, with the same defaults EC2 uses for them where it has one:

- `generations = "current"`: previous-generation families are left out (m2, c4, ...).
- `burstable = False`: T types are left out; under sustained batch load their CPU credits run out
  (or are billed as "unlimited" surplus credits the price list does not show).
- `bare_metal = False`: metal sizes take minutes longer to boot and buy nothing a container needs.
- `accelerators = "when_requested"`: accelerated types (GPU, Inferentia, Trainium, FPGA, media) host
  only jobs that ask for an accelerator; "any" lets CPU jobs use them, "none" removes them.

Families and categories take EC2-style wildcards (`m7*`, `c?i`). A document or setting without
requirements gets these defaults: stated in docs/problem-and-plan.md.

Gangs (the nodes of multi-node parallel jobs) may need more of the network than other jobs: a
tightly coupled MPI code wants the Elastic Fabric Adapter, or at least a bandwidth. Batch has no
bandwidth request, and a job definition asks for EFA only by passing its device through
(`linuxParameters.devices`), which the history shows for collected jobs but not for imported
traces. So the operator can state both for every gang:

- `gang_efa = True`: gangs run only on types whose catalogue row says EFA is supported
  (DescribeInstanceTypes' `EfaSupported`; a type whose support is unknown does not qualify);
- `gang_min_network_gbps = X`: gangs run only on types with at least X Gbit/s of network bandwidth
  in the catalogue (unknown bandwidth does not qualify).

They add to what each gang shape asks for itself (`Shape.efa`, `Shape.min_network_gbps`) and never
restrict jobs that are not gangs.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from optimizer.catalog.instance_kinds import CATEGORY_NAMES, InstanceKind, instance_kind
from optimizer.errors import InputError

GENERATIONS = ("current", "any")
ACCELERATOR_RULES = ("when_requested", "any", "none")


@dataclass(frozen=True)
class InstanceRequirements:
    """Which instance types may be chosen (see the module docstring for the defaults' reasons)."""

    allowed_categories: tuple[str, ...] = ()
    excluded_categories: tuple[str, ...] = ()
    allowed_families: tuple[str, ...] = ()
    excluded_families: tuple[str, ...] = ()
    generations: str = "current"
    min_generation: int | None = None
    burstable: bool = False
    bare_metal: bool = False
    accelerators: str = "when_requested"
    gang_efa: bool = False
    gang_min_network_gbps: float = 0.0

    def gang_needs(self, efa: bool, min_network_gbps: float) -> tuple[bool, float]:
        """(EFA, minimum Gbit/s) a gang needs: its own ask combined with these requirements."""
        return efa or self.gang_efa, max(min_network_gbps, self.gang_min_network_gbps)

    def hosts_gangs_on(self, efa: bool, network_gbps: float | None) -> bool:
        """May a gang run on a type with this EFA support and bandwidth (None: unknown)?"""
        if self.gang_efa and not efa:
            return False
        return self.gang_min_network_gbps <= 0.0 or (network_gbps or 0.0) >= self.gang_min_network_gbps

    def allows(self, kind: InstanceKind) -> bool:
        """True when the type may be chosen at all (accelerator use per job is `hosts_cpu_jobs`)."""
        if self.allowed_categories and kind.category not in self.allowed_categories:
            return False
        if kind.category in self.excluded_categories:
            return False
        if self.allowed_families and not _matches(kind.family, self.allowed_families):
            return False
        if _matches(kind.family, self.excluded_families):
            return False
        if self.generations == "current" and not kind.current_generation:
            return False
        if self.min_generation is not None and (kind.generation or 0) < self.min_generation:
            return False
        if kind.burstable and not self.burstable:
            return False
        if kind.bare_metal and not self.bare_metal:
            return False
        return not (kind.accelerated and self.accelerators == "none")

    def allows_type(self, instance_type: str, gpus: int = 0) -> bool:
        return self.allows(instance_kind(instance_type, gpus))

    def hosts_cpu_jobs_on(self, instance_type: str, gpus: int = 0) -> bool:
        return self.hosts_cpu_jobs(instance_kind(instance_type, gpus))

    def hosts_job_on(self, instance_type: str, type_gpus: int = 0, job_gpus: float = 0.0) -> bool:
        """May a job asking for `job_gpus` GPUs run on this type (with `type_gpus` GPUs)? A type the
        requirements allow, with GPUs enough for a GPU job, and accelerated only for a job that asks
        for an accelerator (unless `accelerators = "any"`): what `Offering.can_host` decides for a
        plan, for advice that names a single type (the right-sizing memory cliff)."""
        kind = instance_kind(instance_type, type_gpus)
        if not self.allows(kind):
            return False
        if job_gpus > 0:
            return type_gpus >= job_gpus
        return self.hosts_cpu_jobs(kind)

    def hosts_cpu_jobs(self, kind: InstanceKind) -> bool:
        """May jobs that ask for no accelerator run on this type?"""
        return not kind.accelerated or self.accelerators == "any"

    def describe(self) -> str:
        """One line for tables and logs."""
        parts = [f"generations={self.generations}", f"burstable={'yes' if self.burstable else 'no'}"]
        parts.append(f"bare_metal={'yes' if self.bare_metal else 'no'}")
        parts.append(f"accelerators={self.accelerators}")
        for name in ("allowed_categories", "excluded_categories", "allowed_families", "excluded_families"):
            values = getattr(self, name)
            if values:
                parts.append(f"{name}={','.join(values)}")
        if self.min_generation is not None:
            parts.append(f"min_generation={self.min_generation}")
        if self.gang_efa:
            parts.append("gang_efa=yes")
        if self.gang_min_network_gbps > 0.0:
            parts.append(f"gang_min_network_gbps={self.gang_min_network_gbps:g}")
        return " ".join(parts)


UNRESTRICTED = InstanceRequirements(generations="any", burstable=True, bare_metal=True, accelerators="any")


def _matches(family: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(family, p) for p in patterns)


def requirements_to_dict(req: InstanceRequirements) -> dict[str, Any]:
    return {
        "allowed_categories": list(req.allowed_categories),
        "excluded_categories": list(req.excluded_categories),
        "allowed_families": list(req.allowed_families),
        "excluded_families": list(req.excluded_families),
        "generations": req.generations,
        "min_generation": req.min_generation,
        "burstable": req.burstable,
        "bare_metal": req.bare_metal,
        "accelerators": req.accelerators,
        "gang_efa": req.gang_efa,
        "gang_min_network_gbps": req.gang_min_network_gbps,
    }


REQUIREMENT_FIELDS = tuple(requirements_to_dict(InstanceRequirements()))


def requirements_from_dict(data: Any, where: str = "instance_requirements") -> InstanceRequirements:
    """Parse and check the JSON/TOML form; an unknown key or bad value names its path."""
    if data is None:
        return InstanceRequirements()
    if not isinstance(data, Mapping):
        raise InputError(f"{where}: must be an object")
    unknown = sorted(set(data) - set(REQUIREMENT_FIELDS))
    if unknown:
        raise InputError(f"{where}.{unknown[0]}: unknown key (known: {', '.join(REQUIREMENT_FIELDS)})")
    out: dict[str, Any] = {}
    for name in ("allowed_categories", "excluded_categories"):
        if name in data:
            values = _strings(data[name], f"{where}.{name}")
            bad = [v for v in values if v not in CATEGORY_NAMES]
            if bad:
                raise InputError(f"{where}.{name}: {bad[0]!r} is not one of {', '.join(CATEGORY_NAMES)}")
            out[name] = values
    for name in ("allowed_families", "excluded_families"):
        if name in data:
            out[name] = _strings(data[name], f"{where}.{name}")
    for name, choices in (("generations", GENERATIONS), ("accelerators", ACCELERATOR_RULES)):
        if name in data:
            if data[name] not in choices:
                raise InputError(f"{where}.{name}: must be one of {', '.join(choices)}, got {data[name]!r}")
            out[name] = data[name]
    for name in ("burstable", "bare_metal", "gang_efa"):
        if name in data:
            if not isinstance(data[name], bool):
                raise InputError(f"{where}.{name}: must be true or false, got {data[name]!r}")
            out[name] = data[name]
    if data.get("min_generation") is not None:
        value = data["min_generation"]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InputError(f"{where}.min_generation: must be an integer >= 1, got {value!r}")
        out["min_generation"] = value
    if data.get("gang_min_network_gbps") is not None:
        value = data["gang_min_network_gbps"]
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < math.inf:
            raise InputError(f"{where}.gang_min_network_gbps: must be a number >= 0 (Gbit/s), got {value!r}")
        out["gang_min_network_gbps"] = float(value)
    return InstanceRequirements(**out)


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) and v for v in value):
        raise InputError(f"{where}: must be a list of names")
    return tuple(value)
