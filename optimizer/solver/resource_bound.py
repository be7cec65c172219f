"""A cheap lower bound that holds whatever the LP managed: per bucket, the price of the resources
the demand needs at the cheapest rate any offering that may host each job charges for them.

Why: column generation's bound is only as good as the duals it reached. Under load the demo's
cpu-batch LP stopped at its time limit with a bound of -$15,033 (shown as $0, gap 100 %), which
tells a FinOps reader nothing. This bound needs no solver and is never that weak.

Why it is valid. An instance of offering `o` costs `p_o` per hour (`Offering.hourly_objective`:
price plus the expected spot re-run cost, what `objective_usd` adds up) and the jobs it hosts use
at most its capacity `c_od` in each resource `d` (vCPU, memory, GPU). For any weights `w_d >= 0`
summing to 1, `p_o >= sum_j p_o sum_d w_d r_jd / c_od` over its jobs `j` (requests `r_jd`), which is
at least `sum_j min_o' p_o' sum_d w_d r_jd / c_o'd` with `o'` ranging over the offerings of `o`'s
capacity type that may host `j` (`Offering.can_host` after the instance requirements: size, arch,
spot_ok, GPUs, instance types). So a bucket's objective is at least the sum over its jobs of
those per-job charges, for every `w`: the bound takes the best `w` of a small grid per bucket.

`max_spot_share` caps the job vCPU-hours on spot; it enters as a Lagrangian term: for any price
`mu >= 0` per spot job vCPU-hour, each job pays `min(on-demand charge, spot charge + mu x vCPU-hours)`
and the total gets `mu x` the cap back. Every `mu` gives a valid bound (the plan's spot hours are
within the cap); the best of the breakpoints is kept. The other policy rows (type cap,
diversification) only remove plans, so the bound holds under them too. Problems with gangs
(instances held part of a bucket) or commitments (discounted usage) are priced differently: they
get 0 here, their own paths bound them.
"""

from __future__ import annotations

import numpy as np

from optimizer.solver.problem import FIT_TOLERANCE, Problem
from optimizer.solver.requirements import restrict_to_requirements
from optimizer.solver.validate import ABS_TOL, REL_TOL

#: Steps of the weight grid per resource (vCPU, memory, GPU): 10 gives 66 weightings, the pure
#: resources among them.
WEIGHT_STEPS = 10
#: At most this many spot prices `mu` are tried (spread over the breakpoints, 0 always among them).
MAX_SPOT_PRICES = 64


def resource_bound(problem: Problem) -> float:
    """A lower bound on every valid plan's `objective_usd` (0.0 when the problem is not priced
    per whole bucket: gangs or commitments)."""
    if problem.commitments or any(s.is_gang for s in problem.shapes) or not problem.demand.any():
        return 0.0
    problem = restrict_to_requirements(problem)
    on_demand, spot = _per_job_charges(problem)
    demand = problem.demand.astype(float)
    hours = problem.bucket_hours
    vcpus = np.array([s.vcpus for s in problem.shapes], dtype=float)
    share = problem.policy.max_spot_share
    if share is None:
        return hours * _best_sum(np.minimum(on_demand, spot), demand)
    total = float((demand.sum(axis=1) * vcpus).sum()) * hours
    # The validator's slack on the cap: the plan's spot job vCPU-hours are at most this.
    cap = share * total + ABS_TOL + REL_TOL * share * total
    best = 0.0
    for mu in _spot_prices(on_demand, spot, vcpus):
        charge = np.minimum(on_demand, spot + mu * vcpus[:, None])
        best = max(best, hours * _best_sum(charge, demand) - mu * cap)
    return best


def _per_job_charges(problem: Problem) -> tuple[np.ndarray, np.ndarray]:
    """(S, W) per shape and weighting, the cheapest hourly charge for one job on an on-demand and
    on a spot offering that may host it (inf where none may; 0 when no offering at all may, which
    the solve reports INFEASIBLE)."""
    icf = problem.policy.interruption_cost_factor
    offerings = problem.offerings
    return job_charges(
        np.array([o.hourly_objective(icf) for o in offerings], dtype=float),
        np.array([o.is_spot for o in offerings], dtype=bool),
        np.array([[o.vcpus, o.memory_mib, o.gpus] for o in offerings], dtype=float).reshape(-1, 3),
        np.array([[o.can_host(s) for s in problem.shapes] for o in offerings], dtype=bool).reshape(
            len(offerings), len(problem.shapes)
        ),
        problem.shape_sizes().reshape(-1, 3),
    )


def job_charges(
    price: np.ndarray, is_spot: np.ndarray, capacity: np.ndarray, compat: np.ndarray, sizes: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """`_per_job_charges` from arrays: offerings' hourly `price` (O,), `is_spot` (O,), `capacity`
    (O, 3), which shapes each may host `compat` (O, S), the shapes' `sizes` (S, 3). The per-class
    partition bound prices its classes too large to enumerate so, at its multipliers' prices."""
    # The bin check lets requests exceed capacity by the fit tolerance: dividing by the larger
    # figure never overstates the per-unit price.
    capacity = capacity + FIT_TOLERANCE
    weights = _weights()
    on_demand = np.full((sizes.shape[0], len(weights)), np.inf)
    spot = on_demand.copy()
    for i in range(sizes.shape[0]):
        hosts = compat[:, i]
        if not hosts.any():
            on_demand[i] = 0.0
            continue
        charge = price[:, None] * ((sizes[i] / capacity) @ weights.T)  # (O, W)
        if (hosts & ~is_spot).any():
            on_demand[i] = charge[hosts & ~is_spot].min(axis=0)
        if (hosts & is_spot).any():
            spot[i] = charge[hosts & is_spot].min(axis=0)
    return on_demand, spot


def _best_sum(charge: np.ndarray, demand: np.ndarray) -> float:
    """Sum over buckets of the best weighting's demand x per-job charge (an hour's worth)."""
    return float((charge.T @ demand).max(axis=0).sum())


def _spot_prices(on_demand: np.ndarray, spot: np.ndarray, vcpus: np.ndarray) -> np.ndarray:
    """0 and the prices at which a job's spot charge plus `mu x vCPUs` reaches its on-demand
    charge (where the Lagrangian's slope changes), thinned to `MAX_SPOT_PRICES`."""
    with np.errstate(invalid="ignore", divide="ignore"):
        breaks = (on_demand - spot) / vcpus[:, None]
    breaks = np.unique(breaks[np.isfinite(breaks) & (breaks > 0)])
    if len(breaks) > MAX_SPOT_PRICES - 1:
        breaks = breaks[np.linspace(0, len(breaks) - 1, MAX_SPOT_PRICES - 1).round().astype(int)]
    return np.concatenate([[0.0], breaks])


def _weights() -> np.ndarray:
    """(W, 3) weightings of (vCPU, memory, GPU) on a grid of the simplex."""
    n = WEIGHT_STEPS
    return np.array([(a / n, b / n, (n - a - b) / n) for a in range(n + 1) for b in range(n + 1 - a)])
