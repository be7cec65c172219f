"""The one rule for memory a Batch job can actually reserve on an EC2 instance type.

The ECS agent registers the memory the kernel reports, not the installed memory, and the Batch AMI
keeps ECS_RESERVED_MEMORY (32 MiB) back for the agent. AWS's own example ("Compute resource memory
management", AWS Batch user guide): an m4.large with 8,192 MiB installed reports 8,373,026,816 bytes
= 7,985 MiB to the OS, i.e. 2.53% goes to the kernel and platform. We apply that fraction to every
type and subtract the 32 MiB reserve, so a request of exactly the nominal memory never "fits" (which is
what forces Batch onto a larger instance in real life).
"""

from __future__ import annotations

import math

KERNEL_OVERHEAD_FRACTION = 1 - 7985 / 8192  # 0.02527, measured on m4.large in the AWS example
ECS_RESERVED_MEMORY_MIB = 32


def allocatable_memory_mib(memory_mib: float, reserved_mib: int = ECS_RESERVED_MEMORY_MIB) -> int:
    """Memory (MiB) available to jobs on an instance with `memory_mib` installed."""
    if memory_mib <= 0:
        return 0
    visible = math.floor(memory_mib * (1 - KERNEL_OVERHEAD_FRACTION))
    return max(0, visible - reserved_mib)
