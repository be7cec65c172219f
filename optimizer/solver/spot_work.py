"""How much of a plan's job work runs on spot, bucket by bucket (pure).

The spot share a person reads for a plan is the one `max_spot_share` caps: job vCPU-hours hosted
on spot over all job vCPU-hours (`Problem.job_vcpu_hours`, gangs by their held hours). The same
per-bucket figures size the spot compute environment a plan maps to
(`compute_environments.spot_cap`), so the share the page shows and the share the document is built
to keep are one computation.
"""

from __future__ import annotations

import numpy as np

from optimizer.solver.plan import Plan
from optimizer.solver.problem import Problem


def spot_job_vcpus(problem: Problem, plan: Plan) -> np.ndarray:
    """Per bucket, the vCPUs of the jobs the plan hosts on spot offerings (gangs never are)."""
    vcpus = {s.id: s.vcpus for s in problem.shapes if not s.is_gang}
    spot = {o.key for o in problem.offerings if o.is_spot}
    out = np.zeros(len(plan.buckets), dtype=float)
    for t, bins in enumerate(plan.buckets):
        on_spot = (b for b in bins if b.offering in spot)
        out[t] = sum(b.count * n * vcpus.get(shape, 0.0) for b in on_spot for shape, n in b.jobs.items())
    return out


def packed_job_vcpus(problem: Problem) -> np.ndarray:
    """Per bucket, the vCPUs of the jobs that are not gangs: what a queue sends to its spot CE first
    (Batch runs gangs on on-demand only)."""
    packed = [i for i, s in enumerate(problem.shapes) if not s.is_gang]
    if not packed:
        return np.zeros(problem.n_buckets, dtype=float)
    sizes = np.array([problem.shapes[i].vcpus for i in packed], dtype=float)
    return sizes @ problem.demand[packed].astype(float)


def spot_share(problem: Problem, plan: Plan) -> float | None:
    """Job vCPU-hours on spot / all job vCPU-hours: the measure `max_spot_share` caps; None when the
    plan has no solution or the problem no work."""
    total = float(problem.job_vcpu_hours().sum())
    if not plan.has_solution or total <= 0.0:
        return None
    return float(spot_job_vcpus(problem, plan).sum()) * problem.bucket_hours / total
