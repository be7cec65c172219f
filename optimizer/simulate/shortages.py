"""Capacity shortages: spans during which EC2 cannot launch an instance type on spot or on demand.

Batch reports them as instances that never come ("Spot capacity not available", EC2's
InsufficientInstanceCapacity): the CE tries its other instance types, and a queue's jobs go to its
next CE only if that one has room; otherwise they wait RUNNABLE until capacity returns. The
history holds no record of them (a launch that never happened leaves no instance), so the replay
draws them, per pool (instance type x capacity type), from `simulation.capacityShortages`:

    "capacityShortages": [
      {"capacityType": "SPOT", "instanceTypes": ["c5.*"], "perDay": 2, "meanDurationSeconds": 3600}
    ]

Each rule covers the pools whose type matches one of its globs (the first matching rule wins); a
pool's shortages start as a Poisson process of `perDay` a day and last an exponential time of
mean `meanDurationSeconds`, both drawn from a generator seeded by the replay's seed and the pool's
name, so each pool's calendar is the same in every replay of the same seed whatever else the
configuration changes (the current and the proposed replay meet the same shortages), and the
reclaim draws are untouched. Spans are generated lazily as the replay's clock advances.

In the engine a launch chooses only among the CE's types not short at that instant; when a
shortage leaves a CE unable to launch, the engine retries that CE's waiting jobs when the
earliest of its shortages ends. minvCpus top-ups and multi-node gangs' own type choice ignore
shortages (a simplification: both are rare next to ordinary launches).
"""

from __future__ import annotations

import fnmatch
import random
from dataclasses import dataclass, field
from typing import Any

from optimizer.errors import ConfigError

CAPACITY_TYPES = ("SPOT", "ON_DEMAND")
SECONDS_PER_DAY = 86400.0


@dataclass(frozen=True)
class ShortageRule:
    capacity_type: str
    patterns: tuple[str, ...]
    per_day: float
    mean_duration_s: float

    def covers(self, instance_type: str, capacity_type: str) -> bool:
        return capacity_type == self.capacity_type and any(
            fnmatch.fnmatchcase(instance_type, p) for p in self.patterns
        )


def shortages_from_api(data: Any, where: str = "simulation.capacityShortages") -> tuple[ShortageRule, ...]:
    """Parse the document's list of rules; a bad one is a ConfigError naming its field."""
    if data is None:
        return ()
    if not isinstance(data, list):
        raise ConfigError(f"{where}: expected a list of rules")
    rules = []
    for k, item in enumerate(data):
        at = f"{where}[{k}]"
        if not isinstance(item, dict):
            raise ConfigError(f"{at}: expected an object")
        unknown = sorted(set(item) - {"capacityType", "instanceTypes", "perDay", "meanDurationSeconds"})
        if unknown:
            raise ConfigError(f"{at}.{unknown[0]}: unknown field")
        capacity = item.get("capacityType")
        if capacity not in CAPACITY_TYPES:
            wanted = " or ".join(CAPACITY_TYPES)
            raise ConfigError(f"{at}.capacityType: must be {wanted}, got {capacity!r}")
        patterns = item.get("instanceTypes", ["*"])
        if not (isinstance(patterns, list) and patterns and all(isinstance(p, str) and p for p in patterns)):
            raise ConfigError(f"{at}.instanceTypes: expected a non-empty list of type names or globs")
        values = []
        for key in ("perDay", "meanDurationSeconds"):
            value = item.get(key)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ConfigError(f"{at}.{key}: must be a positive number, got {value!r}")
            values.append(float(value))
        rules.append(ShortageRule(capacity, tuple(patterns), values[0], values[1]))
    return tuple(rules)


def shortages_to_api(rules: tuple[ShortageRule, ...]) -> list[dict[str, Any]]:
    return [
        {
            "capacityType": r.capacity_type,
            "instanceTypes": list(r.patterns),
            "perDay": r.per_day,
            "meanDurationSeconds": r.mean_duration_s,
        }
        for r in rules
    ]


@dataclass
class _Pool:
    rng: random.Random
    rate_per_s: float
    mean_s: float
    start: float = 0.0
    end: float = 0.0
    spans: list[tuple[float, float]] = field(default_factory=list)

    def advance(self, t: float) -> None:
        """Draw spans until the current one ends after `t` (or starts after it)."""
        while self.end <= t:
            self.start = self.end + self.rng.expovariate(self.rate_per_s)
            self.end = self.start + self.rng.expovariate(1.0 / self.mean_s)
            self.spans.append((self.start, self.end))


class ShortageCalendar:
    """When each pool cannot launch; `short_until` is asked with a non-decreasing clock."""

    def __init__(self, rules: tuple[ShortageRule, ...], seed: int) -> None:
        self.rules = rules
        self.seed = seed
        self.pools: dict[tuple[str, str], _Pool | None] = {}

    @property
    def active(self) -> bool:
        return bool(self.rules)

    def _pool(self, instance_type: str, capacity_type: str) -> _Pool | None:
        key = (instance_type, capacity_type)
        if key not in self.pools:
            rule = next((r for r in self.rules if r.covers(instance_type, capacity_type)), None)
            self.pools[key] = (
                None
                if rule is None
                else _Pool(
                    random.Random(f"{self.seed}:{capacity_type}:{instance_type}"),
                    rule.per_day / SECONDS_PER_DAY,
                    rule.mean_duration_s,
                )
            )
        return self.pools[key]

    def short_until(self, instance_type: str, capacity_type: str, t: float) -> float | None:
        """The end of the shortage `t` falls in for this pool, or None when it can launch."""
        pool = self._pool(instance_type, capacity_type)
        if pool is None:
            return None
        pool.advance(t)
        return pool.end if pool.start <= t < pool.end else None

    def spans(self, instance_type: str, capacity_type: str) -> list[tuple[float, float]]:
        """The spans drawn so far for a pool (for the summary and tests)."""
        pool = self.pools.get((instance_type, capacity_type))
        return [] if pool is None else list(pool.spans)


def shortage_summary(calendar: ShortageCalendar, launches_refused: int) -> dict[str, Any]:
    """The replay summary's `capacity_shortages` section (absent when no rule is configured):
    launches a shortage refused (the job then went to the queue's next CE or waited), and the
    shortage-hours each capacity type's pools drew while the replay asked about them."""
    if not calendar.active:
        return {}
    hours: dict[str, float] = {}
    for (_, capacity), pool in calendar.pools.items():
        if pool is not None:
            drawn = sum(end - start for start, end in pool.spans)
            hours[capacity] = hours.get(capacity, 0.0) + drawn / 3600.0
    return {
        "capacity_shortages": {
            "launches_refused": int(launches_refused),
            "pools": sum(1 for pool in calendar.pools.values() if pool is not None),
            "shortage_hours_by_capacity_type": {k: round(v, 3) for k, v in sorted(hours.items())},
        }
    }
