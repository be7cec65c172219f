"""Test helpers for the recommendation strategies: a small Batch estate with history in a store,
and the same estate as in-memory `RecommendInputs` for pure strategy tests."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from optimizer.catalog.files import PRICE_SNAPSHOT_REGION
from optimizer.catalog.provider import CatalogProvider, bundled_catalog
from optimizer.recommend.estate import estate_document
from optimizer.recommend.inputs_model import RecommendInputs
from optimizer.recommend.savings import ReplayBaseline
from optimizer.simulate import Catalog, catalog_from_provider
from optimizer.store.schema import compute_environments, job_attempts, job_definitions, job_queues, jobs
from optimizer.store.upsert import bulk_upsert

REGION = PRICE_SNAPSHOT_REGION
ACCOUNT = "123456789012"
PREFIX = f"arn:aws:batch:{REGION}:{ACCOUNT}"
SLR = f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/batch.amazonaws.com/AWSServiceRoleForBatch"
INSTANCE_ROLE = f"arn:aws:iam::{ACCOUNT}:instance-profile/ecsInstanceRole"
START = datetime(2026, 11, 1)

_PROVIDER: CatalogProvider | None = None
_CATALOG: Catalog | None = None


def provider() -> CatalogProvider:
    global _PROVIDER
    if _PROVIDER is None:
        _PROVIDER = bundled_catalog(REGION)
    return _PROVIDER


def catalog() -> Catalog:
    global _CATALOG
    if _CATALOG is None:
        _CATALOG = catalog_from_provider(provider())
    return _CATALOG


def ce_item(
    name: str,
    *,
    platform: str = "EC2",
    strategy: str = "BEST_FIT_PROGRESSIVE",
    types: tuple[str, ...] = ("m5.4xlarge",),
    min_vcpus: int = 0,
    max_vcpus: int = 256,
    managed: bool = True,
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "computeEnvironmentName": name,
        "computeEnvironmentArn": f"{PREFIX}:compute-environment/{name}",
        "type": "MANAGED" if managed else "UNMANAGED",
        "state": "ENABLED",
        "status": "VALID",
        "serviceRole": SLR,
        "ecsClusterArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{name}",
    }
    if managed:
        item["computeResources"] = {
            "type": platform,
            "allocationStrategy": strategy,
            "minvCpus": min_vcpus,
            "desiredvCpus": min_vcpus,
            "maxvCpus": max_vcpus,
            "instanceTypes": list(types),
            "subnets": ["subnet-1"],
            "securityGroupIds": ["sg-1"],
            "instanceRole": INSTANCE_ROLE,
        }
    else:
        item["unmanagedvCpus"] = 64
    return item


def queue_item(name: str, *ce_names: str, priority: int = 1) -> dict[str, Any]:
    return {
        "jobQueueName": name,
        "jobQueueArn": f"{PREFIX}:job-queue/{name}",
        "state": "ENABLED",
        "status": "VALID",
        "priority": priority,
        "computeEnvironmentOrder": [
            {"order": i, "computeEnvironment": f"{PREFIX}:compute-environment/{n}"}
            for i, n in enumerate(ce_names, 1)
        ],
    }


def jobdef_item(name: str, vcpus: float, memory_mib: int, revision: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "jobDefinitionName": name,
        "jobDefinitionArn": f"{PREFIX}:job-definition/{name}:{revision}",
        "revision": revision,
        "status": "ACTIVE",
        "type": "container",
        "containerProperties": {
            "image": "public.ecr.aws/docker/library/busybox:latest",
            "command": ["run"],
            "resourceRequirements": [
                {"type": "VCPU", "value": f"{vcpus:g}"},
                {"type": "MEMORY", "value": str(memory_mib)},
            ],
        },
        **extra,
    }


def history(
    queue: str,
    definition: str,
    *,
    n: int = 240,
    vcpus: float = 2.0,
    memory_mib: int = 8192,
    runtime_s: tuple[float, float] = (600.0, 1200.0),
    peak_mib: tuple[float, float] = (1200.0, 2400.0),
    retry: dict[str, Any] | None = None,
    multinode: bool = False,
    oom_share: float = 0.0,
    days: float = 2.0,
    seed: int = 0,
    prefix: str = "",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(jobs, attempts) store rows: `n` jobs spread over `days`, one attempt each."""
    rng = np.random.default_rng(seed)
    created = [START + timedelta(seconds=float(s)) for s in np.sort(rng.uniform(0, days * 86400, n))]
    runtimes = rng.uniform(*runtime_s, n)
    peaks = rng.uniform(*peak_mib, n)
    oom = rng.random(n) < oom_share
    ids = [f"{prefix}{queue}-{k:05d}" for k in range(n)]
    started = [c + timedelta(seconds=30) for c in created]
    stopped = [s + timedelta(seconds=float(r)) for s, r in zip(started, runtimes, strict=True)]
    job_rows = pd.DataFrame(
        {
            "job_id": ids,
            "dataset": "aws",
            "account_id": ACCOUNT,
            "region": REGION,
            "job_name": [f"{definition}-{k}" for k in range(n)],
            "queue": queue,
            "job_queue_arn": f"{PREFIX}:job-queue/{queue}",
            "job_definition": f"{PREFIX}:job-definition/{definition}:1",
            "job_definition_name": definition,
            "status": np.where(oom, "FAILED", "SUCCEEDED"),
            "created_at": created,
            "started_at": started,
            "stopped_at": stopped,
            "vcpus": vcpus,
            "memory_mib": memory_mib,
            "gpus": 0,
            "retry_strategy": [retry] * n,
            "is_multinode": multinode,
            "node_count": 2 if multinode else None,
            "exit_code": np.where(oom, 137, 0),
        }
    )
    attempt_rows = pd.DataFrame(
        {
            "job_id": ids,
            "attempt": 1,
            "started_at": started,
            "stopped_at": stopped,
            "exit_code": np.where(oom, 137, 0),
            "is_spot_reclaim": False,
            "is_oom": oom,
            "peak_memory_mib": np.where(oom, float(memory_mib), peaks),
            "peak_vcpus": rng.uniform(0.3, 0.9, n) * vcpus,
        }
    )
    return job_rows, attempt_rows


