"""Benchmark: cost attribution of 1,000,000 job attempts on 20,000 instances (target < 10 s).

The estate is generated (seeded) with real shapes: instance types and on-demand prices from the
bundled price snapshot in shared/data when present (else a small fixed list), half the instances on
spot with an hourly-changing price series per (type, AZ), attempts packed onto each instance's
lifetime with requests that fit. Timed: `attribute_costs` (instance pricing, shares, day split,
balancing, waste) and the daily roll-up that `batchopt analyze` persists.

Run: PYTHONPATH=. python benchmarks/attribution.py [--attempts N] [--instances N]
Writes benchmarks/results/attribution.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd

from optimizer.analysis.cost import attribute_costs
from optimizer.analysis.rollup import daily_aggregate

RESULTS = Path(__file__).resolve().parent / "results"
T0 = pd.Timestamp("2026-10-01")
TYPES = pd.DataFrame(
    {
        "instance_type": ["m5.large", "m5.xlarge", "m5.2xlarge", "c5.4xlarge", "r5.2xlarge", "g4dn.xlarge"],
        "vcpus": [2, 4, 8, 16, 8, 4],
        "memory_mib": [8192, 16384, 32768, 32768, 65536, 16384],
        "gpus": [0, 0, 0, 0, 0, 1],
        "price_per_hour": [0.096, 0.192, 0.384, 0.68, 0.504, 0.526],
    }
)


def build_estate(n_instances: int, n_attempts: int, seed: int = 7) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    types = TYPES.assign(region="us-east-1", allocatable_memory_mib=(TYPES["memory_mib"] * 0.97).astype(int))
    azs = np.array(["us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d"])
    t_idx = rng.integers(0, len(types), n_instances)
    start = rng.uniform(0, 29 * 86400, n_instances)
    life = rng.uniform(1800, 36 * 3600, n_instances)
    instances = pd.DataFrame(
        {
            "instance_id": [f"i-{k:08x}" for k in range(n_instances)],
            "region": "us-east-1",
            "availability_zone": azs[rng.integers(0, len(azs), n_instances)],
            "compute_environment_arn": [f"ce-{k % 12}" for k in range(n_instances)],
            "instance_type": types["instance_type"].to_numpy()[t_idx],
            "capacity_type": np.where(rng.random(n_instances) < 0.5, "SPOT", "ON_DEMAND"),
            "launch_time": T0 + pd.to_timedelta(start, unit="s"),
            "first_seen": T0 + pd.to_timedelta(start, unit="s"),
            "last_seen": T0 + pd.to_timedelta(start + life, unit="s"),
            "terminated_at": T0 + pd.to_timedelta(start + life, unit="s"),
        }
    )
    # attempts: spread over instances, each inside its instance's life, sized to fit
    inst_of = rng.integers(0, n_instances, n_attempts)
    frac_start = rng.random(n_attempts)
    a_start = start[inst_of] + frac_start * life[inst_of]
    a_len = np.minimum(rng.exponential(1800, n_attempts) + 30, start[inst_of] + life[inst_of] - a_start)
    cap_v = types["vcpus"].to_numpy()[t_idx][inst_of]
    cap_m = types["allocatable_memory_mib"].to_numpy()[t_idx][inst_of]
    vcpus = np.maximum(1, np.floor(cap_v * rng.uniform(0.05, 0.5, n_attempts)))
    mem = np.floor(cap_m * rng.uniform(0.05, 0.5, n_attempts))
    n_jobs = n_attempts
    job_ids = np.array([f"job-{k:08d}" for k in range(n_jobs)], dtype=object)
    queues = np.array([f"q-{k}" for k in range(8)], dtype=object)
    defs = np.array([f"def-{k}" for k in range(40)], dtype=object)
    jobs = pd.DataFrame(
        {
            "job_id": job_ids,
            "queue": queues[rng.integers(0, len(queues), n_jobs)],
            "job_definition_name": defs[rng.integers(0, len(defs), n_jobs)],
            "job_name": job_ids,
            "vcpus": vcpus,
            "memory_mib": mem,
            "gpus": 0,
        }
    )
    outcome = rng.random(n_attempts)
    attempts = pd.DataFrame(
        {
            "job_id": job_ids,
            "attempt": 0,
            "instance_id": instances["instance_id"].to_numpy()[inst_of],
            "started_at": T0 + pd.to_timedelta(a_start, unit="s"),
            "stopped_at": T0 + pd.to_timedelta(a_start + a_len, unit="s"),
            "exit_code": np.where(outcome < 0.95, 0, 1),
            "is_spot_reclaim": outcome > 0.99,
            "is_oom": (outcome > 0.97) & (outcome <= 0.99),
            "peak_vcpus": vcpus * rng.uniform(0.2, 1.0, n_attempts),
            "peak_memory_mib": mem * rng.uniform(0.2, 1.0, n_attempts),
        }
    )
    # spot: a price change every hour for every (type, AZ), 31 days
    hours = np.arange(-24, 31 * 24)
    pairs = [(t, az) for t in types["instance_type"] for az in azs]
    od = dict(zip(types["instance_type"], types["price_per_hour"], strict=True))
    spot = pd.DataFrame(
        {
            "region": "us-east-1",
            "instance_type": np.repeat([p[0] for p in pairs], len(hours)),
            "availability_zone": np.repeat([p[1] for p in pairs], len(hours)),
            "timestamp": np.tile(T0 + pd.to_timedelta(hours, unit="h"), len(pairs)),
        }
    )
    spot["price"] = spot["instance_type"].map(od) * rng.uniform(0.25, 0.45, len(spot))
    ondemand = types[["region", "instance_type", "price_per_hour"]]
    return {
        "instances": instances,
        "attempts": attempts,
        "jobs": jobs,
        "types": types,
        "ondemand": ondemand,
        "spot": spot,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attempts", type=int, default=1_000_000)
    parser.add_argument("--instances", type=int, default=20_000)
    args = parser.parse_args()
    estate = build_estate(args.instances, args.attempts)
    t0 = time.perf_counter()
    result = attribute_costs(
        estate["instances"],
        estate["attempts"],
        estate["jobs"],
        estate["types"],
        estate["ondemand"],
        estate["spot"],
    )
    t1 = time.perf_counter()
    daily = daily_aggregate(result.lines)
    t2 = time.perf_counter()
    inst = result.instances
    imbalance = float((inst["attributed_usd"] + inst["idle_usd"] - inst["total_usd"]).abs().max())
    rows = [
        ("attempts", f"{len(result.attempts):,}"),
        ("instances", f"{len(inst):,}"),
        ("book lines (attempt-days + idle instance-days)", f"{len(result.lines):,}"),
        ("attribute_costs seconds", f"{t1 - t0:.2f}"),
        ("daily_aggregate seconds", f"{t2 - t1:.2f}"),
        ("total seconds (target < 10)", f"{t2 - t0:.2f}"),
        ("total cost USD", f"{inst['total_usd'].sum():,.2f}"),
        ("idle share", f"{inst['idle_usd'].sum() / inst['total_usd'].sum():.1%}"),
        ("max per-instance imbalance USD", f"{imbalance:.2e}"),
        ("cost_daily rows", f"{len(daily):,}"),
    ]
    width = max(len(r[0]) for r in rows)
    print("Cost attribution benchmark (machine shared with other work; wall-clock times)")
    for name, value in rows:
        print(f"  {name:<{width}}  {value:>14}")
    RESULTS.mkdir(exist_ok=True)
    payload = {
        "attempts": len(result.attempts),
        "instances": len(inst),
        "lines": len(result.lines),
        "attribute_seconds": t1 - t0,
        "daily_aggregate_seconds": t2 - t1,
        "total_seconds": t2 - t0,
        "target_seconds": 10.0,
        "passed": (t2 - t0) < 10.0 and imbalance < 0.005,
        "max_imbalance_usd": imbalance,
        "python": platform.python_version(),
        "pandas": pd.__version__,
    }
    (RESULTS / "attribution.json").write_text(json.dumps(payload, indent=2))


if __name__ == "__main__":
    main()
