"""Small fleet-mix problems for solver tests (hand-checkable sizes and prices)."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import numpy as np

from optimizer.solver.plan import Plan
from optimizer.solver.problem import Offering, Policy, Problem, Shape
from optimizer.solver.solve import solve

CATALOG = [
    # instance type, vCPU, allocatable MiB, on-demand $/h, spot discount, spot interruption/h
    ("c5.large", 2, 3800, 0.085, 0.60, 0.0001),
    ("c5.xlarge", 4, 7600, 0.17, 0.55, 0.0002),
    ("m5.large", 2, 7600, 0.096, 0.58, 0.0001),
    ("m5.xlarge", 4, 15400, 0.192, 0.60, 0.0002),
    ("r5.large", 2, 15400, 0.126, 0.62, 0.0001),
    ("c5.2xlarge", 8, 15400, 0.34, 0.57, 0.0003),
    ("m5.4xlarge", 16, 63000, 0.768, 0.61, 0.0003),
]


def offerings(spot: bool = True, catalog: list[tuple] | None = None) -> tuple[Offering, ...]:
    out = []
    for name, vcpus, mem, price, discount, rate in catalog or CATALOG:
        out.append(Offering(name, "ON_DEMAND", vcpus, mem, 0, "x86_64", price, 0.0))
        if spot:
            out.append(
                Offering(name, "SPOT", vcpus, mem, 0, "x86_64", round(price * (1 - discount), 6), rate)
            )
    return tuple(out)


def shapes(spot_ok: bool = True) -> tuple[Shape, ...]:
    sizes = [(1, 2048), (2, 4096), (4, 14000), (3, 3000), (8, 8192)]
    return tuple(Shape(f"s{i}", float(v), float(m), 0, None, spot_ok) for i, (v, m) in enumerate(sizes))


def random_problem(seed: int, n_buckets: int = 12, policy: Policy | None = None) -> Problem:
    rng = np.random.default_rng(seed)
    demand = rng.integers(0, 9, size=(5, n_buckets))
    return Problem(3600.0, shapes(), demand, offerings(), policy or Policy(time_limit_seconds=10))


def run(problem: Problem) -> Plan:
    return solve(problem, clock=time.perf_counter)


def catalogue_rows(
    catalog: list[tuple[str, int, int, float]], region: str = "us-east-1"
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Store rows for `(instance type, vCPU, MiB, on-demand $/h)` x86 types: the `instance_types`
    rows (allocatable memory by the catalogue's rule) and the `ondemand_prices` snapshot rows, so
    store-backed `optimize --queue` tests price their jobs the same way."""
    from optimizer.catalog.memory import allocatable_memory_mib

    types = [
        {
            "region": region,
            "instance_type": name,
            "vcpus": vcpus,
            "memory_mib": mib,
            "allocatable_memory_mib": allocatable_memory_mib(mib),
            "gpus": 0,
            "arch": "x86_64",
        }
        for name, vcpus, mib, _ in catalog
    ]
    prices = [
        {
            "region": region,
            "instance_type": name,
            "effective_date": datetime(2026, 5, 1),
            "price_per_hour": price,
            "source": "snapshot",
        }
        for name, _, _, price in catalog
    ]
    return types, prices
