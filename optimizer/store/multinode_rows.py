"""Multi-node parallel (MNP) jobs between the canonical trace table and the store's `jobs` rows.

The store keeps an MNP job the way the collector writes Batch's own (`collectors/jobs_transform.py`):
a parent row (`is_multinode`, `node_count` = numNodes, the main node's requests) and one row per
node job `<parent>#<node>` (`array_parent_id` the parent, `array_index` the node index,
`is_multinode`). The canonical table (what the replay reads) has only the node rows, each with
`mnp_parent`, `node_index` and `num_nodes`; node 0 is the main node (Batch's default `mainNode`, and
the one every imported trace uses). These two functions are the only translation between the two,
so an imported MNP job and a collected one read back the same.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _is_node(frame: pd.DataFrame) -> np.ndarray:
    if "mnp_parent" not in frame:
        return np.zeros(len(frame), dtype=bool)
    return frame["mnp_parent"].notna().to_numpy()


def with_mnp_store_rows(rows: pd.DataFrame, frame: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """Store rows of a trace (`rows`, one per canonical row of `frame`) with MNP links and parents.

    Node rows get `array_parent_id`, `array_index` and `is_multinode`; each MNP job gets a parent
    row made from its main node's row (Batch reports the main node range's requests on the parent)
    with `node_count`, and no `array_parent_id`.
    """
    is_node = _is_node(frame)
    if not is_node.any():
        return rows
    rows = rows.copy()
    parent_ids = frame["mnp_parent"].to_numpy(dtype=object)
    rows["array_parent_id"] = np.where(is_node, [f"{dataset}:{p}" for p in parent_ids], None)
    rows["array_index"] = pd.array(
        np.where(is_node, frame["node_index"].fillna(0).to_numpy(dtype=np.int64), 0), dtype="Int64"
    )
    rows.loc[~is_node, "array_index"] = pd.NA
    rows["is_multinode"] = is_node
    main = is_node & (frame["node_index"].fillna(-1).to_numpy() == 0)
    parents = rows[main].copy()
    parents["job_id"] = parents["array_parent_id"]
    parents["array_parent_id"] = None
    parents["array_index"] = pd.array([pd.NA] * len(parents), dtype="Int64")
    parents["node_count"] = pd.array(frame["num_nodes"].to_numpy()[main], dtype="Int64")
    rows["node_count"] = pd.array([pd.NA] * len(rows), dtype="Int64")
    return pd.concat([rows, parents], ignore_index=True)


def mnp_columns_from_store(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series, pd.Series, pd.Series]:
    """Store `jobs` rows -> (the rows the replay runs, their `mnp_parent`, `node_index`, `num_nodes`).

    A parent whose node jobs are among the rows is dropped (its nodes are the work; replaying both
    would count the job twice). A parent without node rows stays one job, as before this module
    existed. Parent ids are the store's (namespaced); the caller strips them like any job id.
    """
    multinode = frame["is_multinode"].fillna(False).astype(bool) if "is_multinode" in frame else None
    if multinode is None or not multinode.any():
        empty = pd.Series([None] * len(frame), index=frame.index, dtype=object)
        na = pd.Series(pd.array([pd.NA] * len(frame), dtype="Int64"), index=frame.index)
        return frame, empty, na, na.copy()
    is_node = multinode & frame["array_parent_id"].notna()
    parents_with_nodes = set(frame.loc[is_node, "array_parent_id"])
    keep = ~(multinode & frame["array_parent_id"].isna() & frame["job_id"].isin(parents_with_nodes))
    frame = frame[keep]
    is_node = is_node[keep]
    parent = frame["array_parent_id"].where(is_node, None).astype(object)
    index = pd.Series(pd.array(frame["array_index"].where(is_node), dtype="Int64"), index=frame.index)
    counts = parent[is_node].value_counts()
    nodes = pd.Series(pd.array(parent.map(counts).where(is_node), dtype="Int64"), index=frame.index)
    return frame, parent, index, nodes


def with_unstarted_nodes(frame: pd.DataFrame, parents: pd.Series) -> tuple[pd.DataFrame, pd.Series]:
    """Store rows plus the node rows of the MNP parents `parents` (a mask) that the store lacks, and a
    mask of every node row of those parents (stored or made here).

    A job that never started may have no node jobs in the store: the Batch user guide's MNP
    lifecycle launches the main node first and the child nodes once it runs, so the collector finds
    none to describe. Its gang is then made from the parent row, which holds what the collector
    kept of the job's `nodeProperties` (`collectors/jobs_transform.py`): `node_count` (numNodes),
    and the main node range's requests and `instanceTypes`. Every missing node `<parent>#<k>` takes
    those here; the other ranges' requests are not in the job's rows (`datasets.load_dataset` takes
    them from the job definition's revision where it can). Node rows the store does have
    (described with their own range) are kept as they are.
    """
    frame = frame.reset_index(drop=True)
    parents = pd.Series(parents.to_numpy(dtype=bool), index=frame.index)
    if not parents.any():
        return frame, pd.Series(False, index=frame.index)
    is_node = frame["array_parent_id"].notna() if "array_parent_id" in frame else None
    chosen = frame[parents]
    have: dict[str, set[int]] = {}
    if is_node is not None:
        nodes = frame[is_node & frame["array_parent_id"].isin(chosen["job_id"])]
        for parent, index in zip(nodes["array_parent_id"], nodes["array_index"], strict=True):
            if not pd.isna(index):
                have.setdefault(str(parent), set()).add(int(index))
    sources: list[int] = []  # per node to make: the parent's row label
    links: list[tuple[str, int]] = []  # per node to make: (parent id, node index)
    for label, parent, count in zip(chosen.index, chosen["job_id"], chosen["node_count"], strict=True):
        for k in range(int(count)):
            if k not in have.get(str(parent), ()):
                sources.append(label)
                links.append((str(parent), k))
    stored_nodes = (
        is_node & frame["array_parent_id"].isin(chosen["job_id"])
        if is_node is not None
        else pd.Series(False, index=frame.index)
    )
    if not links:
        return frame, stored_nodes
    # Copies of the parents' rows (every column keeps its dtype), relinked as their node jobs.
    added = frame.loc[sources].reset_index(drop=True)
    added["job_id"] = [f"{parent}#{k}" for parent, k in links]
    added["array_parent_id"] = [parent for parent, _ in links]
    added["array_index"] = [k for _, k in links]
    added["node_count"] = None
    added["is_multinode"] = True
    out = pd.concat([frame, added], ignore_index=True)
    mask = pd.concat([stored_nodes, pd.Series(True, index=added.index)], ignore_index=True)
    return out, mask
