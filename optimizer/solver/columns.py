"""The arrays every model-building step shares: prepared problem, pattern pool and column set.

A pattern is one offering plus a multiset of jobs it can host at once; a column is a pattern used
in one distinct demand vector ("bucket class": buckets with identical demand are solved once and
weighted by how many there are).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from optimizer.solver.problem import Offering, Problem


@dataclass
class Prepared:
    """Dense numpy view of a (pruned) problem, with identical buckets merged into classes."""

    problem: Problem
    offerings: list[Offering]
    compat: np.ndarray  # (O, S) bool: offering o can host shape s
    sizes: np.ndarray  # (S, 3) vcpus, memory_mib, gpus
    caps: np.ndarray  # (O, 3)
    hourly: np.ndarray  # (O,) objective per instance-hour (price + expected interruption cost)
    price: np.ndarray  # (O,) price per instance-hour
    spot: np.ndarray  # (O,) bool
    demand: np.ndarray  # (S, U) demand per bucket class
    weight: np.ndarray  # (U,) number of buckets in each class
    bucket_class: np.ndarray  # (T,) class of each bucket, -1 when the bucket has no demand
    hours: float

    @property
    def n_classes(self) -> int:
        return int(self.demand.shape[1])

    @property
    def job_vcpu_hours(self) -> float:
        return float((self.sizes[:, 0] @ self.demand) @ self.weight) * self.hours

    def max_bins(self) -> np.ndarray:
        """(O, U) most instances of offering o that class u can usefully run: one per job of the
        class it can host (an instance hosting no job is never worth running). One product, not a
        loop over pairs: on the KTH week's 485 x 121 pairs the loop took 0.23 s of each LP."""
        return self.compat.astype(float) @ self.demand


def prepare(problem: Problem, offerings: list[Offering]) -> Prepared:
    shapes = problem.shapes
    icf = problem.policy.interruption_cost_factor
    compat = np.array([[o.can_host(s) for s in shapes] for o in offerings], dtype=bool).reshape(
        len(offerings), len(shapes)
    )
    demand = problem.demand
    nonzero = np.flatnonzero(demand.any(axis=0))
    bucket_class = np.full(problem.n_buckets, -1, dtype=np.int64)
    if nonzero.size:
        classes, inverse, counts = np.unique(
            demand[:, nonzero].T, axis=0, return_inverse=True, return_counts=True
        )
        bucket_class[nonzero] = inverse.reshape(-1)
        class_demand = classes.T.astype(np.int64)
        weight = counts.astype(float)
    else:
        class_demand = np.zeros((len(shapes), 0), dtype=np.int64)
        weight = np.zeros(0)
    return Prepared(
        problem=problem,
        offerings=list(offerings),
        compat=compat,
        sizes=np.array([[s.vcpus, s.memory_mib, s.gpus] for s in shapes], dtype=float).reshape(
            len(shapes), 3
        ),
        caps=np.array([[o.vcpus, o.memory_mib, o.gpus] for o in offerings], dtype=float).reshape(
            len(offerings), 3
        ),
        hourly=np.array([o.hourly_objective(icf) for o in offerings], dtype=float),
        price=np.array([o.price_per_hour for o in offerings], dtype=float),
        spot=np.array([o.is_spot for o in offerings], dtype=bool),
        demand=class_demand,
        weight=weight,
        bucket_class=bucket_class,
        hours=problem.bucket_hours,
    )


@dataclass
class PatternPool:
    """Distinct patterns found so far; `add` ignores duplicates."""

    n_shapes: int
    offering: list[int] = field(default_factory=list)
    counts: list[np.ndarray] = field(default_factory=list)
    _seen: dict[tuple[int, bytes], int] = field(default_factory=dict)

    def add(self, offering: int, counts: np.ndarray) -> tuple[int, bool]:
        counts = np.asarray(counts, dtype=np.int64)
        key = (offering, counts.tobytes())
        found = self._seen.get(key)
        if found is not None:
            return found, False
        self._seen[key] = len(self.offering)
        self.offering.append(offering)
        self.counts.append(counts)
        return len(self.offering) - 1, True

    def __len__(self) -> int:
        return len(self.offering)

    def matrix(self) -> tuple[np.ndarray, np.ndarray]:
        """(P,) offering index and (P, S) job counts."""
        if not self.offering:
            return np.zeros(0, dtype=np.int64), np.zeros((0, self.n_shapes), dtype=np.int64)
        return np.asarray(self.offering, dtype=np.int64), np.vstack(self.counts)


@dataclass
class Columns:
    """Columns of a master problem: pattern index and bucket class of each, with derived data."""

    pattern: np.ndarray  # (N,)
    bucket_class: np.ndarray  # (N,)
    offering: np.ndarray  # (N,)
    counts: np.ndarray  # (N, S)
    cost: np.ndarray  # (N,) objective of the column at value 1 (all buckets of the class)
    weight_hours: np.ndarray  # (N,) class weight x bucket hours

    def __len__(self) -> int:
        return len(self.pattern)


def make_columns(prep: Prepared, pool: PatternPool, pairs: np.ndarray) -> Columns:
    """Columns for (pattern, class) rows of `pairs` (shape (N, 2))."""
    pat_off, pat_counts = pool.matrix()
    p = pairs[:, 0].astype(np.int64)
    u = pairs[:, 1].astype(np.int64)
    off = pat_off[p] if len(p) else np.zeros(0, dtype=np.int64)
    wh = prep.weight[u] * prep.hours if len(u) else np.zeros(0)
    return Columns(
        pattern=p,
        bucket_class=u,
        offering=off,
        counts=pat_counts[p] if len(p) else np.zeros((0, prep.sizes.shape[0]), dtype=np.int64),
        cost=prep.hourly[off] * wh if len(p) else np.zeros(0),
        weight_hours=wh,
    )


def instance_hours(
    prep: Prepared, offering: np.ndarray, values: np.ndarray, weight_hours: np.ndarray
) -> dict[str, float]:
    """Instance-hours per offering key of an LP solution: `values` (bins per bucket) of columns
    on prepared `offering` indices, each over its class's `weight_hours`; keys in the order their
    first column with a value comes."""
    hours: dict[str, float] = {}
    for n in np.flatnonzero(values > 1e-9):
        key = prep.offerings[int(offering[n])].key
        hours[key] = hours.get(key, 0.0) + float(values[n] * weight_hours[n])
    return hours
