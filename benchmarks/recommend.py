"""Recommendation generation on a real year of jobs: the KTH-SP2 trace (28,475 jobs) as collected
history, split into three queues by job size, each on its own on-demand CE.

- `small` (<= 2 vCPUs, <= 1 h; retried twice): spot adoption and Fargate candidates;
- `medium` (<= 16 vCPUs) and `large` (the rest, up to 100 vCPUs);
the medium and large CEs keep minvCpus 16 on m5/c6i types, so scaling and instance-mix advice
have something to find. The SWF trace has no memory or usage (memory follows the documented 2 GiB
per vCPU mapping), so right-sizing has no evidence here. Timed: reading the store into inputs, each
strategy (its replays and solves), and the whole `generate_recommendations` including saving.

Targets (no issue stated one; these are what the estate above is built to show): spot adoption
finds the small queue, scaling or instance-mix advice finds the CEs kept at minvCpus 16, and the
whole `generate_recommendations` (every strategy, saved) takes under 120 s with the default 10 s
solver limit per CE (a scheduled run's budget on a 2-core machine).

Run from the repository root: .venv/bin/python -m benchmarks.recommend [--jobs N] [--time-limit S]
Prints a table, writes benchmarks/results/recommend.json, exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import timedelta

import numpy as np
import pandas as pd

from benchmarks._common import Target, finish, print_table, shared_data
from optimizer.recommend.generate import default_strategies, generate_recommendations
from optimizer.recommend.inputs import load_recommend_inputs
from optimizer.recommend.strategies import InstanceMixSettings
from optimizer.simulate.datasets import trace_job_rows
from optimizer.store.engine import create_store_engine, upgrade
from optimizer.traces import read_trace
from tests.recommend_helpers import ACCOUNT, PREFIX, REGION, ce_item, jobdef_item, queue_item, store_estate

KTH = shared_data("traces", "KTH-SP2-1996-2.1-cln.swf.gz")
TARGET_SECONDS = 120.0


def estate(n_jobs: int) -> dict:
    trace = read_trace(KTH, "swf")
    start = trace.start_time
    rows = trace_job_rows(trace, "aws", start).iloc[:n_jobs].copy()
    runtime = (rows["stopped_at"] - rows["started_at"]).dt.total_seconds()
    small = (rows["vcpus"] <= 2) & (runtime <= 3600)
    medium = ~small & (rows["vcpus"] <= 16)
    rows["queue"] = np.where(small, "small", np.where(medium, "medium", "large"))
    rows["job_id"] = rows["job_id"].str.replace("aws:", "", regex=False)
    rows["job_definition_name"] = rows["queue"]
    rows["job_queue_arn"] = [f"{PREFIX}:job-queue/{q}" for q in rows["queue"]]
    rows["retry_strategy"] = [{"attempts": 2} if q == "small" else None for q in rows["queue"]]
    rows["account_id"], rows["region"] = ACCOUNT, REGION
    rows["depends_on"] = None
    rows["started_at"] = rows["created_at"] + (rows["started_at"] - rows["created_at"]).clip(
        upper=timedelta(minutes=5)
    )
    rows["stopped_at"] = rows["started_at"] + (runtime.to_numpy() * 1e6).astype("timedelta64[us]")
    ces = [
        ce_item("small-ce", types=("m5.2xlarge", "m5.4xlarge"), max_vcpus=512),
        ce_item("medium-ce", types=("m5.4xlarge", "m5.8xlarge"), min_vcpus=16, max_vcpus=1024),
        ce_item("large-ce", types=("c6i.32xlarge",), min_vcpus=16, max_vcpus=2048),
    ]
    queues = [queue_item(q, f"{q}-ce") for q in ("small", "medium", "large")]
    defs = [jobdef_item(q, 1, 2048) for q in ("small", "medium", "large")]
    return {"ces": ces, "queues": queues, "defs": defs, "jobs": rows, "attempts": pd.DataFrame()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=28475)
    parser.add_argument("--time-limit", type=float, default=10.0, help="solver seconds per CE")
    args = parser.parse_args()
    data = estate(args.jobs)
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_store_engine(f"sqlite:///{tmp}/store.db")
        upgrade(engine)
        store_estate(engine, data)
        overrides = {"instance-mix": InstanceMixSettings(time_limit_seconds=args.time_limit)}
        t0 = time.perf_counter()
        [inputs] = load_recommend_inputs(engine)
        load_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        inputs.baseline.current()
        baseline_s = time.perf_counter() - t0
        rows = [["read store -> inputs", load_s, "", ""], ["replay current estate", baseline_s, "", ""]]
        results = []
        for strategy in default_strategies(overrides=overrides):
            t0 = time.perf_counter()
            recs = strategy.run(inputs)
            seconds = time.perf_counter() - t0
            best = max((r.monthly_savings_usd for r in recs), default=0.0)
            rows.append([strategy.name, seconds, len(recs), best])
            results.append(
                {
                    "strategy": strategy.name,
                    "seconds": seconds,
                    "recommendations": len(recs),
                    "top_monthly_savings_usd": best,
                    "titles": [r.title for r in recs],
                }
            )
        t0 = time.perf_counter()
        total = generate_recommendations(engine, strategies=default_strategies(overrides=overrides))
        end_to_end = time.perf_counter() - t0
        rows.append(["generate_recommendations (all, saved)", end_to_end, len(total), ""])
        engine.dispose()
    print(f"{len(data['jobs']):,} KTH-SP2 jobs, 3 queues/CEs; solver limit {args.time_limit:g} s per CE")
    print_table(["step", "seconds", "recommendations", "top $/month"], rows)
    found = {r["strategy"]: r["recommendations"] for r in results}
    targets = [
        Target(
            "spot-adoption recommendations",
            found.get("spot-adoption", 0),
            ">= 1",
            found.get("spot-adoption", 0) >= 1,
        ),
        Target(
            "ce-scaling + instance-mix recommendations",
            found.get("ce-scaling", 0) + found.get("instance-mix", 0),
            ">= 1",
            found.get("ce-scaling", 0) + found.get("instance-mix", 0) >= 1,
        ),
        Target("recommendations saved", len(total), ">= 1", len(total) >= 1),
        Target(
            f"generate_recommendations, solver limit {args.time_limit:g} s",
            f"{end_to_end:.1f} s",
            f"< {TARGET_SECONDS:g} s",
            end_to_end < TARGET_SECONDS,
        ),
    ]
    payload = {
        "jobs": len(data["jobs"]),
        "time_limit_s": args.time_limit,
        "load_s": load_s,
        "baseline_replay_s": baseline_s,
        "strategies": results,
        "end_to_end_s": end_to_end,
    }
    return finish("recommend", payload, targets)


if __name__ == "__main__":
    sys.exit(main())
