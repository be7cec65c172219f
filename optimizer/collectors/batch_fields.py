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

SPOT_RECLAIM = re.compile(r"Host EC2 \(instance (i-[0-9a-f]+)\) terminated")
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
        main = node_props.get("mainNode", 0)
        ranges = node_props.get("nodeRangeProperties") or []
        chosen = node_range(node_props, main) or (ranges[0] if ranges else None)
        if chosen and chosen.get("container"):
            return [chosen["container"]]
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
    """The `nodeRangeProperties` item whose `targetNodes` holds node `node`, else None.

    Batch lets ranges nest ("0:10" and "4:5"; botocore's model: "the 4:5 range properties override
    the 0:10 properties"), so the narrowest range holding the node wins; an open end counts as
    unbounded."""
    ranges = node_props.get("nodeRangeProperties") or ()
    holding = [r for r in ranges if _node_in_range(node, str(r.get("targetNodes", "")))]
    return min(holding, key=lambda r: _range_span(str(r.get("targetNodes", ""))), default=None)


def _range_span(spec: str) -> float:
    """How many node indexes a target-node range covers ("4:5" -> 2, "3" -> 1, "2:" -> inf)."""
    if ":" not in spec:
        return 1.0
    low, high = spec.split(":", 1)
    return float("inf") if not high else int(high) - int(low or 0) + 1.0


def _node_in_range(node: int, spec: str) -> bool:
    """Batch target-node ranges are "0", "0:", ":3", "1:4"."""
    if not spec:
        return False
    if ":" not in spec:
        return spec.isdigit() and int(spec) == node
    low, high = spec.split(":", 1)
    return (not low or int(low) <= node) and (not high or node <= int(high))


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


def spot_reclaim_instance(text: str | None) -> str | None:
    """The instance id in Batch's spot reclaim reason "Host EC2 (instance i-...) terminated."."""
    if not text:
        return None
    match = SPOT_RECLAIM.search(text)
    return match.group(1) if match else None


def is_out_of_memory(exit_code: int | None, text: str | None) -> bool:
    return exit_code == OOM_EXIT_CODE or (text is not None and OOM_MARKER in text)
