"""Sparse row blocks in `A @ v <= b` form over the variable vector [columns..., auxiliaries...]."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp


@dataclass(frozen=True)
class RowBlock:
    family: str
    matrix: sp.csr_matrix  # (R, n_variables)
    rhs: np.ndarray  # (R,)

    @property
    def n_rows(self) -> int:
        return int(self.matrix.shape[0])


@dataclass(frozen=True)
class Layout:
    """Where auxiliary variables sit after the N column variables."""

    n_columns: int
    spot_total: int | None = None  # continuous: total spot instance vCPU-hours (diversification)
    select_offset: int | None = None  # binaries: one per prepared offering (max_instance_types)
    n_offerings: int = 0

    @property
    def n_variables(self) -> int:
        n = self.n_columns
        if self.spot_total is not None:
            n += 1
        if self.select_offset is not None:
            n += self.n_offerings
        return n


def block(
    family: str,
    rows: np.ndarray,
    cols: np.ndarray,
    vals: np.ndarray,
    n_rows: int,
    layout: Layout,
    rhs: np.ndarray,
) -> RowBlock:
    matrix = sp.csr_matrix((vals, (rows, cols)), shape=(n_rows, layout.n_variables))
    return RowBlock(family, matrix, np.asarray(rhs, dtype=float))
