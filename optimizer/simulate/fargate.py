"""Fargate task sizes: a job runs on the smallest valid vCPU/memory combination that holds it."""

from __future__ import annotations

# Valid Fargate (Linux) combinations: vCPU -> memory MiB choices (AWS Batch / ECS task sizes).
_SIZES: tuple[tuple[float, tuple[int, ...]], ...] = (
    (0.25, (512, 1024, 2048)),
    (0.5, tuple(range(1024, 4097, 1024))),
    (1.0, tuple(range(2048, 8193, 1024))),
    (2.0, tuple(range(4096, 16385, 1024))),
    (4.0, tuple(range(8192, 30721, 1024))),
    (8.0, tuple(range(16384, 61441, 4096))),
    (16.0, tuple(range(32768, 122881, 8192))),
)


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
