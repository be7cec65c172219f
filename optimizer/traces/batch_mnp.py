"""Multi-node parallel jobs in a DescribeJobs export: node jobs become gang rows, parents their links.

DescribeJobs lists an MNP job as a parent (`nodeProperties`: `numNodes`, `mainNode`,
`nodeRangeProperties[]` with `targetNodes`, `container` and optional `instanceTypes`) and one node
job per node (`<parent>#<node>`, `nodeDetails.nodeIndex`, the node's own `container`). The
canonical table keeps the node jobs (each with its own requests and attempts) with `mnp_parent`,
`node_index`, `num_nodes` and, where its node range names them, `node_instance_types`; the parent
is a summary of its nodes and is not a row, as the collector's store rows read back
(`optimizer.store.multinode_rows`).
"""

from __future__ import annotations

from typing import Any

from optimizer.collectors.batch_fields import node_range


def node_of(job: dict[str, Any]) -> tuple[str, int] | None:
    """(parent id, node index) of a node job record, else None."""
    job_id = str(job.get("jobId") or "")
    details = job.get("nodeDetails")
    if details is None or "#" not in job_id:
        return None
    parent, _, index = job_id.rpartition("#")
    return parent, int(details.get("nodeIndex", index) if index.isdigit() else details.get("nodeIndex", 0))


def node_columns(
    parents: dict[str, dict[str, Any]], node_parent: list[str | None], node_index: list[int | None]
) -> tuple[list[int | None], list[list[str] | None]]:
    """Per row: `num_nodes` (the parent's numNodes, else the node rows seen) and the node range's
    `instanceTypes` for that node (None where the range names none or the parent is not in the file)."""
    seen: dict[str, int] = {}
    for parent in node_parent:
        if parent is not None:
            seen[parent] = seen.get(parent, 0) + 1
    num_nodes: list[int | None] = []
    types: list[list[str] | None] = []
    for parent, index in zip(node_parent, node_index, strict=True):
        if parent is None:
            num_nodes.append(None)
            types.append(None)
            continue
        props = parents.get(parent) or {}
        num_nodes.append(int(props.get("numNodes") or seen[parent]))
        chosen = node_range(props, int(index or 0))
        names = [str(t) for t in (chosen or {}).get("instanceTypes") or ()]
        types.append(names or None)
    return num_nodes, types
