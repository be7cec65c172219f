"""Fargate task sizes: a job runs on the smallest valid vCPU/memory combination that holds it."""

from __future__ import annotations

from optimizer.catalog.batch_rules import FARGATE_SIZES as _SIZES  # the one table of valid sizes


def fargate_size(vcpus: float, memory_mib: float, gpus: int) -> tuple[float, float] | None:
    """(vCPU, MiB) Fargate would run this job as, or None when Fargate cannot run it (GPUs, too big).

    Batch requires a Fargate job to ask for a valid combination; a trace recorded on EC2 asks for
    arbitrary amounts, so the replay rounds up to the cheapest combination that is at least as
    large in both, which is what a team moving the job to Fargate would have to request.
    """
    if gpus > 0:
        return None
    for size_vcpus, memories in _SIZES:
        if size_vcpus + 1e-9 < vcpus:
            continue
        for memory in memories:
            if memory + 1e-9 >= memory_mib:
                return size_vcpus, float(memory)
    return None