def standard_estate() -> dict[str, Any]:
    """Three CEs and their queues, each built to trigger particular advice:

    - od-ce keeps 16 idle vCPUs (minvCpus) of oversized m5.4xlarge for 2-vCPU `etl` jobs that do not
      retry (so no spot adoption there);
    - sim-ce (c5.2xlarge, minvCpus 0) runs `sim` jobs that retry 3 times, are short, and request
      1 vCPU / 12 GiB while peaking at 1.2-2.4 GiB: spot adoption and right-sizing;
    - onprem is unmanaged (advice only) with its own `legacy` queue.
    """
    ces = [
        ce_item("od-ce", min_vcpus=16),
        ce_item("sim-ce", types=("c5.2xlarge",), max_vcpus=128),
        ce_item("onprem", managed=False),
    ]
    queues = [queue_item("etl", "od-ce"), queue_item("sim", "sim-ce"), queue_item("legacy", "onprem")]
    defs = [
        jobdef_item("etl", 2, 4096),
        jobdef_item("sim", 1, 12288, retryStrategy={"attempts": 3}),
        jobdef_item("legacy", 4, 8192),
    ]
    etl_jobs, etl_attempts = history("etl", "etl", memory_mib=4096, peak_mib=(2500, 3500))
    sim_jobs, sim_attempts = history(
        "sim", "sim", n=300, vcpus=1, memory_mib=12288, retry={"attempts": 3}, seed=2
    )
    legacy_jobs, legacy_attempts = history(
        "legacy", "legacy", n=60, vcpus=4, memory_mib=8192, seed=1, peak_mib=(5000, 7000)
    )
    return {
        "ces": ces,
        "queues": queues,
        "defs": defs,
        "jobs": pd.concat([etl_jobs, sim_jobs, legacy_jobs], ignore_index=True),
        "attempts": pd.concat([etl_attempts, sim_attempts, legacy_attempts], ignore_index=True),
    }


def canonical(job_rows: pd.DataFrame) -> pd.DataFrame:
    """The store rows as `load_dataset` returns them (second 0 = first creation)."""
    start = pd.Timestamp(job_rows["created_at"].min())
    frame = pd.DataFrame(
        {
            "job_id": job_rows["job_id"],
            "submit_s": (pd.to_datetime(job_rows["created_at"]) - start).dt.total_seconds(),
            "runtime_s": (pd.to_datetime(job_rows["stopped_at"]) - pd.to_datetime(job_rows["started_at"]))
            .dt.total_seconds()
            .clip(lower=0),
            "vcpus": job_rows["vcpus"].astype(float),
            "memory_mib": job_rows["memory_mib"].astype(float),
            "gpus": job_rows["gpus"].astype(np.int64),
            "queue": job_rows["queue"],
            "job_name": job_rows["job_name"],
            "arch": None,
            "status": np.where(job_rows["status"] == "FAILED", "FAILED", "SUCCEEDED"),
            "depends_on": [[] for _ in range(len(job_rows))],
            "retry_strategy": job_rows["retry_strategy"].tolist(),
            "job_definition_name": job_rows["job_definition_name"].tolist()
            if "job_definition_name" in job_rows
            else None,
        }
    )
    return frame.sort_values(["submit_s", "job_id"], kind="stable").reset_index(drop=True)


