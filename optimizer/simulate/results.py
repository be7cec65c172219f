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

from optimizer.simulate.commitments import commitment_summary
from optimizer.simulate.engine import MINIMUM_BILLED_SECONDS, ReplayEngine
from optimizer.simulate.gangs import gang_summary, with_gang_columns
from optimizer.simulate.shortages import shortage_summary

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


def _objects(values: list | np.ndarray) -> pd.Series:
    """A text column kept as Python objects: converting a million strings to Arrow costs seconds."""
    return pd.Series(np.asarray(values, dtype=object), dtype=object)


def _attempts_frame(engine: ReplayEngine) -> pd.DataFrame:
    ces = engine.ces
    jobs = np.asarray(engine.a_job, dtype=np.int64)
    inst = np.asarray(engine.a_inst, dtype=np.int64)
    ce_idx = np.asarray(engine.a_ce, dtype=np.int64)
    attempt_no = pd.Series(jobs).groupby(jobs).cumcount().to_numpy(dtype=np.int64)
    # Per-instance and per-CE names, taken by index (Fargate attempts have instance -1).
    inst_names = np.asarray(
        [engine.instance_name(i) for i in range(len(engine.i_spec))] + [None], dtype=object
    )
    inst_types = np.asarray([spec.instance_type for spec in engine.i_spec] + [None], dtype=object)
    ce_kind = np.asarray([ce.kind for ce in ces], dtype=object)
    ce_capacity = np.asarray([ce.capacity_type for ce in ces], dtype=object)
    ce_names = np.asarray([ce.name for ce in ces], dtype=object)
    fargate = inst < 0
    instance_type = inst_types[inst] if len(inst) else inst_types[:0]
    if fargate.any():
        instance_type = np.where(fargate, ce_kind[ce_idx], instance_type)
    exits = np.fromiter((-1 if e is None else e for e in engine.a_exit), dtype=np.int64, count=len(jobs))
    exit_codes = pd.arrays.IntegerArray(exits, exits == -1)
    job_ids = np.asarray(engine.job_ids, dtype=object)
    queue_of_job = np.asarray(engine.queue_names, dtype=object)[np.asarray(engine.job_queue, dtype=np.int64)]
    submit = np.asarray(engine.submit, dtype=float)
    gpus = np.asarray(engine.gpus, dtype=np.int64)
    return pd.DataFrame(
        {
            "job_id": _objects(job_ids[jobs]),
            "attempt": attempt_no,
            "queue": _objects(queue_of_job[jobs]),
            "submitted_at": submit[jobs],
            "started_at": np.asarray(engine.a_start, dtype=float),
            "ended_at": np.asarray(engine.a_end, dtype=float),
            "instance_id": _objects(inst_names[inst]),
            "instance_type": _objects(instance_type),
            "capacity_type": _objects(ce_capacity[ce_idx]),
            "compute_environment": _objects(ce_names[ce_idx]),
            "status": _objects(np.where(exits == 0, "SUCCEEDED", "FAILED").astype(object)),
            "exit_code": exit_codes,
            "reason": _objects(engine.a_reason),
            "is_spot_reclaim": np.asarray(engine.a_reclaim, dtype=bool),
            "vcpus": np.asarray(engine.a_vcpus, dtype=float),
            "memory_mib": np.asarray(engine.a_mem, dtype=float),
            "gpus": gpus[jobs],
            "fargate_cost_usd": np.asarray(engine.a_cost, dtype=float),
        }
    )


def _jobs_frame(engine: ReplayEngine) -> pd.DataFrame:
    names = np.asarray(("PENDING",) * 5 + ("SUCCEEDED", "FAILED"), dtype=object)
    attempts_per_strategy = np.asarray([s.attempts for s in engine.strategies], dtype=np.int64)
    return pd.DataFrame(
        {
            "job_id": _objects(engine.job_ids),
            "job_name": _objects(engine.job_names),
            "queue": _objects(
                np.asarray(engine.queue_names, dtype=object)[np.asarray(engine.job_queue, dtype=np.int64)]
            ),
            "submitted_at": np.asarray(engine.submit, dtype=float),
            "started_at": np.asarray(engine.first_start, dtype=float),
            "ended_at": np.asarray(engine.job_end, dtype=float),
            "status": _objects(names[np.asarray(engine.state, dtype=np.int64)]),
            "status_reason": _objects(engine.job_reason),
            "attempt_count": np.asarray(engine.attempts_done, dtype=np.int64),
            "retry_attempts": attempts_per_strategy[np.asarray(engine.job_strategy, dtype=np.int64)],
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
    committed: dict[str, Any] = {}
    if engine.config.commitments:
        horizon = max(last_end, float(inst["terminated_at"].max()) if len(inst) else 0.0)
        bill = commitment_summary(inst, engine.config.commitments, horizon)
        committed = {
            "list_cost_usd": _round(total),
            "commitment_usd": _round(bill["fees_usd"]),
            "commitment_covered_usd": _round(bill["covered_usd"]),
            "commitments": bill["commitments"],
        }
        total = total - bill["covered_usd"] + bill["fees_usd"]
    return {
        **committed,
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
    jobs = with_gang_columns(engine, _jobs_frame(engine))
    summary = {
        **_summary(engine, jobs, attempts, instances),
        **gang_summary(engine, instances),
        **shortage_summary(engine.shortages, engine.launches_refused),
    }
    return ReplayResult(summary=summary, jobs=jobs, attempts=attempts, instances=instances)
