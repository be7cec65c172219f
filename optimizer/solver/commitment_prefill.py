"""A committed plan under coupling policies built budget first: covered on-demand instances in every
bucket, then the rest of the jobs solved at list prices.

Why. A commitment's budget is per bucket (an hour's plan-rate dollars, or N reserved instances), and
under a type cap, spot diversification and a spot-share cap the committed solve's other plans
misuse it: the commitment-blind plan puts its on-demand work wherever list prices say, so most hours
leave the budget idle while a few run past it (the demo's memory-heavy queue used 9 % of its
Savings Plan), and the relaxed plan, which prices covered hours at one multiplier with no hourly
budget, buys on-demand far beyond it in busy hours (the KTH week's README plan, $815.81 billed against
the blind plan's $643.71). Here one covered on-demand type is chosen and, in each bucket, given as
many instances as pay for themselves: each hosts the jobs worth most per unit of its capacity,
priced at what the blind plan pays for them, and costs only what the commitments leave uncovered.
The jobs left are solved at list prices under the same policy, twice: first on the blind plan's
instance types and the covered one only (`_narrowed`: a small problem that finds a plan where the
whole catalogue may find none in the time), then on the whole catalogue with what time is left; the
cheaper merged plan is kept. Each rest has one type fewer than the cap unless every offering it
may use fits under it (the chosen type stays on offer) and the spot share rescaled to the jobs left,
so the merged plan meets the policy: its spot amounts are the rest's, and the covered instances add
only on-demand job vCPU-hours.

Measured in the committed solve (2026-12-05, 2 shared cores, one run each, the README policy),
against the plans the solve kept without this plan: the KTH-SP2 benchmark week $597.22 against
$604-629; the Alibaba week $4,105.82 against $4,791-4,836 ($4,345.27 with the blind plan's
offerings alone as the narrow rest); with those, the demo's queues cpu-short $879-891
against $886-1,048, memory-heavy (8,636 five-minute buckets) $559.83 against $626-631 and
gpu-training $4,217.33 against $5,050-5,054 (its blind plan). See docs/problem-and-plan.md, Known limits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from optimizer.solver.commitments import bill_bucket, bill_plan
from optimizer.solver.plan import Bin, Plan
from optimizer.solver.policy import Policy
from optimizer.solver.problem import Commitment, Offering, Problem

#: Most covered instances one bucket may get (the budget usually stops it far earlier).
MAX_PER_BUCKET = 64
#: Bucket classes (distinct demand) a candidate type is scored on before the best is built on all:
#: the most demanded ones, so that a few hundred candidates score in a fraction of a second.
SCORED_CLASSES = 48
#: Most candidate types kept (cheapest first) once dominated ones are dropped; they are then
#: scored by their optimistic score, best first.
MAX_CANDIDATES = 160
#: Share of the time given that scoring the candidates may take; the rest's solve gets the rest.
#: Ranked by their optimistic scores, 3-21 candidates are scored before the rest cannot win, in
#: 0.01-0.15 s on the benchmark weeks and the demo's queues.
SCORING_SHARE = 0.1
#: Share of the time left after scoring for the rest's solve on the blind plan's offerings alone
#: (`_narrowed`); the rest's solve on the whole catalogue gets what is left after it.
NARROW_SHARE = 0.4


def job_costs(problem: Problem, plan: Plan) -> np.ndarray:
    """(S,) what `plan` pays per job-hour of each shape at list prices: each bin's hourly objective
    split over its jobs by their dominant share of the instance (vCPUs, memory or GPUs), so a job
    on a half-empty instance carries the idle half too. A shape the plan does not run costs 0."""
    offerings = {o.key: o for o in problem.offerings}
    icf = problem.policy.interruption_cost_factor
    index = {s.id: i for i, s in enumerate(problem.shapes)}
    size = problem.shape_sizes()
    paid = np.zeros(len(problem.shapes))
    hours = np.zeros(len(problem.shapes))
    for bins in plan.buckets:
        for b in bins:
            o = offerings[b.offering]
            cap = np.array([o.vcpus, o.memory_mib, max(o.gpus, 1e-9)])
            ids = [index[s] for s, n in b.jobs.items() if n]
            counts = np.array([b.jobs[problem.shapes[i].id] for i in ids], dtype=float)
            share = (size[ids] / cap).max(axis=1) * counts
            if share.sum() <= 0:
                continue
            cost = o.hourly_objective(icf) * b.instance_hours(problem.bucket_hours)
            paid[ids] += cost * share / share.sum()
            hours[ids] += counts * b.instance_hours(problem.bucket_hours)
    return np.divide(paid, hours, out=np.zeros_like(paid), where=hours > 0)


@dataclass(frozen=True)
class _Candidate:
    """A covered on-demand offering and how it packs: the shapes it hosts, in the order their jobs
    are worth most per unit of its capacity."""

    offering: Offering
    order: np.ndarray  # shape indices it hosts, best value density first
    capacity: np.ndarray  # (3,)


def _extra_cost(commitments: Sequence[Commitment], o: Offering, n: int, hours: float) -> float:
    """What `n` instances of `o` for one bucket cost beyond what the commitments cover (alone)."""
    usage = n * hours
    saved = bill_bucket(commitments, {o.instance_type: usage}, {o.instance_type: o.price_per_hour}, hours)
    return usage * o.price_per_hour - saved.savings_usd


def _pack(c: _Candidate, size: np.ndarray, demand: np.ndarray) -> np.ndarray:
    """One instance of `c` filled first-fit from `demand` (changed in place) in `c.order`: the jobs
    it hosts, per shape. Plain floats: numpy per shape made a GPU type's scoring 0.13 s."""
    jobs = np.zeros(len(demand), dtype=np.int64)
    left = [float(x) for x in c.capacity]
    for i in c.order:
        want = int(demand[i])
        if want <= 0:
            continue
        fit = want
        for d in range(3):
            need = float(size[i, d])
            if need > 0:
                fit = min(fit, int(left[d] / need + 1e-9))
        if fit > 0:
            jobs[i] = fit
            demand[i] -= fit
            for d in range(3):
                left[d] -= fit * float(size[i, d])
    return jobs


