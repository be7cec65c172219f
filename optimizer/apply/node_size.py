"""RegisterJobDefinition for an MNP node-size recommendation (`mnp-node-size`).

The new revision is the latest ACTIVE one as RegisterJobDefinition accepts it (every field, read
off botocore's model by `shapes.as_request`, so none is dropped), with `nodeProperties.numNodes`
and every node range's VCPU and MEMORY requirements set to the proposal. A range whose
`targetNodes` names a last node of the old count ("0:15") is opened ("0:") so it still covers every
node; `mainNode` and every range must stay below the new count, and a range pinned to an
instance type is refused (`_check_range`). Rollback deregisters the revision (the generic
`register_job_definition` rule of `rollback.py`), so jobs submitted by name run the previous one.
"""

from __future__ import annotations

import copy
from typing import Any

from optimizer.apply import shapes
from optimizer.domain import Recommendation
from optimizer.errors import InputError, UserError

NODE_SIZE_FIELDS = frozenset({"num_nodes", "vcpus_per_node", "memory_mib_per_node"})


def is_node_size(rec: Recommendation) -> bool:
    return bool(rec.proposed) and set(rec.proposed) <= NODE_SIZE_FIELDS


def _requirements(container: dict[str, Any]) -> dict[str, str]:
    out = {str(r["type"]): str(r["value"]) for r in container.get("resourceRequirements") or []}
    if "vcpus" in container:
        out.setdefault("VCPU", str(container["vcpus"]))
    if "memory" in container:
        out.setdefault("MEMORY", str(container["memory"]))
    return out


def current_node_size(item: dict[str, Any]) -> dict[str, Any]:
    """What the revision asks for now, in the recommendation's fields (for the staleness check)."""
    props = item.get("nodeProperties") or {}
    ranges = props.get("nodeRangeProperties") or []
    reqs = _requirements((ranges[0].get("container") or {}) if ranges else {})
    return {
        "num_nodes": props.get("numNodes"),
        "vcpus_per_node": float(reqs.get("VCPU", "0")),
        "memory_mib_per_node": int(float(reqs.get("MEMORY", "0"))),
    }


def _open_range(target: str, old_count: int) -> str:
    """A range ending at the old last node runs to the end ("0:15" of 16 nodes -> "0:")."""
    low, sep, high = target.partition(":")
    if sep and high and high.isdigit() and int(high) == old_count - 1:
        return f"{low or 0}:"  # ":15" -> "0:", not a bare ":"
    return target


def _check_range(rec_id: str, name: str, node_range: dict[str, Any], nodes: int) -> None:
    """NodeRangeProperty in botocore's model: the ranges index nodes 0..numNodes-1 and together cover
    all of them; a range pinned to one instance type (`instanceTypes`, one element) was sized for
    that type, so a new node size is not applied under it."""
    target = str(node_range.get("targetNodes", ""))
    low, sep, high = target.partition(":")
    ends = [int(x) for x in (low, high if sep else low) if x.isdigit()]
    if any(end >= nodes for end in ends):
        raise UserError(f"recommendation {rec_id}: {name}'s node range {target!r} does not fit {nodes} nodes")
    if node_range.get("instanceTypes"):
        raise UserError(
            f"recommendation {rec_id}: {name}'s node range {target!r} pins instanceTypes"
            f" {node_range['instanceTypes']}; a new node size needs a new instance type there"
        )


def node_size_request(rec: Recommendation, item: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """(RegisterJobDefinition params, description) of the new revision; a UserError when it
    cannot be applied as recommended."""
    name = item["jobDefinitionName"]
    props = item.get("nodeProperties") or {}
    ranges = props.get("nodeRangeProperties") or []
    if item.get("type") != "multinode" or not ranges:
        raise InputError(f"recommendation {rec.id}: {name} is not a multi-node parallel job definition")
    try:
        nodes = int(rec.proposed["num_nodes"])
        vcpus = float(rec.proposed["vcpus_per_node"])
        memory = int(rec.proposed["memory_mib_per_node"])
    except (KeyError, TypeError, ValueError):
        raise InputError(
            f"recommendation {rec.id}: num_nodes, vcpus_per_node and memory_mib_per_node are required"
        ) from None
    if nodes < 1 or vcpus < 1 or not vcpus.is_integer() or memory < 4:
        raise InputError(f"recommendation {rec.id}: num_nodes >= 1, whole vcpus_per_node >= 1, memory >= 4")
    main = int(props.get("mainNode", 0) or 0)
    if main >= nodes:
        raise UserError(f"recommendation {rec.id}: {name}'s main node {main} is not among {nodes} nodes")
    old_count = int(props.get("numNodes") or 0)
    new_props = copy.deepcopy(props)
    new_props["numNodes"] = nodes
    for node_range in new_props["nodeRangeProperties"]:
        container = node_range.setdefault("container", {})
        wanted = _requirements(container)
        container.pop("vcpus", None)  # legacy fields: resourceRequirements supersede them
        container.pop("memory", None)
        wanted["VCPU"] = str(int(vcpus))
        wanted["MEMORY"] = str(memory)
        container["resourceRequirements"] = [{"type": t, "value": v} for t, v in sorted(wanted.items())]
        node_range["targetNodes"] = _open_range(str(node_range.get("targetNodes", "")), old_count)
        _check_range(rec.id, name, node_range, nodes)
    params = shapes.as_request("RegisterJobDefinition", copy.deepcopy(item))
    params.update(jobDefinitionName=name, type="multinode", nodeProperties=new_props)
    was = current_node_size(item)
    description = (
        f"register {name} revision {int(item['revision']) + 1} (from {item['revision']}): "
        f"{was['num_nodes']} nodes of {was['vcpus_per_node']:g} vCPU / {was['memory_mib_per_node']} MiB"
        f" -> {nodes} nodes of {vcpus:g} vCPU / {memory} MiB"
    )
    return params, description
