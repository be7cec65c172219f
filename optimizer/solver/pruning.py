"""Dominance pruning: drop offerings that another offering beats on price while hosting everything.

Offering B dominates A when both are bought the same way (spot or on-demand: shapes that must avoid
spot care), share the architecture, B has at least A's vCPUs, memory, GPUs and network and hosts
whatever A may (CPU jobs, EFA), and B's hourly objective is no higher. Any bin of A then fits in B
for no more money, so removing A loses nothing:
this stays exact under `max_instance_types` (selected offerings are counted, and swapping A for B
never adds one) and `max_spot_share` (measured on job vCPU-hours, which a swap does not change).
It is NOT exact under spot diversification (moving A's capacity onto B can overfill B's pool), so
spot offerings are kept whole when that policy is on. With commitments B must also consume no more
of any commitment per instance-hour (and be covered wherever A is): then at every price a
commitment's multiplier puts on covered usage (`commitments.relaxed_problem`) B stays no dearer,
which the per-class partition bound (`partition_bound.py`) needs from one pruning for all of them.
"""

from __future__ import annotations

import numpy as np

from optimizer.solver.problem import Offering, Problem


def useful_offerings(problem: Problem) -> list[Offering]:
    """Offerings that can host at least one shape with demand and, under spot diversification
    (K pools), the K - 1 spot offerings that host none with the lowest objective per vCPU.

    Why those. Diversification bounds each spot pool's instance vCPU-hours by 1/K of all spot
    ones, and an empty spot instance counts: one of a type no job fits (an arm64 pool beside
    x86 jobs) may balance the pools. Without any the LP, and every bound on it, missed such plans
    (one x86 job, K = 2, an x86 spot pool and an arm64 one: bound $0.096, the on-demand plan,
    against $0.04 for the job on spot beside an empty arm64 instance). Such pools differ only in
    price per vCPU, each holds at most 1/K of the spot vCPUs and the pools hosting jobs hold the
    rest, so an LP needs at most K - 1 of them, the cheapest: with those the LP's optimum is the
    one over every offering, and a bound certified over the prepared offerings holds. (Every
    spot offering instead also gave the LP pools to spend on that the plan search then chose:
    Alibaba week, 12 types / 4 spot types / share 0.8, 0.48 % -> 1.96 %.)"""
    active = [s for i, s in enumerate(problem.shapes) if problem.demand[i].any()]
    useful = [o for o in problem.offerings if any(o.can_host(s) for s in active)]
    k = problem.policy.diversification
    if k > 1:
        icf = problem.policy.interruption_cost_factor
        hosting = {o.key for o in useful}
        idle = [o for o in problem.offerings if o.is_spot and o.vcpus > 0 and o.key not in hosting]
        idle.sort(key=lambda o: (o.hourly_objective(icf) / o.vcpus, o.key))
        useful += idle[: k - 1]
    return useful


def prune_dominated(problem: Problem) -> tuple[list[Offering], dict[str, str]]:
    """Undominated useful offerings, and for each removed key the key that dominates it."""
    icf = problem.policy.interruption_cost_factor
    candidates = useful_offerings(problem)
    keep_spot_whole = problem.policy.diversification > 0
    removed: dict[str, str] = {}
    kept: list[Offering] = []
    groups: dict[tuple[str, str], list[Offering]] = {}
    for o in candidates:
        groups.setdefault((o.capacity_type, o.arch), []).append(o)
    for (capacity_type, _arch), group in groups.items():
        if keep_spot_whole and capacity_type == "SPOT":
            kept.extend(group)
            continue
        # Order so that any dominator comes before what it dominates: cheapest first, then larger.
        group.sort(key=lambda o: (o.hourly_objective(icf), -o.vcpus, -o.memory_mib, -o.gpus, o.instance_type))
        caps = np.array([[o.vcpus, o.memory_mib, o.gpus] for o in group], dtype=float)
        price = np.array([o.hourly_objective(icf) for o in group])
        uses = problem.commitment_uses(group)  # +inf: not covered, so never dominating a covered one
        hosts = _host_features(problem, group)
        alive = np.ones(len(group), dtype=bool)
        for j in range(len(group)):
            if not alive[j]:
                continue
            dominated = (
                (caps[j + 1 :] <= caps[j]).all(axis=1)
                & (price[j + 1 :] >= price[j])
                & (uses[j + 1 :] >= uses[j]).all(axis=1)
                & (hosts[j + 1 :] <= hosts[j]).all(axis=1)
            )
            hit = np.flatnonzero(dominated & alive[j + 1 :]) + j + 1
            alive[hit] = False
            for h in hit:
                removed[group[h].key] = group[j].key
        kept.extend(o for o, a in zip(group, alive, strict=True) if a)
    order = {o.key: n for n, o in enumerate(problem.offerings)}
    kept.sort(key=lambda o: order[o.key])
    return kept, removed


def _host_features(problem: Problem, group: list[Offering]) -> np.ndarray:
    """(len(group), 3) what else `Offering.can_host` asks of an instance, where a demanded shape
    asks it: CPU jobs allowed (accelerated types may be kept for GPU jobs only), network, EFA (a
    gang's nodes); 0 in a column no shape needs, so it never stops a domination."""
    active = [s for i, s in enumerate(problem.shapes) if problem.demand[i].any()]
    need = np.array(
        [
            any(s.gpus == 0 for s in active),
            any(s.min_network_gbps > 0 for s in active),
            any(s.efa for s in active),
        ],
        dtype=float,
    )
    features = np.array([[o.hosts_cpu_jobs, o.network_gbps or 0.0, o.efa] for o in group], dtype=float)
    return features.reshape(len(group), 3) * need
