"""Alibaba cluster-trace-gpu-v2023 pod list (`openb_pod_list_*.csv`).

Columns: name, cpu_milli, memory_mib, num_gpu, gpu_milli, gpu_spec, qos, pod_phase, creation_time,
deletion_time, scheduled_time (seconds since the trace start; scheduled_time empty when the pod
never ran). A pod's runtime is deletion - scheduled; pods still Running when the trace was cut
end at the cut, so their runtime is a lower bound (the paper's trace has no later information).
The QoS class becomes the queue (LS latency-sensitive, BE best-effort, ...), which lets a replay
give them different queues and priorities.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from optimizer.errors import InputError
from optimizer.traces.fields import dict_rows, parse_float, plain_number
from optimizer.traces.mapping import TraceMapping
from optimizer.traces.schema import Trace, build_frame

# scheduled_time is required although its values may be empty: an empty value means the pod never
# ran, so without the column every pod would be silently counted as never scheduled.
REQUIRED = (
    "name",
    "cpu_milli",
    "memory_mib",
    "num_gpu",
    "gpu_milli",
    "creation_time",
    "deletion_time",
    "scheduled_time",
)
#: The job columns both Alibaba GPU readers fill (this one and `alibaba_pai_2020`).
POD_COLUMNS = (
    "job_id",
    "submit_s",
    "runtime_s",
    "vcpus",
    "memory_mib",
    "gpus",
    "queue",
    "job_name",
    "arch",
    "status",
    "gpu_milli",
    "wait_s",
)
_PHASE_STATUS = {"Succeeded": "SUCCEEDED", "Running": "SUCCEEDED", "Failed": "FAILED"}


def _number(
    row: dict[str, str], column: str, source: str, lineno: int, *, allow_empty: bool = False
) -> float:
    text = (row.get(column) or "").strip()
    if not text:
        if allow_empty:
            return math.nan
        raise InputError(f"{source} line {lineno}: field {column!r}: empty")
    return parse_float(text, column, source, lineno)


def parse_alibaba_gpu(lines: Iterable[str], source: str, mapping: TraceMapping | None = None) -> Trace:
    """Parse the pod list. Pods never scheduled (phase Pending) have no runtime: skipped and counted."""
    mapping = mapping or TraceMapping()
    reader, _ = dict_rows(lines, source, REQUIRED)
    rows: dict[str, list] = {k: [] for k in POD_COLUMNS}
    skipped = {"never scheduled": 0}
    seen: set[str] = set()
    for row in reader:
        lineno = reader.line_num
        if None in row:
            raise InputError(f"{source} line {lineno}: more fields than the header has")
        name = (row.get("name") or "").strip()
        if not name:
            raise InputError(f"{source} line {lineno}: field 'name': empty")
        if name in seen:
            raise InputError(f"{source} line {lineno}: field 'name': duplicate pod {name}")
        seen.add(name)
        cpu_milli = _number(row, "cpu_milli", source, lineno)
        memory = _number(row, "memory_mib", source, lineno)
        num_gpu = _number(row, "num_gpu", source, lineno)
        gpu_milli = _number(row, "gpu_milli", source, lineno)
        created = _number(row, "creation_time", source, lineno)
        deleted = _number(row, "deletion_time", source, lineno)
        scheduled = _number(row, "scheduled_time", source, lineno, allow_empty=True)
        if num_gpu != int(num_gpu):
            raise InputError(f"{source} line {lineno}: field 'num_gpu': not a whole number: {num_gpu}")
        if math.isnan(scheduled):
            skipped["never scheduled"] += 1
            continue
        if deleted < scheduled:
            raise InputError(
                f"{source} line {lineno}: field 'deletion_time': {plain_number(deleted)} "
                f"is before scheduled_time {plain_number(scheduled)}"
            )
        gpus = int(num_gpu)
        if not mapping.gpu_whole and gpus == 1 and gpu_milli < 1000:
            gpus = 0 if gpu_milli == 0 else 1
        qos = (row.get("qos") or "").strip()
        rows["job_id"].append(name)
        rows["submit_s"].append(created)
        rows["runtime_s"].append(max(deleted - scheduled, mapping.min_runtime_s))
        # cpu_milli is thousandths of a CPU; a pod with 0 CPU request still needs a slot on a host.
        vcpus = max(cpu_milli / 1000.0, 0.25) * mapping.vcpus_per_processor
        rows["vcpus"].append(vcpus)
        rows["memory_mib"].append(memory if memory > 0 else vcpus * mapping.memory_mib_per_vcpu)
        rows["gpus"].append(gpus)
        rows["queue"].append(qos or mapping.default_queue)
        rows["job_name"].append(name)
        rows["arch"].append("x86_64")
        rows["status"].append(_PHASE_STATUS.get((row.get("pod_phase") or "").strip(), "SUCCEEDED"))
        rows["gpu_milli"].append(gpu_milli)
        rows["wait_s"].append(max(scheduled - created, 0.0))
    return Trace(
        format="alibaba-gpu",
        source=source,
        jobs=build_frame(rows),
        mapping=mapping,
        start_time=None,
        skipped={k: v for k, v in skipped.items() if v},
    )
