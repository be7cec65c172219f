"""Plans under spot limits from a master over whole bucket covers (Dantzig-Wolfe on the classes).

Under a spot-share cap or spot diversification the rows "spot job vCPU-hours <= share x all" and
"each spot pool's instance vCPU-hours <= 1/K of the spot total" couple every bucket. The pattern
master decides one integer cover per bucket CLASS (its column values are bins per bucket, the same
in each of the class's buckets), and the per-class rounding at the coupling duals
(`lagrangian_rounding.py`) picks, class by class, one of the covers that tie at those prices: the
union then misses the shared rows and the repair pays for it (KTH week, README policy: the plan
sat 2.9 % above the integer per-class Lagrangian bound of its 8 offerings).

The buckets of one class have identical demand but need not run the same cover. A cover is a
complete integer set of bins hosting one bucket's demand of class u; the master chooses how many
of the class's w_u buckets run each cover:

    min  sum_k cost_k z_k
    s.t. sum_{k of class u} z_k = w_u                                  (every bucket covered)
         sum_k spotjobs_k z_k <= share x all job vCPU-hours            (max_spot_share)
         sum_k (K pool_ko - spot_k) z_k <= 0   for each spot pool o    (diversification)
         z_k >= 0 integer,

with cost_k, spotjobs_k, pool_ko (instance vCPU-hours of pool o) and spot_k (all spot instance
vCPU-hours) per bucket of cover k. Cost and rows are linear in z, so covers of one class mix
freely across its buckets. Its LP has one row per class plus the few coupling rows, so a basic
optimum has at most (number of coupling rows) classes split between covers; every other class
sits on one cover at an integer z. Rounding the integer master therefore loses at most a few
buckets' worth, not a share of every class. The LP over every cover is the Lagrangian dual of the
coupling rows with integer classes, which is why the plan can approach the per-class integer
bound (`lagrangian_bound.integer_class_bound`).

Covers come from the plans already found (each bucket's bins), the per-class bins of the LP
rounding and of the Lagrangian rounding, an all-on-demand cheapest-fit cover per class (so the
master is feasible whatever else it holds), and column generation: at the master LP's duals
(lambda on the share row, mu_o on the pool rows, sigma_u on class u's row) a spot instance of
pool o costs hourly_o + vcpus_o (K mu_o - sum mu) per hour and a job on spot lambda x its vCPUs,
and a cover of each class at those prices among the pooled patterns (clipped to the class's
demand: `clipped_pattern_columns`) enters: first a greedy one (`greedy_cover`, microseconds a
class) until none improves the master LP, then the cheapest one (`lagrangian_rounding.
_class_cover`, a small MIP of 10-50 ms). The integer master (MathOpt + HiGHS) runs on the
covers given first, and again after each pricing of the time left, within the deadline; the
plan gives each class's buckets their covers. A heuristic: it gives incumbents, never bounds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

from optimizer.solver.assemble import RawBin, heuristic_plan, trim_surplus
from optimizer.solver.baselines import cheapest_fit_bins
from optimizer.solver.column_generation import LpOutcome
from optimizer.solver.columns import Columns, PatternPool, Prepared, make_columns
from optimizer.solver.lagrangian_rounding import _class_cover
from optimizer.solver.mip import solve_mip
from optimizer.solver.plan import Plan
from optimizer.solver.problem import Problem

#: Longest one class's pricing MIP may run.
PRICING_SECONDS = 0.1
#: Share of the cover master's time its first integer master may use (on the covers given).
FIRST_MASTER_SHARE = 0.25
#: ... and at least this many seconds (HiGHS finds the first plan of a few hundred covers in 0.1 s).
FIRST_MASTER_SECONDS = 0.3
#: Share of the time left after it that column generation on covers may use (the second integer
#: master gets the rest).
PRICING_SHARE = 0.7
#: Relative gap at which the integer master stops.
MASTER_GAP = 1e-5
#: A cover improves the master LP when its reduced cost is below minus this share of its class's dual.
ENTER_TOLERANCE = 1e-7
#: Seconds the integer master needs at least to be worth starting.
MIN_MASTER_SECONDS = 0.05
#: Seconds the whole cover master needs at least to be worth starting (covers, then a master).
MIN_START_SECONDS = 0.3


@dataclass
class CoverSet:
    """Distinct covers per bucket class, with what each one costs and puts on the spot rows per
    bucket. Offerings are indexed over `problem.offerings` (plans may run offerings that dominance
    pruning left out of `prep`)."""

    problem: Problem
    prep: Prepared
    keys: list[str] = field(init=False)
    index: dict[str, int] = field(init=False)
    hourly: np.ndarray = field(init=False)  # (O,) objective per instance-hour
    spot: np.ndarray = field(init=False)  # (O,) bool
    vcpus: np.ndarray = field(init=False)  # (O,) instance vCPUs
    job_vcpus: np.ndarray = field(init=False)  # (S,)
    cls: list[int] = field(default_factory=list)
    bins: list[list[RawBin]] = field(default_factory=list)
    cost: list[float] = field(default_factory=list)  # objective per bucket
    spot_jobs: list[float] = field(default_factory=list)  # spot job vCPU-hours per bucket
    pools: list[np.ndarray] = field(default_factory=list)  # (O,) spot instance vCPU-hours per bucket
    _seen: set[tuple] = field(default_factory=set)  # covers as kept (trimmed)
    _seen_raw: set[tuple] = field(default_factory=set)  # covers as given

    def __post_init__(self) -> None:
        problem = self.problem
        icf = problem.policy.interruption_cost_factor
        self.keys = [o.key for o in problem.offerings]
        self.index = {k: i for i, k in enumerate(self.keys)}
        self.hourly = np.array([o.hourly_objective(icf) for o in problem.offerings], dtype=float)
        self.spot = np.array([o.is_spot for o in problem.offerings], dtype=bool)
        self.vcpus = np.array([o.vcpus for o in problem.offerings], dtype=float)
        self.job_vcpus = np.array([s.vcpus for s in problem.shapes], dtype=float)

    def __len__(self) -> int:
        return len(self.cls)

    def add(self, u: int, bins: Iterable[RawBin]) -> bool:
        """Add the cover `bins` of class u (trimmed to the class's demand); False when it is
        already there, does not cover the class, or names an offering outside the problem."""
        demand = self.prep.demand[:, u]
        raw = [(k, int(c), np.asarray(j, dtype=np.int64)) for k, c, j in bins if c > 0]
        raw_key = (u, *sorted((k, c, j.tobytes()) for k, c, j in raw))
        if raw_key in self._seen_raw or any(k not in self.index for k, _, _ in raw):
            return False
        self._seen_raw.add(raw_key)  # the buckets of a class mostly repeat one plan's bins
        hosted = sum((c * j for _, c, j in raw), np.zeros_like(demand))
        if (hosted < demand).any():
            return False
        trimmed = trim_surplus(raw, demand, drop_empty=self.problem.policy.diversification == 0)
        key = (u, *sorted((k, c, j.tobytes()) for k, c, j in trimmed))
        if key in self._seen:
            return False
        self._seen.add(key)
        hours = self.problem.bucket_hours
        pools = np.zeros(len(self.keys))
        cost = spot_jobs = 0.0
        for k, c, j in trimmed:
            o = self.index[k]
            cost += c * self.hourly[o] * hours
            if self.spot[o]:
                spot_jobs += c * float(j @ self.job_vcpus) * hours
                pools[o] += c * self.vcpus[o] * hours
        self.cls.append(u)
        self.bins.append(trimmed)
        self.cost.append(cost)
        self.spot_jobs.append(spot_jobs)
        self.pools.append(pools)
        return True

    def add_plan(self, plan: Plan) -> int:
        """Every bucket's bins of `plan` as a cover of the bucket's class; how many were new."""
        if not plan.has_solution:
            return 0
        shape_index = {s.id: i for i, s in enumerate(self.problem.shapes)}
        added = 0
        for t, bucket in enumerate(plan.buckets):
            u = int(self.prep.bucket_class[t])
            if u < 0:
                continue
            raw: list[RawBin] = []
            for b in bucket:
                jobs = np.zeros(len(shape_index), dtype=np.int64)
                for sid, n in b.jobs.items():
                    jobs[shape_index[sid]] = n
                raw.append((b.offering, b.count, jobs))
            added += self.add(u, raw)
        return added

    def add_class_bins(self, class_bins: Sequence[Sequence[RawBin]] | None) -> int:
        """One cover per class from per-class bin lists (an LP rounding, a Lagrangian pass)."""
        if class_bins is None:
            return 0
        return sum(self.add(u, bins) for u, bins in enumerate(class_bins) if bins)

    def add_on_demand(self) -> int:
        """Per class, cheapest-fit on the on-demand offerings: a cover that touches no spot row,
        so the master is feasible whatever else it holds (when on-demand hosts every shape)."""
        allowed = ~self.prep.spot
        added = 0
        for u in range(self.prep.n_classes):
            bins = cheapest_fit_bins(self.prep, self.prep.demand[:, u], allowed)
            if bins is not None:
                added += self.add(u, bins)
        return added


@dataclass(frozen=True)
class _Master:
    """The master's rows over the current covers: `A_eq z = b_eq` (one row per class) and
    `A_ub z <= b_ub` (the spot rows)."""

    cost: np.ndarray
    a_eq: sp.csr_matrix
    b_eq: np.ndarray
    a_ub: sp.csr_matrix
    b_ub: np.ndarray
    pool_offerings: np.ndarray  # offering index of each pool row (after the share row, if any)
    has_share: bool


def _master(covers: CoverSet) -> _Master:
    problem, prep = covers.problem, covers.prep
    policy = problem.policy
    n = len(covers)
    cls = np.asarray(covers.cls, dtype=np.int64)
    a_eq = sp.csr_matrix((np.ones(n), (cls, np.arange(n))), shape=(prep.n_classes, n))
    rows: list[np.ndarray] = []
    rhs: list[float] = []
    if policy.caps_spot_share:
        total = float(problem.job_vcpu_hours().sum())
        rows.append(np.asarray(covers.spot_jobs, dtype=float))
        rhs.append(float(policy.max_spot_share or 0.0) * total)
    pool_offerings = np.zeros(0, dtype=np.int64)
    k = policy.diversification
    if k:
        pools = np.vstack(covers.pools) if n else np.zeros((0, len(covers.keys)))
        pool_offerings = np.flatnonzero(covers.spot)
        spot_total = pools.sum(axis=1)
        for o in pool_offerings:
            rows.append(k * pools[:, o] - spot_total)
            rhs.append(0.0)
    a_ub = sp.csr_matrix(np.vstack(rows)) if rows else sp.csr_matrix((0, n))
    return _Master(
        cost=np.asarray(covers.cost, dtype=float),
        a_eq=a_eq,
        b_eq=prep.weight.astype(float),
        a_ub=a_ub,
        b_ub=np.asarray(rhs, dtype=float),
        pool_offerings=pool_offerings,
        has_share=policy.caps_spot_share,
    )


@dataclass(frozen=True)
class _LpDuals:
    objective: float
    sigma: np.ndarray  # (U,) class rows
    share: float  # lambda >= 0 on the share row
    pool: np.ndarray  # (O,) mu_o >= 0 on pool o's row (0 where none)
    values: np.ndarray  # (N,) z


def _solve_master_lp(covers: CoverSet, master: _Master) -> _LpDuals | None:
    """The master LP and its duals; None when it is infeasible (no mix of these covers meets the
    spot rows)."""
    result = linprog(
        master.cost,
        A_ub=master.a_ub if master.a_ub.shape[0] else None,
        b_ub=master.b_ub if master.a_ub.shape[0] else None,
        A_eq=master.a_eq,
        b_eq=master.b_eq,
        bounds=(0, None),
        method="highs",
    )
    if result.status != 0:
        return None
    ub = -np.asarray(result.ineqlin.marginals) if master.a_ub.shape[0] else np.zeros(0)
    ub = np.maximum(ub, 0.0)
    share = float(ub[0]) if master.has_share else 0.0
    pool = np.zeros(len(covers.keys))
    pool[master.pool_offerings] = ub[1 if master.has_share else 0 :]
    return _LpDuals(float(result.fun), np.asarray(result.eqlin.marginals, dtype=float), share, pool, result.x)


def _column_prices(covers: CoverSet, cols: Columns, duals: _LpDuals) -> np.ndarray:
    """Per column of `cols`, one instance of its pattern for one bucket at the duals' prices:
    hourly cost, plus on spot lambda x job vCPUs and vcpus_o (K mu_o - sum mu) per hour."""
    prep, hours = covers.prep, covers.problem.bucket_hours
    k = covers.problem.policy.diversification
    to_problem = np.array([covers.index[o.key] for o in prep.offerings], dtype=np.int64)
    o = to_problem[cols.offering]
    spot = covers.spot[o]
    jobs_vcpus = cols.counts @ covers.job_vcpus
    pool_price = covers.vcpus[o] * (k * duals.pool[o] - duals.pool.sum()) if k else np.zeros(len(o))
    return hours * (covers.hourly[o] + spot * (duals.share * jobs_vcpus + pool_price))


def _reduced_cost(covers: CoverSet, n: int, duals: _LpDuals) -> float:
    k = covers.problem.policy.diversification
    pools = covers.pools[n]
    div = float(duals.pool @ (k * pools - pools.sum())) if k else 0.0
    return covers.cost[n] + duals.share * covers.spot_jobs[n] + div - float(duals.sigma[covers.cls[n]])


def clipped_pattern_columns(prep: Prepared, pool: PatternPool) -> Columns:
    """Every pooled pattern as a column of every class, its job counts clipped to the class's
    demand (fewer jobs on the same instance still fit), duplicates dropped. Column generation
    makes a pattern for the class whose duals priced it; another class with fewer of those jobs
    can use it too, which gives the pricing covers the class's own columns miss (KTH README +
    requirements subset: $844.40 to $838.87). `pattern` is the pooled pattern it was clipped from."""
    offering, counts = pool.matrix()
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    for u in range(prep.n_classes):
        clipped = np.minimum(counts, prep.demand[:, u][None, :])
        rows = np.flatnonzero(clipped.any(axis=1))
        if rows.size == 0:
            continue
        _, first = np.unique(np.column_stack([offering[rows], clipped[rows]]), axis=0, return_index=True)
        keep = rows[np.sort(first)]
        parts.append((keep, np.full(keep.size, u, dtype=np.int64), offering[keep], clipped[keep]))
    if not parts:
        return make_columns(prep, pool, np.zeros((0, 2), dtype=np.int64))
    pattern, cls, off, jobs = (np.concatenate(a) for a in zip(*parts, strict=True))
    wh = prep.weight[cls] * prep.hours
    return Columns(
        pattern=pattern,
        bucket_class=cls,
        offering=off,
        counts=jobs,
        cost=prep.hourly[off] * wh,
        weight_hours=wh,
    )


def greedy_cover(
    prep: Prepared, cols: Columns, prices: np.ndarray, idx: np.ndarray, u: int, job_value: np.ndarray
) -> list[RawBin] | None:
    """A cheap cover of class u among columns `idx` at `prices`: repeatedly the column with the
    least price per value of the demand it still covers (`job_value` (S,) > 0 per job), as many
    times as the demand left takes it whole. Greedy set multicover: no optimum, but it costs
    microseconds where a class MIP costs 10-50 ms, so every class is priced in each round."""
    need = prep.demand[:, u].astype(np.int64).copy()
    counts = cols.counts[idx]
    price = np.maximum(prices[idx], 1e-12)
    taken: dict[int, int] = {}
    while need.any():
        value = np.minimum(counts, need[None, :]) @ job_value
        score = np.where(value > 0, price / np.maximum(value, 1e-300), np.inf)
        n = int(np.argmin(score))
        if not np.isfinite(score[n]):
            return None
        jobs = counts[n]
        used = jobs > 0
        whole = need[used] // jobs[used]
        times = max(1, int(whole.min()))
        taken[n] = taken.get(n, 0) + times
        need = np.maximum(need - times * jobs, 0)
    return [
        (prep.offerings[int(cols.offering[idx[n]])].key, k, cols.counts[idx[n]]) for n, k in taken.items()
    ]


def generate_covers(
    covers: CoverSet,
    cols: Columns,
    *,
    lp_class_value: np.ndarray | None = None,
    job_value: np.ndarray | None = None,
    deadline: float,
    clock: Callable[[], float],
) -> tuple[int, int]:
    """Column generation on covers until no class prices out or `deadline`: (rounds, covers added).
    Each round prices the classes the master LP splits between covers first, then those whose
    master LP cost exceeds `lp_class_value` (U,) the most (by cost when not given).

    With `job_value` (S, U) > 0 (the pattern LP's job duals) the pricing is `greedy_cover`, else
    each class's cheapest cover among its columns (`lagrangian_rounding._class_cover`, a MIP)."""
    by_class = np.argsort(cols.bucket_class, kind="stable")
    starts = np.searchsorted(cols.bucket_class[by_class], np.arange(covers.prep.n_classes + 1))
    rounds = added = 0
    while clock() < deadline:
        duals = _solve_master_lp(covers, _master(covers))
        if duals is None:
            break
        rounds += 1
        prices = _column_prices(covers, cols, duals)
        cls = np.asarray(covers.cls)
        split = np.bincount(cls, weights=(duals.values > 1e-9).astype(float), minlength=covers.prep.n_classes)
        money = np.bincount(cls, weights=duals.values * np.asarray(covers.cost), minlength=len(split))
        if lp_class_value is not None:
            money = money - lp_class_value
        order = np.lexsort((-money, -(split > 1).astype(int)))
        new = improving = 0
        for u in order.tolist():
            left = deadline - clock()
            if left <= 0.01:
                break
            if not covers.prep.demand[:, u].any():
                continue
            idx = by_class[starts[u] : starts[u + 1]]
            if job_value is not None:
                bins = greedy_cover(covers.prep, cols, prices, idx, u, job_value[:, u])
            else:
                bins = _class_cover(covers.prep, cols, prices, idx, u, None, min(left, PRICING_SECONDS))
            if bins is None:
                continue
            # Every new cover is kept, also one that only ties at these duals: the integer
            # master may need it to meet the rows in whole buckets.
            if covers.add(u, bins):
                new += 1
                scale = max(1.0, abs(float(duals.sigma[u])))
                improving += _reduced_cost(covers, len(covers) - 1, duals) < -ENTER_TOLERANCE * scale
        added += new
        if improving == 0:
            break  # the master LP is optimal over every cover the pricing can find
    return rounds, added


def solve_cover_master(
    covers: CoverSet, *, deadline: float, clock: Callable[[], float]
) -> list[list[RawBin]] | None:
    """The integer master over `covers` within `deadline`: per bucket, its cover's bins (None when
    it finds no solution)."""
    left = deadline - clock()
    if left < MIN_MASTER_SECONDS or not len(covers):
        return None
    master = _master(covers)
    matrix = sp.vstack([master.a_eq, master.a_ub], format="csr")
    lower = np.concatenate([master.b_eq, np.full(master.a_ub.shape[0], -np.inf)])
    upper = np.concatenate([master.b_eq, master.b_ub])
    cls = np.asarray(covers.cls, dtype=np.int64)
    result = solve_mip(
        master.cost,
        matrix,
        lower,
        upper,
        upper=master.b_eq[cls],
        time_limit=left,
        relative_gap=MASTER_GAP,
    )
    if not result.has_solution:
        return None
    z = np.round(result.values).astype(np.int64)
    prep = covers.prep
    by_bucket: list[list[RawBin]] = [[] for _ in range(covers.problem.n_buckets)]
    for u in range(prep.n_classes):
        buckets = np.flatnonzero(prep.bucket_class == u).tolist()
        chosen = [n for n in np.flatnonzero((cls == u) & (z > 0))]
        queue = [n for n in chosen for _ in range(int(z[n]))]
        if len(queue) != len(buckets):
            return None
        for t, n in zip(buckets, queue, strict=True):
            by_bucket[t] = list(covers.bins[n])
    return by_bucket


def _plan(covers: CoverSet, by_bucket: list[list[RawBin]], rounds: int, added: int) -> Plan:
    problem = covers.problem
    plan = heuristic_plan(problem, by_bucket, np.arange(problem.n_buckets), problem.demand)
    plan.stats = {
        "heuristic": "cover master",
        "covers": len(covers),
        "cover_rounds": rounds,
        "covers_generated": added,
    }
    return plan


def cover_master_plan(
    prep: Prepared,
    problem: Problem,
    cols: Columns,
    plans: Sequence[Plan | None],
    class_bins: Sequence[Sequence[Sequence[RawBin]] | None],
    *,
    lp: LpOutcome | None = None,
    deadline: float,
    clock: Callable[[], float],
) -> Plan | None:
    """The cheapest plan of the cover master (module doc) seeded with the buckets of `plans` and
    the per-class `class_bins`; None when it finds none by `deadline`.

    The integer master runs first on those covers (a plan early, whatever the load), then column
    generation on covers over the patterns of `cols` (classes whose master LP cost exceeds the
    pattern LP's the most first): greedy pricing until it finds no improving cover, then the
    class MIPs, then the integer master again when covers were added; pricing and master again
    in what the master left, while a master fits. `lp`: the pattern LP,
    whose class costs order the pricing and whose job duals value jobs in the greedy pricing
    (without it, only the class MIPs price)."""
    if deadline - clock() < MIN_START_SECONDS:
        return None  # building the covers alone takes 0.1-0.4 s on the bundled weeks under load
    covers = CoverSet(problem, prep)
    for plan in plans:
        if plan is not None:
            covers.add_plan(plan)
    for bins in class_bins:
        covers.add_class_bins(bins)
    lp_class_value = job_value = None
    if lp is not None and len(lp.columns):
        lp_class_value = np.bincount(
            lp.columns.bucket_class, weights=lp.columns.cost * lp.values, minlength=prep.n_classes
        )
        # (a tiny floor: a job the duals price at 0 still has to be covered)
        job_value = np.maximum(lp.item_value, 0.0) + 1e-9 * np.maximum(prep.sizes[:, :1], 1.0)
    covers.add_on_demand()
    if any(u not in set(covers.cls) for u in np.flatnonzero(prep.demand.any(axis=0)).tolist()):
        return None
    left = deadline - clock()
    first_end = clock() + max(FIRST_MASTER_SHARE * left, min(FIRST_MASTER_SECONDS, left))
    by_bucket = solve_cover_master(covers, deadline=first_end, clock=clock)
    best = None if by_bucket is None else _plan(covers, by_bucket, 0, 0)
    rounds = added = 0
    # The pricings still to run: greedy (at the pattern LP's job values), then the class MIPs.
    stages: list[np.ndarray | None] = [job_value, None] if job_value is not None else [None]
    # Pricing, then the integer master on every cover so far, again while time is left: the
    # master keeps `1 - PRICING_SHARE` of what remains but often ends in a fraction of it (0.1-0.4
    # s of the 1-1.5 s kept on the bundled weeks' subsets), and what it left went unused.
    while stages and deadline - clock() >= MIN_MASTER_SECONDS:
        pricing_end = clock() + PRICING_SHARE * (deadline - clock())
        new = 0
        unfinished: list[np.ndarray | None] = []
        for values in stages:
            more_rounds, more = generate_covers(
                covers,
                cols,
                lp_class_value=lp_class_value,
                job_value=values,
                deadline=pricing_end,
                clock=clock,
            )
            rounds, added, new = rounds + more_rounds, added + more, new + more
            if clock() >= pricing_end:  # (ended early: no cover this pricing finds improves the LP)
                unfinished.append(values)
        stages = unfinished
        if not new:
            break
        by_bucket = solve_cover_master(covers, deadline=deadline, clock=clock)
        if by_bucket is not None:
            plan = _plan(covers, by_bucket, rounds, added)
            if best is None or plan.objective_usd < best.objective_usd - 1e-9:
                best = plan
    return best
