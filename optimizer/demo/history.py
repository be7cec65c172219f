"""Thirty days of job history for the demo estate, from real cluster traces replayed on it.

Source traces (bundled copies of the project's shared data, see `optimizer/demo/data/README.md`):

- CPU queues: the Parallel Workloads Archive's KTH IBM SP2 log (`swf`), one SWF processor = one vCPU
  and 2 GiB per vCPU actually used (`optimizer.traces.TraceMapping` defaults, stated there).
- GPU queue and `spot-etl`: Alibaba's GPU cluster trace v2023 (`alibaba-gpu`): pods that asked for
  at least one GPU, and the pods without a GPU submitted in the same window.

The mapping to the demo estate (`estate.py`), stated once here:

1. Window: for each trace, the busiest `days`-long window that starts on a trace day boundary (most
   submissions; for Alibaba, of GPU pods); its first second becomes `now - days`. Jobs keep their
   real submit offsets, runtimes and sizes.
2. Queues: a KTH user whose numeric id is divisible by `MEMORY_USER_MODULUS` (one user in four) runs
   on `memory-heavy` when the job asks for at most `MEMORY_MAX_VCPUS` vCPUs. Every other KTH job
   that asked the SP2's scheduler for at most `SHORT_REQUEST_S` (the SWF's requested time, field 9)
   runs on `cpu-short`, the rest on `cpu-batch`, except those of a user whose id leaves
   `PIPELINE_USER_REMAINDER` modulo `MEMORY_USER_MODULUS`: they are the tasks of `spot-pipeline` and
   ask for its definition's shape (4 vCPUs, 8 GiB; the trace gives their times). Alibaba GPU pods
   run on `gpu-training`, except two sent to `cpu-short` by mistake (point 5); pods without a GPU
   run on `spot-etl`, asking for their own vCPUs (rounded up) and memory.
3. Requests vs use (the "generous memory" of the estate's job definitions): a job asks for its job
   definition's memory per vCPU (`cpu-batch` 4 GiB, `memory-heavy` 8 GiB) and actually peaks at
   2 GiB (`cpu-batch`, the trace mapping) or 5 GiB (`memory-heavy`) per vCPU; GPU jobs ask for
   max(job definition memory, the pod's memory) and peak at the pod's memory. CPU peaks at the
   requested vCPUs (SP2 jobs were CPU-bound MPI codes; the Alibaba pods' cpu_milli).
4. Left out, and counted: Alibaba pods that ran over `GPU_MAX_RUNTIME_S`
   (long-running services, not batch jobs). KTH jobs over 64 processors are multi-node parallel
   jobs on `mpi-parallel`, mapped as `multinode_queue.py` states.
5. What the issue-18 strategies look for, each a stated rule, seeded where it draws:
   - teams: `cpu-short` is shared by three teams, a job's team being its KTH user's id modulo 3
     (`TEAMS`, the `team` tag of its submission); the team of the trace's busiest user floods it;
   - runaways: `RUNAWAY_JOBS` of `cpu-short`'s failed jobs of `RUNAWAY_MIN_VCPUS` to
     `RUNAWAY_MAX_VCPUS` vCPUs (drawn with `SEED`) hang: they run `RUNAWAY_RUNTIME_S` before
     their owner kills them;
   - a shape no CE can host: the first GPU pod submitted after each of `MISROUTED_DAYS_BEFORE_END`
     (days before the window's end) was sent to `cpu-short` (whose CE has no GPU): it waits
     RUNNABLE with MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT, blocking the queue's head, until its
     owner cancels it after `STUCK_CANCEL_S` (`simulation.blockedJobCancelSeconds`);
   - definitions: `cpu-short-job` has no retry strategy, `pipeline-task` and `etl-task` retry
     twice (`estate.QueueSpec.retry_attempts`).

The jobs are then replayed by the simulator (`optimizer.simulate.replay`) on the estate's current
configuration (read back through boto3), which decides when each job started, on which instance,
how many instances ran and for how long. The result, anchored in time and clipped at `now` (jobs
still running then are RUNNING, instances still up have no end), is handed to the emulator in the
store's frame contract (`jobs`, `job_attempts`, `instances` columns) that
`optimizer.simulate.records.to_store_frames` produces.

Sizing: the busiest 30 days of the two traces are about 4,100 KTH jobs (2,450 `cpu-short`, 1,250
`memory-heavy`, 230 `cpu-batch`, 140 `spot-pipeline`, the rest multi-node), 3,300 GPU pods and 620
pods without a GPU, 8,000 jobs and 2,500 instances after the replay. The replay takes seconds;
seeding ~15-40 s; the collectors read it through boto3 in 40-90 s on a shared 2-core machine. The
knob is `days` (`batchopt demo --days`).
"""

