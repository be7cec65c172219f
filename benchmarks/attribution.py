"""Benchmark: cost attribution of 1,000,000 job attempts on 20,000 instances (target < 10 s, and
every instance's cost fully split: attributed + idle = total within half a cent).

The estate is generated (seeded) on real prices: instance types, their specs and on-demand prices
come from the bundled us-east-1 price snapshot (`optimizer.catalog.files.load_price_snapshot`), restricted
to the families Batch estates commonly run (c5, m5, r5, c6i, m6i, r6i up to 32 vCPUs, and g4dn);
half the instances are on spot with an hourly-changing price series per (type, AZ) at 25-45 % of
the on-demand price; attempts are packed onto each instance's lifetime with requests that fit.
Timed: `attribute_costs` (instance pricing, shares, day split, balancing, waste) and the daily
roll-up that `batchopt analyze` persists. At a reduced size the time target scales linearly.

Run from the repository root: .venv/bin/python -m benchmarks.attribution [--attempts N] [--instances N]
Prints a table, writes benchmarks/results/attribution.json, exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import pandas as pd

from benchmarks._common import Target, finish, print_table, scaled_seconds
from optimizer.analysis.cost import attribute_costs
from optimizer.analysis.rollup import daily_aggregate
from optimizer.catalog.files import load_price_snapshot

T0 = pd.Timestamp("2026-10-01")
FAMILIES = ("c5", "m5", "r5", "c6i", "m6i", "r6i", "g4dn")
MAX_VCPUS = 32
TARGET_SECONDS = 10.0
TARGET_ATTEMPTS = 1_000_000
MAX_IMBALANCE_USD = 0.005


def estate_types() -> pd.DataFrame:
    """The estate's instance types, with specs and on-demand prices, from the bundled snapshot."""
    snapshot = load_price_snapshot().rename(columns={"ondemand_price": "price_per_hour"})
    types = snapshot[
        snapshot["family"].isin(FAMILIES)
        & (snapshot["vcpus"] <= MAX_VCPUS)
        & snapshot["price_per_hour"].notna()
        & ~snapshot["instance_type"].str.endswith(".metal")
    ]
    types = types[
        ["region", "instance_type", "vcpus", "memory_mib", "allocatable_memory_mib", "gpus", "price_per_hour"]
    ]
    types = types.astype(
        {
            "vcpus": "int64",
            "memory_mib": "int64",
            "allocatable_memory_mib": "int64",
            "gpus": "int64",
            "region": object,
            "instance_type": object,
        }
    )
    return types.sort_values("instance_type").reset_index(drop=True)


def build_estate(n_instances: int, n_attempts: int, seed: int = 7) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    types = estate_types()
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attempts", type=int, default=TARGET_ATTEMPTS)
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
    unpriced = int(inst["total_usd"].isna().sum())
    limit = scaled_seconds(TARGET_SECONDS, TARGET_ATTEMPTS, args.attempts)
    rows = [
        ("instance types (bundled us-east-1 snapshot)", len(estate["types"])),
        ("attempts", len(result.attempts)),
        ("instances", len(inst)),
        ("book lines (attempt-days + idle instance-days)", len(result.lines)),
        ("attribute_costs seconds", t1 - t0),
        ("daily_aggregate seconds", t2 - t1),
        ("total seconds", t2 - t0),
        ("total cost USD", float(inst["total_usd"].sum())),
        ("idle share", f"{inst['idle_usd'].sum() / inst['total_usd'].sum():.1%}"),
        ("max per-instance imbalance USD", f"{imbalance:.2e}"),
        ("cost_daily rows", len(daily)),
    ]
    print("Cost attribution benchmark (machine shared with other work; wall-clock times)")
    print_table(["measure", "value"], rows)
    targets = [
        Target(
            f"attribute + roll up {args.attempts:,} attempts",
            f"{t2 - t0:.2f} s",
            f"< {limit:g} s ({TARGET_SECONDS:g} s per {TARGET_ATTEMPTS:,})",
            t2 - t0 < limit,
        ),
        Target(
            "max per-instance imbalance",
            f"{imbalance:.2e} USD",
            f"< {MAX_IMBALANCE_USD} USD",
            imbalance < MAX_IMBALANCE_USD,
        ),
        Target("instances without a price", unpriced, "0", unpriced == 0),
    ]
    payload = {
        "prices": "bundled us-east-1 snapshot (optimizer.catalog.files.load_price_snapshot)",
        "instance_types": len(estate["types"]),
        "attempts": len(result.attempts),
        "instances": len(inst),
        "lines": len(result.lines),
        "attribute_seconds": t1 - t0,
        "daily_aggregate_seconds": t2 - t1,
        "total_seconds": t2 - t0,
        "target_seconds": limit,
        "max_imbalance_usd": imbalance,
        "pandas": pd.__version__,
    }
    return finish("attribution", payload, targets)


if __name__ == "__main__":
    sys.exit(main())
