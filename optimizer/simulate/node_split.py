"""Node-size edits for replays: an MNP job definition's gangs split into fewer larger or more smaller nodes.

A multi-node parallel job asks for N nodes of v vCPUs. The same work can ask for N' nodes of v'
vCPUs; which is cheaper depends on the instance sizes that fit each node, how long a gang of N'
instances takes to form, and how the code scales. The replay prices it on the history: every gang
whose main node ran `definition` is split again with `TraceMapping.node_split` (the one rule that
turns a job's total vCPUs into equal whole-vCPU nodes), keeping the gang's total vCPUs, its memory
per vCPU, its GPUs per node and its outcome. One function does the edit for the `mnp-node-size`
strategy and for `batchopt simulate --node-split`, so the two always agree.

The assumption is stated, not hidden: a gang's runtime is its recorded runtime times
(N' / N) ** `runtime_exponent`. 0 (the default) means runtime is unchanged when the total vCPUs are
the same (perfect parallel efficiency either way); a positive exponent charges more nodes for their
extra communication (0.1: twice the nodes, 7 % longer), a negative one charges fewer nodes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from optimizer.catalog.node_ranges import owning_range, target_span
from optimizer.errors import InputError
from optimizer.traces.mapping import TraceMapping


@dataclass(frozen=True)
class NodeSplit:
    """The new node size of one MNP job definition's gangs, and the runtime assumption."""

    vcpus_per_node: float
    runtime_exponent: float = 0.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.vcpus_per_node) and self.vcpus_per_node >= 1):
            raise InputError(f"node split: vcpus_per_node must be a number >= 1, got {self.vcpus_per_node}")
        if not (math.isfinite(self.runtime_exponent) and -1.0 <= self.runtime_exponent <= 1.0):
            raise InputError(
                f"node split: runtime_exponent must be between -1 and 1, got {self.runtime_exponent}"
            )


def _gang_mask(jobs: pd.DataFrame, definition: str) -> pd.Series:
    """Rows of the gangs whose main node (lowest node index) ran `definition`."""
    if "mnp_parent" not in jobs or "job_definition_name" not in jobs:
        return pd.Series(False, index=jobs.index)
    nodes = jobs[jobs["mnp_parent"].notna()]
    if nodes.empty:
        return pd.Series(False, index=jobs.index)
    main = nodes.sort_values("node_index", kind="stable").drop_duplicates("mnp_parent")
    mine = set(main.loc[main["job_definition_name"] == definition, "mnp_parent"])
    return jobs["mnp_parent"].isin(mine)


def split_gangs(jobs: pd.DataFrame, edits: Mapping[str, NodeSplit]) -> tuple[pd.DataFrame, int]:
    """A copy of `jobs` whose gangs of each named definition are split again; and how many gangs
    changed. A gang keeps its total vCPUs (`node_split` rounds each node up to a whole vCPU, so the
    nodes never ask for less), its memory per vCPU, its main node's row (submit time, queue,
    retry strategy, status) for every node, and drops per-node instance types (the range's types
    were chosen for the old size). `jobs` needs `job_definition_name` (stored datasets have it)."""
    if "job_definition_name" not in jobs.columns:
        raise InputError("node split: the history has no job definition names (only stored datasets do)")
    out = jobs
    changed = 0
    for name, split in edits.items():
        mask = _gang_mask(out, name)
        if not mask.any():
            continue
        gangs = out[mask]
        rest = out[~mask]
        rule = TraceMapping(max_vcpus_per_node=split.vcpus_per_node)
        rows = []
        for parent, nodes in gangs.groupby("mnp_parent", sort=False):
            nodes = nodes.sort_values("node_index", kind="stable")
            main = nodes.iloc[0]
            total_vcpus = float(nodes["vcpus"].sum())
            total_memory = float(nodes["memory_mib"].sum())
            count, vcpus, memory = rule.node_split(total_vcpus, total_memory)
            runtime = float(main["runtime_s"]) * (count / len(nodes)) ** split.runtime_exponent
            template = main.to_dict()
            for k in range(count):
                row = dict(template)
                row.update(
                    job_id=f"{parent}#{k}",
                    node_index=k,
                    num_nodes=count,
                    vcpus=float(vcpus),
                    memory_mib=float(math.ceil(memory)),
                    runtime_s=runtime,
                )
                if "node_instance_types" in row:
                    row["node_instance_types"] = None
                rows.append(row)
            changed += int(count != len(nodes) or vcpus != float(main["vcpus"]))
        split_rows = pd.DataFrame(rows, columns=out.columns)
        for column in ("node_index", "num_nodes"):
            split_rows[column] = pd.array(split_rows[column].to_numpy(dtype=np.int64), dtype="Int64")
        out = pd.concat([rest, split_rows], ignore_index=True)
        out = out.sort_values(["submit_s", "job_id"], kind="stable").reset_index(drop=True)
    return out, changed


