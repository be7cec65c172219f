"""AWS Batch DescribeJobs output: a `jobs` list, a whole response `{"jobs": [...]}`, or JSON lines.

This is what `aws batch describe-jobs` (or the collector's raw dump) produces, so a team can
replay its own history without running the collector. Only finished jobs (with startedAt and
stoppedAt) can be replayed; array parents are summaries of their children (skipped and counted).
A multi-node parallel job's node jobs are rows of its gang (`batch_mnp.py`); its parent is their
summary, kept only for its node ranges.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from optimizer.errors import InputError
from optimizer.traces.batch_mnp import node_columns, node_of
from optimizer.traces.mapping import TraceMapping
from optimizer.traces.schema import Trace, build_frame


def _items(text: str, source: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield (where, job) pairs; `where` is how an error names the item ("line 3", "item 7")."""
    stripped = text.lstrip()
    if not stripped:
        return
    if stripped[0] == "[" or (stripped[0] == "{" and _is_single_document(stripped)):
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"{source} line {exc.lineno}: invalid JSON: {exc.msg}") from None
        jobs = doc.get("jobs") if isinstance(doc, dict) else doc
        if isinstance(doc, dict) and "jobs" not in doc:
            jobs = [doc]
        if not isinstance(jobs, list):
            raise InputError(f"{source}: field 'jobs': expected a list of DescribeJobs items")
        for index, job in enumerate(jobs):
            yield f"item {index}", job
        return
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{source} line {lineno}: invalid JSON: {exc.msg}") from None
        if isinstance(doc, dict) and isinstance(doc.get("jobs"), list):
            for job in doc["jobs"]:
                yield f"line {lineno}", job
        else:
            yield f"line {lineno}", doc


def _is_single_document(text: str) -> bool:
    """True when the text is one JSON object (a response), False for JSON lines."""
    try:
        json.loads(text)
    except json.JSONDecodeError:
        return False
    return True


def _ms(job: dict[str, Any], key: str, where: str) -> float | None:
    value = job.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise InputError(f"{where}: field {key!r}: not an epoch-milliseconds number: {value!r}")
    return float(value)


def _resources(container: dict[str, Any], where: str) -> tuple[float, float, int]:
    """vCPUs, memory (MiB), GPUs: resourceRequirements win over the legacy vcpus/memory fields."""
    vcpus = container.get("vcpus")
    memory = container.get("memory")
    gpus = 0
    for req in container.get("resourceRequirements") or []:
        kind, value = req.get("type"), req.get("value")
        try:
            if kind == "VCPU":
                vcpus = float(value)
            elif kind == "MEMORY":
                memory = float(value)
            elif kind == "GPU":
                gpus = int(value)
        except (TypeError, ValueError):
            message = f"{where}: field 'resourceRequirements' {kind}: not a number: {value!r}"
            raise InputError(message) from None
    for name, value in (("vcpus", vcpus), ("memory", memory)):
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise InputError(f"{where}: field 'container.{name}': missing or not positive: {value!r}")
    return float(vcpus), float(memory), gpus  # type: ignore[arg-type]


def _job_resources(job: dict[str, Any], where: str) -> tuple[float, float, int]:
    """A container job's requests, or the sum over the containers of an ECS-properties job's task."""
    tasks = (job.get("ecsProperties") or {}).get("taskProperties") or []
    if not job.get("container") and tasks:
        totals = [0.0, 0.0, 0]
        for k, container in enumerate(tasks[0].get("containers") or []):
            v, m, g = _resources(container, f"{where} ecsProperties container {k}")
            totals = [totals[0] + v, totals[1] + m, int(totals[2]) + g]
        return float(totals[0]), float(totals[1]), int(totals[2])
    return _resources(job.get("container") or {}, where)


def _queue_name(arn_or_name: str) -> str:
    return arn_or_name.rsplit("job-queue/", 1)[-1] if "job-queue/" in arn_or_name else arn_or_name


