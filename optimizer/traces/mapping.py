"""How a trace's resources become Batch job requests: the one place the assumptions are stated.

Public traces describe jobs in their own units (SWF "processors", Alibaba `cpu_milli` and
`gpu_milli`) and often without memory. Any replay result depends on these choices, so they are
explicit, configurable, and stored with the imported dataset (`datasets.mapping`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from optimizer.errors import ConfigError


@dataclass(frozen=True)
class TraceMapping:
    """Conversion rules from trace units to Batch requests; the defaults are documented per field.

    - `vcpus_per_processor` (1.0): an SWF processor is one vCPU. KTH's SP2 nodes were single
      POWER2 CPUs, so one processor maps to one vCPU (a hyperthread on modern x86 is a weaker
      unit, set 2.0 to map a processor to a full core).
    - `memory_mib_per_vcpu` (2048): the memory assumption where the trace has none (SWF with
      requested memory -1). 2 GiB per vCPU is the ratio of the general-purpose families (m5:
      8 GiB per 2 vCPUs is 4 GiB/vCPU; c5 is 2 GiB/vCPU), chosen at the compute-optimized end
      because HPC traces of that era ran small-memory MPI codes.
    - `swf_use_requested` (False): SWF gives allocated and requested processors; Batch reserves
      what the job asks for, but the allocated count is what the job really held, and it is
      the field that is always present. Requested is used when allocated is unknown (-1).
    - `gpu_whole` (True): Batch GPUs are whole devices (no sharing), so an Alibaba pod asking
      for `num_gpu` GPUs at any `gpu_milli` gets `num_gpu` GPUs. `gpu_milli` is kept as an
      optional column for analyses of GPU sharing.
    - `min_runtime_s` (1.0): Batch bills and schedules in whole seconds; zero-length jobs (SWF
      runtime 0) are kept with this runtime so that they still occupy a slot for a moment.
    - `default_queue` ("default"): the queue name of jobs whose trace has none.

    An SWF job's processors become one Batch job's vCPUs on one instance (Batch multi-node
    parallel jobs are not modelled), so a job wider than the largest instance type of a
    configuration cannot run there and the replay reports it FAILED with that reason.
    """

    vcpus_per_processor: float = 1.0
    memory_mib_per_vcpu: float = 2048.0
    swf_use_requested: bool = False
    gpu_whole: bool = True
    min_runtime_s: float = 1.0
    default_queue: str = "default"

    def __post_init__(self) -> None:
        problems = []
        if not (math.isfinite(self.vcpus_per_processor) and self.vcpus_per_processor > 0):
            problems.append(f"vcpus_per_processor: must be a positive number, got {self.vcpus_per_processor}")
        if not (math.isfinite(self.memory_mib_per_vcpu) and self.memory_mib_per_vcpu > 0):
            problems.append(f"memory_mib_per_vcpu: must be a positive number, got {self.memory_mib_per_vcpu}")
        if not (math.isfinite(self.min_runtime_s) and self.min_runtime_s >= 0):
            problems.append(f"min_runtime_s: must be >= 0, got {self.min_runtime_s}")
        if not self.default_queue:
            problems.append("default_queue: must not be empty")
        if problems:
            raise ConfigError("\n".join(f"trace mapping: {p}" for p in problems))

    def to_json(self) -> dict[str, Any]:
        """The mapping as stored with a dataset, so a result can always be traced to its assumptions."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TraceMapping:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"trace mapping: unknown field(s) {', '.join(unknown)}")
        return cls(**data)
