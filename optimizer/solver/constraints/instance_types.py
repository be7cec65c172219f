"""Maximum instance types: an offering runs only if selected, and at most K are selected.

Linking is per (offering, bucket class) with the tightest useful big-M: an instance that hosts no
job is never worth running, so the instances of offering o in class u are at most the jobs of that
class o can host. Integer master only: the LP bound relaxes this family (its LP relaxation is weak).
"""

from __future__ import annotations

import numpy as np

from optimizer.solver.columns import Columns, Prepared
from optimizer.solver.constraints.base import Layout, RowBlock, block


def rows(prep: Prepared, cols: Columns, layout: Layout, k: int) -> RowBlock:
    assert layout.select_offset is not None
    pairs, col_row = np.unique(
        np.stack([cols.offering, cols.bucket_class], axis=1), axis=0, return_inverse=True
    )
    col_row = col_row.reshape(-1)
    n_link = len(pairs)
    big_m = prep.max_bins()[pairs[:, 0], pairs[:, 1]]
    r = [col_row, np.arange(n_link), np.full(len(prep.offerings), n_link)]
    c = [
        np.arange(len(cols)),
        layout.select_offset + pairs[:, 0],
        layout.select_offset + np.arange(len(prep.offerings)),
    ]
    v = [np.ones(len(cols)), -big_m, np.ones(len(prep.offerings))]
    rhs = np.append(np.zeros(n_link), float(k))
    return block(
        "max_instance_types", np.concatenate(r), np.concatenate(c), np.concatenate(v), n_link + 1, layout, rhs
    )
