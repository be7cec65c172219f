"""RegisterJobDefinition for an MNP node-size recommendation (`mnp-node-size`).

The new revision is the latest ACTIVE one as RegisterJobDefinition accepts it (every field, read
off botocore's model by `shapes.as_request`, so none is dropped), with `nodeProperties.numNodes`
and every node range's VCPU and MEMORY requirements set to the proposal. The ranges' new
`targetNodes` come from `simulate.node_split.resized_node_ranges`, the rule the strategy checked
its candidates with (the range reaching the last node follows numNodes, the others keep their
nodes; mainNode and every range within the new count), and a range pinned to an instance type is
refused (`_check_pinned`). Rollback deregisters the revision (the generic
`register_job_definition` rule of `rollback.py`), so jobs submitted by name run the previous one.
"""

from __future__ import annotations

import copy
from typing import Any

from optimizer.apply import shapes
from optimizer.domain import Recommendation
from optimizer.errors import InputError, UserError
from optimizer.simulate.node_split import resized_node_ranges

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


def _check_pinned(rec_id: str, name: str, node_range: dict[str, Any]) -> None:
    """A range pinned to instance types (`instanceTypes`) was sized for them, so a new node size
    is not applied under it."""
    if node_range.get("instanceTypes"):
        raise UserError(
            f"recommendation {rec_id}: {name}'s node range {node_range.get('targetNodes')!r} pins"
            f" instanceTypes {node_range['instanceTypes']}; a new node size needs a new instance type there"
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
    old_count = int(props.get("numNodes") or 0)
    try:
        targets = resized_node_ranges([str(r.get("targetNodes", "")) for r in ranges], main, old_count, nodes)
    except InputError as exc:
        raise UserError(f"recommendation {rec.id}: {name}'s {exc}") from None
    new_props = copy.deepcopy(props)
    new_props["numNodes"] = nodes
    for node_range, target in zip(new_props["nodeRangeProperties"], targets, strict=True):
        _check_pinned(rec.id, name, node_range)
        container = node_range.setdefault("container", {})
        wanted = _requirements(container)
        container.pop("vcpus", None)  # legacy fields: resourceRequirements supersede them
        container.pop("memory", None)
        wanted["VCPU"] = str(int(vcpus))
        wanted["MEMORY"] = str(memory)
        container["resourceRequirements"] = [{"type": t, "value": v} for t, v in sorted(wanted.items())]
        node_range["targetNodes"] = target
    params = shapes.as_request("RegisterJobDefinition", copy.deepcopy(item))
    params.update(jobDefinitionName=name, type="multinode", nodeProperties=new_props)
    was = current_node_size(item)
    description = (
        f"register {name} revision {int(item['revision']) + 1} (from {item['revision']}): "
        f"{was['num_nodes']} nodes of {was['vcpus_per_node']:g} vCPU / {was['memory_mib_per_node']} MiB"
        f" -> {nodes} nodes of {vcpus:g} vCPU / {memory} MiB"
    )
    return params, description
