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
      requested memory -1 and used memory -1; with used memory alone, the job asks for that).
      2 GiB per vCPU is the ratio of the general-purpose families (m5: 8 GiB per 2 vCPUs is
      4 GiB/vCPU; c5 is 2 GiB/vCPU), chosen at the compute-optimized end because HPC traces of
      that era ran small-memory MPI codes.
    - `swf_use_requested` (False): SWF gives allocated and requested processors; Batch reserves
      what the job asks for, but the allocated count is what the job really held, and it is
      the field that is always present. Requested is used when allocated is unknown (-1).
    - `gpu_whole` (True): Batch GPUs are whole devices (no sharing), so an Alibaba pod asking
      for `num_gpu` GPUs at any `gpu_milli` gets `num_gpu` GPUs. `gpu_milli` is kept as an
      optional column for analyses of GPU sharing.
    - `min_runtime_s` (1.0): Batch bills and schedules in whole seconds; zero-length jobs (SWF
      runtime 0) are kept with this runtime so that they still occupy a slot for a moment.
    - `default_queue` ("default"): the queue name of jobs whose trace has none.
    - `max_vcpus_per_node` (64): the widest job one node (one instance) should hold. A job asking
      for more becomes a Batch multi-node parallel (MNP) job; the rule is `node_split`. 64 vCPUs
      is the largest size every current general, compute and memory family offers (m5/r5/m6i/
      c6i/r6i .16xlarge; c5 has .18xlarge at 72), so every node has a choice of families and of
      spot pools, and HPC logs' processor counts are powers of two that 64 divides (1,024
      processors -> 16 nodes x 64). Without the split a 1,024-processor job became one
      1,024-vCPU "shape" that only the largest (or no) instance types could host.

    An SWF job of up to `max_vcpus_per_node` vCPUs is one Batch job on one instance; a wider one
    is an MNP job whose node jobs (`<id>#<node>`, node 0 the main node) each ask for their share.
    """

    vcpus_per_processor: float = 1.0
    memory_mib_per_vcpu: float = 2048.0
    swf_use_requested: bool = False
    gpu_whole: bool = True
    min_runtime_s: float = 1.0
    default_queue: str = "default"
    max_vcpus_per_node: float = 64.0

    def __post_init__(self) -> None:
        problems = []
        if not (math.isfinite(self.vcpus_per_processor) and self.vcpus_per_processor > 0):
            problems.append(f"vcpus_per_processor: must be a positive number, got {self.vcpus_per_processor}")
        if not (math.isfinite(self.memory_mib_per_vcpu) and self.memory_mib_per_vcpu > 0):
            problems.append(f"memory_mib_per_vcpu: must be a positive number, got {self.memory_mib_per_vcpu}")
        if not (math.isfinite(self.min_runtime_s) and self.min_runtime_s >= 0):
            problems.append(f"min_runtime_s: must be >= 0, got {self.min_runtime_s}")
        if not (math.isfinite(self.max_vcpus_per_node) and self.max_vcpus_per_node >= 1):
            problems.append(f"max_vcpus_per_node: must be a number >= 1, got {self.max_vcpus_per_node}")
        if not self.default_queue:
            problems.append("default_queue: must not be empty")
        if problems:
            raise ConfigError("\n".join(f"trace mapping: {p}" for p in problems))

    def node_split(self, vcpus: float, memory_mib: float) -> tuple[int, float, float]:
        """(nodes, vCPUs per node, MiB per node) of a job asking for `vcpus` and `memory_mib` in all.

        The rule, stated once: a job of up to `max_vcpus_per_node` vCPUs is one node; a wider one
        takes the fewest nodes that hold it, `ceil(vcpus / max_vcpus_per_node)`, each asking for
        an equal share rounded up to a whole vCPU (Batch EC2 vCPUs are whole numbers), so the
        nodes together never ask for less than the trace's job did. Memory follows the vCPUs:
        each node gets the job's memory per vCPU times its vCPUs, which is the trace's own memory
        per processor where it has one and `memory_mib_per_vcpu` where it has none.
        """
        if vcpus <= self.max_vcpus_per_node:
            return 1, vcpus, memory_mib
        nodes = math.ceil(vcpus / self.max_vcpus_per_node - 1e-9)
        per_node = float(math.ceil(vcpus / nodes - 1e-9))
        return nodes, per_node, memory_mib / vcpus * per_node

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
