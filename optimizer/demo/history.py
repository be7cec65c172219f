"""Thirty days of job history for the demo estate, from real cluster traces replayed on it.

Source traces (bundled copies of the project's shared data, see `optimizer/demo/data/README.md`):

- CPU queues: the Parallel Workloads Archive's KTH IBM SP2 log (`swf`), one SWF processor = one vCPU
  and 2 GiB per vCPU actually used (`optimizer.traces.TraceMapping` defaults, stated there).
- GPU queue: Alibaba's GPU cluster trace v2023 (`alibaba-gpu`), pods that asked for at least one GPU.

The mapping to the demo estate (`estate.py`), stated once here:

1. Window: for each trace, the busiest `days`-long window that starts on a trace day boundary (most
   submissions); its first second becomes `now - days`. Jobs keep their real submit offsets,
   runtimes and sizes.
2. Queues: a KTH user whose numeric id is divisible by `MEMORY_USER_MODULUS` (one user in four) runs
   on `memory-heavy` when the job asks for at most `MEMORY_MAX_VCPUS` vCPUs; every other KTH job runs
   on `cpu-batch`. Alibaba GPU pods run on `gpu-training`.
3. Requests vs use (the "generous memory" of the estate's job definitions): a job asks for its job
   definition's memory per vCPU (`cpu-batch` 4 GiB, `memory-heavy` 8 GiB) and actually peaks at
   2 GiB (`cpu-batch`, the trace mapping) or 5 GiB (`memory-heavy`) per vCPU; GPU jobs ask for
   max(job definition memory, the pod's memory) and peak at the pod's memory. CPU peaks at the
   requested vCPUs (SP2 jobs were CPU-bound MPI codes; the Alibaba pods' cpu_milli).
4. Left out, and counted: jobs larger than any instance type of their compute environment (KTH jobs
   over 64 processors), Alibaba pods without a GPU, and pods that ran over `GPU_MAX_RUNTIME_S`
   (long-running services, not batch jobs).

The jobs are then replayed by the simulator (`optimizer.simulate.replay`) on the estate's current
configuration (read back through boto3), which decides when each job started, on which instance,
how many instances ran and for how long. The result, anchored in time and clipped at `now` (jobs
still running then are RUNNING, instances still up have no end), is handed to the emulator in the
store's frame contract (`jobs`, `job_attempts`, `instances` columns).

Sizing (the demo must be ready in under 3 minutes): 30 days of the two traces is about 3,000 CPU
jobs and 700 GPU jobs, which the replay handles in seconds and the collectors read in well under a
minute; the knob is `days`.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from optimizer.data import load_price_snapshot, load_spot_advisor
from optimizer.demo.emulator import HistoryFrames
from optimizer.demo.estate import Estate
from optimizer.simulate import ReplayResult, build_catalog, parse_config, replay
from optimizer.traces import read_trace

DATA_DIR = Path(__file__).resolve().parent / "data"
KTH_TRACE = DATA_DIR / "KTH-SP2-1996-2.1-cln.swf.gz"
ALIBABA_TRACE = DATA_DIR / "alibaba-gpu-v2023_openb_pod_list_before_day135.csv.gz"

DAY = 86400.0
MEMORY_USER_MODULUS = 4
MEMORY_MAX_VCPUS = 32
MAX_CPU_JOB_VCPUS = 64  # the largest `optimal` types (m4.16xlarge, r4.16xlarge) have 64 vCPUs
GPU_MAX_RUNTIME_S = 7 * DAY
ACTUAL_MEMORY_PER_VCPU = {"cpu-batch": 2048.0, "memory-heavy": 5120.0}
REQUESTED_MEMORY_PER_VCPU = {"cpu-batch": 4096.0, "memory-heavy": 8192.0}


@dataclass
class History:
    """The replayed history: store-contract frames plus what it was built from."""

    frames: HistoryFrames
    replay: ReplayResult
    start: datetime
    end: datetime
    trace_windows: dict[str, tuple[float, float]]
    left_out: dict[str, int] = field(default_factory=dict)


def busiest_window(submit_s: pd.Series, days: int) -> float:
    """Start (seconds, on a day boundary) of the `days`-long window with the most submissions."""
    per_day = np.bincount((submit_s.to_numpy() // DAY).astype(int))
    if len(per_day) <= days:
        return 0.0
    sums = np.convolve(per_day, np.ones(days, dtype=int), mode="valid")
    return float(int(np.argmax(sums)) * DAY)


def _window(jobs: pd.DataFrame, days: int) -> tuple[pd.DataFrame, tuple[float, float]]:
    start = busiest_window(jobs["submit_s"], days)
    end = start + days * DAY
    chosen = jobs[(jobs["submit_s"] >= start) & (jobs["submit_s"] < end)].copy()
    chosen["submit_s"] -= start
    return chosen, (start, end)


def _job_uuid(source: str, trace_id: str) -> str:
    return str(uuid.UUID(hashlib.md5(f"{source}/{trace_id}".encode()).hexdigest()))


def cpu_jobs(days: int, left_out: dict[str, int]) -> tuple[pd.DataFrame, tuple[float, float]]:
    """KTH SP2 jobs of the busiest window, mapped to the two CPU queues (rules 2-4)."""
    trace = read_trace(KTH_TRACE, "swf")
    jobs, window = _window(trace.jobs, days)
    too_big = jobs["vcpus"] > MAX_CPU_JOB_VCPUS
    left_out["kth_jobs_over_64_vcpus"] = int(too_big.sum())
    jobs = jobs[~too_big].copy()
    user_number = pd.to_numeric(jobs["user"].astype(str).str.lstrip("u"), errors="coerce").fillna(1)
    memory_user = (user_number % MEMORY_USER_MODULUS == 0) & (jobs["vcpus"] <= MEMORY_MAX_VCPUS)
    jobs["queue"] = np.where(memory_user, "memory-heavy", "cpu-batch")
    jobs["used_memory_mib"] = jobs["vcpus"] * jobs["queue"].map(ACTUAL_MEMORY_PER_VCPU)
    jobs["memory_mib"] = jobs["vcpus"] * jobs["queue"].map(REQUESTED_MEMORY_PER_VCPU)
    jobs["used_vcpus"] = jobs["vcpus"]
    jobs["job_name"] = "kth-" + jobs["user"].astype(str) + "-" + jobs["job_id"].astype(str)
    jobs["job_id"] = [_job_uuid("kth", j) for j in jobs["job_id"].astype(str)]
    return jobs, window


def gpu_jobs(
    days: int, job_definition_memory: int, left_out: dict[str, int]
) -> tuple[pd.DataFrame, tuple[float, float]]:
    """Alibaba GPU pods of the busiest window on `gpu-training` (rules 2-4)."""
    trace = read_trace(ALIBABA_TRACE, "alibaba-gpu")
    pods = trace.jobs
    no_gpu = pods["gpus"] < 1
    left_out["alibaba_pods_without_gpu"] = int(no_gpu.sum())
    pods = pods[~no_gpu]
    jobs, window = _window(pods, days)
    too_long = jobs["runtime_s"] > GPU_MAX_RUNTIME_S
    left_out["alibaba_pods_over_7_days"] = int(too_long.sum())
    jobs = jobs[~too_long].copy()
    jobs["queue"] = "gpu-training"
    jobs["used_memory_mib"] = jobs["memory_mib"]
    jobs["used_vcpus"] = jobs["vcpus"]
    jobs["vcpus"] = np.ceil(jobs["vcpus"])  # Batch EC2 jobs request whole vCPUs
    jobs["memory_mib"] = np.maximum(jobs["memory_mib"], float(job_definition_memory))
    jobs["job_id"] = [_job_uuid("alibaba", j) for j in jobs["job_id"].astype(str)]
    return jobs, window


def catalog_for_replay() -> Any:
    """The simulator's catalog from the bundled price snapshot and Spot Advisor feed."""
    prices = load_price_snapshot().rename(columns={"price_per_hour": "ondemand_price"})
    return build_catalog(prices, load_spot_advisor("us-east-1"))


