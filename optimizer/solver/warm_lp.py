"""An LP `min c.x, A x <= b, lo <= x <= hi` re-solved from the previous solve's basis.

Column generation solves a sequence of LPs that differ by a few added columns and rows. HiGHS
through `scipy.optimize.linprog` starts each from scratch: on the Alibaba week under the README
policy with requirements, the selection LP (`selection_bound.py`, 22,000 columns with its link
rows) takes 2.6 s a round, so the bound's child process gets 2 rounds in a 9 s solve and stays
below the uncapped LP bound, where 7 rounds (25 s) reach the capped LP's optimum. The rows and
columns that stay are the same constraints and variables, so the previous optimal basis, with new
columns nonbasic at their lower bound and new rows' slacks basic, is a valid starting basis
(it has one basic variable per row) that primal simplex continues from.

Callers name every column and row with an int64 key that is stable across solves (the same key
means the same variable or constraint); the basis is carried over by key, so the order of the
columns may change between solves. Nothing here affects what is proven: the answer is an LP
solution and its duals exactly as `linprog` returns them (marginals <= 0 on `<=` rows), and any
certificate built on the duals is checked by its caller as before.

Uses the HiGHS bindings scipy ships (`scipy.optimize._highspy._core`, scipy >= 1.15). They are
private, so an import or API failure falls back to `linprog` for good (cold solves, the previous
behaviour).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

try:  # pragma: no cover - depends on the installed scipy
    from scipy.optimize._highspy import _core as _highs
except ImportError:  # pragma: no cover
    _highs = None

#: HiGHS's encoding of "no bound" (its kHighsInf); numpy's inf is accepted as well.
_INF = float("inf")


@dataclass(frozen=True)
class LpResult:
    """`status` 0 when optimal (linprog's convention), else nonzero; the rest only when 0."""

    status: int
    x: np.ndarray | None = None
    fun: float = float("nan")
    marginals: np.ndarray | None = None  # (rows,) <= 0 at an optimum, as linprog's ineqlin.marginals
    warm: bool = False  # the solve started from a carried-over basis


class WarmLp:
    """Solves one LP after another, each from the basis of the last optimal one (by key)."""

    def __init__(self) -> None:
        self._col_keys: np.ndarray | None = None  # sorted
        self._col_status: np.ndarray | None = None
        self._row_keys: np.ndarray | None = None
        self._row_status: np.ndarray | None = None
        self.available = _highs is not None

    def solve(
        self,
        cost: np.ndarray,
        matrix: sp.spmatrix,
        rhs: np.ndarray,
        lower: np.ndarray,
        upper: np.ndarray,
        *,
        col_keys: np.ndarray,
        row_keys: np.ndarray,
        time_limit: float,
    ) -> LpResult:
        """Solve, warm from the previous optimal basis where keys match; keys must be unique."""
        if self.available:
            try:
                return self._solve_highs(cost, matrix, rhs, lower, upper, col_keys, row_keys, time_limit)
            except (AttributeError, TypeError, ValueError):  # the private bindings changed
                self.available = False
        res = linprog(
            cost,
            A_ub=matrix,
            b_ub=rhs,
            bounds=np.stack([lower, upper], axis=1),
            method="highs",
            options={"time_limit": time_limit},
        )
        if res.status != 0:
            return LpResult(int(res.status) or 1)
        return LpResult(0, np.asarray(res.x), float(res.fun), np.asarray(res.ineqlin.marginals))

    def _solve_highs(
        self,
        cost: np.ndarray,
        matrix: sp.spmatrix,
        rhs: np.ndarray,
        lower: np.ndarray,
        upper: np.ndarray,
        col_keys: np.ndarray,
        row_keys: np.ndarray,
        time_limit: float,
    ) -> LpResult:
        assert _highs is not None
        a = sp.csc_matrix(matrix)
        a.sort_indices()
        n_rows, n_cols = a.shape
        lp = _highs.HighsLp()
        lp.num_col_ = n_cols
        lp.num_row_ = n_rows
        lp.a_matrix_.num_col_ = n_cols
        lp.a_matrix_.num_row_ = n_rows
        lp.a_matrix_.format_ = _highs.MatrixFormat.kColwise
        lp.a_matrix_.start_ = a.indptr.astype(np.int32)
        lp.a_matrix_.index_ = a.indices.astype(np.int32)
        lp.a_matrix_.value_ = a.data.astype(float)
        lp.col_cost_ = np.asarray(cost, dtype=float)
        lp.col_lower_ = np.asarray(lower, dtype=float)
        lp.col_upper_ = np.asarray(upper, dtype=float)
        lp.row_lower_ = np.full(n_rows, -_INF)
        lp.row_upper_ = np.asarray(rhs, dtype=float)
        h = _highs._Highs()
        h.setOptionValue("output_flag", False)
        h.setOptionValue("time_limit", float(max(time_limit, 0.01)))
        if h.passModel(lp) == _highs.HighsStatus.kError:
            return LpResult(1)
        warm = self._carry_basis(h, col_keys, row_keys)
        if h.run() == _highs.HighsStatus.kError:
            return LpResult(1)
        if h.getModelStatus() != _highs.HighsModelStatus.kOptimal:
            return LpResult(1 if h.getModelStatus() == _highs.HighsModelStatus.kTimeLimit else 2)
        solution = h.getSolution()
        basis = h.getBasis()
        order = np.argsort(col_keys, kind="stable")
        self._col_keys = np.asarray(col_keys)[order]
        self._col_status = np.array([int(s) for s in basis.col_status], dtype=np.int8)[order]
        order = np.argsort(row_keys, kind="stable")
        self._row_keys = np.asarray(row_keys)[order]
        self._row_status = np.array([int(s) for s in basis.row_status], dtype=np.int8)[order]
        return LpResult(
            0,
            np.asarray(solution.col_value, dtype=float),
            float(h.getInfo().objective_function_value),
            np.asarray(solution.row_dual, dtype=float),
            warm,
        )

    def _carry_basis(self, h: object, col_keys: np.ndarray, row_keys: np.ndarray) -> bool:
        """Give `h` the previous basis where keys match (new columns at lower, new rows basic);
        False when there is none or HiGHS refuses it (it then starts cold)."""
        if self._col_keys is None or self._row_keys is None:
            return False
        assert _highs is not None and self._col_status is not None and self._row_status is not None
        cols = _carried(self._col_keys, self._col_status, col_keys, int(_highs.HighsBasisStatus.kLower))
        rows = _carried(self._row_keys, self._row_status, row_keys, int(_highs.HighsBasisStatus.kBasic))
        basic = int((cols == 1).sum() + (rows == 1).sum())
        if basic != len(row_keys):  # a column or row left: the basis no longer has one per row
            return False
        status = _highs.HighsBasisStatus
        basis = _highs.HighsBasis()
        basis.col_status = [status(int(s)) for s in cols]
        basis.row_status = [status(int(s)) for s in rows]
        basis.valid = True
        if h.setBasis(basis) == _highs.HighsStatus.kError:  # type: ignore[attr-defined]
            return False
        # The carried basis is primal feasible (new columns at 0 leave every row as it was, a new
        # link row reads -d y <= 0), not dual feasible: primal simplex continues from it.
        h.setOptionValue("simplex_strategy", 4)  # type: ignore[attr-defined]
        return True


def _carried(old_keys: np.ndarray, old_status: np.ndarray, keys: np.ndarray, fresh: int) -> np.ndarray:
    """The status each key had (old_keys sorted), `fresh` for keys not seen before."""
    keys = np.asarray(keys)
    if len(old_keys) == 0:
        return np.full(len(keys), fresh, dtype=np.int8)
    pos = np.minimum(np.searchsorted(old_keys, keys), len(old_keys) - 1)
    return np.where(old_keys[pos] == keys, old_status[pos], fresh).astype(np.int8)
