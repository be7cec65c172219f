"""Benchmark: transform and load 1,000,000 DescribeJobs job records into SQLite in under 60 s.

Records are generated in the shape DescribeJobs returns (the fields of the Batch API reference and
the recorded example in tests/fixtures/aws/botocore-examples): resourceRequirements or the legacy
vcpus/memory fields, one to three attempts with container instance, task, exit code and reasons,
spot reclaims, OOM kills, array children, tags, parameters and retry strategies. Generation is not
timed; `transform_jobs` and `load_jobs` are, over batches inside ONE transaction (as the collector
loads), into a migrated SQLite store in a temporary folder.

Run from the repository root (at a reduced --jobs the 60 s target scales linearly):

    .venv/bin/python -m benchmarks.collect_transform [--jobs 1000000] [--batch 100000]

Prints a table, writes benchmarks/results/collect_transform.json, exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import platform
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any

from sqlalchemy import func, select

from benchmarks._common import Target, finish, print_table, scaled_seconds
from optimizer.collectors.batch_jobs import load_jobs
from optimizer.collectors.jobs_transform import transform_jobs
from optimizer.store.engine import create_store_engine, upgrade
from optimizer.store.schema import job_attempts, jobs

TARGET_SECONDS = 60.0
TARGET_JOBS = 1_000_000
ACCOUNT = "123456789012"
REGION = "us-east-1"
T0 = 1_767_225_600_000
QUEUES = [
    f"arn:aws:batch:{REGION}:{ACCOUNT}:job-queue/{name}" for name in ("genomics", "render", "etl", "ml")
]
DEFINITIONS = [
    f"arn:aws:batch:{REGION}:{ACCOUNT}:job-definition/{n}:{r}"
    for n in ("align", "call", "qc")
    for r in (1, 2, 3)
]


def _attempt(rng: random.Random, job_id: str, start: int, outcome: str) -> dict[str, Any]:
    cluster = f"AWSBatch-ce-{rng.randrange(8)}"
    container: dict[str, Any] = {
        "containerInstanceArn": (
            f"arn:aws:ecs:{REGION}:{ACCOUNT}:container-instance/{cluster}/{rng.getrandbits(64):016x}"
        ),
        "taskArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/{cluster}/{rng.getrandbits(96):024x}",
        "logStreamName": f"align/default/{job_id[:12]}",
        "networkInterfaces": [],
    }
    attempt: dict[str, Any] = {
        "container": container,
        "startedAt": start,
        "stoppedAt": start + rng.randrange(60_000, 7_200_000),
    }
    if outcome == "reclaim":
        attempt["statusReason"] = f"Host EC2 (instance i-{rng.getrandbits(68):017x}) terminated."
    elif outcome == "oom":
        container["exitCode"] = 137
        container["reason"] = "OutOfMemoryError: Container killed due to memory usage"
        attempt["statusReason"] = "Essential container in task exited"
    else:
        container["exitCode"] = 0 if outcome == "ok" else 1
        attempt["statusReason"] = "Essential container in task exited"
    return attempt


def generate(count: int, seed: int = 7) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    for n in range(count):
        job_id = f"{rng.getrandbits(128):032x}"
        job_id = f"{job_id[:8]}-{job_id[8:12]}-{job_id[12:16]}-{job_id[16:20]}-{job_id[20:]}"
        created = T0 + n * 250
        outcomes = ["ok"]
        roll = rng.random()
        if roll < 0.06:
            outcomes = ["reclaim", "ok"]
        elif roll < 0.09:
            outcomes = ["oom", "oom", "failed"]
        vcpus = rng.choice((1, 2, 4, 8, 16))
        memory = vcpus * rng.choice((1024, 2048, 4096, 8192))
        container: dict[str, Any] = {
            "image": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/pipeline:{rng.randrange(40)}",
            "command": ["run", "--sample", "Ref::sample"],
            "jobRoleArn": f"arn:aws:iam::{ACCOUNT}:role/batch-job",
            "volumes": [],
            "environment": [{"name": "STAGE", "value": "prod"}],
            "mountPoints": [],
            "ulimits": [],
            "secrets": [],
            "networkInterfaces": [],
        }
        if rng.random() < 0.3:
            container |= {"vcpus": vcpus, "memory": memory}
        else:
            container["resourceRequirements"] = [
                {"value": str(vcpus), "type": "VCPU"},
                {"value": str(memory), "type": "MEMORY"},
            ]
        start = created + rng.randrange(5_000, 900_000)
        attempts = []
        for outcome in outcomes:
            attempts.append(_attempt(rng, job_id, start, outcome))
            start = attempts[-1]["stoppedAt"] + 30_000
        last = attempts[-1]
        container |= {k: v for k, v in last["container"].items() if k != "networkInterfaces"}
        status = "SUCCEEDED" if outcomes[-1] == "ok" else "FAILED"
        record: dict[str, Any] = {
            "jobArn": f"arn:aws:batch:{REGION}:{ACCOUNT}:job/{job_id}",
            "jobName": f"sample-{n}",
            "jobId": job_id,
            "jobQueue": QUEUES[n % len(QUEUES)],
            "status": status,
            "statusReason": last.get("statusReason"),
            "attempts": attempts,
            "createdAt": created,
            "retryStrategy": {
                "attempts": 3,
                "evaluateOnExit": [{"onStatusReason": "Host EC2*", "action": "RETRY"}],
            },
            "startedAt": attempts[0]["startedAt"],
            "stoppedAt": last["stoppedAt"],
            "dependsOn": [],
            "jobDefinition": DEFINITIONS[n % len(DEFINITIONS)],
            "parameters": {"sample": f"S{n}"},
            "container": container,
            "tags": {"project": "wgs", "cost-center": f"cc-{n % 12}"},
            "propagateTags": True,
            "platformCapabilities": ["EC2"],
            "shareIdentifier": "research",
            "schedulingPriority": n % 5,
        }
        if n % 50 == 1:
            record["arrayProperties"] = {"index": n % 10}
            record["jobId"] = f"{job_id}:{n % 10}"
        yield record


def run(count: int, batch: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        engine = create_store_engine(f"sqlite:///{folder}/bench.db")
        upgrade(engine)
        transform_s = load_s = generate_s = cpu_s = 0.0
        written = 0
        stream = generate(count)
        with engine.begin() as conn:
            remaining = count
            while remaining > 0:
                size = min(batch, remaining)
                t = time.perf_counter()
                records = [next(stream) for _ in range(size)]
                generate_s += time.perf_counter() - t
                t, cpu = time.perf_counter(), time.process_time()
                job_frame, attempt_frame = transform_jobs(records, ACCOUNT, REGION)
                transform_s += time.perf_counter() - t
                t = time.perf_counter()
                written += load_jobs(conn, job_frame, attempt_frame)
                load_s += time.perf_counter() - t
                cpu_s += time.process_time() - cpu
                remaining -= size
        with engine.connect() as conn:
            job_rows = conn.execute(select(func.count()).select_from(jobs)).scalar_one()
            attempt_rows = conn.execute(select(func.count()).select_from(job_attempts)).scalar_one()
        engine.dispose()
    total = transform_s + load_s
    return {
        "benchmark": "collect_transform",
        "records": count,
        "batch": batch,
        "job_rows": job_rows,
        "attempt_rows": attempt_rows,
        "rows_written": written,
        "generate_seconds": round(generate_s, 2),
        "transform_seconds": round(transform_s, 2),
        "load_seconds": round(load_s, 2),
        "transform_and_load_seconds": round(total, 2),
        "transform_and_load_cpu_seconds": round(cpu_s, 2),
        "records_per_second": round(count / total),
        "target_seconds": scaled_seconds(TARGET_SECONDS, TARGET_JOBS, count),
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, shared with other jobs",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--jobs", type=int, default=TARGET_JOBS)
    parser.add_argument("--batch", type=int, default=100_000)
    args = parser.parse_args(argv)
    result = run(args.jobs, args.batch)
    print_table(["metric", "value"], [[key, value] for key, value in result.items() if key != "benchmark"])
    limit = result["target_seconds"]
    seconds = result["transform_and_load_seconds"]
    targets = [
        Target(
            f"transform + load {args.jobs:,} records",
            f"{seconds:.2f} s",
            f"< {limit:g} s ({TARGET_SECONDS:g} s per {TARGET_JOBS:,})",
            seconds < limit,
        ),
        Target("job rows stored", result["job_rows"], f"= {args.jobs:,}", result["job_rows"] == args.jobs),
    ]
    return finish("collect_transform", {k: v for k, v in result.items() if k != "benchmark"}, targets)


if __name__ == "__main__":
    sys.exit(main())
