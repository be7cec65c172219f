"""Spot diversification: no spot offering provides more than 1/K of the spot instance vCPU-hours.

With an auxiliary `z` <= total spot vCPU-hours, each pool's row is `pool - z/K <= 0`: one row per
pool instead of a dense pool-by-column matrix. Measured on instance capacity because a reclaim wave
in one pool takes that capacity away, whatever it was hosting.
"""

from __future__ import annotations

import numpy as np

from optimizer.solver.columns import Columns, Prepared
from optimizer.solver.constraints.base import Layout, RowBlock, block


def rows(prep: Prepared, cols: Columns, layout: Layout, k: int) -> tuple[RowBlock, np.ndarray]:
    """The rows, and the prepared-offering index of each pool row (row 0 is the z row)."""
    assert layout.spot_total is not None
    z = layout.spot_total
    spot_cols = np.flatnonzero(prep.spot[cols.offering])
    vcpu_hours = prep.caps[cols.offering[spot_cols], 0] * cols.weight_hours[spot_cols]
    pools = np.flatnonzero(prep.spot)
    pool_row = np.full(len(prep.offerings), -1, dtype=np.int64)
    pool_row[pools] = np.arange(1, len(pools) + 1)
    # Row 0: z - sum(spot vCPU-hours) <= 0.
    r = [np.zeros(len(spot_cols) + 1, dtype=np.int64)]
    c = [np.append(spot_cols, z)]
    v = [np.append(-vcpu_hours, 1.0)]
    # Pool rows: pool vCPU-hours - z / K <= 0.
    r.append(pool_row[cols.offering[spot_cols]])
    c.append(spot_cols)
    v.append(vcpu_hours)
    r.append(np.arange(1, len(pools) + 1))
    c.append(np.full(len(pools), z))
    v.append(np.full(len(pools), -1.0 / k))
    n_rows = len(pools) + 1
    out = block(
        "spot_diversity",
        np.concatenate(r),
        np.concatenate(c),
        np.concatenate(v),
        n_rows,
        layout,
        np.zeros(n_rows),
    )
    return out, pools