from __future__ import annotations

import gzip
import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from optimizer.catalog.provider import bundled_catalog
from optimizer.demo.emulator import HistoryFrames
from optimizer.demo.estate import Estate
from optimizer.demo.multinode_queue import MNP_COLUMNS, mnp_jobs, plain_mnp_links
from optimizer.simulate import ReplayResult, catalog_from_provider, parse_config, replay
from optimizer.simulate.records import to_store_frames
from optimizer.traces import TraceMapping, read_trace

DATA_DIR = Path(__file__).resolve().parent / "data"
KTH_TRACE = DATA_DIR / "KTH-SP2-1996-2.1-cln.swf.gz"
ALIBABA_TRACE = DATA_DIR / "alibaba-gpu-v2023_openb_pod_list_before_day135.csv.gz"

DAY = 86400.0
MEMORY_USER_MODULUS = 4
MEMORY_MAX_VCPUS = 32
MAX_CPU_JOB_VCPUS = 64  # wider KTH jobs are multi-node work, which the demo leaves out and counts
GPU_MAX_RUNTIME_S = 7 * DAY
ACTUAL_MEMORY_PER_VCPU = {"cpu-batch": 2048.0, "cpu-short": 2048.0, "memory-heavy": 5120.0}
REQUESTED_MEMORY_PER_VCPU = {"cpu-batch": 4096.0, "cpu-short": 4096.0, "memory-heavy": 8192.0}
SHORT_REQUEST_S = 4 * 3600.0
PIPELINE_USER_REMAINDER = 1
PIPELINE_QUEUE = "spot-pipeline"
ETL_QUEUE = "spot-etl"
SHARED_QUEUE = "cpu-short"
TEAMS = ("team-a", "team-b", "team-c")
RUNAWAY_JOBS = 12
RUNAWAY_MIN_VCPUS = 16
RUNAWAY_MAX_VCPUS = 32
RUNAWAY_RUNTIME_S = 2 * DAY
MISROUTED_DAYS_BEFORE_END = (3.0, 0.15)
STUCK_CANCEL_S = 6 * 3600.0
SEED = 18
PIPELINE_USED_MEMORY_SHARE = 0.75


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


def requested_times() -> dict[str, float]:
    """SWF job number -> the run time the job asked the SP2's scheduler for (field 9, seconds)."""
    out: dict[str, float] = {}
    with gzip.open(KTH_TRACE, "rt") as handle:
        for line in handle:
            fields = line.split()
            if len(fields) >= 9 and not line.startswith(";"):
                out[fields[0]] = float(fields[8])
    return out


