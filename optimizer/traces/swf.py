"""Standard Workload Format (Parallel Workloads Archive): 18 whitespace-separated numeric fields.

Fields (1-based, -1 = unknown): 1 job, 2 submit, 3 wait, 4 run, 5 allocated processors, 6 average
CPU time, 7 used memory (KB per processor), 8 requested processors, 9 requested time, 10
requested memory (KB per processor), 11 status (1 completed, 0 failed, 5 cancelled, 2-4 partial
executions of checkpointed jobs), 12 user, 13 group, 14 application, 15 queue, 16 partition, 17
preceding job, 18 think time. Header comments (`;`) carry `UnixStartTime`, the epoch second that
submit time 0 is.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import UTC, datetime

from optimizer.errors import InputError
from optimizer.traces.mapping import TraceMapping
from optimizer.traces.schema import Trace, build_frame

SWF_FIELDS = 18
_UNIX_START = re.compile(r"^;\s*UnixStartTime:\s*(-?\d+)")
# SWF status codes: 1 completed, 0 failed, 5 cancelled; 2, 3, 4 are parts of a checkpointed job
# (the last part is 3 when the job completed, 4 when it failed).
_STATUS = {1: "SUCCEEDED", 0: "FAILED", 5: "FAILED", 2: "SUCCEEDED", 3: "SUCCEEDED", 4: "FAILED"}
# A checkpointed job is one summary line (status 0, 1 or 5: the whole job) plus its partial
# executions (2 will be continued, 3 last part completed, 4 last part failed), same job number.
_PARTIAL = frozenset({2.0, 3.0, 4.0})


def _numbers(line: str, source: str, lineno: int) -> list[float]:
    parts = line.split()
    if len(parts) != SWF_FIELDS:
        raise InputError(f"{source} line {lineno}: expected {SWF_FIELDS} fields, found {len(parts)}")
    values = []
    for index, part in enumerate(parts, start=1):
        try:
            value = float(part)
        except ValueError:
            raise InputError(f"{source} line {lineno}: field {index}: not a number: {part!r}") from None
        if not math.isfinite(value):
            raise InputError(f"{source} line {lineno}: field {index}: not a finite number: {part!r}")
        values.append(value)
    return values


def _summarized_jobs(lines: list[str]) -> set[float]:
    """Job numbers that have a summary line (status other than 2-4), wherever it is in the file.

    Malformed lines are left to the main pass, which reports them with their line number.
    """
    jobs: set[float] = set()
    for line in lines:
        parts = line.split()
        if len(parts) != SWF_FIELDS or parts[0].startswith(";"):
            continue
        try:
            job, status = float(parts[0]), float(parts[10])
        except ValueError:
            continue
        if status not in _PARTIAL:
            jobs.add(job)
    return jobs


def _start_time(text: str, source: str, lineno: int) -> datetime:
    """The header's `UnixStartTime` as a naive UTC datetime.

    Some logs write it in milliseconds (843480031000), which as seconds is past year 9999, the
    last one a datetime can hold: a one-line error naming the header line, not a traceback.
    """
    seconds = int(text)
    try:
        return datetime.fromtimestamp(seconds, tz=UTC).replace(tzinfo=None)
    except (ValueError, OverflowError, OSError):
        raise InputError(
            f"{source} line {lineno}: header UnixStartTime: {seconds} is out of range "
            "(seconds since 1970 expected)"
        ) from None


def parse_swf(lines: Iterable[str], source: str, mapping: TraceMapping | None = None) -> Trace:
    """Parse SWF text lines. Jobs that never ran are skipped and counted (`Trace.skipped`, by reason):
    runtime or processors unknown, and jobs cancelled before they started (status 5, no runtime and
    no allocated processors), which cost nothing and would otherwise replay as 1-second jobs at
    their requested width.

    A checkpointed job's partial executions (status 2-4) are skipped ("checkpoint partial") when
    the file has the job's summary line, which carries the whole job; a partial line whose job has
    no summary line (a log cut mid-job) is the job.

    Memory is requested memory (field 10) where the log has it, else the job's average used
    memory (field 7), else `mapping.memory_mib_per_vcpu` per vCPU.

    The SWF "preceding job" field becomes a dependency (`depends_on`) when that job is in the
    file and succeeded: the log says this job was submitted only after that one ended, which is
    what a Batch dependency expresses, except that Batch never runs a job whose dependency failed
    and the log's job ran anyway.

    A job wider than `mapping.max_vcpus_per_node` becomes a multi-node parallel job: one row per
    node (`<job>#<node>`, `mnp_parent` the job, `node_index`, `num_nodes`), split by
    `TraceMapping.node_split`.
    """
    mapping = mapping or TraceMapping()
    rows: dict[str, list] = {
        k: []
        for k in (
            "job_id",
            "submit_s",
            "runtime_s",
            "vcpus",
            "memory_mib",
            "gpus",
            "queue",
            "job_name",
            "arch",
            "user",
            "status",
            "depends_on",
            "used_memory_mib",
            "used_vcpus",
            "wait_s",
            "mnp_parent",
            "node_index",
            "num_nodes",
        )
    }
    skipped = {
        "runtime unknown": 0,
        "processors unknown": 0,
        "cancelled before start": 0,
        "checkpoint partial": 0,
    }
    text_lines = list(lines)  # read twice: which jobs have a summary line, then the jobs
    summarized = _summarized_jobs(text_lines)
    start_time: datetime | None = None
    seen: set[str] = set()
    for lineno, raw in enumerate(text_lines, start=1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith(";"):
            match = _UNIX_START.match(line)
            if match:
                start_time = _start_time(match.group(1), source, lineno)
            continue
        f = _numbers(line, source, lineno)
        job, submit, wait, run, alloc, avg_cpu, used_mem, req_procs, _rt, req_mem, status = f[:11]
        user, _group, app, queue, _part, prev_job = f[11:17]
        if job < 0 or job != int(job):
            raise InputError(f"{source} line {lineno}: field 1 (job number): not a job number: {job}")
        if submit < 0:
            raise InputError(f"{source} line {lineno}: field 2 (submit time): negative: {submit}")
        job_id = str(int(job))
        if status in _PARTIAL and job in summarized:
            skipped["checkpoint partial"] += 1  # its summary line is the whole job
            continue
        if job_id in seen:
            raise InputError(f"{source} line {lineno}: field 1 (job number): duplicate job {job_id}")
        seen.add(job_id)
        if status == 5 and run <= 0 and alloc <= 0:
            skipped["cancelled before start"] += 1  # never ran and cost nothing: not demand
            continue
        if run < 0:
            skipped["runtime unknown"] += 1
            continue
        procs = req_procs if (mapping.swf_use_requested and req_procs > 0) else alloc
        if procs <= 0:
            procs = req_procs
        if procs <= 0:
            skipped["processors unknown"] += 1
            continue
        vcpus = procs * mapping.vcpus_per_processor
        # SWF memory is KB per processor; requested memory is what a Batch job would reserve. Without
        # it, the job's own average used memory says more about its need than the mapping's default.
        if req_mem > 0:
            memory = req_mem * procs / 1024.0
        elif used_mem > 0:
            memory = used_mem * procs / 1024.0
        else:
            memory = vcpus * mapping.memory_mib_per_vcpu
        nodes, node_vcpus, node_memory = mapping.node_split(vcpus, memory)
        common = {
            "submit_s": submit,
            "runtime_s": max(run, mapping.min_runtime_s),
            "vcpus": node_vcpus,
            "memory_mib": node_memory,
            "gpus": 0,
            "queue": f"q{int(queue)}" if queue >= 0 else mapping.default_queue,
            "job_name": f"app{int(app)}" if app >= 0 else f"job{job_id}",
            "arch": None,
            "user": f"u{int(user)}" if user >= 0 else None,
            "status": _STATUS.get(int(status), "SUCCEEDED" if status < 0 else "FAILED"),
            "wait_s": wait if wait >= 0 else math.nan,
            "depends_on": [str(int(prev_job))] if prev_job > 0 else [],
            # Average CPU time and used memory are per processor in SWF; each node used its share.
            "used_memory_mib": used_mem * procs / 1024.0 / nodes if used_mem > 0 else math.nan,
            "used_vcpus": avg_cpu / run * vcpus / nodes if avg_cpu > 0 and run > 0 else math.nan,
            "mnp_parent": job_id if nodes > 1 else None,
            "num_nodes": nodes if nodes > 1 else None,
        }
        for node in range(nodes):
            rows["job_id"].append(f"{job_id}#{node}" if nodes > 1 else job_id)
            rows["node_index"].append(node if nodes > 1 else None)
            for name, value in common.items():
                rows[name].append(value)
    # A dependency on an MNP job names its parent id, which is not a row: the replay resolves it.
    # Only a preceding job that succeeded is kept: Batch fails a job whose dependency failed, while
    # the log's job ran after its failed predecessor all the same (its submit time keeps the order).
    succeeded = {
        parent or job
        for job, parent, status in zip(rows["job_id"], rows["mnp_parent"], rows["status"], strict=True)
        if status == "SUCCEEDED"
    }
    rows["depends_on"] = [[d for d in deps if d in succeeded] for deps in rows["depends_on"]]
    return Trace(
        format="swf",
        source=source,
        jobs=build_frame(rows),
        mapping=mapping,
        start_time=start_time,
        skipped={k: v for k, v in skipped.items() if v},
    )
