"""Alibaba cluster-trace-gpu-v2020 (PAI) task table (`pai_task_table.csv`).

Columns, in this order: job_name, task_name, inst_num (instances the task launched, a float like
1.0), status (Running, Terminated, Failed, Waiting; only Terminated succeeded), start_time and
end_time (seconds, relative: the trace shifts them by a constant), plan_cpu (CPU cores in percent:
600.0 is 6 cores), plan_mem (GB), plan_gpu (GPUs in percent: 50.0 is half a GPU; empty for CPU
tasks), gpu_type (V100, P100, T4, MISC, ... or empty). The published CSV has no header row (it is
in a separate `pai_task_table.header`); a file that starts with the header line is read too.

Each PAI instance is its own container, so a task of `inst_num` instances becomes that many jobs,
`<job_name>.<task_name>.<i>`, with the task's times and per-instance requests. Tasks still Running
or Waiting when the trace was cut, and tasks without a start or end time or ending before they
started, cannot be replayed: they are skipped and counted by reason (counts are of instances, the
jobs they would have been). The table has no QoS or user, so every job goes to the mapping's
default queue, and no wait: `wait_s` is unknown.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable

from optimizer.errors import InputError
from optimizer.traces.alibaba_gpu import POD_COLUMNS
from optimizer.traces.fields import parse_float
from optimizer.traces.mapping import TraceMapping
from optimizer.traces.schema import Trace, build_frame

FORMAT = "alibaba-pai-2020"
COLUMNS = (
    "job_name",
    "task_name",
    "inst_num",
    "status",
    "start_time",
    "end_time",
    "plan_cpu",
    "plan_mem",
    "plan_gpu",
    "gpu_type",
)
_INDEX = {name: i for i, name in enumerate(COLUMNS)}
_STATUS = {"Terminated": "SUCCEEDED", "Failed": "FAILED"}
# Valid statuses whose rows have no complete run to replay: the skip reason of each.
_NOT_RUN = {
    "Running": "still running at the end of the trace",
    "Waiting": "waiting (never started)",
}
_NO_TIME = "no start or end time"
# The most instances one task may ask for: a typo (1e9) fails on its line instead of exhausting memory.
MAX_INSTANCES = 1_000_000
_END_BEFORE_START = "ended before it started"


def _field(fields: list[str], column: str) -> str:
    return fields[_INDEX[column]].strip()


def _number(fields: list[str], column: str, source: str, lineno: int) -> float:
    """A non-negative number; NaN when the field is empty."""
    text = _field(fields, column)
    return parse_float(text, column, source, lineno) if text else math.nan


def _rows(lines: Iterable[str], source: str) -> Iterable[tuple[int, list[str]]]:
    """(line number, fields) of each non-blank line, the header line (when present) left out."""
    reader = csv.reader(iter(lines))
    first = True
    try:
        for fields in reader:
            lineno = reader.line_num
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue
            if first:
                first = False
                if "\x00" in fields[0]:
                    raise InputError(
                        f"{source} line {lineno}: binary data, not CSV text "
                        "(extract pai_task_table.csv from pai_task_table.tar.gz first)"
                    )
                names = [f.strip() for f in fields]
                if names == list(COLUMNS):
                    continue
                if names and names[0] == COLUMNS[0]:
                    raise InputError(
                        f"{source} line {lineno}: header must be {','.join(COLUMNS)}, got {','.join(names)}"
                    )
            yield lineno, fields
    except csv.Error as exc:
        raise InputError(f"{source} line {reader.line_num}: {exc}") from None


def parse_alibaba_pai_2020(lines: Iterable[str], source: str, mapping: TraceMapping | None = None) -> Trace:
    """Parse the task table; every bad value is a one-line error naming the line and field."""
    mapping = mapping or TraceMapping()
    rows: dict[str, list] = {k: [] for k in POD_COLUMNS}
    skipped = {reason: 0 for reason in (*_NOT_RUN.values(), _NO_TIME, _END_BEFORE_START)}
    first_line: dict[tuple[str, str], int] = {}
    for lineno, fields in _rows(lines, source):
        if len(fields) != len(COLUMNS):
            raise InputError(f"{source} line {lineno}: expected {len(COLUMNS)} fields, found {len(fields)}")
        job_name, task_name = _field(fields, "job_name"), _field(fields, "task_name")
        for column, value in (("job_name", job_name), ("task_name", task_name)):
            if not value:
                raise InputError(f"{source} line {lineno}: field {column!r}: empty")
        key = (job_name, task_name)
        if key in first_line:
            raise InputError(
                f"{source} line {lineno}: field 'task_name': duplicate task {job_name}.{task_name} "
                f"(first on line {first_line[key]})"
            )
        first_line[key] = lineno
        inst_text = _field(fields, "inst_num")
        inst_num = parse_float(inst_text, "inst_num", source, lineno) if inst_text else math.nan
        if not (1 <= inst_num <= MAX_INSTANCES and inst_num.is_integer()):
            raise InputError(
                f"{source} line {lineno}: field 'inst_num': must be a whole number in "
                f"[1, {MAX_INSTANCES}]: {inst_text!r}"
            )
        instances = int(inst_num)
        status = _field(fields, "status")
        if status not in _STATUS and status not in _NOT_RUN:
            known = ", ".join((*_STATUS, *_NOT_RUN))
            raise InputError(f"{source} line {lineno}: field 'status': must be one of {known}: {status!r}")
        start = _number(fields, "start_time", source, lineno)
        end = _number(fields, "end_time", source, lineno)
        # Empty requests: no CPU figure gets the 0.25-core floor below, no memory the mapping's
        # per-vCPU assumption, no GPU figure (CPU tasks) no GPU.
        plan_cpu = _number(fields, "plan_cpu", source, lineno)
        plan_mem = _number(fields, "plan_mem", source, lineno)
        plan_gpu = _number(fields, "plan_gpu", source, lineno)
        if status in _NOT_RUN:
            skipped[_NOT_RUN[status]] += instances
            continue
        if math.isnan(start) or math.isnan(end):
            skipped[_NO_TIME] += instances
            continue
        if end < start:
            skipped[_END_BEFORE_START] += instances
            continue
        cpu = 0.0 if math.isnan(plan_cpu) else plan_cpu
        mem_gb = 0.0 if math.isnan(plan_mem) else plan_mem
        gpu_pct = 0.0 if math.isnan(plan_gpu) else plan_gpu
        # plan_cpu is cores in percent; a task asking for no CPU still needs a slot on a host.
        vcpus = max(cpu / 100.0, 0.25) * mapping.vcpus_per_processor
        memory = mem_gb * 1024.0 if mem_gb > 0 else vcpus * mapping.memory_mib_per_vcpu
        # Batch GPUs are whole devices: a share of a GPU (50.0) reserves one GPU, 150.0 two. With
        # `gpu_whole` False the v2023 reader also keeps one GPU for a fractional one (Batch cannot
        # share a device), so the count is the same; `gpu_milli` keeps the share for analyses.
        gpus = math.ceil(gpu_pct / 100.0 - 1e-9) if gpu_pct > 0 else 0
        runtime = max(end - start, mapping.min_runtime_s)
        for i in range(instances):
            rows["job_id"].append(f"{job_name}.{task_name}.{i}")
            rows["submit_s"].append(start)
            rows["runtime_s"].append(runtime)
            rows["vcpus"].append(vcpus)
            rows["memory_mib"].append(memory)
            rows["gpus"].append(gpus)
            rows["queue"].append(mapping.default_queue)
            rows["job_name"].append(job_name)
            rows["arch"].append("x86_64")
            rows["status"].append(_STATUS[status])
            rows["gpu_milli"].append(gpu_pct * 10.0)
            rows["wait_s"].append(math.nan)
    _check_unique_ids(rows["job_id"], source)
    return Trace(
        format=FORMAT,
        source=source,
        jobs=build_frame(rows),
        mapping=mapping,
        start_time=None,
        skipped={k: v for k, v in skipped.items() if v},
    )


def _check_unique_ids(job_ids: list[str], source: str) -> None:
    """Names with dots could make two tasks' ids meet (job `a.b` task `c`, job `a` task `b.c`)."""
    if len(set(job_ids)) != len(job_ids):
        seen: set[str] = set()
        for job_id in job_ids:
            if job_id in seen:
                raise InputError(
                    f"{source}: job id {job_id} is made by two tasks (job_name.task_name.instance); "
                    "rename one of them"
                )
            seen.add(job_id)
