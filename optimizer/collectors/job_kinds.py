"""Job kinds beyond one ECS container: multi-container (ECS properties) and EKS jobs, and what a
job asks for that the store has no column for.

Shapes (botocore's Batch model, `DescribeJobs`):
- multi-container jobs report each attempt under `attempts[].taskProperties[]` (task ARN, container
  instance, `containers[]` with `exitCode`, `reason`, `logStreamName`), and the job's containers
  under `ecsProperties.taskProperties[].containers[]`; `attempts[].container` is absent.
- EKS jobs describe the pod under `eksProperties.podProperties` (`containers[].resources.requests`
  / `limits` in Kubernetes quantities, `nodeName`, `podName`) and each try under `eksAttempts[]`
  (`containers[].exitCode` / `reason`, `nodeName`, `statusReason`); they have no `attempts`.

A value this module does not recognise (an unknown resource name, a quantity it cannot read, a
platform capability Batch added) is kept raw under `unparsed` with the reason, and the job is stored
anyway: a new Batch feature must never fail a collection run.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from optimizer.collectors.batch_fields import is_out_of_memory

KNOWN_PLATFORMS = frozenset({"EC2", "FARGATE"})
KNOWN_REQUIREMENTS = frozenset({"VCPU", "MEMORY", "GPU"})
GPU_RESOURCES = frozenset({"nvidia.com/gpu", "amd.com/gpu"})
#: Kubernetes extended resources of AWS's Neuron device plugin (Inferentia, Trainium).
ACCELERATOR_RESOURCES = frozenset(
    {"aws.amazon.com/neuron", "aws.amazon.com/neuroncore", "aws.amazon.com/neurondevice"}
)
_EKS_KNOWN = frozenset({"cpu", "memory", "ephemeral-storage", "hugepages-2Mi", "hugepages-1Gi"})
#: Kubernetes' OOM reason for a container (Batch passes it through in eksAttempts).
OOM_KILLED = "OOMKilled"

_QUANTITY = re.compile(r"^([0-9.]+(?:[eE][-+]?[0-9]+)?)([a-zA-Z]*)$")
_MEMORY_FACTORS = {
    "": 1 / 2**20,
    "k": 1e3 / 2**20,
    "M": 1e6 / 2**20,
    "G": 1e9 / 2**20,
    "T": 1e12 / 2**20,
    "Ki": 1 / 1024,
    "Mi": 1.0,
    "Gi": 1024.0,
    "Ti": 1024.0**2,
}


def cpu_quantity(value: Any) -> float:
    """A Kubernetes CPU quantity ("2", "0.5", "500m") in vCPUs; ValueError if it is not one."""
    text = str(value).strip()
    if text.endswith("m"):
        return float(text[:-1]) / 1000
    return float(text)


def memory_quantity_mib(value: Any) -> float:
    """A Kubernetes memory quantity ("1024Mi", "2Gi", "1G", "512000Ki", bytes) in MiB."""
    match = _QUANTITY.match(str(value).strip())
    if not match or match.group(2) not in _MEMORY_FACTORS:
        raise ValueError(f"not a memory quantity: {value!r}")
    return float(match.group(1)) * _MEMORY_FACTORS[match.group(2)]


def platform_of(record: Mapping[str, Any], unparsed: dict[str, Any]) -> str:
    """EKS for an EKS job (Batch lists it as EC2), else the platform capability, kept as written
    (and flagged) when Batch reports one this code does not know."""
    ranges = (record.get("nodeProperties") or {}).get("nodeRangeProperties") or ()
    on_eks = any(r.get("eksProperties") for r in ranges)  # (a multi-node job on EKS)
    if record.get("eksProperties") or record.get("eksAttempts") or on_eks:
        return "EKS"
    capabilities = record.get("platformCapabilities") or ("EC2",)
    platform = str(capabilities[0])
    if platform not in KNOWN_PLATFORMS:
        unparsed["platformCapabilities"] = {"raw": list(capabilities), "reason": "unknown platform"}
    return platform


def unknown_requirements(containers: Iterable[Mapping[str, Any]], unparsed: dict[str, Any]) -> None:
    """Flag resourceRequirements types other than VCPU, MEMORY and GPU (kept raw)."""
    unknown = [
        dict(r)
        for c in containers
        for r in c.get("resourceRequirements") or ()
        if r.get("type") not in KNOWN_REQUIREMENTS
    ]
    if unknown:
        unparsed["resourceRequirements"] = {"raw": unknown, "reason": "unknown requirement type"}


def eks_resources(
    record: Mapping[str, Any], unparsed: dict[str, Any]
) -> tuple[float | None, int | None, int | None, dict[str, int] | None]:
    """(vcpus, memory_mib, gpus, accelerators) an EKS pod asks for: each container's request (its
    limit where it sets no request, as Kubernetes does), summed over the pod's containers."""
    pod = (record.get("eksProperties") or {}).get("podProperties") or {}
    vcpus = memory = gpus = 0.0
    seen = {"cpu": False, "memory": False, "gpu": False}
    accelerators: dict[str, int] = {}
    raw_unknown: dict[str, Any] = {}
    for container in pod.get("containers") or ():
        resources = container.get("resources") or {}
        wanted = {**(resources.get("limits") or {}), **(resources.get("requests") or {})}
        for name, value in wanted.items():
            try:
                if name == "cpu":
                    vcpus += cpu_quantity(value)
                    seen["cpu"] = True
                elif name == "memory":
                    memory += memory_quantity_mib(value)
                    seen["memory"] = True
                elif name in GPU_RESOURCES:
                    gpus += int(value)
                    seen["gpu"] = True
                elif name in ACCELERATOR_RESOURCES:
                    accelerators[name] = accelerators.get(name, 0) + int(value)
                elif name not in _EKS_KNOWN:
                    raw_unknown[name] = value
            except (TypeError, ValueError):
                raw_unknown[name] = value
    if raw_unknown:
        unparsed["eksResources"] = {"raw": raw_unknown, "reason": "unknown or unreadable resource"}
    return (
        vcpus if seen["cpu"] else None,
        round(memory) if seen["memory"] else None,
        int(gpus) if seen["gpu"] else None,
        accelerators or None,
    )


