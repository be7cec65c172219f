"""The demo's multi-node parallel (MNP) queue: the KTH jobs too wide for one node, run as gangs.

The SP2 ran MPI codes over up to 100 processors. The demo used to leave every job over 64 of them
out; they are now what they would be on Batch: MNP jobs of the `mpi-solver` job definition on a
queue of their own, `mpi-parallel`, whose compute environment `mpi-parallel-ondemand` is on-demand
(Batch runs MNP jobs only there) with the `optimal` alias, BEST_FIT and minvCpus 0.

The mapping, stated once here:

- Which jobs: the KTH jobs of the busiest window (`history._window`, the same window as the CPU
  queues) over `history.MAX_CPU_JOB_VCPUS` processors, one processor one vCPU.
- Nodes: `TraceMapping(max_vcpus_per_node=NODE_VCPUS).node_split`, the trace mapping's one rule:
  a job of T vCPUs is ceil(T / 6) nodes of equal whole-vCPU shares (70 processors: 12 nodes of 6).
  `mpi-solver` asks for `NUM_NODES` nodes of `NODE_VCPUS` vCPUs and `NODE_MEMORY_MIB` MiB (its
  users override numNodes per submission, as MPI teams do). Six vCPUs per node is the never-tuned
  part: it falls between instance sizes (an 8-vCPU instance holds each node, two vCPUs of it idle),
  which is what the `mnp-node-size` strategy is there to find.
- Memory: 2 GiB per vCPU asked (the trace mapping's assumption), 1.5 GiB used.
- Outcome and retries: the trace's status; no retry strategy (attempts 1).
- Node job ids: `<job uuid>#<node>`, node 0 the main node, as Batch names them.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import pandas as pd

from optimizer.traces import TraceMapping

MNP_QUEUE = "mpi-parallel"
MNP_COMPUTE_ENVIRONMENT = "mpi-parallel-ondemand"
MNP_DEFINITION = "mpi-solver"
NODE_VCPUS = 6
NODE_MEMORY_MIB = 12288
NUM_NODES = 16
USED_MEMORY_PER_VCPU = 1536.0
MNP_COLUMNS = ["mnp_parent", "node_index", "num_nodes"]
REQUESTED_MEMORY_PER_VCPU = NODE_MEMORY_MIB / NODE_VCPUS


def _job_uuid(trace_id: str) -> str:
    return str(uuid.UUID(hashlib.md5(f"kth/{trace_id}".encode()).hexdigest()))


def node_properties(num_nodes: int, container: dict[str, Any]) -> dict[str, Any]:
    """RegisterJobDefinition's `nodeProperties`: `num_nodes` nodes, node 0 the main node, one node
    range over every node running `container`."""
    return {
        "numNodes": num_nodes,
        "mainNode": 0,
        "nodeRangeProperties": [{"targetNodes": "0:", "container": container}],
    }


def mnp_jobs(wide: pd.DataFrame) -> pd.DataFrame:
    """Node rows (canonical trace columns plus `used_*`) of the wide KTH jobs `wide` (one row per
    job, its total vCPUs in `vcpus`), split into `NODE_VCPUS`-vCPU nodes on `MNP_QUEUE`."""
    rule = TraceMapping(max_vcpus_per_node=NODE_VCPUS)
    rows = []
    for job in wide.to_dict("records"):
        total = float(job["vcpus"])
        count, vcpus, memory = rule.node_split(total, total * REQUESTED_MEMORY_PER_VCPU)
        parent = _job_uuid(str(job["job_id"]))
        for k in range(count):
            rows.append(
                {
                    **job,
                    "job_id": f"{parent}#{k}",
                    "job_name": f"kth-{job['user']}-{job['job_id']}",
                    "queue": MNP_QUEUE,
                    "vcpus": vcpus,
                    "memory_mib": float(memory),
                    "used_vcpus": vcpus,
                    "used_memory_mib": vcpus * USED_MEMORY_PER_VCPU,
                    "mnp_parent": parent,
                    "node_index": k,
                    "num_nodes": count,
                }
            )
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    out["node_index"] = pd.array(out["node_index"], dtype="Int64")
    out["num_nodes"] = pd.array(out["num_nodes"], dtype="Int64")
    return out


def plain_mnp_links(jobs: pd.DataFrame, prefix: str) -> pd.DataFrame:
    """Store-contract job rows of the replay (`records.to_store_frames`) as the emulator serves them:
    node jobs' `array_parent_id` without the replay's `prefix` (a real Batch id), and each MNP
    parent named as its main node (the parent row has no trace row of its own)."""
    if "array_parent_id" not in jobs or not jobs["array_parent_id"].notna().any():
        return jobs
    out = jobs.copy()
    out["array_parent_id"] = out["array_parent_id"].map(
        lambda v: v[len(prefix) :] if isinstance(v, str) and v.startswith(prefix) else v
    )
    nodes = out[out["array_parent_id"].notna() & (out["array_index"] == 0)]
    names = pd.Series(nodes["job_name"].to_numpy(), index=nodes["array_parent_id"].to_numpy())
    out["job_name"] = out["job_name"].fillna(out["job_id"].map(names))
    return out
