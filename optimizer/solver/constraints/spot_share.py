"""Maximum spot share: job vCPU-hours hosted on spot <= share x all job vCPU-hours.

Measured on jobs (the work exposed to reclaim), not on instance capacity, so it does not depend on
which instance size hosts the work and dominance pruning stays exact under it.
"""

from __future__ import annotations

import numpy as np

from optimizer.solver.columns import Columns, Prepared
from optimizer.solver.constraints.base import Layout, RowBlock, block


def rows(prep: Prepared, cols: Columns, layout: Layout, share: float) -> RowBlock:
    spot_cols = np.flatnonzero(prep.spot[cols.offering])
    job_vcpus = cols.counts[spot_cols] @ prep.sizes[:, 0]
    vals = job_vcpus * cols.weight_hours[spot_cols]
    return block(
        "max_spot_share",
        np.zeros(len(spot_cols), dtype=np.int64),
        spot_cols,
        vals,
        1,
        layout,
        np.array([share * prep.job_vcpu_hours]),
    )
