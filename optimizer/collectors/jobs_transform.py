"""Pure transform of DescribeJobs records into `jobs` and `job_attempts` rows.

This runs over millions of records on a large estate, so it makes one tuple per row in a tight
loop and converts epoch milliseconds to datetimes column-wise at the end (the benchmark in
`benchmarks/collect_transform.py` holds it to a million records, transform and load, under 60 s).

Conventions (documented here because analysis reads them):
- `array_parent_id` holds the parent of an array child (`<parent>:<index>`) and of a multi-node
  node job (`<parent>#<node>`); `array_index` is the child index or the node index, and
  `is_multinode` tells the two apart. An array parent has `array_size`, a multi-node parent
  `node_count`.
- Multi-container and EKS jobs (`optimizer.collectors.job_kinds`): attempts come from
  `attempts[].taskProperties` and `eksAttempts`; an EKS job's platform is `EKS`, its resources the
  pod's requests, its attempts carry the node name. Anything unrecognised is kept raw in
  `unparsed`; a record that cannot be read at all is stored with the error and its raw fields.
- An attempt is a spot reclaim when its reason carries "Host EC2 (instance i-...) terminated."
  (Batch's wording) or, on Fargate Spot, "Your Spot Task was interrupted." (ECS's), and out of
  memory on exit code 137 or "OutOfMemoryError", unless it was a reclaim (the host going away kills
  the container too). An EC2 reclaim names the instance, which fills `instance_id` even when the
  instance was never seen by the instance collector; a Fargate one has none to name.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from optimizer.collectors.batch_fields import (
    efa_devices,
    is_out_of_memory,
    is_spot_reclaim,
    job_definition_name,
    name_from_arn,
    node_range,
    requested_resources,
    spot_reclaim_instance,
)
from optimizer.collectors.frames import paused_gc
from optimizer.collectors.job_kinds import (
    eks_attempt,
    eks_exit_code,
    eks_resources,
    multi_container_exit_code,
    nonessential_containers,
    platform_of,
    task_attempt,
    unknown_requirements,
)
from optimizer.store.tables.jobs import COLLECTED_DATASET

_log = logging.getLogger(__name__)

JOB_COLUMNS = [
    "job_id", "dataset", "account_id", "region", "job_name", "queue", "job_queue_arn", "job_definition",
    "job_definition_name", "status", "status_reason", "created_at", "started_at", "stopped_at", "vcpus",
    "memory_mib", "gpus", "array_parent_id", "array_index", "array_size", "node_count", "retry_attempts",
    "attempt_count", "share_identifier", "scheduling_priority", "depends_on", "tags", "parameters",
    "exit_code", "retry_strategy", "platform", "is_multinode", "accelerators", "unparsed",
    "node_target_nodes", "node_instance_types", "efa_devices", "timeout_seconds",
]  # fmt: skip
ATTEMPT_COLUMNS = [
    "job_id", "attempt", "instance_id", "container_instance_arn", "task_arn", "started_at", "stopped_at",
    "exit_code", "reason", "is_spot_reclaim", "is_oom", "log_stream_name", "node_name",
]  # fmt: skip
_JOB_TIMES = ("created_at", "started_at", "stopped_at")


def _reason(*parts: str | None) -> str | None:
    present = [p for p in parts if p]
    return " | ".join(dict.fromkeys(present)) if present else None


def _parent_and_index(record: Mapping[str, Any]) -> tuple[str | None, int | None, bool]:
    """(parent id, index, is a node job) of a child job; (None, None, False) for others."""
    job_id: str = record["jobId"]
    array = record.get("arrayProperties") or {}
    if "index" in array:
        return job_id.rsplit(":", 1)[0], int(array["index"]), False
    node = record.get("nodeDetails")
    if node is not None and "#" in job_id:
        parent, _, index = job_id.rpartition("#")
        return parent, int(node.get("nodeIndex", index)), True
    return None, None, False


def _node_range_of(
    record: Mapping[str, Any], index: int | None, is_node: bool, parents: Mapping[str, Mapping[str, Any]]
) -> Mapping[str, Any] | None:
    """The node range a row's requests come from: a node job's own range (from its record's
    `nodeProperties`, else its parent's in the same DescribeJobs batch), the main node's on an MNP
    parent; None for other jobs or an unknown range."""
    props = record.get("nodeProperties")
    if is_node:
        props = props or parents.get(str(record["jobId"]).rpartition("#")[0])
        node = index or 0
    elif props:
        node = int(props.get("mainNode", 0) or 0)
    else:
        return None
    return node_range(props or {}, node)


def _node_range_columns(chosen: Mapping[str, Any] | None) -> tuple[str | None, list[str] | None]:
    """(targetNodes, instanceTypes) of a node range; (None, None) without one."""
    if chosen is None:
        return None, None
    types = [str(t) for t in chosen.get("instanceTypes") or ()]
    return str(chosen.get("targetNodes", "")) or None, types or None


def _efa_devices(record: Mapping[str, Any], chosen: Mapping[str, Any] | None) -> int | None:
    """EFA devices the job's containers pass through (`batch_fields.efa_devices`): its own container
    or its node range's (an MNP parent's: the main node's), whichever names more (a submission's
    container overrides cannot change `linuxParameters`, so the range's devices are the node's), else
    its ECS-properties containers; None when the record has no container to read (EKS pods ask for
    EFA as an extended resource, which `accelerators` keeps)."""
    container = record.get("container")
    ranged = chosen.get("container") if chosen is not None else None
    if container or ranged:
        return max(efa_devices((c,)) if c else 0 for c in (container, ranged))
    tasks = (record.get("ecsProperties") or {}).get("taskProperties")
    if tasks:
        return efa_devices(c for t in tasks for c in t.get("containers") or ())
    return None


def _attempt_duration_s(record: Mapping[str, Any]) -> int | None:
    """The job's own `timeout.attemptDurationSeconds` (JobDetail `timeout`); None when it has none.
    It caps the run time estimated for an MNP job that never started (`simulate/gang_runtime.py`)."""
    seconds = (record.get("timeout") or {}).get("attemptDurationSeconds")
    return int(seconds) if seconds is not None else None


JOB_STATUSES = frozenset({"SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED"})


def _job_row(
    record: Mapping[str, Any],
    account_id: str | None,
    region: str,
    parents: Mapping[str, Mapping[str, Any]] | None = None,
) -> tuple[Any, ...]:
    container = record.get("container") or {}
    unparsed: dict[str, Any] = {}
    accelerators = None
    exit_code = container.get("exitCode")
    parent, index, is_node = _parent_and_index(record)
    chosen_range = _node_range_of(record, index, is_node, parents or {})
    # A multi-node job on EKS defines its pods in its node range's `eksProperties`.
    eks_range = (chosen_range or {}).get("eksProperties") if "eksProperties" not in record else None
    if "eksProperties" in record or "eksAttempts" in record or eks_range:
        vcpus, memory, gpus, accelerators = eks_resources(
            {"eksProperties": eks_range} if eks_range else record, unparsed
        )
        if exit_code is None:
            exit_code = eks_exit_code(record)
    else:
        vcpus, memory, gpus = requested_resources(record)
        if container.get("resourceRequirements"):
            unknown_requirements((container,), unparsed)
        if "ecsProperties" in record:
            tasks = record["ecsProperties"].get("taskProperties") or ()
            unknown_requirements((c for t in tasks for c in t.get("containers") or ()), unparsed)
            if exit_code is None:
                exit_code = multi_container_exit_code(record)
    platform = platform_of(record, unparsed)
    if record["status"] not in JOB_STATUSES:
        unparsed["status"] = {"raw": record["status"], "reason": "unknown job status"}
    array = record.get("arrayProperties") or {}
    node_props = record.get("nodeProperties") or {}
    target_nodes, node_types = _node_range_columns(chosen_range)
    retry = record.get("retryStrategy")
    queue_arn = record.get("jobQueue")
    definition = record.get("jobDefinition")
    return (
        record["jobId"],
        COLLECTED_DATASET,
        account_id,
        region,
        record.get("jobName"),
        name_from_arn(queue_arn, "job-queue"),
        queue_arn,
        definition,
        job_definition_name(definition),
        record["status"],
        record.get("statusReason"),
        created_ms(record),
        record.get("startedAt"),
        record.get("stoppedAt"),
        vcpus,
        memory,
        gpus,
        parent,
        index,
        array.get("size") if "index" not in array else None,
        node_props.get("numNodes"),
        retry.get("attempts") if retry else None,
        len(record.get("attempts") or record.get("eksAttempts") or ()),
        record.get("shareIdentifier"),
        record.get("schedulingPriority"),
        [dict(d) for d in record.get("dependsOn") or ()] or None,
        dict(record["tags"]) if record.get("tags") else None,
        dict(record["parameters"]) if record.get("parameters") else None,
        exit_code,
        dict(retry) if retry else None,
        platform,
        bool(node_props) or is_node,
        accelerators,
        unparsed or None,
        target_nodes,
        node_types,
        _efa_devices(record, chosen_range),
        _attempt_duration_s(record),
    )


def _unreadable_row(record: Mapping[str, Any], account_id: str | None, region: str, exc: Exception) -> tuple:
    """A record `_job_row` could not read: its identity and times, the error and its raw fields."""
    raw = json.loads(json.dumps({k: v for k, v in record.items() if k != "ResponseMetadata"}, default=str))
    row = dict.fromkeys(JOB_COLUMNS)
    row.update(
        job_id=record["jobId"],
        dataset=COLLECTED_DATASET,
        account_id=account_id,
        region=region,
        job_name=record.get("jobName"),
        status=str(record.get("status", "UNKNOWN")),
        created_at=created_ms(record),
        started_at=record.get("startedAt"),
        stopped_at=record.get("stoppedAt"),
        attempt_count=0,
        is_multinode=False,
        unparsed={"record": {"raw": raw, "reason": f"unreadable: {type(exc).__name__}: {exc}"}},
    )
    return tuple(row[c] for c in JOB_COLUMNS)


def created_ms(record: Mapping[str, Any]) -> Any:
    """`createdAt`, else the earliest time the record has. The Batch model does not require
    `createdAt`, while the store keys jobs by it (NOT NULL): one record without it failed the whole
    run, every run, keeping every other job of the account out of the store."""
    if record.get("createdAt") is not None:
        return record["createdAt"]
    known = [record.get(key) for key in ("startedAt", "stoppedAt")]
    known += [a.get(key) for a in record.get("attempts") or () for key in ("startedAt", "stoppedAt")]
    times = [t for t in known if isinstance(t, int | float)]
    return min(times) if times else None


def _eks_attempt_rows(record: Mapping[str, Any]) -> Iterable[tuple[Any, ...]]:
    for number, attempt in enumerate(record.get("eksAttempts") or ()):
        fields = eks_attempt(attempt)
        yield (
            record["jobId"],
            number,
            None,
            None,
            None,
            fields["started_at"],
            fields["stopped_at"],
            fields["exit_code"],
            _reason(fields["status_reason"], fields["reason"]),
            False,
            fields["oom"],
            None,
            fields["node_name"],
        )


def _attempt_rows(record: Mapping[str, Any]) -> Iterable[tuple[Any, ...]]:
    job_id = record["jobId"]
    if "eksAttempts" in record:
        yield from _eks_attempt_rows(record)
        return
    nonessential = nonessential_containers(record)
    for number, attempt in enumerate(record.get("attempts") or ()):
        container = attempt.get("container") or {}
        # (a multi-container attempt may also carry a `container` holding only its network details)
        if attempt.get("taskProperties") and not (container.get("taskArn") or "exitCode" in container):
            yield _task_attempt_row(job_id, number, attempt, nonessential)
            continue
        exit_code = container.get("exitCode")
        reason = _reason(attempt.get("statusReason"), container.get("reason"))
        reclaimed = spot_reclaim_instance(reason)
        spot_lost = is_spot_reclaim(reason)
        yield (
            job_id,
            number,
            reclaimed,
            container.get("containerInstanceArn"),
            container.get("taskArn"),
            attempt.get("startedAt"),
            attempt.get("stoppedAt"),
            exit_code,
            reason,
            spot_lost,
            not spot_lost and is_out_of_memory(exit_code, reason),
            container.get("logStreamName"),
            None,
        )


def _task_attempt_row(
    job_id: str, number: int, attempt: Mapping[str, Any], nonessential: frozenset[str]
) -> tuple[Any, ...]:
    """One attempt of a multi-container job, from `attempts[].taskProperties`."""
    fields = task_attempt(attempt, nonessential) or {}
    reason = _reason(attempt.get("statusReason"), fields.get("reason"))
    reclaimed = spot_reclaim_instance(reason)
    spot_lost = is_spot_reclaim(reason)
    return (
        job_id,
        number,
        reclaimed,
        fields.get("container_instance_arn"),
        fields.get("task_arn"),
        attempt.get("startedAt"),
        attempt.get("stoppedAt"),
        fields.get("exit_code"),
        reason,
        spot_lost,
        not spot_lost and bool(fields.get("oom")),
        fields.get("log_stream_name"),
        None,
    )


def _epoch_ms_to_datetime(values: pd.Series) -> pd.Series:
    """Epoch milliseconds (or None) -> an object array of naive UTC datetimes (or None).

    numpy converts datetime64[us] to `datetime.datetime` in C, which is an order of magnitude
    faster than boxing pandas Timestamps, and leaves the column ready for the store as is.
    """
    millis = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64")
    missing = np.isnan(millis)
    stamps = np.where(missing, 0, millis).astype("int64").astype("datetime64[ms]").astype("datetime64[us]")
    out = stamps.astype(object)
    out[missing] = None
    return pd.Series(out, index=values.index, dtype=object)


def transform_jobs(
    records: Iterable[Mapping[str, Any]], account_id: str | None, region: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(jobs, job_attempts) frames with the store's column names; `records` are not modified.

    Columns are object dtype holding Python values with None for missing (datetimes as naive UTC
    `datetime`), except the always-present `attempt`, `attempt_count` and the flags: the shape the
    store's loaders take without another conversion pass over a million rows.
    """
    job_rows: list[tuple[Any, ...]] = []
    attempt_rows: list[tuple[Any, ...]] = []
    records = records if isinstance(records, list) else list(records)
    # A node job's record names its node but not its range: the parent's (described with its node
    # jobs, `batch_jobs.get_jobs`) says which instance types that range asks for.
    parents = {
        str(r.get("jobId")): r["nodeProperties"]
        for r in records
        if r.get("nodeProperties") and r.get("nodeDetails") is None
    }
    with paused_gc():
        for record in records:
            if created_ms(record) is None:  # (no time at all: nothing to place it by; not a row)
                _log.warning(
                    "job %s has no createdAt nor any start or stop time: left out", record.get("jobId")
                )
                continue
            try:
                row = _job_row(record, account_id, region, parents)
                attempts = list(_attempt_rows(record))
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                if "jobId" not in record:
                    raise
                job_rows.append(_unreadable_row(record, account_id, region, exc))
                continue
            job_rows.append(row)
            attempt_rows.extend(attempts)
    jobs = pd.DataFrame(job_rows, columns=JOB_COLUMNS, dtype=object)
    for column in _JOB_TIMES:
        jobs[column] = _epoch_ms_to_datetime(jobs[column])
    jobs["attempt_count"] = jobs["attempt_count"].astype("int64")
    jobs["is_multinode"] = jobs["is_multinode"].astype(bool)
    attempts = pd.DataFrame(attempt_rows, columns=ATTEMPT_COLUMNS, dtype=object)
    for column in ("started_at", "stopped_at"):
        attempts[column] = _epoch_ms_to_datetime(attempts[column])
    attempts["attempt"] = attempts["attempt"].astype("int64")
    for column in ("is_spot_reclaim", "is_oom"):
        attempts[column] = attempts[column].astype(bool)
    return jobs, attempts
