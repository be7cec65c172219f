"""Which instance type a compute environment launches for waiting jobs, per allocation strategy.

Batch does not publish its exact selection algorithm; the rules below follow its documented
intent and are deterministic so that two replays compare configurations, not luck:

- BEST_FIT: the type that hosts the waiting jobs at the lowest price per job hosted (then the
  lower hourly price, then fewer vCPUs). On-demand BEST_FIT never exceeds maxvCpus, so only types
  that fit the remaining headroom are considered.
- BEST_FIT_PROGRESSIVE: the lowest price per vCPU among types large enough for the job, then the
  lowest price per job hosted ("additional types ... lowest cost per unit vCPU").
- SPOT_CAPACITY_OPTIMIZED: the pool least likely to be interrupted (Spot Advisor band), then the
  lowest price per job hosted.
- SPOT_PRICE_CAPACITY_OPTIMIZED: among pools in the lowest band present or the one above it (the
  "high capacity" pools), the lowest price per job hosted, then the lower band.
- BEST_FIT_PROGRESSIVE_ORDERED: the first `instanceTypes` entry that can host the job; within a
  family entry, BEST_FIT_PROGRESSIVE's preference ("sizes within that family are expanded using
  BEST_FIT_PROGRESSIVE logic").
- SPOT_CAPACITY_OPTIMIZED_PRIORITIZED: capacity first (the least interrupted band), then the
  entries' order ("priority is honored on a best-effort basis"), then the lowest price per job.

"Jobs hosted" is min(jobs of this shape waiting, how many fit on the type), so a burst of
identical jobs brings larger instances, as Batch's scale-out for a queue backlog does.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from optimizer.simulate.catalog import InstanceSpec

EPS = 1e-9


def jobs_per_instance(spec: InstanceSpec, vcpus: float, memory_mib: float, gpus: int) -> int:
    """How many jobs of this shape fit on one instance (0 when even one does not)."""
    if spec.gpus < gpus:
        return 0
    count = math.floor((spec.vcpus + EPS) / vcpus) if vcpus > 0 else 1 << 30
    count = min(
        count, math.floor((spec.allocatable_memory_mib + EPS) / memory_mib) if memory_mib > 0 else count
    )
    if gpus > 0:
        count = min(count, spec.gpus // gpus)
    return max(count, 0)


def choose_instance_type(
    candidates: Sequence[InstanceSpec],
    strategy: str,
    spot: bool,
    vcpus: float,
    memory_mib: float,
    gpus: int,
    waiting: int,
    headroom_vcpus: float | None = None,
    priorities: Mapping[str, int] | None = None,
) -> InstanceSpec | None:
    """The type to launch for `waiting` jobs of one shape, or None when no candidate can host one.

    `headroom_vcpus` (strict maxvCpus only) excludes types larger than the remaining room;
    `priorities` (ordered strategies) ranks each type by its `instanceTypes` entry.
    """
    ranks = priorities or {}
    scored: list[tuple[tuple[float, ...], InstanceSpec]] = []
    for spec in candidates:
        fit = jobs_per_instance(spec, vcpus, memory_mib, gpus)
        if fit == 0 or (headroom_vcpus is not None and spec.vcpus > headroom_vcpus + EPS):
            continue
        price = spec.spot_price if spot and spec.spot_price is not None else spec.ondemand_price
        per_job = price / min(max(waiting, 1), fit)
        band = float(spec.spot_band if spec.spot_band is not None else 5)
        rank = float(ranks.get(spec.instance_type, 0))
        if strategy == "BEST_FIT_PROGRESSIVE":
            key: tuple[float, ...] = (round(price / spec.vcpus, 9), per_job, spec.vcpus)
        elif strategy == "BEST_FIT_PROGRESSIVE_ORDERED":
            key = (rank, round(price / spec.vcpus, 9), per_job, spec.vcpus)
        elif strategy == "SPOT_CAPACITY_OPTIMIZED_PRIORITIZED":
            key = (band, rank, per_job, spec.vcpus)
        elif strategy == "SPOT_CAPACITY_OPTIMIZED":
            key = (band, per_job, spec.vcpus)
        elif strategy == "SPOT_PRICE_CAPACITY_OPTIMIZED":
            key = (band, per_job, spec.vcpus)  # banded below, after the lowest band is known
        else:
            key = (per_job, price, spec.vcpus)
        scored.append((key, spec))
    if not scored:
        return None
    if strategy == "SPOT_PRICE_CAPACITY_OPTIMIZED":
        lowest = min(key[0] for key, _ in scored)
        scored = [((key[1], key[0], key[2]), spec) for key, spec in scored if key[0] <= lowest + 1]
    return min(scored, key=lambda item: (item[0], item[1].instance_type))[1]