def _to_time(start: datetime, seconds: pd.Series) -> pd.Series:
    return pd.to_datetime(start) + pd.to_timedelta(seconds, unit="s")


def to_store_frames(
    result: ReplayResult, jobs: pd.DataFrame, estate: Estate, start: datetime, now: datetime
) -> HistoryFrames:
    """Anchor a replay (seconds since `start`) in time as store-contract frames, clipped at `now`."""
    now_ts = pd.Timestamp(now)
    requests = jobs.set_index("job_id")
    sim_jobs = result.jobs.set_index("job_id")
    created = _to_time(start, sim_jobs["submitted_at"])
    started = _to_time(start, sim_jobs["started_at"])
    stopped = _to_time(start, sim_jobs["ended_at"])
    status = sim_jobs["status"].where(stopped <= now_ts, "RUNNING")
    status = status.where(
        started.notna() & (started <= now_ts) | status.isin(["SUCCEEDED", "FAILED"]), "RUNNABLE"
    )
    specs = {s.queue: s for s in estate.specs}
    queue = sim_jobs["queue"]
    out_jobs = pd.DataFrame(
        {
            "job_id": sim_jobs.index,
            "job_name": requests.loc[sim_jobs.index, "job_name"].astype(str).to_numpy(),
            "queue": queue.to_numpy(),
            "job_queue_arn": queue.map(estate.queues).to_numpy(),
            "job_definition": queue.map(lambda q: estate.job_definitions[specs[q].job_definition]).to_numpy(),
            "job_definition_name": queue.map(lambda q: specs[q].job_definition).to_numpy(),
            "status": status.to_numpy(),
            "status_reason": sim_jobs["status_reason"].to_numpy(),
            "created_at": created.to_numpy(),
            "started_at": started.where(started <= now_ts).to_numpy(),
            "stopped_at": stopped.where(stopped <= now_ts).to_numpy(),
            "vcpus": sim_jobs["vcpus"].to_numpy(),
            "memory_mib": sim_jobs["memory_mib"].astype(int).to_numpy(),
            "gpus": sim_jobs["gpus"].to_numpy(),
            "attempt_count": sim_jobs["attempt_count"].to_numpy(),
            "retry_attempts": sim_jobs["retry_attempts"].to_numpy(),
        }
    )
    out_jobs = out_jobs[out_jobs["created_at"] <= now_ts].reset_index(drop=True)

    attempts = result.attempts
    a_start = _to_time(start, attempts["started_at"])
    a_stop = _to_time(start, attempts["ended_at"])
    finished = a_stop <= now_ts
    out_attempts = pd.DataFrame(
        {
            "job_id": attempts["job_id"].to_numpy(),
            "attempt": attempts["attempt"].to_numpy(),
            "instance_id": attempts["instance_id"].to_numpy(),
            "compute_environment_arn": attempts["compute_environment"]
            .map(estate.compute_environments)
            .to_numpy(),
            "started_at": a_start.to_numpy(),
            "stopped_at": a_stop.where(finished).to_numpy(),
            "exit_code": attempts["exit_code"].where(finished.to_numpy()).to_numpy(),
            "reason": attempts["reason"].to_numpy(),
            "is_spot_reclaim": attempts["is_spot_reclaim"].to_numpy(),
            "peak_memory_mib": attempts["job_id"].map(requests["used_memory_mib"]).to_numpy(),
            "peak_vcpus": attempts["job_id"].map(requests["used_vcpus"]).to_numpy(),
        }
    )
    out_attempts = out_attempts[out_attempts["started_at"] <= now_ts].reset_index(drop=True)

    inst = result.instances
    launch = _to_time(start, inst["launched_at"])
    end = _to_time(start, inst["terminated_at"])
    still_up = (end > now_ts) | (inst["end_reason"] == "end of replay")
    out_instances = pd.DataFrame(
        {
            "instance_id": inst["instance_id"].to_numpy(),
            "compute_environment_arn": inst["compute_environment"]
            .map(estate.compute_environments)
            .to_numpy(),
            "instance_type": inst["instance_type"].to_numpy(),
            "capacity_type": inst["capacity_type"].to_numpy(),
            "availability_zone": None,
            "launch_time": launch.to_numpy(),
            "terminated_at": end.where(~still_up).to_numpy(),
        }
    )
    out_instances = out_instances[out_instances["launch_time"] <= now_ts].reset_index(drop=True)
    return HistoryFrames(jobs=out_jobs, attempts=out_attempts, instances=out_instances)


