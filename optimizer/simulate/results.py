"""What a replay reports: per-job, per-attempt and per-instance tables, and the summary built from them.

The summary is computed from the tables (not accumulated in the event loop), so every figure can
be re-derived by a reader from the records, e.g. total cost = sum over instances of billed
seconds x price + Fargate task costs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from optimizer.simulate.engine import MINIMUM_BILLED_SECONDS, ReplayEngine

WAIT_QUANTILES = (0.5, 0.95, 0.99)


@dataclass(frozen=True)
class ReplayResult:
    """Tables use seconds since the dataset's start; `records.to_store_frames` anchors them in time."""

    summary: dict[str, Any]
    jobs: pd.DataFrame
    attempts: pd.DataFrame
    instances: pd.DataFrame


def _instances_frame(engine: ReplayEngine) -> pd.DataFrame:
    ces = engine.ces
    specs = engine.i_spec
    capacity = [ces[c].capacity_type for c in engine.i_ce]
    price = [
        (s.spot_price if ces[c].is_spot and s.spot_price is not None else s.ondemand_price)
        for s, c in zip(specs, engine.i_ce, strict=True)
    ]
    launch = np.asarray(engine.i_launch, dtype=float)
    end = np.asarray(engine.i_end, dtype=float)
    billed = np.maximum(end - launch, MINIMUM_BILLED_SECONDS) if len(launch) else np.zeros(0)
    price_arr = np.asarray(price, dtype=float)
    return pd.DataFrame(
        {
            "instance_id": [engine.instance_name(i) for i in range(len(specs))],
            "compute_environment": [ces[c].name for c in engine.i_ce],
            "instance_type": [s.instance_type for s in specs],
            "capacity_type": capacity,
            "arch": [s.arch for s in specs],
            "vcpus": np.asarray([s.vcpus for s in specs], dtype=float),
            "memory_mib": np.asarray([s.allocatable_memory_mib for s in specs], dtype=float),
            "gpus": np.asarray([s.gpus for s in specs], dtype=np.int64),
            "launched_at": launch,
            "ready_at": np.minimum(launch + engine.options.launch_delay_s, end) if len(launch) else launch,
            "terminated_at": end,
            "end_reason": engine.i_end_reason,
            "price_per_hour": price_arr,
            "billed_seconds": billed,
            "cost_usd": billed * price_arr / 3600.0,
        }
    )


def _attempts_frame(engine: ReplayEngine) -> pd.DataFrame:
    ces = engine.ces
    jobs = np.asarray(engine.a_job, dtype=np.int64)
    inst = np.asarray(engine.a_inst, dtype=np.int64)
    attempt_no = np.zeros(len(jobs), dtype=np.int64)
    seen: dict[int, int] = {}
    for k, j in enumerate(engine.a_job):
        attempt_no[k] = seen.get(j, 0)
        seen[j] = attempt_no[k] + 1
    instance_type, capacity = [], []
    for a, i in enumerate(engine.a_inst):
        ce = ces[engine.a_ce[a]]
        instance_type.append(engine.i_spec[i].instance_type if i >= 0 else ce.kind)
        capacity.append(ce.capacity_type)
    exit_codes = pd.array(engine.a_exit, dtype="Int64")
    status = np.where(np.asarray([e == 0 for e in engine.a_exit], dtype=bool), "SUCCEEDED", "FAILED")
    submit = np.asarray(engine.submit, dtype=float)
    return pd.DataFrame(
        {
            "job_id": [engine.job_ids[j] for j in engine.a_job],
            "attempt": attempt_no,
            "queue": [engine.queue_names[engine.job_queue[j]] for j in engine.a_job],
            "submitted_at": submit[jobs] if len(jobs) else np.zeros(0),
            "started_at": np.asarray(engine.a_start, dtype=float),
            "ended_at": np.asarray(engine.a_end, dtype=float),
            "instance_id": [engine.instance_name(i) if i >= 0 else None for i in inst],
            "instance_type": instance_type,
            "capacity_type": capacity,
            "compute_environment": [ces[c].name for c in engine.a_ce],
            "status": status,
            "exit_code": exit_codes,
            "reason": engine.a_reason,
            "is_spot_reclaim": np.asarray(engine.a_reclaim, dtype=bool),
            "vcpus": np.asarray(engine.a_vcpus, dtype=float),
            "memory_mib": np.asarray(engine.a_mem, dtype=float),
            "gpus": np.asarray([engine.gpus[j] for j in engine.a_job], dtype=np.int64),
            "fargate_cost_usd": np.asarray(engine.a_cost, dtype=float),
        }
    )