def parse_batch_json(text: str, source: str, mapping: TraceMapping | None = None) -> Trace:
    """Parse DescribeJobs items into the canonical table, with retry strategies and dependencies kept."""
    mapping = mapping or TraceMapping()
    names = (
        "job_id",
        "created_ms",
        "runtime_s",
        "vcpus",
        "memory_mib",
        "gpus",
        "queue",
        "job_name",
        "arch",
        "status",
        "depends_on",
        "retry_attempts",
        "retry_strategy",
        "priority",
        "share_identifier",
        "platform",
        "wait_s",
        "mnp_parent",
        "node_index",
    )
    rows: dict[str, list] = {k: [] for k in names}
    skipped = {"not finished": 0, "array parent": 0, "EKS job": 0}
    mnp_parents: dict[str, dict[str, Any]] = {}
    seen: set[str] = set()
    for where_item, job in _items(text, source):
        where = f"{source} {where_item}"
        if not isinstance(job, dict):
            raise InputError(f"{where}: expected a DescribeJobs job object, found {type(job).__name__}")
        job_id = job.get("jobId")
        if not isinstance(job_id, str) or not job_id:
            raise InputError(f"{where}: field 'jobId': missing")
        where = f"{where} (job {job_id})"
        if job_id in seen:
            raise InputError(f"{where}: field 'jobId': duplicate job")
        seen.add(job_id)
        if job.get("nodeProperties") and node_of(job) is None:
            mnp_parents[job_id] = job["nodeProperties"]  # a summary of its node jobs
            continue
        if (job.get("arrayProperties") or {}).get("size") is not None:
            skipped["array parent"] += 1
            continue
        created = _ms(job, "createdAt", where)
        if created is None:
            raise InputError(f"{where}: field 'createdAt': missing")
        started, stopped = _ms(job, "startedAt", where), _ms(job, "stoppedAt", where)
        attempts = [a for a in job.get("attempts") or [] if isinstance(a, dict)]
        if attempts and attempts[-1].get("startedAt") and attempts[-1].get("stoppedAt"):
            started = _ms(attempts[-1], "startedAt", where)
            stopped = _ms(attempts[-1], "stoppedAt", where)
        if started is None or stopped is None:
            skipped["not finished"] += 1
            continue
        if stopped < started:
            raise InputError(f"{where}: field 'stoppedAt': before startedAt")
        if job.get("eksProperties"):
            skipped["EKS job"] += 1  # pod requests are Kubernetes quantities; EKS CEs are not replayed
            continue
        vcpus, memory, gpus = _job_resources(job, where)
        retry = job.get("retryStrategy") or None
        dependencies = [d.get("jobId") for d in job.get("dependsOn") or [] if isinstance(d, dict)]
        platforms = job.get("platformCapabilities") or ["EC2"]
        status = job.get("status")
        rows["job_id"].append(job_id)
        rows["created_ms"].append(created)
        rows["runtime_s"].append(max((stopped - started) / 1000.0, mapping.min_runtime_s))
        rows["vcpus"].append(vcpus)
        rows["memory_mib"].append(memory)
        rows["gpus"].append(gpus)
        rows["queue"].append(_queue_name(str(job.get("jobQueue") or mapping.default_queue)))
        rows["job_name"].append(str(job.get("jobName") or job_id))
        rows["arch"].append(None)  # DescribeJobs does not say which architecture ran it
        rows["status"].append("FAILED" if status == "FAILED" else "SUCCEEDED")
        rows["depends_on"].append([d for d in dependencies if isinstance(d, str)])
        rows["retry_attempts"].append(int(retry["attempts"]) if retry and retry.get("attempts") else None)
        rows["retry_strategy"].append(retry)
        rows["priority"].append(job.get("schedulingPriority"))
        share = job.get("shareIdentifier")
        rows["share_identifier"].append(share if isinstance(share, str) and share else None)
        rows["wait_s"].append(max((started - created) / 1000.0, 0.0))
        rows["platform"].append("FARGATE" if "FARGATE" in platforms else "EC2")
        node = node_of(job)
        rows["mnp_parent"].append(node[0] if node else None)
        rows["node_index"].append(node[1] if node else None)
    rows["num_nodes"], rows["node_instance_types"] = node_columns(
        mnp_parents, rows["mnp_parent"], rows["node_index"]
    )
    # A dependency on an MNP job names its parent, which is not a row: the replay resolves it.
    ids = set(rows["job_id"]) | {p for p in rows["mnp_parent"] if p is not None}
    rows["depends_on"] = [[d for d in deps if d in ids] for deps in rows["depends_on"]]
    origin = min(rows["created_ms"]) if rows["created_ms"] else 0.0
    rows["submit_s"] = [(c - origin) / 1000.0 for c in rows.pop("created_ms")]
    start = datetime.fromtimestamp(origin / 1000.0, tz=UTC).replace(tzinfo=None) if ids else None
    return Trace(
        format="batch-json",
        source=source,
        jobs=build_frame(rows),
        mapping=mapping,
        start_time=start,
        skipped={k: v for k, v in skipped.items() if v},
    )
