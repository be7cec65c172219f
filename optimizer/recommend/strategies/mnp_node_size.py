"""MNP node size: fewer larger or more smaller nodes for a multi-node parallel job definition.

An MNP job definition asks for `numNodes` nodes of one size. The same total vCPUs can be asked for as
fewer larger nodes or more smaller ones, and the two are not priced the same: each node holds an
instance of its own (Batch runs one node per instance), so a node size that falls between the
instance sizes of the compute environment's families pays for the gap on every node; Batch and ECS
keep part of every instance's memory, so many small nodes lose more of it than a few large ones;
and a gang waits, holding the instances it already has, until its last node's instance joins, which
takes longer the more nodes it has (`simulate/gangs.py`'s gang-formation idle).

Candidates: node sizes that are the vCPU counts of the instance sizes of the families the
definition's queues' compute environments run, that divide the definition's total vCPUs
(numNodes x vCPUs per node) evenly into at least two nodes, at the same memory per vCPU. Each is
priced by replaying the queue's history with every gang of the definition split again
(`simulate.node_split.split_gangs`, `batchopt simulate --node-split`), the same total vCPUs per
job; the cheapest, if it saves at least `min_monthly_savings_usd`, is proposed.

The assumption, stated and a setting: `runtime_exponent` (parallel efficiency). 0 means a gang's
runtime is unchanged when its total vCPUs are the same, however they are split into nodes; a positive
value charges more nodes for their communication (runtime x (new nodes / old nodes) ** exponent).
Measure one job at the proposed split before trusting the figure for codes that scale poorly.

Only definitions whose node ranges all ask for the same container resources and name no instance
types of their own are judged (a heterogeneous main node, or ranges pinned to types chosen for the
current size, need a person's judgement), and only without GPUs (GPUs per node are not divisible).
A definition with several node ranges (a main node "0:0" and workers "1:", nested overrides) is
re-split by `simulate.node_split.resized_node_ranges`, the rule its apply uses: the range reaching
the last node follows numNodes and the others keep their nodes. A node count that rule refuses (a
kept range or the main node past the new last node, two ranges reaching the last node) is not
replayed: the evidence's candidates list it with the reason, and the ranges before and after are in
the evidence.

Apply: RegisterJobDefinition, a new revision of the definition with `numNodes` and every node
range's VCPU and MEMORY changed (`optimizer.apply.node_size`); rollback deregisters it.
Metadata: low effort, running jobs are not restarted (they keep their revision), reversible.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from pydantic import Field

from optimizer.catalog.batch_rules import expand_instance_types
from optimizer.domain import Recommendation, UpdateKind
from optimizer.errors import InputError
from optimizer.recommend.base import Strategy, StrategySettings, make_recommendation
from optimizer.recommend.estate import account_of, order_names
from optimizer.recommend.inputs_model import RecommendInputs
from optimizer.recommend.savings import DAYS_PER_MONTH, MIN_WINDOW_DAYS, Comparison
from optimizer.recommend.strategies.rightsizing import container_requests, definition_key
from optimizer.simulate.node_split import NodeSplit, resized_node_ranges

STRATEGY = "mnp-node-size"
METADATA = {"implementation_effort": "low", "restarts_running_jobs": False, "reversible": True}
RUNTIME_ASSUMPTION = (
    "parallel efficiency: a gang's runtime x (new nodes / old nodes) ** {exponent:g}"
    " ({meaning}); total vCPUs and memory per vCPU unchanged"
)


class MnpNodeSizeSettings(StrategySettings):
    runtime_exponent: float = Field(default=0.0, ge=-1.0, le=1.0)
    """The parallel-efficiency assumption: 0 = runtime unchanged when total vCPUs are equal;
    0.1 = twice the nodes run 7 % longer (communication), -0.1 = twice the nodes run 7 % faster."""
    min_gangs: int = Field(default=5, ge=1)
    """Fewer MNP jobs of a definition in the window than this say too little to re-size it."""
    max_candidates: int = Field(default=6, ge=1, le=16)
    """At most this many node sizes are replayed per definition (those closest to the current)."""


def node_requests(item: dict[str, Any]) -> tuple[int, int, float, int] | None:
    """(numNodes, mainNode, vCPUs per node, MiB per node) of an MNP job definition whose node ranges
    all ask for the same vCPUs and memory, no GPU and no instance types of their own; else None."""
    if item.get("type") != "multinode":
        return None
    props = item.get("nodeProperties") or {}
    ranges = props.get("nodeRangeProperties") or []
    if not ranges or not props.get("numNodes"):
        return None
    sizes = set()
    for node_range in ranges:
        if node_range.get("instanceTypes"):
            return None
        requests = container_requests(node_range.get("container") or {})
        if requests is None or requests[2]:
            return None
        vcpus, memory, _ = requests
        sizes.add((vcpus, memory))
    if len(sizes) != 1:
        return None
    vcpus, memory = sizes.pop()
    return int(props["numNodes"]), int(props.get("mainNode", 0) or 0), vcpus, memory


def candidate_sizes(
    inputs: RecommendInputs,
    queues: list[str],
    total_vcpus: float,
    memory_per_vcpu: float,
    current: float,
    limit: int,
) -> list[float]:
    """Per-node vCPU counts worth replaying: instance sizes of the families the queues' EC2 compute
    environments run, dividing `total_vcpus` into >= 2 whole nodes, whose node (at the same memory
    per vCPU) fits one type of those families; the `limit` closest to `current` (log scale)."""
    catalog = inputs.baseline.catalog
    document = inputs.baseline.current_document
    names = {
        ce for queue in document["jobQueues"] if queue["jobQueueName"] in queues for ce in order_names(queue)
    }
    families: set[str] = set()
    arches: set[str] = set()
    for ce in document["computeEnvironments"]:
        res = ce.get("computeResources") or {}
        if ce["computeEnvironmentName"] not in names or res.get("type") not in ("EC2", "SPOT"):
            continue
        for name in expand_instance_types(res.get("instanceTypes") or [], catalog.types):
            spec = catalog.types.get(name)
            if spec is not None:
                families.add(spec.family)
                arches.add(spec.arch)
    specs = [s for s in catalog.types.values() if s.family in families and s.arch in arches and not s.gpus]
    sizes = set()
    for size in {float(s.vcpus) for s in specs}:
        nodes = total_vcpus / size
        if size == current or nodes < 2 or abs(nodes - round(nodes)) > 1e-9:
            continue
        if any(s.vcpus >= size and s.allocatable_memory_mib >= memory_per_vcpu * size for s in specs):
            sizes.add(size)
    ranked = sorted(sizes, key=lambda v: (abs(math.log(v / current)), v))
    return sorted(ranked[:limit])


def formation_idle_usd(summary: dict[str, Any], queues: list[str]) -> float:
    """A replay's gang-formation idle cost (instances held empty while a gang forms) on `queues`."""
    by_queue = summary.get("gang_formation_idle_cost_usd_by_queue") or {}
    return float(sum(by_queue.get(q, 0.0) for q in queues))