def inputs_for(estate: dict[str, Any], *, seed: int = 0, with_catalog: bool = False) -> RecommendInputs:
    """The estate as strategies see it, without a store (`with_catalog`: the solver's catalogue too)."""
    cat = catalog()
    baseline = ReplayBaseline(
        dataset="aws",
        jobs=canonical(estate["jobs"]),
        catalog=cat,
        current_document=estate_document(estate["ces"], estate["queues"], cat, seed),
        seed=seed,
    )
    return RecommendInputs(
        region=REGION,
        dataset="aws",
        compute_environments=estate["ces"],
        job_queues=estate["queues"],
        job_definitions=estate["defs"],
        jobs=estate["jobs"],
        attempts=estate["attempts"],
        baseline=baseline,
        catalog=provider() if with_catalog else None,
        clock=iter(range(10**6)).__next__,
    )


def relocated(estate: dict[str, Any], region: str, account: str, prefix: str) -> dict[str, Any]:
    """The same estate in another account and region: every ARN, id and scope column rewritten (job
    ids get `prefix`, since they are unique across the store)."""

    def move(value: Any) -> Any:
        if isinstance(value, str):
            return value.replace(f"{REGION}:{ACCOUNT}", f"{region}:{account}").replace(
                f"::{ACCOUNT}:", f"::{account}:"
            )
        if isinstance(value, dict):
            return {k: move(v) for k, v in value.items()}
        if isinstance(value, list):
            return [move(v) for v in value]
        return value

    jobs_moved = estate["jobs"].copy()
    jobs_moved["job_id"] = prefix + jobs_moved["job_id"]
    jobs_moved["region"], jobs_moved["account_id"] = region, account
    for column in ("job_queue_arn", "job_definition"):
        jobs_moved[column] = jobs_moved[column].map(move)
    attempts_moved = estate["attempts"].copy()
    attempts_moved["job_id"] = prefix + attempts_moved["job_id"]
    return {
        "ces": move(copy.deepcopy(estate["ces"])),
        "queues": move(copy.deepcopy(estate["queues"])),
        "defs": move(copy.deepcopy(estate["defs"])),
        "jobs": jobs_moved,
        "attempts": attempts_moved,
        "region": region,
        "account": account,
    }


def store_estate(engine: Engine, estate: dict[str, Any]) -> None:
    """Write the estate as the collectors would (raw Describe items plus the columns)."""
    now = START + timedelta(days=3)
    region, account = estate.get("region", REGION), estate.get("account", ACCOUNT)

    def base(arn: str, name: str) -> dict[str, Any]:
        return {
            "arn": arn,
            "name": name,
            "account_id": account,
            "region": region,
            "first_seen": now,
            "last_seen": now,
        }

    with engine.begin() as conn:
        bulk_upsert(
            conn,
            compute_environments,
            [
                {
                    **base(ce["computeEnvironmentArn"], ce["computeEnvironmentName"]),
                    "type": ce["type"],
                    "state": ce["state"],
                    "status": ce["status"],
                    "platform": (ce.get("computeResources") or {}).get("type"),
                    "raw": ce,
                }
                for ce in estate["ces"]
            ],
        )
        bulk_upsert(
            conn,
            job_queues,
            [
                {
                    **base(q["jobQueueArn"], q["jobQueueName"]),
                    "state": q["state"],
                    "priority": q["priority"],
                    "compute_environment_order": q["computeEnvironmentOrder"],
                    "raw": q,
                }
                for q in estate["queues"]
            ],
        )
        bulk_upsert(
            conn,
            job_definitions,
            [
                {
                    **base(d["jobDefinitionArn"], d["jobDefinitionName"]),
                    "revision": d["revision"],
                    "status": d["status"],
                    "type": d["type"],
                    "raw": d,
                }
                for d in estate["defs"]
            ],
        )
        bulk_upsert(conn, jobs, estate["jobs"])
        bulk_upsert(conn, job_attempts, estate["attempts"])
