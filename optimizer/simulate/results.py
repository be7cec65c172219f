"""What a replay reports: per-job, per-attempt and per-instance tables, and the summary built from them.

The summary is computed from the tables (not accumulated in the event loop), so every figure can
be re-derived by a reader from the records, e.g. total cost = sum over instances of billed
seconds x price + Fargate task costs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from optimizer.simulate.commitments import HOUR as HOUR_S
from optimizer.simulate.commitments import commitment_summary
from optimizer.simulate.gangs import gang_summary, with_gang_columns
from optimizer.simulate.head_blocking import BLOCKED_COLUMNS, blocked_frame
from optimizer.simulate.replay_engine import MINIMUM_BILLED_SECONDS, ReplayEngine
from optimizer.simulate.shortages import shortage_summary
from optimizer.solver.problem import Commitment

WAIT_QUANTILES = (0.5, 0.95, 0.99)
#: Capacity types whose work a reclaim can take away: what a spot share counts.
SPOT_CAPACITY_TYPES = ("SPOT", "FARGATE_SPOT")


@dataclass(frozen=True)
class ReplayResult:
    """Tables use seconds since the dataset's start; `records.to_store_frames` anchors them in time."""

    summary: dict[str, Any]
    jobs: pd.DataFrame
    attempts: pd.DataFrame
    instances: pd.DataFrame
    #: Jobs no compute environment could run, one row each (`head_blocking.BLOCKED_COLUMNS`).
    blocked: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(BLOCKED_COLUMNS)))


SHARE_WAIT_COLUMNS = ("queue", "share", "jobs", "p50_wait_s", "p95_wait_s")


def wait_quantiles(waits: np.ndarray) -> tuple[float, float, float]:
    """p50, p95 and p99 of queue waits in seconds (numpy's linear interpolation): the one rule every
    wait figure of a replay (per queue, per share) is computed with."""
    p50, p95, p99 = np.quantile(waits, WAIT_QUANTILES)
    return float(p50), float(p95), float(p99)


def share_waits(result: ReplayResult) -> pd.DataFrame:
    """Queue waits per queue and share identifier: columns `SHARE_WAIT_COLUMNS`, one row per
    (queue, share) with a started job, sorted by queue then share.

    The wait is a job's first start minus its submit time, as in the summary's `queue_wait_s`.
    Jobs without a share identifier (or a replay of jobs without the `share_identifier` column)
    count under share "". Why: the `fair-share` strategy prices a scheduling policy by the change in
    each share's p95 wait between two replays of the same jobs at the same cost.
    """
    jobs = result.jobs
    started = jobs[jobs["started_at"].notna()]
    if "share_identifier" in started:
        share = started["share_identifier"].where(started["share_identifier"].notna(), "").astype(str)
    else:
        share = pd.Series([""] * len(started), index=started.index, dtype=object)
    wait = (started["started_at"] - started["submitted_at"]).to_numpy(dtype=float)
    frame = pd.DataFrame(
        {"queue": started["queue"].astype(str).to_numpy(), "share": share.to_numpy(), "wait": wait}
    )
    rows = []
    for (queue, name), group in frame.groupby(["queue", "share"], sort=True):
        p50, p95, _ = wait_quantiles(group["wait"].to_numpy())
        rows.append((queue, name, len(group), _round(p50, 3), _round(p95, 3)))
    return pd.DataFrame(rows, columns=list(SHARE_WAIT_COLUMNS)).astype({"jobs": "int64"})


def blocked_heads(result: ReplayResult) -> pd.DataFrame:
    """Jobs that no compute environment of their queue could run, one row each, in the order they
    left the head of their queue: columns `queue, job_id, reason, head_at_s, blocked_s,
    jobs_delayed, removed_by` (`head_blocking.py`).

    `blocked_s` is how long the job held its queue's head (maxTimeSeconds of the matching
    `jobStateTimeLimitActions` entry, `simulation.blockedJobCancelSeconds`, or 0 when it failed at
    once); `jobs_delayed` is how many jobs were RUNNABLE behind it, held, when it left. Why: the
    `stuck-job-limits` strategy prices adding a time limit action by the blocked time and the
    delayed jobs it removes.
    """
    return result.blocked.copy()


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
            **({"share_identifier": _objects(engine.job_share)} if engine.job_share is not None else {}),
        }
    )


def spot_job_share(attempts: pd.DataFrame) -> tuple[float, float | None]:
    """(job vCPU-hours of every attempt, the share of them on spot or None without any): the measure
    a plan's `max_spot_share` caps (`optimizer.solver.spot_work`), taken from what the replay ran,
    reclaimed attempts included (that work was on spot until the reclaim)."""
    work = (attempts["ended_at"] - attempts["started_at"]).clip(lower=0) * attempts["vcpus"] / 3600.0
    total = float(work.sum())
    if total <= 0.0:
        return total, None
    return total, float(work[attempts["capacity_type"].isin(SPOT_CAPACITY_TYPES)].sum()) / total


def _round(value: float, digits: int = 6) -> float:
    return float(round(value, digits)) if np.isfinite(value) else float("nan")