def cpu_jobs(
    days: int, left_out: dict[str, int], pipeline_shape: tuple[int, int] = (4, 8192)
) -> tuple[pd.DataFrame, tuple[float, float]]:
    """KTH SP2 jobs of the busiest window, mapped to the CPU queues (rules 2-5); `pipeline_shape` is
    (vCPUs, MiB) of `spot-pipeline`'s job definition."""
    trace = read_trace(KTH_TRACE, "swf", TraceMapping(max_vcpus_per_node=MAX_CPU_JOB_VCPUS))
    # A job over 64 processors is imported as an MNP job (one row per node): one row per job here.
    main_rows = trace.jobs["node_index"].fillna(0) == 0
    jobs, window = _window(trace.jobs[main_rows], days)
    too_big = jobs["mnp_parent"].notna()
    # Wider jobs run as MNP jobs on their own queue (`multinode_queue.py`), from their total vCPUs.
    wide = jobs[too_big].assign(vcpus=jobs["vcpus"] * jobs["num_nodes"])
    jobs = jobs[~too_big].drop(columns=["mnp_parent", "node_index", "num_nodes"])
    user_number = pd.to_numeric(jobs["user"].astype(str).str.lstrip("u"), errors="coerce").fillna(1)
    requested = jobs["job_id"].astype(str).map(requested_times()).fillna(np.inf)
    memory_user = (user_number % MEMORY_USER_MODULUS == 0) & (jobs["vcpus"] <= MEMORY_MAX_VCPUS)
    short = ~memory_user & (requested <= SHORT_REQUEST_S)
    pipeline = ~memory_user & ~short & (user_number % MEMORY_USER_MODULUS == PIPELINE_USER_REMAINDER)
    jobs["queue"] = np.select(
        [memory_user, short, pipeline], ["memory-heavy", SHARED_QUEUE, PIPELINE_QUEUE], "cpu-batch"
    )
    jobs["team"] = [
        TEAMS[int(u) % len(TEAMS)] if is_short else None
        for u, is_short in zip(user_number, short, strict=True)
    ]
    per_vcpu = jobs["queue"].map(ACTUAL_MEMORY_PER_VCPU)
    jobs["used_memory_mib"] = jobs["vcpus"] * per_vcpu
    jobs["memory_mib"] = jobs["vcpus"] * jobs["queue"].map(REQUESTED_MEMORY_PER_VCPU)
    jobs.loc[pipeline, "vcpus"] = float(pipeline_shape[0])
    jobs.loc[pipeline, "memory_mib"] = float(pipeline_shape[1])
    jobs.loc[pipeline, "used_memory_mib"] = PIPELINE_USED_MEMORY_SHARE * pipeline_shape[1]
    jobs["used_vcpus"] = jobs["vcpus"]
    jobs = _with_runaways(jobs)
    jobs["job_name"] = "kth-" + jobs["user"].astype(str) + "-" + jobs["job_id"].astype(str)
    jobs["job_id"] = [_job_uuid("kth", j) for j in jobs["job_id"].astype(str)]
    return pd.concat([jobs, mnp_jobs(wide)], ignore_index=True), window


def _with_runaways(jobs: pd.DataFrame) -> pd.DataFrame:
    """Rule 5's runaways: `RUNAWAY_JOBS` failed wide jobs of the shared queue run `RUNAWAY_RUNTIME_S`."""
    candidates = jobs.index[
        (jobs["queue"] == SHARED_QUEUE)
        & (jobs["status"].astype(str) == "FAILED")
        & (jobs["vcpus"] >= RUNAWAY_MIN_VCPUS)
        & (jobs["vcpus"] <= RUNAWAY_MAX_VCPUS)
    ]
    chosen = np.random.default_rng(SEED).choice(
        candidates.to_numpy(), size=min(RUNAWAY_JOBS, len(candidates)), replace=False
    )
    out = jobs.copy()
    out.loc[chosen, "runtime_s"] = RUNAWAY_RUNTIME_S
    return out


def misrouted(gpu: pd.DataFrame, days: int) -> pd.DataFrame:
    """Rule 5: the first GPU pod after each of `MISROUTED_DAYS_BEFORE_END` goes to the shared CPU
    queue."""
    out = gpu.copy()
    submit = out.loc[out["gpus"] >= 1, "submit_s"].sort_values(kind="stable")
    for before in MISROUTED_DAYS_BEFORE_END:
        later = submit[submit >= (days - before) * DAY]
        if len(later):
            out.loc[later.index[0], "queue"] = SHARED_QUEUE
    return out


