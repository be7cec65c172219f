"""Meet the spot limits at least cost by re-choosing the offering of every bin, exactly.

A plan's bins (a job multiset packed on one instance) can run on any offering that hosts that
multiset; the jobs each bucket runs stay the same, so demand stays covered whatever offering each
bin ends on. The spot limits are sums over all bins: spot job vCPU-hours (`max_spot_share`) and
each spot pool's instance vCPU-hours against 1/K of the spot total (diversification). So the
cheapest re-assignment of a plan's bins that meets the limits is one small integer program,
aggregated over buckets (bins packing the same jobs are interchangeable wherever they run):

    min  sum_{m,h} hourly_h x hours x y[m,h]
    s.t. sum_h y[m,h] = n_m                        (every bin of multiset m placed)
         sum_{m, h spot} vcpu(m) x y[m,h] <= share x job vCPUs      (max_spot_share)
         K x vcpus_p x sum_m y[m,p] <= sum_{m, h spot} vcpus_h x y[m,h]   (each spot pool p)
         y integer >= 0, y[m,h] = 0 where h cannot host m.

`spot_repair` moves bins greedily (cheapest move first, one limit after the other) and can pay
far more than needed: on the KTH week under the README's policy its repair of the per-class
Lagrangian plan lost 3 % against the LP. The offerings are those the plan already runs (so a type
cap it meets stays met) plus any the caller allows. A heuristic: it gives incumbents, never bounds.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from optimizer.solver.assemble import RawBin, heuristic_plan
from optimizer.solver.mip import solve_mip
from optimizer.solver.plan import Plan
from optimizer.solver.problem import Problem
from optimizer.solver.spot_repair import _Catalogue, _groups

#: Relative gap at which the re-assignment MIP stops.
REASSIGN_GAP = 1e-4
#: Catalogues up to this many offerings (a type-cap subset) let a re-assignment use any of them.
SMALL_CATALOGUE = 16


def small_catalogue(problem: Problem) -> frozenset[str]:
    """Every offering key when the catalogue is small (a type-cap subset), else none: the
    `extra_offerings` a re-assignment may move bins to beyond those the plan runs."""
    if len(problem.offerings) > SMALL_CATALOGUE:
        return frozenset()
    return frozenset(o.key for o in problem.offerings)


def reassign_bins(
    problem: Problem, plan: Plan, *, time_limit: float, extra_offerings: frozenset[str] = frozenset()
) -> Plan | None:
    """`plan` with every bin on the offering that makes the whole plan cheapest within the spot
    limits (see the module doc), among the offerings it runs and `extra_offerings` (keys); None
    when no re-assignment meets them or the MIP finds none in `time_limit` seconds."""
    if not plan.has_solution or time_limit <= 0.01:
        return None
    cat = _Catalogue(problem)
    groups = [g for g in _groups(cat, plan) if g.count > 0]
    if not groups:
        return None
    allowed = np.zeros(len(cat.offerings), dtype=bool)
    allowed[[g.offering for g in groups]] = True
    for key in extra_offerings:
        if key in cat.index:
            allowed[cat.index[key]] = True
    # Multisets: bins packing the same jobs, in whichever bucket.
    multisets: dict[bytes, int] = {}
    jobs_of: list[np.ndarray] = []
    members: list[list[int]] = []
    for n, g in enumerate(groups):
        key = g.jobs.tobytes()
        m = multisets.setdefault(key, len(jobs_of))
        if m == len(jobs_of):
            jobs_of.append(g.jobs)
            members.append([])
        members[m].append(n)
    counts = np.array([sum(groups[n].count for n in ms) for ms in members], dtype=float)
    var_m: list[int] = []
    var_h: list[int] = []
    for m, jobs in enumerate(jobs_of):
        hosts = cat.hosts(jobs)
        hosts = hosts[allowed[hosts]]
        if hosts.size == 0:
            return None
        var_m += [m] * hosts.size
        var_h += hosts.tolist()
    vm, vh = np.array(var_m), np.array(var_h)
    n_vars, n_sets = vm.size, len(jobs_of)
    hours = problem.bucket_hours
    cost = cat.hourly[vh] * hours
    rows = [sp.csr_matrix((np.ones(n_vars), (vm, np.arange(n_vars))), shape=(n_sets, n_vars))]
    lower, upper = [counts], [counts]
    spot = cat.spot[vh]
    policy = problem.policy
    if policy.caps_spot_share:
        job_vcpus = np.array([float(j @ cat.sizes[:, 0]) for j in jobs_of])[vm]
        total = float((problem.demand.sum(axis=1) * cat.sizes[:, 0]).sum())
        rows.append(sp.csr_matrix((job_vcpus * spot)[None, :]))
        lower.append(np.array([-np.inf]))
        upper.append(np.array([float(policy.max_spot_share or 0.0) * total]))
    k = policy.diversification
    if k:
        pools = np.unique(vh[spot])
        inst = cat.vcpus[vh] * spot
        div = np.tile(-inst, (pools.size, 1)) + k * (vh[None, :] == pools[:, None]) * inst[None, :]
        rows.append(sp.csr_matrix(div))
        lower.append(np.full(pools.size, -np.inf))
        upper.append(np.zeros(pools.size))
    result = solve_mip(
        cost,
        sp.vstack(rows, format="csr"),
        np.concatenate(lower),
        np.concatenate(upper),
        time_limit=time_limit,
        relative_gap=REASSIGN_GAP,
    )
    if not result.has_solution:
        return None
    y = np.round(result.values).astype(np.int64)
    by_bucket: list[list[RawBin]] = [[] for _ in range(problem.n_buckets)]
    for m, ms in enumerate(members):
        placed = [(int(h), int(c)) for h, c in zip(vh[vm == m], y[vm == m], strict=True) if c > 0]
        # Hand the multiset's bins out bucket by bucket, each bucket keeping its own count.
        for n in ms:
            need = groups[n].count
            while need > 0:
                h, c = placed[0]
                take = min(c, need)
                by_bucket[groups[n].bucket].append((cat.offerings[h].key, take, jobs_of[m]))
                need -= take
                placed[0] = (h, c - take)
                if placed[0][1] == 0:
                    placed.pop(0)
    return heuristic_plan(problem, by_bucket, np.arange(problem.n_buckets), problem.demand)