def build_history(estate: Estate, configuration: dict[str, Any], now: datetime, days: int = 30) -> History:
    """Traces -> the estate's queues -> replay on `configuration` -> frames ending at `now`."""
    left_out: dict[str, int] = {}
    cpu, cpu_window = cpu_jobs(days, left_out)
    gpu_memory = estate.spec("gpu-training").memory_mib
    gpu, gpu_window = gpu_jobs(days, gpu_memory, left_out)
    columns = [
        "job_id",
        "submit_s",
        "runtime_s",
        "vcpus",
        "memory_mib",
        "gpus",
        "queue",
        "job_name",
        "status",
        "used_memory_mib",
        "used_vcpus",
    ]
    jobs = pd.concat([cpu[columns], gpu[columns]], ignore_index=True).sort_values("submit_s", kind="stable")
    jobs["gpus"] = jobs["gpus"].astype("int64")
    retries = {spec.queue: spec.retry_attempts for spec in estate.specs}
    jobs["retry_attempts"] = jobs["queue"].map(retries).astype("Int64")
    jobs["arch"] = None  # every instance type of the estate is x86_64: no architecture constraint
    jobs = jobs.reset_index(drop=True)
    config = parse_config(configuration, catalog_for_replay(), source="demo estate")
    result = replay(jobs, config)
    start = now - timedelta(days=days)
    frames = to_store_frames(result, jobs, estate, start, now)
    return History(
        frames=frames,
        replay=result,
        start=start,
        end=now,
        trace_windows={"kth-sp2": cpu_window, "alibaba-gpu": gpu_window},
        left_out=left_out,
    )
