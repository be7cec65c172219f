"""Integer programs through OR-Tools MathOpt + HiGHS, built straight from sparse arrays.

MathOpt's Python `Model` creates one Python object per variable and per coefficient; on a
17,000-column master that alone took over a second, and the per-class solves build hundreds of small
models. MathOpt's interface is its `ModelProto`, so this module fills the proto's repeated fields
from numpy arrays and hands it to MathOpt's solver core (the same call `mathopt.solve` makes after
exporting its model), then reads the solution and the dual bound back from the result proto.
"""

from __future__ import annotations

import datetime as dt
import os
import struct
import subprocess
import sys
import tempfile
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from ortools.math_opt import model_pb2, result_pb2
from ortools.math_opt.core.python import solver as mathopt_core
from ortools.math_opt.python import mathopt
from ortools.math_opt.solvers import highs_pb2

from optimizer.solver.highs_stdout import highs_stdout_silenced

_REASONS = result_pb2.TerminationReasonProto


def _last_improving_solution(path: str, n: int) -> tuple[float, np.ndarray] | None:
    """The last complete solution HiGHS wrote to its improving-solution file (`Objective v`,
    `# Columns n`, then one `[name] value` line per variable, appended once per improvement),
    as (objective, values); None when there is none."""
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return None
    starts = [i for i, line in enumerate(lines) if line.startswith("Objective")]
    for i in reversed(starts):
        block = lines[i + 2 : i + 2 + n]
        if len(block) == n and lines[i + 1].strip() == f"# Columns {n}":
            try:
                return float(lines[i].split()[1]), np.array([float(line.split()[-1]) for line in block])
            except (IndexError, ValueError):
                continue
    return None


def _meets_rows(
    values: np.ndarray,
    matrix: sp.spmatrix,
    row_lower: np.ndarray,
    row_upper: np.ndarray,
    upper: np.ndarray | None,
) -> bool:
    """Whether integer-rounded `values` satisfy every row and bound (a solution read back from a
    file is checked, not trusted)."""
    x = np.round(values)
    if (x < 0).any() or (upper is not None and (x > upper + 1e-9).any()):
        return False
    rows = matrix @ x
    tol = 1e-6 * np.maximum(1.0, np.abs(rows))
    return bool((rows >= np.asarray(row_lower) - tol).all() and (rows <= np.asarray(row_upper) + tol).all())


def _solve_in_child(
    model: model_pb2.ModelProto, init_args: object, params: object, model_params: object, hard_limit: float
) -> result_pb2.SolveResultProto | None:
    """The solve in `python -m optimizer.solver.mip_worker`; None when it was killed at the limit."""
    payload = struct.pack("<i", mathopt.SolverType.HIGHS.value) + b"".join(
        struct.pack("<Q", len(blob)) + blob
        for blob in (m.SerializeToString() for m in (model, init_args, params, model_params))
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "optimizer.solver.mip_worker"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        out, err = proc.communicate(payload, timeout=max(0.1, hard_limit))
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return None
    if proc.returncode != 0:
        last = err.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"MIP worker exited with {proc.returncode}: {last[0]}")
    return result_pb2.SolveResultProto.FromString(out)


@dataclass(frozen=True)
class MipResult:
    """`status`: "OPTIMAL" (within the gap tolerance), "FEASIBLE" (a solution, limit reached),
    "INFEASIBLE" or "NO_SOLUTION". `bound` is HiGHS's proven dual bound (-inf when none)."""

    status: str
    values: np.ndarray  # per variable; empty without a solution
    objective: float
    bound: float
    detail: str

    @property
    def has_solution(self) -> bool:
        return self.status in ("OPTIMAL", "FEASIBLE")