def _committed_fields(
    instances: pd.DataFrame, commitments: Sequence[Commitment], list_total: float, horizon_s: float
) -> dict[str, Any]:
    """The summary's cost under `commitments` over [0, `horizon_s`): the list total, the fees, the
    on-demand cost they cover, each commitment's utilization, the hours charged and the total."""
    bill = commitment_summary(instances, commitments, horizon_s)
    return {
        "list_cost_usd": _round(list_total),
        "commitment_usd": _round(bill["fees_usd"]),
        "commitment_covered_usd": _round(bill["covered_usd"]),
        "commitment_hours": bill["hours"],
        "commitments": bill["commitments"],
        "total_cost_usd": _round(list_total - bill["covered_usd"] + bill["fees_usd"]),
    }


def over_common_span(
    results: Sequence[ReplayResult], commitments: Sequence[Commitment]
) -> list[dict[str, Any]]:
    """The results' summaries with every commitment fee charged over the same hours: the longest
    replay's. Replays of one history on two configurations can end days apart (a smaller fleet
    drains its backlog later), and a commitment is paid for every calendar hour whichever
    configuration runs, so charging each replay only to its own end bills the longer one fees the
    shorter escapes (the what-if of a GPU queue: 811 against 720 hours, $240 of fees against the
    plan). The covered cost is unchanged (the shorter replay runs nothing in the extra hours); the
    fees, utilization and total are recomputed with `commitment_summary`, as in the replay."""
    summaries = [dict(r.summary) for r in results]
    if not commitments or not all("commitment_hours" in s for s in summaries):
        return summaries
    hours = max(int(s["commitment_hours"]) for s in summaries)
    out = []
    for result, summary in zip(results, summaries, strict=True):
        if int(summary["commitment_hours"]) != hours:
            summary.update(
                _committed_fields(
                    result.instances, commitments, float(summary["list_cost_usd"]), hours * HOUR_S
                )
            )
        out.append(summary)
    return out


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
            quantiles = wait_quantiles(series.to_numpy())
            waits[name] = {
                "jobs": len(series),
                "p50_s": _round(quantiles[0], 3),
                "p95_s": _round(quantiles[1], 3),
                "p99_s": _round(quantiles[2], 3),
            }
    first_submit = float(jobs["submitted_at"].min()) if len(jobs) else 0.0
    last_end = float(jobs["ended_at"].max()) if len(jobs) else 0.0
    job_vcpu_hours, spot_share = spot_job_share(attempts)
    committed: dict[str, Any] = {"total_cost_usd": _round(total)}
    if engine.config.commitments:
        horizon = max(last_end, float(inst["terminated_at"].max()) if len(inst) else 0.0)
        committed = _committed_fields(inst, engine.config.commitments, total, horizon)
    return {
        **committed,
        "cost_by_capacity_type": {k: _round(v) for k, v in sorted(cost_by_capacity.items())},
        "cost_by_instance_type": {
            k: _round(v) for k, v in sorted(cost_by_type.items(), key=lambda kv: -kv[1])
        },
        "instance_hours": _round(float(in_service.sum()) / 3600.0, 3),
        "instance_hours_by_capacity_type": {k: _round(v, 3) for k, v in sorted(hours_by_capacity.items())},
        "instances_launched": len(inst),
        "job_vcpu_hours": _round(job_vcpu_hours, 3),
        "spot_job_vcpu_share": None if spot_share is None else _round(spot_share, 4),
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


def _blocked_summary(blocked: pd.DataFrame) -> dict[str, Any]:
    """The summary's `blocked_heads` section (absent when every job could run somewhere): per
    queue, the blocked jobs, the seconds they held the head, and the jobs they held back."""
    if blocked.empty:
        return {}
    per_queue = blocked.groupby("queue", sort=True).agg(
        jobs=("job_id", "size"), blocked_s=("blocked_s", "sum"), jobs_delayed=("jobs_delayed", "sum")
    )
    return {
        "blocked_heads": {
            str(q): {
                "jobs": int(r.jobs),
                "blocked_s": _round(r.blocked_s, 3),
                "jobs_delayed": int(r.jobs_delayed),
            }
            for q, r in per_queue.iterrows()
        }
    }


def _share_summary(result: ReplayResult) -> dict[str, Any]:
    """The summary's `share_wait_s` section (absent unless jobs carry share identifiers)."""
    if "share_identifier" not in result.jobs or not result.jobs["share_identifier"].notna().any():
        return {}
    section: dict[str, dict[str, Any]] = {}
    for row in share_waits(result).itertuples():
        section.setdefault(row.queue, {})[row.share] = {
            "jobs": int(row.jobs),
            "p50_s": row.p50_wait_s,
            "p95_s": row.p95_wait_s,
        }
    return {"share_wait_s": section}


def collect_result(engine: ReplayEngine) -> ReplayResult:
    instances = _instances_frame(engine)
    attempts = _attempts_frame(engine)
    jobs = with_gang_columns(engine, _jobs_frame(engine))
    blocked = blocked_frame(engine.heads.log, engine.queue_names, engine.job_ids)
    summary = {
        **_summary(engine, jobs, attempts, instances),
        **gang_summary(engine, instances),
        **shortage_summary(engine.shortages, engine.launches_refused),
        **_blocked_summary(blocked),
    }
    result = ReplayResult(summary=summary, jobs=jobs, attempts=attempts, instances=instances, blocked=blocked)
    share_section = _share_summary(result)
    if share_section:
        summary.update(share_section)
    return result