def _fill_bucket(
    c: _Candidate,
    size: np.ndarray,
    value: np.ndarray,
    demand: np.ndarray,
    extra: Sequence[float],
    hours: float,
) -> tuple[float, list[np.ndarray]]:
    """(net saving, instances' jobs) of the best count of `c` instances for one bucket: each count
    packs one more instance, and the count kept is the one whose packed jobs' value (`value` per
    job-hour) most exceeds what the instances cost beyond the commitments (`extra[n]`)."""
    left = demand.astype(np.int64).copy()
    packed: list[np.ndarray] = []
    gained = 0.0
    best = (0.0, 0)
    while len(packed) < len(extra) - 1:
        jobs = _pack(c, size, left.copy())
        used = jobs > 0
        if not used.any():
            break
        # The same first-fit fills identical instances while their jobs last: one packing per run
        # of them (a GPU queue's 1,295 classes took 10.8 s packed one instance at a time).
        repeat = min(int((left[used] // jobs[used]).min()), len(extra) - 1 - len(packed))
        worth = float(jobs @ value) * hours
        for _ in range(repeat):
            packed.append(jobs)
            gained += worth
            net = gained - extra[len(packed)]
            if net > best[0] + 1e-12:
                best = (net, len(packed))
        left -= repeat * jobs
    return best[0], packed[: best[1]]


def _candidates(problem: Problem, value: np.ndarray) -> list[_Candidate]:
    """Covered on-demand offerings that host some demanded shape, dominated ones dropped (another
    as big or bigger on every resource, hosting every shape it does, no dearer and consuming no more
    of any commitment), cheapest first."""
    size = problem.shape_sizes()
    demanded = problem.demand.sum(axis=1) > 0
    rows = []
    for o, use in zip(problem.offerings, problem.commitment_uses(problem.offerings), strict=True):
        if o.is_spot or np.isinf(use).all():
            continue
        host = np.array([o.can_host(s) for s in problem.shapes]) & demanded
        if not host.any():
            continue
        rows.append((o, host, use))
    if not rows:
        return []
    caps = np.array([[o.vcpus, o.memory_mib, o.gpus] for o, _, _ in rows], dtype=float)
    price = np.array([o.price_per_hour for o, _, _ in rows])
    hosts = np.array([h for _, h, _ in rows])
    uses = np.array([u for _, _, u in rows])
    keep: list[int] = []
    for k in np.argsort(price, kind="stable"):  # a dominating offering is no dearer: kept before
        kept = np.array(keep, dtype=np.int64)
        if (
            kept.size
            and (
                (caps[kept] >= caps[k]).all(axis=1)
                & (hosts[kept] | ~hosts[k]).all(axis=1)
                & (uses[kept] <= uses[k]).all(axis=1)
            ).any()
        ):
            continue
        keep.append(int(k))
        if len(keep) >= MAX_CANDIDATES:
            break
    out = []
    for k in keep:
        o, host, _ = rows[k]
        share = (size / np.maximum(caps[k], 1e-9)).max(axis=1)
        density = np.where(host & (share <= 1.0 + 1e-9), value / np.maximum(share, 1e-12), -np.inf)
        order = np.array([i for i in np.argsort(-density, kind="stable") if np.isfinite(density[i])])
        if order.size:
            out.append(_Candidate(o, order, caps[k].copy()))
    return out


def prefill_candidate(
    problem: Problem, blind: Plan, *, deadline: float, clock: Callable[[], float]
) -> Plan | None:
    """The budget-first plan (module docstring) billed with the commitments, or None when no covered
    type pays for itself, the policy leaves no type for the rest, or the rest finds no plan by
    `deadline`. `blind`: the commitment-blind plan, whose bins price each shape's jobs."""
    policy = problem.policy
    if any(s.is_gang for s in problem.shapes) or not blind.has_solution:
        return None
    cap = policy.max_instance_types
    if cap is not None and cap - 1 < max(1, policy.min_spot_instance_types):
        return None
    hours = problem.bucket_hours
    size = problem.shape_sizes()
    value = job_costs(problem, blind)
    classes, inverse, weight = np.unique(problem.demand.T, axis=0, return_inverse=True, return_counts=True)
    inverse = np.asarray(inverse).reshape(-1)
    scored = np.argsort(-(weight * (classes @ value)), kind="stable")[:SCORED_CLASSES]
    best: tuple[float, _Candidate, list[float]] | None = None
    scoring_ends = clock() + SCORING_SHARE * max(0.0, deadline - clock())
    ranked = []
    for c in _candidates(problem, value):
        extra = _extra_costs(problem.commitments, c.offering, hours)
        ranked.append(
            (_optimistic_score(c, size, value, classes[scored], weight[scored], extra, hours), c, extra)
        )
    # Most promising first, and none whose optimistic score cannot beat the best scored: scoring
    # every candidate took 2-15 s on the benchmark weeks and the demo's queues.
    ranked.sort(key=lambda r: -r[0])
    for optimistic, c, extra in ranked:
        if optimistic <= 0 or (best is not None and optimistic <= best[0]) or clock() > scoring_ends:
            break
        score = _score(c, size, value, classes, weight, scored, extra, hours, until=scoring_ends, clock=clock)
        if score is None:
            break  # scored on part of the classes only: not compared
        if score > 0 and (best is None or score > best[0]):
            best = (score, c, extra)
    if best is None:
        return None
    _, chosen, extra = best
    key = chosen.offering.key
    ids = [s.id for s in problem.shapes]
    # Per bucket class, then to its buckets: every bucket of a class gets the same instances.
    fills = [_fill_bucket(chosen, size, value, classes[u], extra, hours)[1] for u in range(len(classes))]
    class_bins = [_bins(key, ids, packed) for packed in fills]
    taken = np.zeros((len(fills), len(ids)), dtype=problem.demand.dtype)  # (U, S) jobs they host
    for u, packed in enumerate(fills):
        for jobs in packed:
            taken[u] += jobs
    fixed = [class_bins[u] for u in inverse]
    left = replace(problem, demand=problem.demand - taken[inverse].T, commitments=(), gang_hours={})
    began = clock()
    narrow = _merged(problem, _narrowed(left, blind.selected, key), fixed, key,
                     deadline=began + NARROW_SHARE * max(0.0, deadline - began), clock=clock)  # fmt: skip
    plans = [] if narrow is None else [narrow]
    # The whole catalogue is the bigger problem: with less time than the narrow rest took to its
    # plan it finds none, and the solve's first plan runs past the deadline (on the demo's
    # gpu-training queue, 1.3 s past a 0.3 s window, the committed solve ending 0.9 s late).
    if deadline - clock() >= clock() - began:
        whole = _merged(problem, left, fixed, key, deadline=deadline, clock=clock)
        plans += [] if whole is None else [whole]
    return min(plans, key=lambda p: p.objective_usd) if plans else None


def _merged(
    problem: Problem,
    left: Problem,
    fixed: Sequence[list[Bin]],
    covered: str,
    *,
    deadline: float,
    clock: Callable[[], float],
) -> Plan | None:
    """The covered instances `fixed` (per bucket) merged with the rest `left` solved by `deadline`
    under `_rest_policy`, billed with the commitments; None when the rest finds no plan in time or
    the merged plan fails the validator."""
    from optimizer.solver.solve import solve
    from optimizer.solver.validate import validate_plan

    rest_policy = _rest_policy(problem, left, covered, deadline=deadline, clock=clock)
    if rest_policy is None:
        return None
    rest = solve(left.with_policy(rest_policy), clock=clock)
    if not rest.has_solution:
        return None
    buckets = [f + r for f, r in zip(fixed, rest.buckets, strict=True)]
    merged = replace(rest, buckets=buckets, selected=sorted({b.offering for bs in buckets for b in bs}))
    billed = bill_plan(problem, replace(merged, lower_bound_usd=0.0))
    return None if validate_plan(problem, billed, check_bound=False) else billed


def _extra_costs(commitments: Sequence[Commitment], o: Offering, hours: float) -> list[float]:
    """`_extra_cost` of 0, 1, 2, ... instances of `o`, up to the first beyond every budget (more
    never pay) or `MAX_PER_BUCKET`."""
    extra = [0.0]
    for n in range(1, MAX_PER_BUCKET + 1):
        extra.append(_extra_cost(commitments, o, n, hours))
        if extra[-1] - extra[-2] >= o.price_per_hour * hours - 1e-12:
            break
    return extra


def _optimistic_score(
    c: _Candidate,
    size: np.ndarray,
    value: np.ndarray,
    classes: np.ndarray,
    weight: np.ndarray,
    extra: Sequence[float],
    hours: float,
) -> float:
    """At least `_score` over these classes: per class, the best count n of instances valued at
    the lesser of every job they may host and n full instances at the best value density (the
    jobs' dominant shares on one instance add up to at most its number of resources), less what
    they cost beyond the commitments."""
    hosts = np.zeros(len(value), dtype=bool)
    hosts[c.order] = True
    share = (size / np.maximum(c.capacity, 1e-9)).max(axis=1)
    density = float(np.max(value[c.order] / np.maximum(share[c.order], 1e-12)))
    per_instance = density * int((c.capacity > 0).sum()) * hours
    available = (classes[:, hosts] @ value[hosts]) * hours  # (U,)
    n = np.arange(len(extra))
    net = np.minimum(available[:, None], n[None, :] * per_instance) - np.asarray(extra)[None, :]
    return float(weight @ net.max(axis=1))


def _score(
    c: _Candidate,
    size: np.ndarray,
    value: np.ndarray,
    classes: np.ndarray,
    weight: np.ndarray,
    scored: np.ndarray,
    extra: Sequence[float],
    hours: float,
    *,
    until: float,
    clock: Callable[[], float],
) -> float | None:
    """The net saving of candidate `c` over the `scored` bucket classes (each times its buckets),
    None when `until` passes first."""
    score = 0.0
    for u in scored:
        if clock() > until:
            return None
        score += weight[u] * _fill_bucket(c, size, value, classes[u], extra, hours)[0]
    return score


def _bins(key: str, ids: Sequence[str], packed: Sequence[np.ndarray]) -> list[Bin]:
    """The covered instances of one bucket as bins, identical ones merged."""
    merged: dict[tuple[tuple[str, int], ...], int] = {}
    for jobs in packed:
        sig = tuple((ids[i], int(n)) for i, n in enumerate(jobs) if n)
        merged[sig] = merged.get(sig, 0) + 1
    return [Bin(key, n, dict(sig)) for sig, n in merged.items()]


def _narrowed(left: Problem, selected: Sequence[str], covered: str) -> Problem:
    """The rest's problem on the instance types of the blind plan and the covered one only, each
    bought either way (spot or on demand). Measured with a 2.25 s window, 40 % of it for this rest
    (2026-12-05): the Alibaba week's budget-first plan $4,127.13 (on the blind plan's offerings
    alone $4,402.42; the whole catalogue found no plan in 1.5 s and $4,785 in 3 s). On the KTH
    week the whole catalogue is better ($601 against $656 on the blind plan's offerings alone),
    so both are solved and the cheaper kept."""
    keys = {*selected, covered}
    types = {o.instance_type for o in left.offerings if o.key in keys}
    return left.with_offerings([o for o in left.offerings if o.instance_type in types])


def _rest_policy(
    problem: Problem, left: Problem, covered: str, *, deadline: float, clock: Callable[[], float]
) -> Policy | None:
    """The policy the jobs `left` are solved under: one type fewer (the covered type stays on offer,
    so the plan's types are at most the cap), the spot share of all jobs rescaled to the jobs left
    (the covered instances run on demand; both measured as the share is, `job_vcpu_hours`), the time
    left; None when nothing is left to solve with. No cap when every offering the rest has, the
    covered one among them, fits under it."""
    policy = problem.policy
    cap = None if policy.max_instance_types is None else policy.max_instance_types - 1
    keys = {o.key for o in left.offerings}
    if cap is not None and covered in keys and len(keys) <= cap + 1:
        cap = None  # every type the merged plan may use is on offer: the cap cannot bind
    share = policy.max_spot_share
    if share is not None:
        all_jobs = float(problem.job_vcpu_hours().sum())
        rest = float(left.job_vcpu_hours().sum())
        share = None if rest <= 0 or share * all_jobs >= rest else share * all_jobs / rest
    seconds = deadline - clock()
    if seconds <= 0.05:
        return None
    return replace(policy, max_instance_types=cap, max_spot_share=share, time_limit_seconds=seconds)
