"""Demand: in every bucket class, the bins host at least the jobs of each shape that run there."""

from __future__ import annotations

import numpy as np

from optimizer.solver.columns import Columns, Prepared
from optimizer.solver.constraints.base import Layout, RowBlock, block


def demand_rows(prep: Prepared) -> np.ndarray:
    """Row number of (shape, class) pairs with demand, -1 elsewhere; shape (S, U)."""
    index = np.full(prep.demand.shape, -1, dtype=np.int64)
    mask = prep.demand > 0
    index[mask] = np.arange(int(mask.sum()))
    return index


def rows(prep: Prepared, cols: Columns, layout: Layout) -> RowBlock:
    index = demand_rows(prep)
    n_rows = int((index >= 0).sum())
    col_ids, shape_ids = np.nonzero(cols.counts)
    row_ids = index[shape_ids, cols.bucket_class[col_ids]]
    keep = row_ids >= 0
    rhs = -prep.demand[prep.demand > 0].astype(float)
    return block(
        "demand",
        row_ids[keep],
        col_ids[keep],
        -cols.counts[col_ids[keep], shape_ids[keep]].astype(float),
        n_rows,
        layout,
        rhs,
    )