def gpu_jobs(
    days: int, job_definition_memory: int, left_out: dict[str, int]
) -> tuple[pd.DataFrame, tuple[float, float]]:
    """Alibaba pods of the GPU pods' busiest window: GPU pods on `gpu-training`, pods without a GPU
    on `spot-etl` (rules 1-4)."""
    trace = read_trace(ALIBABA_TRACE, "alibaba-gpu")
    pods = trace.jobs
    start = busiest_window(pods.loc[pods["gpus"] >= 1, "submit_s"], days)
    window = (start, start + days * DAY)
    jobs = pods[(pods["submit_s"] >= window[0]) & (pods["submit_s"] < window[1])].copy()
    jobs["submit_s"] -= start
    too_long = jobs["runtime_s"] > GPU_MAX_RUNTIME_S
    left_out["alibaba_pods_over_7_days"] = int(too_long.sum())
    jobs = jobs[~too_long].copy()
    gpu = jobs["gpus"] >= 1
    jobs["queue"] = np.where(gpu, "gpu-training", ETL_QUEUE)
    jobs["used_memory_mib"] = jobs["memory_mib"]
    jobs["used_vcpus"] = jobs["vcpus"]
    jobs["vcpus"] = np.ceil(jobs["vcpus"])  # Batch EC2 jobs request whole vCPUs
    jobs["memory_mib"] = np.where(
        gpu, np.maximum(jobs["memory_mib"], float(job_definition_memory)), jobs["memory_mib"]
    )
    jobs["job_id"] = [_job_uuid("alibaba", j) for j in jobs["job_id"].astype(str)]
    return jobs, window


def catalog_for_replay() -> Any:
    """The simulator's catalog from the bundled price snapshot and Spot Advisor feed."""
    return catalog_from_provider(bundled_catalog("us-east-1"))


DEMO_DATASET = "demo-history"


def _plain_ids(ids: pd.Series) -> pd.Series:
    """Ids without the replay's `<dataset>:` namespace: in the emulator they are real Batch ids."""
    prefix = f"{DEMO_DATASET}:"
    return ids.map(lambda v: v[len(prefix) :] if isinstance(v, str) and v.startswith(prefix) else v)


def estate_frames(
    result: ReplayResult, jobs: pd.DataFrame, estate: Estate, start: datetime, now: datetime
) -> HistoryFrames:
    """The simulator's store frames (`optimizer.simulate.records.to_store_frames`) as this estate's
    history: real CE/queue/definition ARNs, usage peaks from the trace, clipped at `now` (jobs still
    running then are RUNNING, not yet started RUNNABLE, instances still up have no end)."""
    naive_start = start.astimezone(UTC).replace(tzinfo=None)
    now_ts = pd.Timestamp(now.astimezone(UTC).replace(tzinfo=None))
    frames = to_store_frames(result, anchor=naive_start, dataset=DEMO_DATASET, region=estate.region)
    specs = {s.queue: s for s in estate.specs}
    ce_by_name = {arn.rsplit("/", 1)[-1]: arn for arn in estate.compute_environments.values()}
    used = jobs.set_index("job_id")[["used_memory_mib", "used_vcpus"]]

    out_jobs = frames["jobs"].copy()
    out_jobs["job_id"] = _plain_ids(out_jobs["job_id"])
    out_jobs["job_name"] = out_jobs["job_id"].map(jobs.set_index("job_id")["job_name"])
    out_jobs = plain_mnp_links(out_jobs, f"{DEMO_DATASET}:")
    out_jobs["account_id"] = estate.account_id
    out_jobs["job_queue_arn"] = out_jobs["queue"].map(estate.queues)
    out_jobs["job_definition_name"] = out_jobs["queue"].map(lambda q: specs[q].job_definition)
    out_jobs["job_definition"] = out_jobs["job_definition_name"].map(estate.job_definitions)
    teams = jobs.set_index("job_id")["team"] if "team" in jobs else pd.Series(dtype=object)
    out_jobs["tags"] = (
        out_jobs["job_id"].map(teams).map(lambda t: {"team": t} if isinstance(t, str) else None)
    )
    running = out_jobs["started_at"].notna() & (out_jobs["started_at"] <= now_ts)
    unfinished = out_jobs["stopped_at"].isna() | (out_jobs["stopped_at"] > now_ts)
    out_jobs.loc[unfinished, "status"] = np.where(running[unfinished], "RUNNING", "RUNNABLE")
    # While a job waits or runs its reason is what Batch shows then: a blocked job's MISCONFIGURATION
    # reason, nothing for the others (the replay's reason is how the job ended, after `now`).
    blocked = result.blocked.set_index(_plain_ids(result.blocked["job_id"].astype(str)))["reason"]
    out_jobs.loc[unfinished, "status_reason"] = out_jobs.loc[unfinished, "job_id"].map(blocked)
    out_jobs.loc[unfinished, "stopped_at"] = pd.NaT
    out_jobs.loc[unfinished, "exit_code"] = None
    out_jobs.loc[~running, "started_at"] = pd.NaT
    out_jobs = out_jobs[out_jobs["created_at"] <= now_ts].reset_index(drop=True)

    attempts = frames["job_attempts"].copy()
    attempts["job_id"] = _plain_ids(attempts["job_id"])
    attempts["instance_id"] = _plain_ids(attempts["instance_id"])
    attempts["compute_environment_arn"] = attempts["compute_environment_arn"].map(
        lambda arn: ce_by_name[arn.rsplit("/", 1)[-1]]
    )
    attempts["peak_memory_mib"] = attempts["job_id"].map(used["used_memory_mib"])
    attempts["peak_vcpus"] = attempts["job_id"].map(used["used_vcpus"])
    open_attempt = attempts["stopped_at"] > now_ts
    attempts.loc[open_attempt, "stopped_at"] = pd.NaT
    attempts.loc[open_attempt, "exit_code"] = None
    attempts = attempts[attempts["started_at"] <= now_ts].reset_index(drop=True)

    instances = frames["instances"].copy()
    instances["instance_id"] = _plain_ids(instances["instance_id"])
    instances["compute_environment_arn"] = instances["compute_environment_arn"].map(
        lambda arn: ce_by_name[arn.rsplit("/", 1)[-1]]
    )
    instances["availability_zone"] = None
    end_of_replay = result.instances["end_reason"].eq("end of replay").to_numpy()
    still_up = end_of_replay | (instances["terminated_at"] > now_ts).to_numpy()
    instances.loc[still_up, "terminated_at"] = pd.NaT
    instances = instances[instances["launch_time"] <= now_ts].reset_index(drop=True)
    return HistoryFrames(jobs=out_jobs, attempts=attempts, instances=instances)