def _jobs_frame(engine: ReplayEngine) -> pd.DataFrame:
    names = ("PENDING",) * 5 + ("SUCCEEDED", "FAILED")
    return pd.DataFrame(
        {
            "job_id": engine.job_ids,
            "job_name": engine.job_ids,
            "queue": [engine.queue_names[q] for q in engine.job_queue],
            "submitted_at": np.asarray(engine.submit, dtype=float),
            "started_at": np.asarray(engine.first_start, dtype=float),
            "ended_at": np.asarray(engine.job_end, dtype=float),
            "status": [names[s] for s in engine.state],
            "status_reason": engine.job_reason,
            "attempt_count": np.asarray(engine.attempts_done, dtype=np.int64),
            "retry_attempts": np.asarray(
                [engine.strategies[k].attempts for k in engine.job_strategy], dtype=np.int64
            ),
            "vcpus": np.asarray(engine.vcpus, dtype=float),
            "memory_mib": np.asarray(engine.mem, dtype=float),
            "gpus": np.asarray(engine.gpus, dtype=np.int64),
        }
    )


def _round(value: float, digits: int = 6) -> float:
    return float(round(value, digits)) if np.isfinite(value) else float("nan")


def _summary(
    engine: ReplayEngine, jobs: pd.DataFrame, attempts: pd.DataFrame, inst: pd.DataFrame
) -> dict[str, Any]:
    fargate = attempts[attempts["instance_id"].isna()]
    cost_by_capacity: dict[str, float] = inst.groupby("capacity_type")["cost_usd"].sum().to_dict()
    for kind, cost in fargate.groupby("capacity_type")["fargate_cost_usd"].sum().items():
        cost_by_capacity[str(kind)] = cost_by_capacity.get(str(kind), 0.0) + float(cost)
    cost_by_type: dict[str, float] = inst.groupby("instance_type")["cost_usd"].sum().to_dict()
    for kind, cost in fargate.groupby("instance_type")["fargate_cost_usd"].sum().items():
        cost_by_type[str(kind)] = cost_by_type.get(str(kind), 0.0) + float(cost)
    total = float(inst["cost_usd"].sum() + fargate["fargate_cost_usd"].sum())
    in_service = (inst["terminated_at"] - inst["launched_at"]).clip(lower=0)
    hours_by_capacity = (in_service / 3600.0).groupby(inst["capacity_type"]).sum().to_dict()
    ec2 = attempts[attempts["instance_id"].notna()]
    busy = (ec2["ended_at"] - ec2["started_at"]).clip(lower=0)
    vcpu_capacity = float((in_service * inst["vcpus"]).sum())
    mem_capacity = float((in_service * inst["memory_mib"]).sum())
    started = jobs[jobs["started_at"].notna()]
    wait = started["started_at"] - started["submitted_at"]
    waits: dict[str, dict[str, float]] = {}
    for name, series in [("ALL", wait), *((str(q), w) for q, w in wait.groupby(started["queue"]))]:
        if len(series):
            quantiles = np.quantile(series.to_numpy(), WAIT_QUANTILES)
            waits[name] = {
                "jobs": len(series),
                "p50_s": _round(quantiles[0], 3),
                "p95_s": _round(quantiles[1], 3),
                "p99_s": _round(quantiles[2], 3),
            }
    first_submit = float(jobs["submitted_at"].min()) if len(jobs) else 0.0
    last_end = float(jobs["ended_at"].max()) if len(jobs) else 0.0
    return {
        "total_cost_usd": _round(total),
        "cost_by_capacity_type": {k: _round(v) for k, v in sorted(cost_by_capacity.items())},
        "cost_by_instance_type": {
            k: _round(v) for k, v in sorted(cost_by_type.items(), key=lambda kv: -kv[1])
        },
        "instance_hours": _round(float(in_service.sum()) / 3600.0, 3),
        "instance_hours_by_capacity_type": {k: _round(v, 3) for k, v in sorted(hours_by_capacity.items())},
        "instances_launched": len(inst),
        "utilization": {
            "vcpu": _round(float((busy * ec2["vcpus"]).sum()) / vcpu_capacity, 4) if vcpu_capacity else None,
            "memory": _round(float((busy * ec2["memory_mib"]).sum()) / mem_capacity, 4)
            if mem_capacity
            else None,
        },
        "queue_wait_s": waits,
        "makespan_s": _round(last_end - first_submit, 3),
        "jobs": len(jobs),
        "succeeded": int((jobs["status"] == "SUCCEEDED").sum()),
        "failed": int((jobs["status"] == "FAILED").sum()),
        "attempts": len(attempts),
        "spot_reclaims": int(attempts["is_spot_reclaim"].sum()),
        "instances_reclaimed": int((inst["end_reason"] == "spot reclaim").sum()),
        "seed": engine.options.seed,
    }


def collect_result(engine: ReplayEngine) -> ReplayResult:
    instances = _instances_frame(engine)
    attempts = _attempts_frame(engine)
    jobs = _jobs_frame(engine)
    return ReplayResult(
        summary=_summary(engine, jobs, attempts, instances), jobs=jobs, attempts=attempts, instances=instances
    )