def solve_mip(
    cost: np.ndarray,
    matrix: sp.spmatrix,
    row_lower: np.ndarray,
    row_upper: np.ndarray,
    *,
    integer: np.ndarray | None = None,
    upper: np.ndarray | None = None,
    time_limit: float,
    relative_gap: float,
    hard_limit: float | None = None,
) -> MipResult:
    """Minimise cost @ x subject to row_lower <= matrix @ x <= row_upper, 0 <= x <= upper, x
    integer where `integer` (all by default). Infinite row bounds are allowed.

    `hard_limit` (seconds): run the solve in a child process (`mip_worker`) and kill it then;
    for models large enough that HiGHS may overrun `time_limit` (it costs ~0.5 s of start-up)."""
    n = len(cost)
    m = matrix.shape[0]
    proto = model_pb2.ModelProto()
    ids = np.arange(n, dtype=np.int64)
    proto.variables.ids.extend(ids.tolist())
    proto.variables.lower_bounds.extend([0.0] * n)
    proto.variables.upper_bounds.extend((np.full(n, np.inf) if upper is None else upper).tolist())
    proto.variables.integers.extend((np.ones(n, dtype=bool) if integer is None else integer).tolist())
    nonzero = np.flatnonzero(cost)
    proto.objective.linear_coefficients.ids.extend(nonzero.tolist())
    proto.objective.linear_coefficients.values.extend(cost[nonzero].tolist())
    proto.linear_constraints.ids.extend(range(m))
    proto.linear_constraints.lower_bounds.extend(np.asarray(row_lower, dtype=float).tolist())
    proto.linear_constraints.upper_bounds.extend(np.asarray(row_upper, dtype=float).tolist())
    coo = sp.coo_matrix(matrix)
    order = np.lexsort((coo.col, coo.row))  # MathOpt wants row-major, sorted
    proto.linear_constraint_matrix.row_ids.extend(coo.row[order].tolist())
    proto.linear_constraint_matrix.column_ids.extend(coo.col[order].tolist())
    proto.linear_constraint_matrix.coefficients.extend(coo.data[order].astype(float).tolist())
    highs = highs_pb2.HighsOptionsProto()
    improving = None
    if hard_limit is not None:
        # HiGHS appends every improving solution to this file: what it had found when the child
        # is killed at the hard limit is read back from there instead of being lost.
        handle, improving = tempfile.mkstemp(prefix="batchopt-mip-", suffix=".sol")
        os.close(handle)
        highs.bool_options["mip_improving_solution_save"] = True
        highs.string_options["mip_improving_solution_file"] = improving
    params = mathopt.SolveParameters(
        time_limit=dt.timedelta(seconds=max(0.01, time_limit)),
        relative_gap_tolerance=relative_gap,
        highs=highs,
    ).to_proto()
    init_args = mathopt.StreamableSolverInitArguments().to_proto()
    model_params = mathopt.ModelSolveParameters().to_proto()
    if hard_limit is not None and improving is not None:
        try:
            raw = _solve_in_child(proto, init_args, params, model_params, hard_limit)
            found = _last_improving_solution(improving, n) if raw is None else None
        finally:
            os.unlink(improving)
        if raw is None:
            detail = f"stopped at the hard limit {hard_limit:.1f} s: HiGHS did not honour its time limit"
            if found is not None and _meets_rows(found[1], matrix, row_lower, row_upper, upper):
                values = np.round(found[1])
                detail += "; its last improving solution is kept"
                return MipResult("FEASIBLE", values, float(cost @ values), -np.inf, detail)
            return MipResult("NO_SOLUTION", np.zeros(0), np.inf, -np.inf, detail)
    else:
        with highs_stdout_silenced():
            raw = mathopt_core.solve(
                proto,
                mathopt.SolverType.HIGHS.value,
                init_args,
                params,
                model_params,
                None,
                mathopt.CallbackRegistration().to_proto(),
                None,
                None,
            )
    result = result_pb2.SolveResultProto.FromString(raw) if isinstance(raw, bytes) else raw
    term = result.termination
    bound = float(term.objective_bounds.dual_bound)
    detail = f"{_REASONS.Name(term.reason)}: {term.detail}".strip(": ")
    if term.reason in (
        _REASONS.TERMINATION_REASON_INFEASIBLE,
        _REASONS.TERMINATION_REASON_INFEASIBLE_OR_UNBOUNDED,
    ):
        return MipResult("INFEASIBLE", np.zeros(0), np.inf, bound, detail)
    for solution in result.solutions:
        primal = solution.primal_solution
        if primal.feasibility_status != 2:  # SOLUTION_STATUS_FEASIBLE
            continue
        values = np.zeros(n)
        values[np.asarray(primal.variable_values.ids, dtype=np.int64)] = primal.variable_values.values
        status = "OPTIMAL" if term.reason == _REASONS.TERMINATION_REASON_OPTIMAL else "FEASIBLE"
        return MipResult(status, values, float(primal.objective_value), bound, detail)
    return MipResult("NO_SOLUTION", np.zeros(0), np.inf, bound, detail)
