"""Helpers for replay tests: a real-price catalog and configuration documents built in one line."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import pandas as pd

from optimizer.catalog.from_store import catalog_for_region
from optimizer.simulate import Catalog, build_catalog, catalog_from_provider
from tests.data_paths import shared

PRICES = "prices/ec2-ondemand-us-east-1-2026-07.csv"
SPOT = "spot-advisor/spot-advisor-data_2025-06-28.json"


@lru_cache(maxsize=1)
def real_catalog() -> Catalog:
    """The full us-east-1 catalog from the shared real price table and Spot Advisor feed."""
    provider = catalog_for_region(
        None, "us-east-1", prices_path=str(shared(PRICES)), spot_advisor_path=str(shared(SPOT))
    )
    return catalog_from_provider(provider)


def tiny_catalog(types: dict[str, tuple]) -> Catalog:
    """name -> (vcpus, memory_mib, gpus, on-demand $/h, spot $/h or None, band or None[, arch])."""
    prices = pd.DataFrame(
        [
            {
                "instance_type": n,
                "vcpus": spec[0],
                "memory_mib": spec[1],
                "gpus": spec[2],
                "ondemand_price": spec[3],
                "arch": spec[6] if len(spec) > 6 else "x86_64",
            }
            for n, spec in types.items()
        ]
    )
    spot = pd.DataFrame(
        [
            {"instance_type": n, "spot_price": spec[4], "band": spec[5]}
            for n, spec in types.items()
            if spec[4]
        ],
        columns=["instance_type", "spot_price", "band"],
    )
    return build_catalog(prices, spot)


def ce(name: str, kind: str, max_vcpus: float, types: list[str] | None = None, **resources: Any) -> dict:
    """A CreateComputeEnvironment request body."""
    body: dict[str, Any] = {"type": kind, "maxvCpus": max_vcpus, **resources}
    if types is not None:
        body["instanceTypes"] = types
    return {"computeEnvironmentName": name, "type": "MANAGED", "computeResources": body}


def queue(name: str, priority: int, *ces: str) -> dict:
    """A CreateJobQueue request body with the CEs in the given order."""
    return {
        "jobQueueName": name,
        "priority": priority,
        "computeEnvironmentOrder": [{"order": k + 1, "computeEnvironment": c} for k, c in enumerate(ces)],
    }


def jobs_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Canonical jobs from dicts with defaults for what a test does not care about."""
    out = []
    for k, row in enumerate(rows):
        out.append(
            {
                "job_id": str(row.get("job_id", k)),
                "submit_s": float(row.get("submit_s", 0.0)),
                "runtime_s": float(row.get("runtime_s", 60.0)),
                "vcpus": float(row.get("vcpus", 1.0)),
                "memory_mib": float(row.get("memory_mib", 1024.0)),
                "gpus": int(row.get("gpus", 0)),
                "queue": row.get("queue", "q"),
                "job_name": row.get("job_name", f"job{k}"),
                "arch": row.get("arch"),
                "status": row.get("status", "SUCCEEDED"),
                "depends_on": list(row.get("depends_on", [])),
            }
        )
    return pd.DataFrame(out)


def under_peak_jobs(hours: int, burst_every: int) -> pd.DataFrame:
    """A queue whose jobs run well under their hourly peaks (what makes a spot cap estimated from a
    plan's peaks too loose): every hour 6 jobs of 2 vCPU / 4 GiB for 40 minutes, and every
    `burst_every` hours a burst of 16 more for 15 minutes."""
    rows: list[dict[str, Any]] = []
    for hour in range(hours):
        start = hour * 3600.0
        rows += [{"submit_s": start + 60.0 * k, "runtime_s": 2400.0} for k in range(6)]
        if hour % burst_every == 0:
            rows += [{"submit_s": start + 600.0 + 10.0 * k, "runtime_s": 900.0} for k in range(16)]
    return jobs_frame([{**r, "vcpus": 2.0, "memory_mib": 4096.0, "arch": "x86_64"} for r in rows])
