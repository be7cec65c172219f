"""Benchmark: the usage model's memory recommendations on held-back jobs (target: exceeded by <= 1%
of jobs while cutting requested memory; the cut is reported).

Data: no trace in shared/data records per-job peak memory (KTH's SWF has none, Alibaba's pod list
has requests only), so by default this scores a seeded *generated* workload whose shape is stated
here: 40 job definitions with requests from the usual sizes (1-64 GiB); each definition's peak is
request x a usage ratio (0.15-0.8) x lognormal noise (sigma 0.1-0.4); a third of the definitions
scale with a numeric job parameter (`input_gb`), a quarter run two name patterns of very different
size; 15% of the definitions are "tight": a tenth of their attempts run at 90-100% of the request;
a peak reaching the request is an OOM kill at the limit (the container's hard limit), as in real
Batch. With `--database-url URL --dataset NAME` it scores a real store instead (attempts with
`peak_memory_mib`).

"exceeded": peak above the recommendation; "newly exc.": of those, jobs that fitted their current
request (the out-of-memory risk the recommendation adds; the target applies to it).
Split by creation time: first 60% train, next 20% calibration, last 20% held back (the future).
The target is the usage model's (per job: definition, pattern, requests, parameters); the
per-definition quantiles are the baseline it is compared with, shown with their own verdict.

Run from the repository root: .venv/bin/python -m benchmarks.usage [--database-url URL --dataset NAME]
Prints a table, writes benchmarks/results/usage.json, exits 1 when the target is missed.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import pandas as pd

from benchmarks._common import Target, finish
from optimizer.ml.usage import DefinitionQuantiles, UsageQuantileModel, evaluate, time_split, usage_frame

SIZES = np.array([1024, 2048, 4096, 8192, 16384, 32768, 65536], dtype=float)


def generated(n: int = 40_000, definitions: int = 40, seed: int = 11) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    d = rng.integers(0, definitions, n)
    request = SIZES[rng.integers(0, len(SIZES), definitions)][d]
    ratio = rng.uniform(0.15, 0.8, definitions)[d]
    sigma = rng.uniform(0.1, 0.4, definitions)[d]
    param_driven = (rng.random(definitions) < 1 / 3)[d]
    two_patterns = (rng.random(definitions) < 1 / 4)[d]
    input_gb = rng.integers(1, 50, n)
    big = rng.random(n) < 0.5
    scale = np.where(param_driven, input_gb / 50.0 * 1.6, 1.0) * np.where(two_patterns & ~big, 0.3, 1.0)
    peak = request * ratio * np.minimum(scale, 1.0 / ratio) * rng.lognormal(0.0, sigma)
    tight = (rng.random(definitions) < 0.15)[d]
    near_limit = tight & (rng.random(n) < 0.1)
    peak = np.where(near_limit, request * rng.uniform(0.9, 1.0, n), peak)
    # the container's hard limit: a job reaching its request is OOM-killed there
    oom = peak >= request
    peak = np.minimum(peak, request)
    names = np.where(two_patterns & big, "big-", "small-")
    jobs = pd.DataFrame(
        {
            "job_id": [f"job-{i}" for i in range(n)],
            "job_definition_name": [f"def-{k:02d}" for k in d],
            "job_name": [f"{p}{i}" for p, i in zip(names, range(n), strict=True)],
            "vcpus": 2.0,
            "memory_mib": request,
            "parameters": [{"input_gb": int(g)} for g in input_gb],
            "created_at": pd.Timestamp("2026-10-01")
            + pd.to_timedelta(np.sort(rng.uniform(0, 30 * 86400, n)), "s"),
        }
    )
    attempts = pd.DataFrame(
        {
            "job_id": jobs["job_id"],
            "attempt": 0,
            "peak_memory_mib": np.maximum(peak, 16.0),
            "peak_vcpus": rng.uniform(0.2, 2.0, n),
            "is_oom": oom,
        }
    )
    return usage_frame(jobs, attempts)


def from_store(url: str, dataset: str) -> pd.DataFrame:
    from sqlalchemy import select

    from optimizer.store.engine import create_store_engine
    from optimizer.store.read import read_frame
    from optimizer.store.schema import job_attempts, jobs

    engine = create_store_engine(url)
    job_frame = read_frame(engine, select(jobs).where(jobs.c.dataset == dataset))
    att = read_frame(
        engine,
        select(job_attempts)
        .join(jobs, jobs.c.job_id == job_attempts.c.job_id)
        .where(jobs.c.dataset == dataset, job_attempts.c.peak_memory_mib.is_not(None)),
    )
    return usage_frame(job_frame, att)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url")
    parser.add_argument("--dataset", default="aws")
    args = parser.parse_args()
    frame = from_store(args.database_url, args.dataset) if args.database_url else generated()
    source = f"store {args.dataset}" if args.database_url else "generated workload (see docstring)"
    train, calib, test = time_split(frame)
    per_def = DefinitionQuantiles().fit(pd.concat([train, calib]))
    per_job = UsageQuantileModel().fit(train, calib)
    model = "per job (definition, pattern, requests, parameters)"
    results = {
        "per job definition (baseline)": evaluate(test, per_def.recommend(test)),
        model: evaluate(test, per_job.recommend(test)),
    }
    print(f"Usage model on held-back jobs: {source}; {len(train)}/{len(calib)}/{len(test)} train/calib/test")
    print(
        f"{'recommender':<54} {'jobs':>6} {'exceeded':>9} {'newly exc.':>10} {'memory cut':>11} "
        f"{'unchanged':>9} {'pass':>5}"
    )
    payload = {
        "source": source,
        "alpha": per_job.alpha,
        "split": [len(train), len(calib), len(test)],
        "results": {},
    }
    for name, ev in results.items():
        ok = ev.newly_exceeded_share <= 0.01 and ev.memory_cut > 0
        print(
            f"{name:<54} {ev.jobs:>6} {ev.exceeded_share:>9.2%} {ev.newly_exceeded_share:>10.2%} "
            f"{ev.memory_cut:>11.1%} {ev.unchanged_jobs:>9} {'yes' if ok else 'NO':>5}"
        )
        payload["results"][name] = {**ev.to_json(), "passed": ok}
    ev = results[model]
    targets = [
        Target(
            "usage model: newly exceeded jobs",
            f"{ev.newly_exceeded_share:.2%}",
            "<= 1% of jobs",
            ev.newly_exceeded_share <= 0.01,
        ),
        Target("usage model: requested memory cut", f"{ev.memory_cut:.1%}", "> 0", ev.memory_cut > 0),
    ]
    return finish("usage", payload, targets)


if __name__ == "__main__":
    sys.exit(main())