def parse_node_split(text: str) -> tuple[str, NodeSplit]:
    """`NAME:vcpus_per_node=16[,runtime_exponent=0.1]` -> ("NAME", NodeSplit(16, 0.1))."""
    name, sep, rest = text.rpartition(":")
    if not sep or not name or not rest:
        raise InputError(f"--node-split {text!r}: expected NAME:vcpus_per_node=N[,runtime_exponent=E]")
    values: dict[str, float] = {}
    for part in rest.split(","):
        key, eq, raw = part.partition("=")
        key = key.strip()
        if not eq or key not in ("vcpus_per_node", "runtime_exponent"):
            raise InputError(f"--node-split {text!r}: {part!r} is not vcpus_per_node=N or runtime_exponent=E")
        try:
            values[key] = float(raw)
        except ValueError:
            raise InputError(f"--node-split {text!r}: {raw!r} is not a number") from None
    if "vcpus_per_node" not in values:
        raise InputError(f"--node-split {text!r}: vcpus_per_node=N is required")
    return name, NodeSplit(values["vcpus_per_node"], values.get("runtime_exponent", 0.0))


def format_node_split(name: str, split: NodeSplit) -> str:
    """The `--node-split` argument that reproduces an edit (inverse of parse_node_split)."""
    text = f"{name}:vcpus_per_node={split.vcpus_per_node:g}"
    if split.runtime_exponent:
        text += f",runtime_exponent={split.runtime_exponent:g}"
    return text


def _owners(spans: list[tuple[int, int]], count: int) -> list[int | None]:
    """For each node 0..count-1, the index of the range whose properties it runs
    (`catalog.node_ranges.owning_range`); None when no range holds it."""
    return [owning_range(spans, node) for node in range(count)]


def resized_node_ranges(targets: list[str], main_node: int, old_count: int, new_count: int) -> list[str]:
    """The `targetNodes` of an MNP definition's node ranges when its `numNodes` goes from
    `old_count` to `new_count` (the `mnp-node-size` strategy and its apply share this rule).

    The one range that reaches the last node ("n:", or ending at old_count - 1, ":15" included)
    holds the workers whose count follows `numNodes`, so it becomes open ("n:", "0:" for ":15");
    every other range (a main node "0:0", a nested override "4:5", a fixed block "0:7") keeps its exact nodes.
    That keeps each range's role as the replay models it (every node the new size, the gang's total
    vCPUs unchanged). An InputError names the range when the new count cannot hold the definition
    as it is: two ranges reaching the last node (which one grows is a guess), the main node or a
    kept range past the last node (the model: mainNode "must be fewer
    than the number of nodes"), a range left with no node of its own, or a node no range holds
    ("Your accumulative node ranges must account for all nodes")."""
    if new_count < 1:
        raise InputError(f"{new_count} nodes: a multi-node job has at least one node")
    if not 0 <= main_node < new_count:
        raise InputError(f"main node {main_node} is not among {new_count} nodes")
    spans = [target_span(t, old_count) for t in targets]
    before = _owners(spans, old_count)
    if None in before:
        raise InputError(f"node {before.index(None)} of {old_count} is in no node range")
    to_end = [t for t, (_, last) in zip(targets, spans, strict=True) if last == old_count - 1]
    if len(to_end) > 1:
        # Nested ("0:" with "15:15") or stacked: which range the new nodes would join is a guess.
        raise InputError(
            f"node ranges {to_end[0]!r} and {to_end[1]!r} both reach the last node; which one the"
            " new nodes join is not clear"
        )
    out = []
    new_spans = []
    for target, (first, last) in zip(targets, spans, strict=True):
        if last == old_count - 1:
            target, last = f"{first}:", new_count - 1
        if first > last or last >= new_count:
            raise InputError(f"node range {target!r} does not fit {new_count} nodes")
        out.append(target)
        new_spans.append((first, last))
    after = _owners(new_spans, new_count)
    if None in after:
        raise InputError(f"node {after.index(None)} of {new_count} is in no node range")
    for i, target in enumerate(targets):
        if i in before and i not in after:
            raise InputError(f"node range {target!r} would run no node of {new_count}")
    return out
