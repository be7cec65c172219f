"""A plain CSV of jobs, for histories exported from other schedulers or spreadsheets.

Columns (header row required, order free, names case-sensitive):
- required: `job_id`, `submit_s` (seconds since the dataset start), `runtime_s`, `vcpus`, `memory_mib`
- optional: `gpus` (default 0), `queue` (default: the mapping's default queue), `job_name` (default:
  the job id), `arch` (x86_64 | arm64, empty = any), `user`, `status` (SUCCEEDED | FAILED),
  `depends_on` (job ids separated by `;` or spaces), `retry_attempts` (1-10), `priority` (integer)
Unknown columns are ignored so that richer exports load unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable

from optimizer.errors import InputError
from optimizer.traces.fields import dict_rows, parse_float, parse_int
from optimizer.traces.mapping import TraceMapping
from optimizer.traces.schema import Trace, build_frame

REQUIRED = ("job_id", "submit_s", "runtime_s", "vcpus", "memory_mib")
OPTIONAL = ("gpus", "queue", "job_name", "arch", "user", "status", "depends_on", "retry_attempts", "priority")
ARCHES = {"x86_64", "arm64"}
STATUSES = {"SUCCEEDED", "FAILED"}


def parse_csv(lines: Iterable[str], source: str, mapping: TraceMapping | None = None) -> Trace:
    """Parse the documented column set; every bad value is reported with its line and column."""
    mapping = mapping or TraceMapping()
    reader, header = dict_rows(lines, source, REQUIRED)
    present = [c for c in OPTIONAL if c in header]
    rows: dict[str, list] = {k: [] for k in (*REQUIRED, "gpus", "queue", "job_name", "arch")}
    for c in ("user", "status", "depends_on", "retry_attempts", "priority"):
        if c in present:
            rows[c] = []
    seen: set[str] = set()
    for row in reader:
        lineno = reader.line_num
        if None in row:
            raise InputError(f"{source} line {lineno}: more fields than the header has")
        get = {k: (v or "").strip() for k, v in row.items()}
        job_id = get["job_id"]
        if not job_id:
            raise InputError(f"{source} line {lineno}: field 'job_id': empty")
        if job_id in seen:
            raise InputError(f"{source} line {lineno}: field 'job_id': duplicate job {job_id}")
        seen.add(job_id)
        rows["job_id"].append(job_id)
        rows["submit_s"].append(parse_float(get["submit_s"], "submit_s", source, lineno, positive=False))
        runtime = parse_float(get["runtime_s"], "runtime_s", source, lineno, positive=False)
        rows["runtime_s"].append(max(runtime, mapping.min_runtime_s))
        rows["vcpus"].append(parse_float(get["vcpus"], "vcpus", source, lineno, positive=True))
        rows["memory_mib"].append(parse_float(get["memory_mib"], "memory_mib", source, lineno, positive=True))
        gpus = get.get("gpus", "")
        rows["gpus"].append(parse_int(gpus, "gpus", source, lineno, 0, 1024) if gpus else 0)
        rows["queue"].append(get.get("queue") or mapping.default_queue)
        rows["job_name"].append(get.get("job_name") or job_id)
        arch = get.get("arch") or None
        if arch is not None and arch not in ARCHES:
            raise InputError(f"{source} line {lineno}: field 'arch': must be x86_64 or arm64: {arch!r}")
        rows["arch"].append(arch)
        if "user" in rows:
            rows["user"].append(get["user"] or None)
        if "status" in rows:
            status = get["status"].upper() or "SUCCEEDED"
            if status not in STATUSES:
                raise InputError(
                    f"{source} line {lineno}: field 'status': must be SUCCEEDED or FAILED: {get['status']!r}"
                )
            rows["status"].append(status)
        if "depends_on" in rows:
            rows["depends_on"].append([d for d in get["depends_on"].replace(";", " ").split() if d])
        if "retry_attempts" in rows:
            text = get["retry_attempts"]
            attempts = parse_int(text, "retry_attempts", source, lineno, 1, 10) if text else None
            rows["retry_attempts"].append(attempts)
        if "priority" in rows:
            text = get["priority"]
            priority = parse_int(text, "priority", source, lineno, -(2**31), 2**31 - 1) if text else None
            rows["priority"].append(priority)
    if "depends_on" in rows:
        for deps in rows["depends_on"]:
            for dep in deps:
                if dep not in seen:
                    raise InputError(f"{source}: field 'depends_on': job {dep} is not in the file")
    return Trace(format="csv", source=source, jobs=build_frame(rows), mapping=mapping)
