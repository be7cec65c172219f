"""Rules about EC2 instance types that every layer must agree on (pure, no data files).

Allocatable memory is what a Batch job can reserve on an instance; the solver packs jobs into it
and the simulator places jobs into it, so both must use the same number or a plan that "fits"
would not place in Batch.
"""

from __future__ import annotations

import math

# AWS Batch "Compute resource memory management": an m4.large has 8192 MiB installed but the OS
# reports 8,373,026,816 bytes = 7985 MiB (kernel and platform overhead), and the Batch AMI reserves
# a further 32 MiB for the ECS agent. The kernel's share scales with installed memory, so the
# documented ratio is applied to every type.
KERNEL_VISIBLE_FRACTION = 7985.0 / 8192.0
ECS_AGENT_RESERVED_MIB = 32


def allocatable_memory_mib(memory_mib: float) -> int:
    """Memory (MiB) a Batch job can reserve on an instance with `memory_mib` installed.

    m4.large: 8192 -> 7953 MiB (7985 visible - 32 reserved), matching the AWS Batch guide, so a job
    asking for exactly 8 GiB does not fit and Batch must launch a larger type.
    """
    if memory_mib <= 0:
        return 0
    return max(0, math.floor(memory_mib * KERNEL_VISIBLE_FRACTION) - ECS_AGENT_RESERVED_MIB)
