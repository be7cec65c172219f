"""Bucket classes re-solved several at a time in one MIP, sharing the spot rows: the per-class
re-solve's step for plans whose single classes are stuck.

Why. Under a spot-share cap and spot diversification the rows are sums over every bucket. Once they
bind, a class alone can only move within their slack, so the per-class re-solve
(`commitment_coupled.py`) stops: on the demo's cpu-batch queue (README policy, a $0.41-an-hour
Compute Savings Plan) it reached $765.55 from $774.14 in its first pass and then spent the rest of
its 2.7 s finding nothing, the spot share at exactly 0.8 and two pools at exactly a third. Classes
in one MIP can trade: one takes spot work another gives up. Run after each pass of single classes
over every class (2026-12-06, idle 2-core Xeon, the stage's own input and seconds in a 10 s solve):
cpu-batch $765.48 / $761.78 / $759.81 / $758.84 / $755.54 in groups of 2 / 4 / 8 / 12 / 16, and
$765.55 at 24 and 32 (their MIPs need more than the 0.2 s each gets); the benchmark's KTH README
week $598.21 as before (the same with 24-32: $598.58); its Alibaba README week $4,072.54-4,076.55
against $4,076.37-4,079.22 for single classes alone. Groups from the start instead (a prototype)
reached $744.85 on cpu-batch but nothing on the Alibaba week, whose single classes gain throughout
its 1.9 s: hence after a pass. Each group pass shifts the groups by half a group, so classes meet
new partners: cpu-batch then $753.21 (fixed groups $755.54), KTH $598.21, Alibaba $4,072.54, the
demo's gpu-training $4,557.16 and memory-heavy $418.15 (singles alone $4,557.58 and $418.15).
Starting the groups inside a pass once most classes so far found cheaper bins only by breaking the
rows gave cpu-batch $751.82 but memory-heavy $419.53, whose first classes are mostly such: dropped.

The model is each class's own (`commitment_classes._class_model`: integer bins over the columns
that fit the class, its budgets as rows, continuous covered instance-hours) side by side, each class
weighted by its buckets, and the spot rows once over all of them given the rest of the plan
(`commitment_coupled._SpotRows` at weight 1, each class's coefficients times its buckets).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from optimizer.solver.commitment_classes import ExtraRows, _bins, _class_model, fitting_columns, trimmed_bins
from optimizer.solver.mip import solve_mip
from optimizer.solver.plan import Bin
from optimizer.solver.problem import Offering, Problem

#: Classes per group (module docstring: 16 did best on cpu-batch, and left the benchmark weeks as
#: they were).
GROUP_SIZE = 16


def resolve_group(
    problem: Problem,
    col_offerings: Sequence[Offering],
    col_counts: np.ndarray,
    needs: Sequence[np.ndarray],
    weights: Sequence[float],
    incumbent: float,
    rows: ExtraRows,
    *,
    drop_empty: bool,
    time_limit: float,
) -> list[list[Bin]] | None:
    """Classes (jobs `needs[i]` per shape, `weights[i]` buckets each) re-solved together with `rows`
    over all of them (each class's bins weighted by its buckets); their new bins, surplus trimmed,
    when the MIP beats `incumbent` (the classes' weighted objective now), else None. The caller
    keeps them only where their exact bills are lower and the rows still hold on the trimmed bins."""
    blocks, costs, lower, upper, coupling, integer, parts = [], [], [], [], [], [], []
    for need, w in zip(needs, weights, strict=True):
        idx = fitting_columns(col_counts, need)
        if not idx.size:
            return None
        offerings = [col_offerings[p] for p in idx]
        counts = col_counts[idx]
        model = _class_model(problem, offerings, counts, need)
        width = model.matrix.shape[1]
        blocks.append(model.matrix)
        costs.append(w * model.cost)
        lower.append(model.lower)
        upper.append(model.upper)
        block = np.zeros((rows.upper.size, width))
        block[:, : model.n_cols] = w * rows.matrix(offerings, counts)
        coupling.append(block)
        integer.append(np.arange(width) < model.n_cols)
        parts.append((offerings, counts, need, model.n_cols, width))
    shared = sp.csr_matrix(np.hstack(coupling))
    matrix = sp.vstack([sp.block_diag(blocks, format="csr"), shared], format="csr")
    result = solve_mip(
        np.concatenate(costs),
        matrix,
        np.concatenate([*lower, np.full(rows.upper.size, -np.inf)]),
        np.concatenate([*upper, rows.upper]),
        integer=np.concatenate(integer),
        time_limit=time_limit,
        relative_gap=0.005,
    )
    if not result.has_solution or result.objective >= incumbent - 1e-9 * max(1.0, abs(incumbent)):
        return None
    out: list[list[Bin]] = []
    at = 0
    for offerings, counts, need, n_cols, width in parts:
        raw = _bins(offerings, counts, need, result.values[at : at + n_cols])
        at += width
        if raw is None:
            return None
        out.append(trimmed_bins(problem, raw, need, drop_empty=drop_empty))
    return out