def nonessential_containers(record: Mapping[str, Any]) -> frozenset[str]:
    """Names of a multi-container job's containers marked `essential: false`. ECS stops the others
    when an essential one exits (SIGTERM, then SIGKILL: a log router exits 137), and the task's
    outcome is its essential containers': a non-essential one's exit says nothing of the job."""
    tasks = (record.get("ecsProperties") or {}).get("taskProperties") or ()
    return frozenset(
        str(c.get("name")) for t in tasks for c in t.get("containers") or () if c.get("essential") is False
    )


def _exit_code(containers: Iterable[Mapping[str, Any]]) -> int | None:
    """A task's or pod's exit code: the first container that failed, else 0 if all exited."""
    codes = [c.get("exitCode") for c in containers]
    failed = [c for c in codes if c not in (None, 0)]
    if failed:
        return int(failed[0])
    return 0 if codes and all(c == 0 for c in codes) else None


def _container_reasons(containers: Iterable[Mapping[str, Any]]) -> str | None:
    parts = [f"{c.get('name', '?')}: {c['reason']}" for c in containers if c.get("reason")]
    return " | ".join(parts) if parts else None


def multi_container_exit_code(record: Mapping[str, Any]) -> int | None:
    """A multi-container job's exit code, from its essential `ecsProperties.taskProperties[].
    containers[]` (`nonessential_containers`)."""
    tasks = (record.get("ecsProperties") or {}).get("taskProperties") or ()
    skip = nonessential_containers(record)
    return _exit_code(c for t in tasks for c in t.get("containers") or () if c.get("name") not in skip)


def eks_exit_code(record: Mapping[str, Any]) -> int | None:
    pod = (record.get("eksProperties") or {}).get("podProperties") or {}
    return _exit_code(pod.get("containers") or ())


def task_attempt(
    attempt: Mapping[str, Any], nonessential: frozenset[str] = frozenset()
) -> dict[str, Any] | None:
    """The fields of one multi-container attempt (None when it carries no taskProperties); its exit
    code and OOM flag are its essential containers' (`nonessential_containers` of the job)."""
    tasks = attempt.get("taskProperties") or ()
    if not tasks:
        return None
    task = tasks[0]
    every = list(task.get("containers") or ())
    containers = [c for c in every if c.get("name") not in nonessential]
    reasons = _container_reasons(every)
    return {
        "container_instance_arn": task.get("containerInstanceArn"),
        "task_arn": task.get("taskArn"),
        "exit_code": _exit_code(containers),
        "reason": reasons,
        # (the attempt's own reason too: a timed-out task's containers exit 137 with none of theirs)
        "oom": any(
            is_out_of_memory(
                c.get("exitCode"), " ".join(filter(None, (attempt.get("statusReason"), c.get("reason"))))
            )
            for c in containers
        ),
        "log_stream_name": next((c["logStreamName"] for c in every if c.get("logStreamName")), None),
    }


def eks_attempt(attempt: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of one EKS attempt (`eksAttempts[]`)."""
    containers = list(attempt.get("containers") or ())
    reasons = _container_reasons([*containers, *(attempt.get("initContainers") or ())])
    oom = any(
        is_out_of_memory(c.get("exitCode"), c.get("reason")) or OOM_KILLED in str(c.get("reason") or "")
        for c in containers
    )
    return {
        "exit_code": _exit_code(containers),
        "reason": reasons,
        "oom": oom,
        "node_name": attempt.get("nodeName"),
        "started_at": attempt.get("startedAt"),
        "stopped_at": attempt.get("stoppedAt"),
        "status_reason": attempt.get("statusReason"),
    }