def build_history(estate: Estate, configuration: dict[str, Any], now: datetime, days: int = 30) -> History:
    """Traces -> the estate's queues -> replay on `configuration` -> frames ending at `now`."""
    left_out: dict[str, int] = {}
    pipeline = estate.spec(PIPELINE_QUEUE)
    cpu, cpu_window = cpu_jobs(days, left_out, (pipeline.vcpus, pipeline.memory_mib))
    gpu_memory = estate.spec("gpu-training").memory_mib
    gpu, gpu_window = gpu_jobs(days, gpu_memory, left_out)
    gpu = misrouted(gpu.assign(team=None), days)
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
        "team",
    ]
    jobs = pd.concat([cpu[[*columns, *MNP_COLUMNS]], gpu[columns]], ignore_index=True)
    jobs = jobs.sort_values("submit_s", kind="stable")
    jobs["gpus"] = jobs["gpus"].astype("int64")
    # A definition without a retry strategy runs a job once, as `attempts: 1` does.
    retries = {spec.queue: max(1, spec.retry_attempts) for spec in estate.specs}
    jobs["retry_attempts"] = jobs["queue"].map(retries).astype("Int64")
    jobs["arch"] = None  # every instance type of the estate is x86_64: no architecture constraint
    jobs = jobs.reset_index(drop=True)
    # Rule 5: a job no CE can host stays at its queue's head until its owner cancels it.
    document = {**configuration, "simulation": {"blockedJobCancelSeconds": STUCK_CANCEL_S}}
    config = parse_config(document, catalog_for_replay(), source="demo estate")
    result = replay(jobs, config)
    start = now - timedelta(days=days)
    frames = estate_frames(result, jobs, estate, start, now)
    return History(
        frames=frames,
        replay=result,
        start=start,
        end=now,
        trace_windows={"kth-sp2": cpu_window, "alibaba-gpu": gpu_window},
        left_out=left_out,
    )
