"""A lower bound from every bucket class's exact cheapest cover, with the commitments' budgets and the
spot-share cap priced by multipliers instead of dropped.

Why. Under the README's policy the bounds the solve had were loose where buckets are short: on the
demo's gpu-training queue (3,305 ten-minute buckets, 1,294 bucket classes, most of them one to a
few GPU jobs) the column-generation LP with the coupling rows ran 4 rounds in 7.4 s without
converging, and the bound left was the per-job resource bound, $3,308 under a $4,305 plan (23 %);
with its Compute Savings Plan the committed solve's bound was $3,188 under $4,285 (26 %). An LP
is weakest exactly there: a class with one 1-GPU job pays a fraction of an instance in the LP
and a whole one in any plan. Such classes are small enough to solve exactly
(`class_partition.cheapest_partition`, a recursion over the class's sub-multisets of jobs, in
fractions of a millisecond), so the bound takes each class's integer optimum at Lagrangian prices.

Why it is valid. Drop the type cap and spot diversification (they only remove plans). What still
couples buckets is the spot-share cap, "spot job vCPU-hours <= cap", and within a bucket each
commitment's budget, "covered capacity <= C_c x bucket hours". For any w >= 0 and, per bucket
class u, any mu_u >= 0 (one per commitment), every plan's objective is at least
    fees + sum_u weight_u x hours x (P_u(mu_u, w) - mu_u . C) - w x cap,
where P_u is the cheapest cover of class u's jobs in whole instances when a covered on-demand
instance-hour costs min(price, min_c mu_c x use_c) (the Lagrangian of the budget, as in
`commitments.relaxed_problem`: covered usage saves price - mu_c x use_c at most, and the budget
gives back mu_c x C_c x hours) and each job on spot pays w x its vCPUs (the share's Lagrangian
term; `cap` includes the validator's slack). Buckets do not share a budget, so each class may keep
its own multipliers, and every value of them gives a valid bound: time limits only weaken it.
A class too large to enumerate is priced by the per-job resource charges at the same prices
(`resource_bound.job_charges`), also valid.

How the multipliers are found. Per class and commitment, bisection on a scale t_c (mu_c = t_c x
the multiplier at which its coverage is worth nothing) by the sign of that budget's subgradient
(the exact cover's covered capacity minus C_c), keeping the class's best value; then, under a
spot-share cap, w from the best of the per-job charges' bound, stepping and then bisecting by the
sign of the share's subgradient with each class at its scales; with commitments, each class's
scales once more at that first w. Offerings are pruned once for every multiplier
(`pruning.prune_dominated` with commitment uses).

The classes' exact bills. Where a budget is worth about one instance the dual of each class has a
gap (a one-job class reads spot x (1 - C / rate) where every plan pays min(spot, price x
(1 - C / rate))), so with commitments the classes with most buckets are then priced by their exact
bill with the budgets as rows (`class_budget_bound.py`, a MIP over all the class's patterns at the
same w), kept where higher. The 12 heaviest go first, after the first multiplier pass; where none
beats its dual value the passes keep all the time, else they stop at `1 - EXACT_BILL_SHARE` of it
and the bills get the rest.

Measured (2026-12-05, 2 cores, one run each, no time limit): on the demo's committed queues under
the README policy, gpu-training $3,920 (the multiplier search's bound $3,014, the relaxed solve's
$3,188; plan $4,272), cpu-short $831 ($678 / $755), memory-heavy $540 ($533 / $462), cpu-batch
$715 ($709 / $686), the KTH week $556 ($554); without the commitment, gpu-training $4,187 in
1.5 s (the LP, unconverged after 7.4 s: $3,308). On the Alibaba week no class is small enough.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from optimizer.solver.class_partition import cheapest_partition_bins, enumerable
from optimizer.solver.columns import Prepared, prepare
from optimizer.solver.problem import Problem
from optimizer.solver.pruning import prune_dominated
from optimizer.solver.requirements import restrict_to_requirements
from optimizer.solver.resource_bound import job_charges
from optimizer.solver.validate import ABS_TOL, REL_TOL

#: Bisection rounds on each class's commitment multiplier scale t (the last step is 1/2^rounds of
#: the range; each round one exact cover per class).
MULTIPLIER_ROUNDS = 6
#: Bisection rounds on the spot-share multiplier w.
SPOT_ROUNDS = 6
#: Spot prices w the per-job charges' bound is evaluated at to pick the first one tried.
MAX_SPOT_PROBES = 64
#: Share of the job vCPU-hours the classes small enough to enumerate must hold for the callers to
#: run this bound in place of (or beside) their own: below it they keep their time (the Alibaba
#: week's classes are all too large).
ENUMERABLE_SHARE = 0.9
#: With commitments: share of the bound's time kept for the classes' exact bills after the multiplier
#: passes (`class_budget_bound.py`), which close the dual's gap where a budget is worth about one
#: instance (they get all the time the passes leave).
EXACT_BILL_SHARE = 0.25
#: Classes (those with most buckets) whose exact bills are tried after the first multiplier pass:
#: where none beats its dual value the budgets are worth whole instances and the dual has no gap
#: to close (the demo's gpu-training queue: a $1.31/h plan beside GPU instances), so the passes
#: keep all the time.
EXACT_BILL_PROBES = 12
#: Longest one class's exact bill may take (its MIP's dual bound counts whatever stopped it).
CLASS_BILL_SECONDS = 0.2
#: Scales t the per-job fallback of a class too large to enumerate is tried at.
FALLBACK_SCALES = (0.0, 0.25, 0.5, 0.75, 1.0)


@dataclass
class PartitionBound:
    """A valid lower bound on every plan's objective (fees included) and how it was reached."""

    bound: float
    classes: int  # bucket classes (distinct non-idle demand)
    exact_classes: int  # classes priced by their exact cover (the rest by per-job charges)
    spot_multiplier: float  # w of the bound kept (0 when the share does not bind or is unset)
    rounds: int  # exact-cover passes over the classes
    #: (T,) each bucket's part of the bound without the fees (0 for idle buckets).
    bucket_bounds: np.ndarray = field(default_factory=lambda: np.zeros(0))

    #: The exact covers found, as (offering key, jobs per shape): columns for the per-class stage.
    patterns: set[tuple[str, tuple[int, ...]]] = field(default_factory=set)
    #: Classes whose exact bill with the budgets as rows beat their dual value.
    exact_bills: int = 0

    def stats(self) -> dict:
        return {
            "partition_bound_usd": round(self.bound, 6),
            "partition_exact_classes": f"{self.exact_classes}/{self.classes}",
            "partition_spot_multiplier": round(self.spot_multiplier, 9),
            "partition_exact_bills": self.exact_bills,
        }


