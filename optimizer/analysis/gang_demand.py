"""Gang demand: multi-node parallel (MNP) jobs of a canonical jobs frame -> gang shapes x buckets.

A canonical frame keeps an MNP job as its node rows (`mnp_parent`, `node_index`, `num_nodes`;
`optimizer.store.multinode_rows`). For the fleet-mix solver those nodes are not independent jobs:
they hold one instance each, all at once, so an MNP job is one unit of demand of a gang shape
(`Shape.nodes`). Each node's requests are rounded up to the demand-profile grid
(`assign_shapes`); nodes with the same rounded requests form a node range, and MNP jobs with the
same ranges share gang shapes. The count per bucket is the peak number of such MNP jobs running at
once (the same rule as the demand profile, `peak_counts`), and the hours per bucket the time they
run there, summed over the jobs (`overlap_hours`): what the gang's nodes are paid for.

Over which interval an MNP job holds its nodes: from its first node's start to its last node's end.
Batch starts the main node first and the other nodes as they come up, and every node's instance is
the job's (nothing else runs on it) while the gang forms, so a node that starts early is held while
it waits for the rest; the job ends when its nodes have stopped. This interval contains the main
node's run (the replay gives every node the main node's runtime), so it counts formation time the
main node alone would miss. The store has each node's own start and stop, which is all this needs;
an instance launched before its node started (the CE's scale-up) is not in the jobs and not
counted, so the hours are a floor on what the instances were up, not the instance lifetimes.

A node that passes an Elastic Fabric Adapter device through (`efa` true: the collector's
`efa_devices` > 0, read from the node range's `linuxParameters.devices`) makes its range a range
that needs EFA, a range of its own: EFA and non-EFA nodes of the same size are not one range.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from optimizer.analysis.demand_profile import (
    DEFAULT_JOB_ARCH,
    ShapeGrid,
    assign_shapes,
    overlap_hours,
    peak_counts,
)


@dataclass(frozen=True)
class GangProfile:
    """`shapes`: shape_id, vcpus, memory_mib, gpus, arch, nodes, gang (None for a one-range gang),
    instance_types, efa (the range passes EFA devices through), jobs, node_hours; `counts`: (S, T)
    peak MNP jobs running per bucket (equal for one gang's ranges); `hours`: (S, T) hours those
    jobs hold their nodes in each bucket, summed over the jobs (<= counts x bucket hours)."""

    shapes: pd.DataFrame
    counts: np.ndarray
    hours: np.ndarray


def node_rows(jobs: pd.DataFrame) -> np.ndarray:
    """Mask of the rows that are nodes of an MNP job."""
    if "mnp_parent" not in jobs.columns:
        return np.zeros(len(jobs), dtype=bool)
    return jobs["mnp_parent"].map(lambda p: isinstance(p, str) and bool(p)).to_numpy(dtype=bool)


def _range_id(shape_id: str, types: tuple[str, ...], nodes: int, efa: bool) -> str:
    return f"{shape_id}-x{nodes}" + ("-efa" if efa else "") + (f"-on-{'+'.join(types)}" if types else "")


def _efa(values: pd.Series | None, n: int) -> list[bool]:
    """The `efa` column as plain bools (absent or unknown: the node asked for none)."""
    if values is None:
        return [False] * n
    return [bool(v) if v is not None and not pd.isna(v) else False for v in values]


def _types(value: object) -> tuple[str, ...]:
    """A node range's `instanceTypes` as a sorted tuple (empty: the CE's types)."""
    if isinstance(value, list | tuple | set | frozenset) or hasattr(value, "tolist"):
        items = value.tolist() if hasattr(value, "tolist") else list(value)  # type: ignore[union-attr]
        return tuple(sorted({str(t) for t in items}))
    return ()


def gang_profile(
    nodes: pd.DataFrame,
    *,
    start_s: float,
    n_buckets: int,
    bucket_seconds: float,
    grid: ShapeGrid | None = None,
    default_arch: str | None = DEFAULT_JOB_ARCH,
) -> GangProfile:
    """Peak running MNP jobs per gang shape and bucket over [start_s, start_s + n x bucket_seconds)."""
    columns = ["shape_id", "vcpus", "memory_mib", "gpus", "arch", "nodes", "gang", "instance_types", "efa",
               "jobs", "node_hours"]  # fmt: skip
    if nodes.empty:
        empty = np.zeros((0, n_buckets))
        return GangProfile(pd.DataFrame(columns=columns), empty.astype(np.int64), empty)
    shaped = assign_shapes(nodes, grid or ShapeGrid(), default_arch)
    shaped = shaped.assign(
        _parent=shaped["mnp_parent"].astype(str),
        _types=[_types(v) for v in shaped.get("node_instance_types", pd.Series([None] * len(shaped)))],
        _efa=_efa(shaped.get("efa"), len(shaped)),
    )
    begin_col = "start_s" if "start_s" in shaped.columns else "submit_s"
    ranges = shaped.groupby(["_parent", "shape_id", "_types", "_efa"], sort=True).size()
    # Per MNP job: its node ranges as (shape id, instance types, EFA, nodes), sorted: the gang's
    # signature.
    signature = ranges.groupby(level=0).apply(
        lambda r: tuple(
            zip(
                r.index.get_level_values(1),
                r.index.get_level_values(2),
                r.index.get_level_values(3),
                r.to_list(),
                strict=True,
            )
        )
    )
    # Each MNP job holds its nodes from its first node's start to its last node's end (module doc).
    begin = shaped[begin_col].to_numpy(dtype=float)
    held = (
        pd.DataFrame(
            {"_parent": shaped["_parent"], "a": begin, "b": begin + shaped["runtime_s"].to_numpy(dtype=float)}
        )
        .groupby("_parent", sort=True)
        .agg(a=("a", "min"), b=("b", "max"))
    )
    end_s = start_s + n_buckets * bucket_seconds
    a = np.clip(held["a"].to_numpy(dtype=float), start_s, end_s)
    b = np.clip(held["b"].to_numpy(dtype=float), start_s, end_s)
    live = b > a
    sigs = signature.loc[held.index].to_numpy()[live]
    a, b = a[live], b[live]
    code, uniques = pd.factorize(pd.Series([repr(s) for s in sigs], dtype=object), sort=True)
    window = {"w0": start_s, "n_buckets": n_buckets, "bucket_seconds": bucket_seconds}
    gang_counts = peak_counts(a, b, code, len(uniques), **window)
    # Float sums may pass the bound counts x bucket hours by an ulp; the problem refuses that.
    gang_hours = np.minimum(
        overlap_hours(a, b, code, len(uniques), **window), gang_counts * (bucket_seconds / 3600.0)
    )
    first_sig = {repr(s): s for s in sigs}
    per_shape = shaped.groupby("shape_id", sort=True).first()
    rows, counts, hours_rows = [], [], []
    for g, key in enumerate(uniques):
        sig = first_sig[key]
        jobs = int(np.sum(code == g))
        hours = float(np.sum((b - a)[code == g])) / 3600.0
        gang_id = None if len(sig) == 1 else "+".join(_range_id(sid, t, n, e) for sid, t, e, n in sig)
        for sid, types, efa, n in sig:
            info = per_shape.loc[sid]
            range_id = _range_id(sid, types, n, bool(efa))
            rows.append(
                {
                    "shape_id": range_id if gang_id is None else f"{gang_id}/{range_id}",
                    "vcpus": float(info["shape_vcpus"]),
                    "memory_mib": float(info["shape_memory_mib"]),
                    "gpus": int(info["shape_gpus"]),
                    "arch": info["shape_arch"],
                    "nodes": int(n),
                    "gang": gang_id,
                    "instance_types": types or None,
                    "efa": bool(efa),
                    "jobs": jobs,
                    "node_hours": hours * n,
                }
            )
            counts.append(gang_counts[g])
            hours_rows.append(gang_hours[g])
    matrix = np.vstack(counts) if counts else np.zeros((0, n_buckets), dtype=np.int64)
    hours_matrix = np.vstack(hours_rows) if hours_rows else np.zeros((0, n_buckets))
    return GangProfile(pd.DataFrame(rows, columns=columns), matrix.astype(np.int64), hours_matrix)
