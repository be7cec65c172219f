"""Better link multipliers for the capped Lagrangian bound: subgradient steps on exact class partitions.

`capped_class_bound` prices every bucket class's whole-instance cover at the converged capped LP's
multipliers. Those are the best multipliers for the LP, not for the bound with integer classes:
on the KTH week under the README's policy it stops at $453.98 with every class solved exactly.
When every class fits the recursion (`class_partition`: the 121 classes take 0.2 s of CPU), the
Lagrangian function can be evaluated often enough to climb. With the spot-row multipliers kept
(so offering costs and spot surcharges stay as the LP left them, >= 0 as checked) and
rho_osu >= 0 on the link rows, nu >= 0 on the card row,
    L(rho, nu) = C - nu k + sum_o min(0, nu - sum_su wh_u d_su rho_osu)
                 + sum_u wh_u min over exact partitions of class u's jobs of
                   sum over its instances (offering_cost_o + sum_s jobs_s (spot_s + rho_osu)),
a valid lower bound for ANY such rho and nu (the argument of `capped_class_bound`'s module doc,
every class solved exactly; C = -w.b over the spot rows). It is concave; a supergradient at
(rho, nu), with y*_o = 1 where an offering's y term is negative, is
    d/drho_osu = wh_u (jobs of s the partition of u puts on o - d_su y*_o),  d/dnu = sum y* - k.
Each step moves along it plus a share of the previous direction (a deflected walk) by a share of
the Polyak step towards a target a little above the best bound, projected on rho, nu >= 0; after
a few steps without a better bound the share halves and the walk restarts from the best
multipliers. Every evaluated L is a complete certificate, so
the best so far is reported as it comes and a deadline loses nothing proven.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from optimizer.solver.class_partition import cheapest_partition_bins
from optimizer.solver.columns import Prepared

#: First step: this share of the Polyak step (KTH README: 1.0 overshoots to $444-447, 0.1
#: climbs from $453.98).
FIRST_SHARE = 0.1
#: Steps without a better bound before the share halves and the walk restarts from the best.
PATIENCE = 5
#: The Polyak target, relative to the best bound (KTH README, 4 s of CPU: 1 % $454.70, 2 %
#: $454.54).
TARGET_ABOVE = 0.01
#: Smallest share worth stepping with.
MIN_SHARE = 1e-4
#: Share of the previous direction added to each supergradient (a deflected walk zigzags less;
#: KTH README, 4 s of CPU: 0 $454.64, 0.3 $454.92, 0.6 $455.08, 0.75 $455.15, 0.9 $455.03).
DEFLECT = 0.7


def lagrangian_value(
    prep: Prepared,
    offering_cost: np.ndarray,
    spot_surcharge: np.ndarray,
    rho: np.ndarray,
    nu: float,
    constant: float,
    *,
    deadline: float = np.inf,
    clock: Callable[[], float] | None = None,
) -> tuple[float, np.ndarray, float] | None:
    """L(rho, nu) of the module doc, its supergradients on rho (O, S, U) and on nu; None when a
    class is too large for the recursion (no exact class term, so no certificate here) or when
    `clock` reaches `deadline` before every class is priced."""
    k = prep.problem.policy.max_instance_types
    assert k is not None
    wh = prep.weight * prep.hours
    demand = prep.demand.astype(float)
    rc_y = nu - np.einsum("osu,su,u->o", rho, demand, wh)
    selected = rc_y < 0
    total = constant - nu * k + float(rc_y[selected].sum())
    jobs = np.zeros(rho.shape)
    for u in range(prep.n_classes):
        if clock is not None and clock() >= deadline:
            return None
        out = cheapest_partition_bins(prep, u, offering_cost, rho[:, :, u] + spot_surcharge)
        if out is None:
            return None
        cost, bins = out
        total += float(wh[u]) * cost
        for o, placed in bins:
            jobs[o, :, u] += placed
    grad = (jobs - demand[None, :, :] * selected[:, None, None]) * wh[None, None, :]
    return total, grad, float(selected.sum() - k)


def ascend(
    prep: Prepared,
    offering_cost: np.ndarray,
    spot_surcharge: np.ndarray,
    rho: np.ndarray,
    nu: float,
    constant: float,
    *,
    deadline: float,
    clock: Callable[[], float],
    on_bound: Callable[[float], None] | None = None,
) -> float | None:
    """The best L found by subgradient steps from (rho, nu) until `deadline` (module doc), each
    improvement reported through `on_bound`; None when no class-exact L could be evaluated.
    `offering_cost` (O,) and `spot_surcharge` (O, S) must be >= 0: the spot rows' multipliers,
    kept; `constant`: -w.b over those rows."""
    best = -np.inf
    best_at: tuple[np.ndarray, float, np.ndarray, float] | None = None
    share = FIRST_SHARE
    stall = 0
    prev: tuple[np.ndarray, float] | None = None
    out = lagrangian_value(
        prep, offering_cost, spot_surcharge, rho, nu, constant, deadline=deadline, clock=clock
    )
    while out is not None:
        value, grad, grad_nu = out
        stall = 0 if value > best + 1e-6 * max(1.0, abs(best)) else stall + 1
        if value > best:
            best, best_at = value, (rho.copy(), nu, grad, grad_nu)
            if on_bound is not None:
                on_bound(best)
        if stall >= PATIENCE:
            # Back to the best multipliers (and their supergradient: no evaluation), shorter steps.
            share /= 2.0
            stall = 0
            assert best_at is not None
            rho, nu, grad, grad_nu = best_at[0].copy(), best_at[1], best_at[2], best_at[3]
            value = best
            prev = None
        if share < MIN_SHARE or clock() >= deadline:
            break
        # Projected: a multiplier at 0 whose supergradient points below 0 stays there.
        grad = np.where((rho <= 0.0) & (grad < 0.0), 0.0, grad)
        grad_nu = grad_nu if (nu > 0.0 or grad_nu > 0.0) else 0.0
        if prev is not None:
            grad = grad + DEFLECT * prev[0]
            grad_nu = grad_nu + DEFLECT * prev[1]
        prev = (grad, grad_nu)
        norm = float((grad * grad).sum()) + grad_nu * grad_nu
        if norm <= 0.0:
            break  # no direction left to walk
        step = share * (TARGET_ABOVE * abs(best) + max(0.0, best - value)) / norm
        rho = np.maximum(rho + step * grad, 0.0)
        nu = max(nu + step * grad_nu, 0.0)
        out = lagrangian_value(
            prep, offering_cost, spot_surcharge, rho, nu, constant, deadline=deadline, clock=clock
        )
    return None if not np.isfinite(best) else best