class MnpNodeSizeStrategy(Strategy[MnpNodeSizeSettings]):
    name: ClassVar[str] = STRATEGY
    settings_class: ClassVar[type[StrategySettings]] = MnpNodeSizeSettings

    def run(self, inputs: RecommendInputs) -> list[Recommendation]:
        history = inputs.baseline.jobs
        if not inputs.baseline.can_replay or "mnp_parent" not in history:
            return []
        if history["mnp_parent"].isna().all():
            return []
        out = []
        for item in inputs.job_definitions:
            rec = self._recommend(inputs, item)
            if rec is not None:
                out.append(rec)
        return out

    def _recommend(self, inputs: RecommendInputs, item: dict[str, Any]) -> Recommendation | None:
        s = self.settings
        requests = node_requests(item)
        if requests is None:
            return None
        num_nodes, main_node, vcpus, memory = requests
        name = item["jobDefinitionName"]
        history = inputs.baseline.jobs
        if "job_definition_name" not in history:
            return None
        nodes = history[history["mnp_parent"].notna() & (history["job_definition_name"] == name)]
        gangs = int(nodes["mnp_parent"].nunique())
        if gangs < s.min_gangs:
            return None
        queues = sorted(nodes["queue"].dropna().unique().tolist())
        total = num_nodes * vcpus
        per_vcpu = memory / vcpus
        sizes = candidate_sizes(inputs, queues, total, per_vcpu, vcpus, s.max_candidates)
        targets = [str(r.get("targetNodes", "")) for r in item["nodeProperties"]["nodeRangeProperties"]]
        tried: list[dict[str, Any]] = []
        best: tuple[float, Comparison] | None = None
        for size in sizes:
            try:
                resized_node_ranges(targets, main_node, num_nodes, round(total / size))
            except InputError as exc:
                # The apply could not register this split as the definition's ranges stand.
                tried.append({"nodes": round(total / size), "vcpus_per_node": size, "skipped": str(exc)})
                continue
            comparison = inputs.baseline.compare(
                inputs.baseline.current_document,
                node_split=(name, NodeSplit(size, s.runtime_exponent)),
            )
            if comparison is None:
                continue
            tried.append(
                {
                    "nodes": round(total / size),
                    "vcpus_per_node": size,
                    "monthly_savings_usd": round(comparison.monthly_savings_usd, 2),
                    "failed_jobs_delta": comparison.failed_delta,
                    "gang_formation_idle_usd_in_window": round(
                        formation_idle_usd(comparison.proposed, queues), 4
                    ),
                }
            )
            if comparison.failed_delta > 0:
                continue  # a size that leaves jobs unplaced is no saving
            if best is None or comparison.monthly_savings_usd > best[1].monthly_savings_usd:
                best = (size, comparison)
        if best is None or best[1].monthly_savings_usd < s.min_monthly_savings_usd:
            return None
        size, comparison = best
        new_nodes = round(total / size)
        new_memory = math.ceil(per_vcpu * size)
        split = NodeSplit(size, s.runtime_exponent)
        meaning = (
            "runtime unchanged when total vCPUs are equal"
            if s.runtime_exponent == 0
            else f"twice the nodes: x{2**s.runtime_exponent:.3f} runtime"
        )
        assumption = RUNTIME_ASSUMPTION.format(exponent=s.runtime_exponent, meaning=meaning)
        per_month = DAYS_PER_MONTH / max(inputs.baseline.window_days, MIN_WINDOW_DAYS)
        idle_now = formation_idle_usd(comparison.current, queues) * per_month
        idle_then = formation_idle_usd(comparison.proposed, queues) * per_month
        larger = size > vcpus
        comparison.evidence["jobs_changed"] = {
            "job_definition": name,
            "mnp_jobs": gangs,
            "vcpus_per_node": size,
            "runtime_exponent": split.runtime_exponent,
        }
        return make_recommendation(
            strategy=self.name,
            target_arn=definition_key(item["jobDefinitionArn"]),
            target_kind="job-definition",
            target_name=name,
            title=(
                f"{name}: {new_nodes} nodes of {size:g} vCPUs instead of {num_nodes} of {vcpus:g}"
                f" (same {total:g} vCPUs, {'fewer larger' if larger else 'more smaller'} nodes;"
                f" replayed gang-formation idle ${idle_now:,.2f} -> ${idle_then:,.2f}/month)"
            ),
            current={"num_nodes": num_nodes, "vcpus_per_node": vcpus, "memory_mib_per_node": memory},
            proposed={"num_nodes": new_nodes, "vcpus_per_node": size, "memory_mib_per_node": new_memory},
            monthly_savings_usd=comparison.monthly_savings_usd,
            risk={
                "interruption": "none (capacity type unchanged)",
                "oom": f"none (memory per vCPU unchanged: {per_vcpu:,.0f} MiB)",
                "queue_wait": comparison.wait_text(),
                "scaling": f"assumed: {assumption}",
            },
            risk_scores={"scaling": 0.15},
            confidence=min(0.8, 0.4 + gangs / 200.0),
            effort="low",
            update_kind=UpdateKind.NEW_REVISION,
            evidence={
                "replay": comparison.evidence,
                "metadata": METADATA,
                "node_size": {
                    "assumption": assumption,
                    "runtime_exponent": s.runtime_exponent,
                    "mnp_jobs": gangs,
                    "queues": queues,
                    "main_node": main_node,
                    "node_ranges": {
                        "before": targets,
                        "after": resized_node_ranges(targets, main_node, num_nodes, new_nodes),
                    },
                    "total_vcpus": total,
                    "memory_mib_per_vcpu": round(per_vcpu, 3),
                    "gang_formation_idle_usd_per_month_before": round(idle_now, 2),
                    "gang_formation_idle_usd_per_month_after": round(idle_then, 2),
                    "candidates": tried,
                },
            },
            account_id=account_of(item["jobDefinitionArn"]),
            region=inputs.region,
        )
