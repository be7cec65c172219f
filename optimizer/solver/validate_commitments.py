"""The validator's own account of a plan's commitments: coverage, fees and utilization, recomputed.

Written from the problem definition alone, like `validate.py` (nothing from the solver's billing):
in each bucket, on-demand instance-hours are covered by Reserved Instances first, then EC2 Instance
Savings Plans, then Compute Savings Plans, each plan taking the usage with the highest savings
percentage first. That greedy rule is then checked against a linear program, bucket by bucket and
plan by plan: the coverage that maximises the on-demand dollars covered within the plan's budget
(`scipy.optimize.linprog`) must save exactly as much, i.e. AWS's rule is what a cost-minimising
model does.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linprog

from optimizer.solver.plan import Plan
from optimizer.solver.problem import Commitment, Problem

REL_TOL = 1e-6
ABS_TOL = 1e-5
KIND_ORDER = ("RESERVED_INSTANCE", "EC2_INSTANCE_SAVINGS_PLAN", "COMPUTE_SAVINGS_PLAN")


def _use_of(c: Commitment, instance_type: str) -> float | None:
    if c.type == "RESERVED_INSTANCE":
        return 1.0 if instance_type == c.instance_type else None
    return c.rates.get(instance_type)


def _lp_best(items: list[tuple[float, float, float]], budget: float) -> float:
    """max sum(price x) s.t. sum(use x) <= budget, 0 <= x <= usage, for (usage, price, use) items."""
    if not items or budget <= 0:
        return 0.0
    usage = np.array([i[0] for i in items])
    price = np.array([i[1] for i in items])
    use = np.array([i[2] for i in items])
    bounds = list(zip(np.zeros_like(usage), usage, strict=True))
    res = linprog(-price, A_ub=use[None, :], b_ub=[budget], bounds=bounds)
    return float(-res.fun) if res.status == 0 else float("nan")


def check_commitments(problem: Problem, plan: Plan) -> tuple[float, float, list[str]]:
    """(on-demand dollars the commitments cover, their fees, errors) for the whole plan."""
    errors: list[str] = []
    hours = problem.bucket_hours
    horizon = problem.n_buckets * hours
    offerings = {o.key: o for o in problem.offerings}
    od_price = {
        o.instance_type: o.price_per_hour for o in problem.offerings if o.capacity_type == "ON_DEMAND"
    }
    ordered = sorted(problem.commitments, key=lambda c: KIND_ORDER.index(c.type))
    used = {c.id: 0.0 for c in problem.commitments}
    savings = 0.0
    checked: dict[tuple, float] = {}
    for t, bins in enumerate(plan.buckets):
        usage: dict[str, float] = {}
        for b in bins:
            o = offerings.get(b.offering)
            if o is not None and o.capacity_type == "ON_DEMAND":
                held = hours if b.hours is None else b.hours  # a gang bin's nodes: its own hours
                usage[o.instance_type] = usage.get(o.instance_type, 0.0) + b.count * held
        signature = tuple(sorted(usage.items()))
        for c in ordered:
            cap = (c.count if c.type == "RESERVED_INSTANCE" else c.usd_per_hour) * hours
            items = []
            for it, h in usage.items():
                a = _use_of(c, it)
                if a is not None and h > 1e-12:
                    items.append((it, h, od_price[it], a))
            # Highest savings percentage 1 - use/price first, i.e. highest price/use first.
            items.sort(key=lambda i: (-i[2] / i[3], i[0]))
            spent = covered = 0.0
            for it, h, price, a in items:
                x = min(h, max(0.0, cap - spent) / a)
                usage[it] -= x
                spent += x * a
                covered += x * price
            used[c.id] += spent
            savings += covered
            key = (c.id, signature)
            if key not in checked:
                best = _lp_best([(h, price, a) for _, h, price, a in items], cap)
                checked[key] = best
                if not abs(best - covered) <= ABS_TOL + REL_TOL * best:
                    errors.append(
                        f"bucket {t}: commitment {c.id} covers ${covered:.6f} highest-savings-first, "
                        f"the coverage LP ${best:.6f}"
                    )
    fees = sum(c.usd_per_hour for c in problem.commitments if c.type != "RESERVED_INSTANCE") * horizon
    if plan.has_solution and abs(fees - plan.commitment_usd) > ABS_TOL + REL_TOL * fees:
        errors.append(f"commitment_usd {plan.commitment_usd:.6f} but the fees are {fees:.6f}")
    reported = {str(c.get("id")): c for c in plan.commitments}
    for c in problem.commitments:
        paid = (c.count if c.type == "RESERVED_INSTANCE" else c.usd_per_hour) * horizon
        utilization = used[c.id] / paid if paid > 0 else 0.0
        entry = reported.get(c.id)
        if entry is None:
            errors.append(f"commitments: no utilization reported for {c.id}")
        elif abs(float(entry.get("utilization", -1.0)) - utilization) > 1e-5:
            errors.append(
                f"commitments: {c.id} utilization {entry.get('utilization')} "
                f"but usage gives {utilization:.6f}"
            )
    unknown = sorted(set(reported) - {c.id for c in problem.commitments})
    if unknown:
        errors.append(f"commitments: {unknown[0]} is not a commitment of the problem")
    return savings, fees, errors
