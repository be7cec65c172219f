"""Pure helpers that read Batch's response shapes: requested resources, names from ARNs, reasons.

Batch reports a job's request either as `resourceRequirements` (VCPU, MEMORY, GPU; required on
Fargate) or in the legacy `vcpus`/`memory` container fields, and a multi-node job keeps its
containers under `nodeProperties`, an ECS-properties job under `ecsProperties.taskProperties`.
Everything that needs "how much did this job ask for" goes through `requested_resources`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from optimizer.catalog.node_ranges import owning_range, target_span
from optimizer.errors import InputError

SPOT_RECLAIM = re.compile(r"Host EC2 \(instance (i-[0-9a-f]+)\) terminated")
#: A job on a FARGATE_SPOT compute environment whose task Fargate took back: ECS's stopped reason
#: for a Fargate Spot interruption, which Batch passes on as the attempt's reason (a Nextflow user's
#: Batch job on a Spot Fargate CE, nextflow-io/nextflow#5786; ECS stop code SpotInterruption).
FARGATE_SPOT_RECLAIM = re.compile(r"Your Spot Task was interrupted", re.IGNORECASE)
OOM_EXIT_CODE = 137
OOM_MARKER = "OutOfMemoryError"


def _number(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def container_resources(container: Mapping[str, Any]) -> tuple[float | None, float | None, float | None]:
    """(vcpus, memory_mib, gpus) of one container; resourceRequirements win over legacy fields."""
    vcpus = _number(container.get("vcpus"))
    memory = _number(container.get("memory"))
    gpus: float | None = None
    for requirement in container.get("resourceRequirements") or ():
        kind = requirement.get("type")
        value = _number(requirement.get("value"))
        if kind == "VCPU":
            vcpus = value
        elif kind == "MEMORY":
            memory = value
        elif kind == "GPU":
            gpus = value
    return vcpus, memory, gpus


def _sum(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) if present else None


def job_containers(record: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The containers that make up one job (or one node of a multi-node job)."""
    container = record.get("container") or record.get("containerProperties")
    if container and (
        container.get("vcpus") or container.get("memory") or container.get("resourceRequirements")
    ):
        return [container]
    node_props = record.get("nodeProperties")
    if node_props:
        # A node job's own range (its nodeDetails index), else the main node's.
        index = (record.get("nodeDetails") or {}).get("nodeIndex", node_props.get("mainNode", 0))
        ranges = node_props.get("nodeRangeProperties") or []
        chosen = node_range(node_props, index) or (ranges[0] if ranges else None)
        if chosen and chosen.get("container"):
            return [chosen["container"]]
        # (a range may define its nodes as multi-container ECS tasks instead)
        range_tasks = ((chosen or {}).get("ecsProperties") or {}).get("taskProperties") or []
        if range_tasks:
            return list(range_tasks[0].get("containers") or [])
    ecs = record.get("ecsProperties")
    if ecs:
        tasks = ecs.get("taskProperties") or []
        if tasks:
            return list(tasks[0].get("containers") or [])
    return [container] if container else []


#: The host path of an EFA device: AWS Batch's user guide ("Elastic Fabric Adapter") has a job ask for
#: EFA with a `linuxParameters.devices` entry whose `hostPath` is /dev/infiniband/uverbs0 (uverbs1,
#: ... for more interfaces), on a multi-node job inside its node range's container.
EFA_DEVICE_PREFIX = "/dev/infiniband/uverbs"


def efa_devices(containers: Iterable[Mapping[str, Any]]) -> int:
    """How many EFA devices these containers pass through (0: the job does not ask for EFA)."""
    count = 0
    for container in containers:
        linux = container.get("linuxParameters")
        if linux:
            count += sum(
                1
                for d in linux.get("devices") or ()
                if str(d.get("hostPath", "")).startswith(EFA_DEVICE_PREFIX)
            )
    return count


def node_range(node_props: Mapping[str, Any], node: int) -> Mapping[str, Any] | None:
    """The `nodeRangeProperties` item whose properties node `node` runs, else None: the narrowest
    range holding it, as Batch nests ranges (`catalog.node_ranges`; an open end reaches the job's
    last node, `numNodes` - 1). A range whose `targetNodes` is unreadable holds no node."""
    ranges = list(node_props.get("nodeRangeProperties") or ())
    count = int(node_props.get("numNodes") or 0) or node + 1
    spans: list[tuple[int, int] | None] = []
    for r in ranges:
        try:
            spans.append(target_span(str(r.get("targetNodes", "")), max(count, node + 1)))
        except InputError:
            spans.append(None)
    chosen = owning_range(spans, node)
    return None if chosen is None else ranges[chosen]


def requested_resources(record: Mapping[str, Any]) -> tuple[float | None, int | None, int | None]:
    """(vcpus, memory_mib, gpus) a job or job definition requests, summed over its containers."""
    containers = job_containers(record)
    if len(containers) == 1:  # the common case, kept cheap for million-record transforms
        vcpus, memory, gpus = container_resources(containers[0])
    else:
        parts = [container_resources(c) for c in containers]
        vcpus = _sum([p[0] for p in parts])
        memory = _sum([p[1] for p in parts])
        gpus = _sum([p[2] for p in parts])
    return (
        vcpus,
        None if memory is None else int(memory),
        None if gpus is None else int(gpus),
    )


def name_from_arn(arn: str | None, marker: str) -> str | None:
    """`arn:...:job-queue/NAME` -> NAME; a plain name is returned as is."""
    if not arn:
        return None
    _, sep, tail = arn.partition(f"{marker}/")
    return tail if sep else arn


def job_definition_name(ref: str | None) -> str | None:
    """`arn:...:job-definition/NAME:REV` or `NAME:REV` or `NAME` -> NAME."""
    tail = name_from_arn(ref, "job-definition")
    return tail.split(":", 1)[0] if tail else None


def is_spot_reclaim(text: str | None) -> bool:
    """Whether the reason says spot capacity was taken back: an EC2 host (`spot_reclaim_instance`)
    or a Fargate Spot task, which has no instance to name. Either way the attempt's work is lost to
    the spot market, not to the job: its cost is reclaim waste, not a failure."""
    return bool(text) and (
        SPOT_RECLAIM.search(text) is not None or FARGATE_SPOT_RECLAIM.search(text) is not None
    )


def spot_reclaim_instance(text: str | None) -> str | None:
    """The instance id in Batch's spot reclaim reason "Host EC2 (instance i-...) terminated."."""
    if not text:
        return None
    match = SPOT_RECLAIM.search(text)
    return match.group(1) if match else None


#: Reasons that explain a SIGKILL (exit 137) other than memory: Batch kills a timed-out attempt
#: ("Job attempt duration exceeded timeout"), a terminated or cancelled job, and a reclaimed host
#: the same way (SIGTERM, then SIGKILL 30 s later; Batch user guide, job timeouts).
OTHER_KILL = re.compile(r"timeout|timed out|terminat|cancel|spot|interrupt", re.IGNORECASE)


def is_out_of_memory(exit_code: int | None, text: str | None) -> bool:
    """ECS's own marker ("OutOfMemoryError: Container killed due to memory usage"), or exit 137
    (SIGKILL) with no reason naming another cause: a timeout or a terminated job exits 137 too, and
    counting those as OOM kills booked their cost as memory waste and raised memory advice."""
    if text is not None and OOM_MARKER in text:
        return True
    return exit_code == OOM_EXIT_CODE and not (text and OTHER_KILL.search(text))
