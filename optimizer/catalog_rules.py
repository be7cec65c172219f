"""Rules about the EC2 catalogue shared by collectors and the solver.

Allocatable memory: a Batch (ECS) container instance registers less memory than the instance type's
nominal size, because the kernel, the OS and the ECS agent keep some. AWS's "Compute resource memory
management" guide shows an instance with 8 GiB registering about 7.5 GiB and advises reserving
memory for the agent; what registers varies by AMI. The rule used everywhere here: 6% of the nominal
memory, at least 256 MiB, and at most 4 GiB, rounded down to a 256 MiB multiple of what remains
(jobs ask for memory in MiB, so a conservative round number avoids plans that pack to the last MiB
of a figure the instance never reports).
"""

from __future__ import annotations

RESERVED_FRACTION = 0.06
RESERVED_MIN_MIB = 256
RESERVED_MAX_MIB = 4096
ROUND_MIB = 256


def allocatable_memory_mib(memory_mib: int | float) -> int:
    """Memory (MiB) jobs can reserve on an instance with `memory_mib` nominal memory."""
    if memory_mib <= 0:
        return 0
    reserve = min(max(RESERVED_FRACTION * memory_mib, RESERVED_MIN_MIB), RESERVED_MAX_MIB)
    usable = max(memory_mib - reserve, 0.0)
    return int(usable // ROUND_MIB * ROUND_MIB)