@dataclass
class _Prices:
    """The problem's arrays at Lagrangian prices."""

    prep: Prepared
    uses: np.ndarray  # (O, C) capacity an instance-hour consumes of each commitment, inf: uncovered
    capacity: np.ndarray  # (C,) per hour
    ceiling: np.ndarray  # (C,) the multiplier at which coverage is worth nothing
    vcpus: np.ndarray  # (S,)

    def _covered(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(O,) each offering's cheapest covered price min_c mu_c x use_c (+inf: not covered) and
        (O,) the commitment giving it, mu = t x ceiling (`t` (C,), one scale per commitment)."""
        if not self.uses.shape[1]:
            return np.full(len(self.uses), np.inf), np.zeros(len(self.uses), dtype=np.int64)
        with np.errstate(invalid="ignore"):
            priced = np.where(np.isinf(self.uses), np.inf, self.uses * (t * self.ceiling)[None, :])
        return priced.min(axis=1), priced.argmin(axis=1)

    def offering_cost(self, t: np.ndarray) -> np.ndarray:
        """(O,) hourly objective with covered on-demand usage at min(price, min_c mu_c x use_c)."""
        prep = self.prep
        relaxed, _ = self._covered(t)
        saved = np.where(prep.spot, 0.0, np.maximum(prep.price - relaxed, 0.0))
        return prep.hourly - saved

    def surcharge(self, w: float) -> np.ndarray:
        """(O, S) what each job pays on a spot offering that may host it."""
        return np.where(self.prep.spot[:, None] & self.prep.compat, w * self.vcpus[None, :], 0.0)

    def over_budget(self, t: np.ndarray, bins: list[tuple[int, np.ndarray]]) -> np.ndarray:
        """(C,) whether a cover at scales t consumes more than each commitment's hourly capacity
        (the sign of its subgradient: raise that commitment's scale)."""
        prep = self.prep
        relaxed, which = self._covered(t)
        consumed = np.zeros(len(self.capacity))
        for o, _jobs in bins:
            if not prep.spot[o] and relaxed[o] < prep.price[o]:  # (spot and uncovered: +inf)
                consumed[which[o]] += self.uses[o, which[o]]
        return consumed > self.capacity + 1e-12

    def fallback(self, t: np.ndarray, w: float) -> np.ndarray:
        """(U,) per class, the per-job resource charges at scale t and spot price w, per bucket-hour
        (the best weighting of vCPU, memory and GPU)."""
        prep = self.prep
        on_demand, spot = job_charges(self.offering_cost(t), prep.spot, prep.caps, prep.compat, prep.sizes)
        charge = np.minimum(on_demand, spot + w * self.vcpus[:, None])  # (S, W)
        charge = np.where(np.isfinite(charge), charge, 0.0)  # no host at all: reported INFEASIBLE
        return (charge.T @ prep.demand).max(axis=0)


def partition_bound(
    problem: Problem, *, deadline: float, clock: Callable[[], float], min_exact_share: float = 0.0
) -> PartitionBound | None:
    """The bound of the module docstring, whatever `deadline` leaves of its passes; None for
    problems it does not price (gangs hold instances part of a bucket), with no demand, or whose
    classes small enough to enumerate hold less than `min_exact_share` of the job vCPU-hours (the
    caller's other bound then gets the time: tested before anything is prepared, since with
    commitments the pruning keeps most covered types and on the Alibaba week preparing took time
    its multiplier search then lacked)."""
    if any(s.is_gang for s in problem.shapes) or not problem.demand.any():
        return None
    if min_exact_share > 0 and _enumerable_share(problem) < min_exact_share:
        return None
    problem = restrict_to_requirements(problem)
    policy = problem.policy
    uncoupled = replace(policy, max_instance_types=None, min_spot_instance_types=0, max_spot_share=None)
    offerings, _ = prune_dominated(problem.with_policy(uncoupled))
    prep = prepare(problem, offerings)
    search = _Search(_prices(problem, prep), problem.commitment_fees_usd, clock, deadline)
    search.exact = np.array([enumerable(prep.demand[:, u]) for u in range(prep.n_classes)], dtype=bool)
    share = policy.max_spot_share
    total = prep.job_vcpu_hours
    cap = None if share is None else share * total + ABS_TOL + REL_TOL * share * total
    # The multiplier passes leave part of the time to the classes' exact bills (below).
    started = clock()
    passes_end = started + (1.0 - EXACT_BILL_SHARE) * max(0.0, deadline - started)
    if search.has_commitments:
        search.deadline = passes_end
    if cap is None or search.has_commitments:
        kept = search.multiplier_pass(0.0)
    else:  # (one exact pass at w = 0 tells nothing the search over w needs)
        values = search.fallback_values(0.0)
        kept = _Kept(search.fees + float(search.wh @ values), 0.0, values)
    bills = False
    if search.has_commitments:
        search.deadline = deadline
        probed = search.exact_bills(kept, None, limit=EXACT_BILL_PROBES)
        bills = probed.bound > kept.bound
        kept = max(kept, probed, key=lambda k: k.bound)  # (at w = 0: the later bills skip its classes)
        # Where they raise nothing the dual values are the bills: the passes get all the time.
        search.deadline = passes_end if bills else deadline
    if cap is not None:
        # The spot share's w with each class at its multiplier; then each class's multiplier again
        # at the first w tried (a higher w moves covers to on demand, where a higher multiplier
        # pays: on the demo's gpu-training queue the best scale's median went from 0.44 at w = 0 to
        # 0.94 at w = 0.05, and the bound from $3,878 to $3,979).
        found, w = search.spot_multiplier(kept, cap)
        kept = max(kept, found, key=lambda k: k.bound)
        if w > 0 and search.has_commitments:
            kept = max(kept, search.multiplier_pass(w, cap=cap), key=lambda k: k.bound)
    if bills:
        search.deadline = deadline
        kept = search.exact_bills(kept, cap)
    return kept.result(search)


@dataclass
class _Kept:
    """One valid bound and the per-class values that give it."""

    bound: float
    w: float
    values: np.ndarray  # (U,) per class and bucket-hour, the class's part (without the fees)
    billed: frozenset[int] = frozenset()  # classes whose exact bill at w was tried
    raised: int = 0  # of them, those whose bill beat the dual value

    def result(self, search: _Search) -> PartitionBound:
        prep = search.prices.prep
        classes = prep.bucket_class
        per_bucket = np.where(classes >= 0, self.values[np.maximum(classes, 0)], 0.0) * prep.hours
        return PartitionBound(
            self.bound,
            prep.n_classes,
            int(search.exact.sum()),
            self.w,
            search.rounds,
            per_bucket,
            {(prep.offerings[o].key, counts) for o, counts in search.patterns},
            self.raised,
        )


@dataclass
class _Search:
    """The multipliers' state: per class the best scale t found and its bisection interval."""

    prices: _Prices
    fees: float
    clock: Callable[[], float]
    deadline: float
    scale: np.ndarray = field(init=False)  # (U, C) per class, the scales of its best value
    exact: np.ndarray = field(init=False)  # (U,) the class has an exact cover (small enough)
    wh: np.ndarray = field(init=False)  # (U,) buckets x bucket hours
    budget: np.ndarray = field(init=False)  # (C,) mu_c x C_c at scale 1
    #: The instances of every class's best cover at each multiplier pass, as (offering index, jobs
    #: per shape).
    patterns: set[tuple[int, tuple[int, ...]]] = field(default_factory=set)
    rounds: int = 0

    def __post_init__(self) -> None:
        prep = self.prices.prep
        self.scale = np.zeros((prep.n_classes, len(self.prices.capacity)))
        self.exact = np.zeros(prep.n_classes, dtype=bool)
        self.wh = prep.weight * prep.hours
        self.budget = self.prices.ceiling * self.prices.capacity

    @property
    def has_commitments(self) -> bool:
        return self.prices.uses.shape[1] > 0

    def fallback_values(self, w: float) -> np.ndarray:
        """(U,) per class, the best per-job charges over `FALLBACK_SCALES` (every commitment at the
        same scale) at spot price w."""
        n, c = self.scale.shape
        out = np.full(n, -np.inf)
        for t in FALLBACK_SCALES:
            scales = np.full(c, t)
            out = np.maximum(out, self.prices.fallback(scales, w) - float(scales @ self.budget))
        return out

    def _fallback(self, w: float, scales: np.ndarray) -> np.ndarray:
        """(U,) per class, the per-job charges at its scales `scales` (U, C), valid whatever the
        exact covers reach."""
        out = np.full(len(scales), -np.inf)
        rows_of = np.unique(scales, axis=0, return_inverse=True)
        for k, t in enumerate(rows_of[0]):
            rows = np.asarray(rows_of[1]).reshape(-1) == k
            out[rows] = (self.prices.fallback(t, w) - float(t @ self.budget))[rows]
        return out

    def _order(self, values: np.ndarray) -> np.ndarray:
        return np.argsort(-(self.wh * values), kind="stable")  # most money first: a deadline cuts the least

    def _cover(
        self, u: int, t: np.ndarray, surcharge: np.ndarray, costs: dict[tuple[float, ...], np.ndarray]
    ) -> tuple[float, list[tuple[int, np.ndarray]]] | None:
        """Class u's exact cover at scales t (offering costs cached per t in `costs`), None when
        the class is too large to enumerate."""
        key = tuple(float(x) for x in t)
        cost = costs.get(key)
        if cost is None:
            cost = costs[key] = self.prices.offering_cost(t)
        found = cheapest_partition_bins(self.prices.prep, u, cost, surcharge)
        if found is None or not np.isfinite(found[0]):
            return None
        return found

    def multiplier_pass(self, w: float, cap: float | None = None) -> _Kept:
        """Bisection on each class's scales at spot price w (`MULTIPLIER_ROUNDS`, one round without
        commitments), one interval per commitment moved by the sign of its own subgradient, each
        class keeping its best value; the bound they give at w. One scale for all commitments
        left a Reserved Instance beside a Savings Plan at the fees alone ($0.40 against an optimum
        of $0.5448 in the unit test): the one over-used raised the other's price too."""
        prices = self.prices
        surcharge = prices.surcharge(w)
        best = self.fallback_values(w)
        scale = np.zeros_like(self.scale)
        lo, hi = np.zeros_like(self.scale), np.ones_like(self.scale)
        for _ in range(MULTIPLIER_ROUNDS if self.has_commitments else 1):
            if self.clock() >= self.deadline:
                break
            self.rounds += 1
            costs: dict[tuple[float, ...], np.ndarray] = {}
            for u in self._order(best):
                if self.clock() >= self.deadline:
                    break
                t = 0.5 * (lo[u] + hi[u]) if self.has_commitments else lo[u]
                found = self._cover(int(u), t, surcharge, costs)
                if found is None:
                    continue
                self.exact[u] = True
                value = found[0] - float(t @ self.budget)
                if value > best[u]:
                    best[u], scale[u] = value, t
                    self.patterns |= {(o, tuple(int(n) for n in jobs)) for o, jobs in found[1]}
                over = prices.over_budget(t, found[1])
                lo[u] = np.where(over, t, lo[u])
                hi[u] = np.where(over, hi[u], t)
        self.scale = scale
        return _Kept(self.fees + float(self.wh @ best) - (0.0 if cap is None else w * cap), w, best)

    def exact_bills(self, kept: _Kept, cap: float | None, *, limit: int | None = None) -> _Kept:
        """`kept` with each small class's value raised to its exact bill's bound at the same w
        where higher (`class_budget_bound.py`: the budgets as rows, no duality gap), classes with
        the most buckets first, until the deadline or, given `limit`, after that many classes
        (those `kept` already billed are skipped)."""
        from optimizer.solver.class_budget_bound import class_bill_bound

        values = kept.values.copy()
        raised = kept.raised
        tried = set(kept.billed)
        for u in np.argsort(-self.wh, kind="stable")[:limit]:
            left = self.deadline - self.clock()
            if left <= 0:
                break
            if not self.exact[u] or u in kept.billed:
                continue
            tried.add(int(u))
            found = class_bill_bound(
                self.prices.prep, int(u), kept.w, time_limit=min(CLASS_BILL_SECONDS, left)
            )
            if found is None:
                continue
            self.patterns |= {(o, jobs) for o, jobs, _ in found.bins}
            if found.bound > values[u] + 1e-9:
                values[u] = found.bound
                raised += 1
        shed = 0.0 if cap is None else kept.w * cap
        billed = _Kept(self.fees + float(self.wh @ values) - shed, kept.w, values, frozenset(tried), raised)
        return max(kept, billed, key=lambda k: k.bound)

    def _at(self, w: float, cap: float) -> tuple[_Kept, float, bool]:
        """(bound at w, spot job vCPU-hours of the covers, whether every exact class was covered)."""
        prices = self.prices
        values = self._fallback(w, self.scale.copy())
        used = 0.0
        costs: dict[tuple[float, ...], np.ndarray] = {}
        surcharge = prices.surcharge(w)
        for u in self._order(values):
            if not self.exact[u]:
                continue
            if self.clock() >= self.deadline:
                return _Kept(self.fees + float(self.wh @ values) - w * cap, w, values), used, False
            t = self.scale[u]
            found = self._cover(int(u), t, surcharge, costs)
            if found is None:
                continue
            values[u] = max(values[u], found[0] - float(t @ self.budget))
            spot = prices.prep.spot
            used += self.wh[u] * sum(float(jobs @ prices.vcpus) for o, jobs in found[1] if spot[o])
        self.rounds += 1
        return _Kept(self.fees + float(self.wh @ values) - w * cap, w, values), used, True

    def spot_multiplier(self, start: _Kept, cap: float) -> tuple[_Kept, float]:
        """(best bound found, the first w tried): a search on the spot share's w by the sign of its
        subgradient (the covers' spot job vCPU-hours minus the cap), each class at its scale. The
        first w tried is the best of the per-job charges' bound (cheap, and near the answer:
        $4,094 at it against $4,110 at the best w on the demo's gpu-training queue, so a deadline
        after one pass still leaves a strong bound); from there steps of half of it go the way the
        subgradient says until its sign changes, then bisection."""
        prices = self.prices
        prep = prices.prep
        on_demand, spot = job_charges(
            prices.offering_cost(np.ones(len(prices.capacity))), prep.spot, prep.caps, prep.compat, prep.sizes
        )
        with np.errstate(invalid="ignore", divide="ignore"):
            breaks = (on_demand - spot) / prices.vcpus[:, None]
        probes = np.unique(breaks[np.isfinite(breaks) & (breaks > 0)])
        if not probes.size:
            return start, 0.0
        if probes.size > MAX_SPOT_PROBES:
            probes = probes[np.linspace(0, probes.size - 1, MAX_SPOT_PROBES).round().astype(int)]
        charged = [(float(w), self._fallback(float(w), self.scale)) for w in probes]
        # The per-job charges' bound at the best probe is one too (every class priced so, none exactly).
        first, values = max(charged, key=lambda c: float(self.wh @ c[1]) - c[0] * cap)
        at_first = _Kept(self.fees + float(self.wh @ values) - first * cap, first, values)
        best = max(start, at_first, key=lambda k: k.bound)
        w, step = first, 0.5 * first
        lo, hi = 0.0, float("inf")
        for _ in range(SPOT_ROUNDS):
            if self.clock() >= self.deadline:
                break
            kept, used, finished = self._at(w, cap)
            if kept.bound > best.bound:
                best = kept
            if not finished:
                break
            if used > cap:
                lo = w
            else:
                hi = w
            w = w + step if hi == float("inf") else 0.5 * (lo + hi)
        return best, first


def _enumerable_share(problem: Problem) -> float:
    """Share of the job vCPU-hours in bucket classes small enough to enumerate."""
    classes, counts = np.unique(problem.demand.T, axis=0, return_counts=True)
    vcpus = np.array([s.vcpus for s in problem.shapes], dtype=float)
    hours = (classes @ vcpus) * counts
    if hours.sum() <= 0:
        return 0.0
    small = np.array([enumerable(c) for c in classes], dtype=bool)
    return float(hours[small].sum() / hours.sum())


def _prices(problem: Problem, prep: Prepared) -> _Prices:
    """The arrays `_Prices` needs for `prep`'s offerings and the problem's commitments."""
    commitments = problem.commitments
    uses = problem.commitment_uses(prep.offerings)
    uses[uses <= 0] = np.inf  # (a use of 0 would put coverage's worth at infinity)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(np.isfinite(uses), prep.price[:, None] / uses, 0.0)
    ceiling = ratio.max(axis=0) if len(prep.offerings) else np.zeros(len(commitments))
    capacity = np.array([c.capacity_per_hour for c in commitments], dtype=float)
    return _Prices(prep, uses, capacity, ceiling, prep.sizes[:, 0].astype(float))
