"""Assemble the master problem (columns + constraint families) as one sparse `<=` system."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from optimizer.solver.columns import Columns, Prepared
from optimizer.solver.constraints import demand, instance_types, spot_diversity, spot_share
from optimizer.solver.constraints.base import Layout, RowBlock


@dataclass(frozen=True)
class MasterSystem:
    layout: Layout
    matrix: sp.csr_matrix
    rhs: np.ndarray
    cost: np.ndarray  # per variable
    integer: np.ndarray  # per variable, bool
    upper: np.ndarray  # per variable (inf = none)
    row_slices: dict[str, slice]
    pool_offerings: np.ndarray  # prepared-offering index of each diversification pool row (row 0 is z)


def build_master(prep: Prepared, cols: Columns, *, with_selection: bool) -> MasterSystem:
    """The LP (with_selection=False: max_instance_types relaxed) or the integer master."""
    policy = prep.problem.policy
    k_div = policy.diversification
    select = with_selection and policy.max_instance_types is not None
    n = len(cols)
    layout = Layout(
        n_columns=n,
        spot_total=n if k_div else None,
        select_offset=(n + (1 if k_div else 0)) if select else None,
        n_offerings=len(prep.offerings),
    )
    blocks: list[RowBlock] = [demand.rows(prep, cols, layout)]
    pools = np.zeros(0, dtype=np.int64)
    if policy.caps_spot_share:
        assert policy.max_spot_share is not None
        blocks.append(spot_share.rows(prep, cols, layout, policy.max_spot_share))
    if k_div:
        div, pools = spot_diversity.rows(prep, cols, layout, k_div)
        blocks.append(div)
    if select:
        assert policy.max_instance_types is not None
        blocks.append(instance_types.rows(prep, cols, layout, policy.max_instance_types))
    slices: dict[str, slice] = {}
    start = 0
    for b in blocks:
        slices[b.family] = slice(start, start + b.n_rows)
        start += b.n_rows
    nv = layout.n_variables
    cost = np.zeros(nv)
    cost[:n] = cols.cost
    integer = np.zeros(nv, dtype=bool)
    integer[:n] = True
    upper = np.full(nv, np.inf)
    if layout.select_offset is not None:
        sel = slice(layout.select_offset, layout.select_offset + layout.n_offerings)
        integer[sel] = True
        upper[sel] = 1.0
    return MasterSystem(
        layout=layout,
        matrix=sp.vstack([b.matrix for b in blocks], format="csr"),
        rhs=np.concatenate([b.rhs for b in blocks]),
        cost=cost,
        integer=integer,
        upper=upper,
        row_slices=slices,
        pool_offerings=pools,
    )
