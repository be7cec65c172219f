"""Solve a fleet-mix problem: prune, column generation (bound), integer master (plan), checks.

Never raises for an unsolvable problem: INFEASIBLE and TIMEOUT come back as plans with a reason.
The clock is passed in (pure layer): `solve(problem, clock=time.monotonic)`.

The plan reports the proven bound as computed, never clamped to the objective, and the gap
unclamped: a bound above the objective beyond float noise (`plan.BOUND_TOLERANCE`, relative) can
only be a wrong bound, so the plan is then FEASIBLE with a reason saying so (never OPTIMAL) and
`validate_plan` rejects it. Within that tolerance the bound may sit a hair above the objective (a
gap like -1e-12): that is LP round-off on an optimal plan, reported OPTIMAL as it is.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field, replace

import numpy as np

from optimizer.solver.assemble import RawBin, build_plan, empty_plan
from optimizer.solver.baselines import cheapest_fit, cheapest_fit_bins, single_type
from optimizer.solver.bin_reassignment import reassign_bins, small_catalogue
from optimizer.solver.bound_process import BackgroundBound
from optimizer.solver.by_class import (
    ClassIncumbents,
    branch_per_class,
    class_incumbents,
    exact_per_class,
    partition_per_class,
    plan_from_classes,
)
from optimizer.solver.column_generation import LpOutcome, column_generation
from optimizer.solver.columns import Columns, PatternPool, Prepared, instance_hours, make_columns, prepare
from optimizer.solver.cover_master import MIN_START_SECONDS, clipped_pattern_columns, cover_master_plan
from optimizer.solver.integer_master import solve_integer_master
from optimizer.solver.lagrangian_bound import policy_bound
from optimizer.solver.lagrangian_rounding import lagrangian_plan
from optimizer.solver.partition_bound import ENUMERABLE_SHARE, PartitionBound, partition_bound
from optimizer.solver.plan import Plan, bound_above_objective, relative_gap
from optimizer.solver.plan_sources import plain_source
from optimizer.solver.problem import Problem
from optimizer.solver.pruning import prune_dominated
from optimizer.solver.requirements import restrict_to_requirements
from optimizer.solver.resource_bound import resource_bound
from optimizer.solver.search_kernels import warm_up
from optimizer.solver.spot_repair import repair_spot_limits
from optimizer.solver.subset_search import QuickPlan, improve_subset
from optimizer.solver.type_cap_subsets import candidate_subsets, lp_spend, selection_subset
from optimizer.solver.type_cap_swaps import SubsetScorer, rank_subsets, solve_order
from optimizer.solver.validate import validate_plan

_log = logging.getLogger(__name__)

#: Share of the time limit column generation may use before the integer phase must start.
LP_TIME_SHARE = 0.7
#: Most of the time limit the per-class partition bound may take in-process under a spot-share cap
#: (`_Search.bound_by_partition`).
PARTITION_TIME_SHARE = 0.1
#: Under max_instance_types = k the integer master keeps columns of the k x this most used offerings.
TYPE_CAP_CANDIDATES = 3
#: Under max_instance_types with spot rows, the time kept for the bound that sees the cap
#: (`policy_bound`, which needs about 2 s before it rises above the LP bound) when no child process
#: can run it beside the subsets (`bound_process.py`): this many seconds, when that is at most this
#: share of what is left after the LP (else the subsets get it all).
CAP_BOUND_SECONDS = 2.5
CAP_BOUND_SHARE = 0.4
#: Under max_instance_types alone, share of the time after the LP that raising the bound (the
#: problem without the cap, class by class) may take before the subsets; it stops sooner at the
#: gap target (KTH week: 3 s from the LP to a bound of $310.99 and a plan within 0.5 % of it).
UNCAPPED_BOUND_SHARE = 0.4
#: Under max_instance_types alone, share of the time after that bound the subsets get (the
#: integer master over the most used offerings gets the rest: on the KTH week it turns the
#: subset's $316.10 into $314.86 in 1.3 s).
CAP_ALONE_SUBSET_SHARE = 0.6
#: A type-cap subset is solved only with at least this many seconds left (else its cheapest-fit
#: plan stands).
MIN_SUBSET_SECONDS = 1.0
#: Under max_instance_types with spot rows and the bound's child running, the longest the subset
#: search waits for the child's first selection values y (its first restricted LP: 0.2-0.7 s of CPU
#: on the KTH week, 2-3 s on the Alibaba week, where early y picks no good subset anyway), and at most
#: this share of the subsets' time: the top k by y is then one more candidate subset. On Alibaba the
#: wait never saw y and was idle time the subset's solve lacked (README row, 1.5 s: plans
#: $3,525.43-3,554.55; 0.5 s: $3,523.68-3,525.52; none: $3,522.32-3,522.67); KTH README and README
#: + requirements still get their y within 0.5 s (load 1.4-1.9; same plans).
SELECTION_WAIT_SECONDS = 0.5
SELECTION_WAIT_SHARE = 0.2
#: Under max_instance_types with spot rows, share of the subsets' time left after their quick
#: plans that the swap search over subsets may take (`type_cap_swaps.py`; 0.1-0.3 s per subset LP
#: on the KTH week).
SWAP_SHARE = 0.25
#: ... when at least this many subset LPs are expected to fit in it (at one round of the
#: uncapped LP's column generation each, until one is timed): the Alibaba week's take 0.6-0.7 s
#: each, and scoring two or three subsets there only took time from the subset's solve.
MIN_SWAP_SCORES = 6
#: Share of the subset search's time the swap local search over offering subsets may use (it
#: stops earlier at a local optimum: tens of compiled quick plans, ~1 ms each on the bundled
#: weeks), and the most seconds it may take for the capped LP's selection subset.
SUBSET_SEARCH_SHARE = 0.15
SUBSET_SEARCH_SECONDS = 0.3
#: Longest one exact bin re-assignment of a spot-limited plan may run.
REASSIGN_SECONDS = 0.3
#: Under diversification alone, share of the time after the rounding given to the bound of the
#: problem without it.
RELAXED_BOUND_SHARE = 0.6
#: ... when at least this many seconds are left: a solve costs about a second before its own limit
#: counts (pruning, its cheapest-fit), and with less the limit would be overrun.
RELAXED_BOUND_MIN_SECONDS = 3.0
#: Under spot limits without a type cap, share of the time left after the LP rounding that the
#: Lagrangian rounding gets (its passes' covers feed the cover master; a type-cap subset's solve
#: skips it).
LAGRANGIAN_SHARE = 0.5
#: ... and share of the time left after that the cover master gets before the coupled master
#: (all of it in a type-cap subset's solve, which runs no coupled master).
COVER_MASTER_SHARE = 0.6
#: Single-shape seed patterns per shape and capacity type (cheapest per job first).
SEEDS_PER_SHAPE = 3


@dataclass(frozen=True)
class LpEstimate:
    """What `--lp` answers: the bound and the fractional mix, no integer plan."""

    lower_bound_usd: float
    lp_objective_usd: float
    converged: bool
    feasible: bool
    instance_hours: dict[str, float]
    solve_seconds: float


def _unhostable(problem: Problem) -> str | None:
    for i, shape in enumerate(problem.shapes):
        if problem.demand[i].any() and not any(o.can_host(shape) for o in problem.offerings):
            return (
                f"shape {shape.id} ({shape.vcpus:g} vCPU, {shape.memory_mib:g} MiB, {shape.gpus} GPU, "
                f"arch {shape.arch or 'any'}, spot_ok={shape.spot_ok}) fits no offering allowed by the "
                f"instance requirements ({problem.policy.instance_requirements.describe()})"
            )
    return None


def _seed_pool(prep: Prepared, pool: PatternPool, pairs: set[tuple[int, int]]) -> None:
    s_count = len(prep.sizes)
    for s in range(s_count):
        classes = np.flatnonzero(prep.demand[s] > 0)
        if classes.size == 0:
            continue
        fit = np.full(len(prep.offerings), np.inf)
        for d in range(3):
            if prep.sizes[s, d] > 0:
                fit = np.minimum(fit, np.floor((prep.caps[:, d] + 1e-9) / prep.sizes[s, d]))
        for spot_flag in (False, True):
            ok = np.flatnonzero(prep.compat[:, s] & (fit >= 1) & (prep.spot == spot_flag))
            if ok.size == 0:
                continue
            per_job = prep.hourly[ok] / fit[ok]
            for o in ok[np.argsort(per_job)[:SEEDS_PER_SHAPE]]:
                for u in classes:
                    counts = np.zeros(s_count, dtype=np.int64)
                    counts[s] = int(min(fit[o], prep.demand[s, u]))
                    pid, _ = pool.add(int(o), counts)
                    pairs.add((pid, int(u)))


def _seed_from_plan(prep: Prepared, plan: Plan, pool: PatternPool, pairs: set[tuple[int, int]]) -> None:
    index = {o.key: i for i, o in enumerate(prep.offerings)}
    shape_index = {s.id: i for i, s in enumerate(prep.problem.shapes)}
    seen_class: set[int] = set()
    for t, bins in enumerate(plan.buckets):
        u = int(prep.bucket_class[t])
        if u < 0 or u in seen_class:
            continue
        seen_class.add(u)
        for b in bins:
            o = index.get(b.offering)
            if o is None:
                continue  # pruned: a dominating offering hosts the same jobs for no more
            counts = np.zeros(len(prep.sizes), dtype=np.int64)
            for sid, n in b.jobs.items():
                counts[shape_index[sid]] = n
            pid, _ = pool.add(o, counts)
            pairs.add((pid, u))


def _seed_from_patterns(
    prep: Prepared,
    patterns: tuple[tuple[str, np.ndarray, int], ...],
    pool: PatternPool,
    pairs: set[tuple[int, int]],
) -> None:
    """Add (offering key, jobs per shape, bucket) patterns to the pool, in the class of that bucket
    (pruned offerings skipped: a dominating one hosts the same jobs for no more)."""
    index = {o.key: i for i, o in enumerate(prep.offerings)}
    for key, counts, bucket in patterns:
        o = index.get(key)
        u = int(prep.bucket_class[bucket])
        if o is not None and u >= 0:
            pid, _ = pool.add(o, counts)
            pairs.add((pid, u))


def _patterns_on(prep: Prepared, cols: Columns, chosen: list[int]) -> tuple[tuple[str, np.ndarray, int], ...]:
    """`cols` on the `chosen` prepared offerings as `SubsetSeed.patterns`."""
    first_bucket = np.full(prep.n_classes, -1, dtype=np.int64)
    for t in np.flatnonzero(prep.bucket_class >= 0)[::-1]:
        first_bucket[prep.bucket_class[t]] = t
    keep = np.flatnonzero(np.isin(cols.offering, chosen))
    return tuple(
        (prep.offerings[int(cols.offering[n])].key, cols.counts[n], int(first_bucket[cols.bucket_class[n]]))
        for n in keep
    )


def _class_bins(prep: Prepared, cols: Columns, values: np.ndarray) -> list[list[RawBin]]:
    out: list[list[RawBin]] = [[] for _ in range(prep.n_classes)]
    for n in np.flatnonzero(values > 0.5):
        out[int(cols.bucket_class[n])].append(
            (prep.offerings[int(cols.offering[n])].key, round(float(values[n])), cols.counts[n])
        )
    return out


def _stats(prep: Prepared, problem: Problem, lp: LpOutcome, pool: PatternPool, **extra: object) -> dict:
    return {
        "offerings": len(problem.offerings),
        "offerings_after_pruning": len(prep.offerings),
        "bucket_classes": prep.n_classes,
        "patterns": len(pool),
        "columns": len(lp.columns),
        "lp_rounds": lp.iterations,
        "pricing_calls": lp.pricing_calls,
        "lp_objective_usd": round(lp.objective, 6) if np.isfinite(lp.objective) else None,
        "lp_converged": lp.converged,
        **extra,
    }


def _prepare_pool(problem: Problem) -> tuple[Prepared, PatternPool, set[tuple[int, int]]]:
    """Pruned problem arrays and the seed patterns column generation starts from."""
    offerings, _removed = prune_dominated(problem)
    prep = prepare(problem, offerings)
    pool = PatternPool(len(problem.shapes))
    pairs: set[tuple[int, int]] = set()
    _seed_pool(prep, pool, pairs)
    return prep, pool, pairs


#: The end of the outermost solve running in this context (None outside any): the solves nested in
#: it (the commitment-blind plan, the relaxed solve at the multipliers, the budget-first plan's
#: rest, a type-cap subset) may let their first LP run to it. Stopped at their own shares instead,
#: a nested solve whose first LP took a little longer under load kept its cheapest-fit plan: the
#: demo's gpu-training budget-first plan was $9,694 in one demo run against $4,600 in another.
_OUTER_END: ContextVar[float | None] = ContextVar("solve_outer_end", default=None)


#: Called with the prepared problem and its LP once a round certified a bound (`solve`'s `on_lp`).
LpHook = Callable[[Prepared, LpOutcome], None]


def solve(
    problem: Problem,
    *,
    clock: Callable[[], float],
    first_lp_until: float | None = None,
    on_lp: LpHook | None = None,
) -> Plan:
    """The plan for `problem` within its time limit; the steps are `_Search`'s methods, in order.

    The first LP of the outermost solve stops at that solve's limit (then the solve keeps its
    heuristic plan); a nested solve's may run to the outermost solve's end (`_OUTER_END`), or to
    `first_lp_until` when its caller gives less (the commitment-blind plan: half the limit).
    `on_lp` hears the LP relaxation once a round certified a bound (the commitment-blind plan's
    caller bounds what commitments can take off it by that round's duals,
    `commitments.dual_coverage_savings`); not called for problems with gangs or commitments,
    which solve other LPs."""
    if _OUTER_END.get() is not None:
        return _dispatch(problem, clock=clock, first_lp_until=first_lp_until, on_lp=on_lp)
    token = _OUTER_END.set(clock() + problem.policy.time_limit_seconds)
    try:
        return _dispatch(problem, clock=clock, first_lp_until=first_lp_until, on_lp=on_lp)
    finally:
        _OUTER_END.reset(token)


def _dispatch(
    problem: Problem, *, clock: Callable[[], float], first_lp_until: float | None, on_lp: LpHook | None
) -> Plan:
    if any(s.is_gang for s in problem.shapes):  # multi-node parallel jobs: optimizer.solver.gangs
        from optimizer.solver.gangs import solve_with_gangs

        return solve_with_gangs(problem, clock=clock)
    # Before the clock starts: a process's first solve would otherwise spend its time limit
    # loading (or, right after an install, compiling) the search kernels.
    warm_up()
    if problem.commitments:  # they price each bucket's on-demand usage: optimizer.solver.commitments
        from optimizer.solver.commitments import solve_with_commitments

        return solve_with_commitments(problem, clock=clock)
    return _search(problem, clock=clock, first_lp_until=first_lp_until, on_lp=on_lp)


def _search(
    problem: Problem,
    *,
    clock: Callable[[], float],
    seed: SubsetSeed | None = None,
    first_lp_until: float | None = None,
    on_lp: LpHook | None = None,
) -> Plan:
    """The solve itself (after the gang and commitment dispatch): what each step does is in its
    method's docstring. `seed`: what a caller solving a restriction of a bigger problem already
    has (a type-cap subset: its repaired cheapest-fit plan)."""
    search = _Search.begin(problem, clock)
    outer = _OUTER_END.get()
    until = outer if first_lp_until is None else first_lp_until
    if until is not None:
        # (never past the outermost solve's end, never before its own)
        search.first_lp_until = max(search.end, until if outer is None else min(until, outer))
    answer = search.trivial_answer()
    if answer is not None:
        return answer
    search.prepare()
    search.subset = seed is not None
    search.start_from_heuristics(seed)
    search.relax()
    if on_lp is not None and search.lp.certificate is not None:
        on_lp(search.prep, search.lp)
    search.bound_by_partition()
    if search.lp.proven_infeasible:
        return search.infeasible()
    search.round_lp()
    if not search.gap_reached():
        if search.separable():
            search.solve_class_by_class()
        else:
            if search.problem.policy.max_instance_types is not None:
                search.solve_type_cap_subsets()
            elif search.problem.policy.couples_spot:
                search.round_at_coupling_duals()
                search.raise_bound_without_diversification()
                search.mix_covers()
            search.solve_integer_master()
    return search.finish()


@dataclass
class SubsetSeed:
    """What the solve of a type-cap subset starts from: the subset's cheapest-fit plan, already
    computed (and repaired) to rank the subsets."""

    heuristic: Plan
    #: That plan with its spot limits repaired (`_subset_fallback`), None when it still breaks the
    #: policy: the subset's answer when its solve finds none (repairing it again took 0.5 s past
    #: the limit on the Alibaba week in ten-minute buckets).
    fallback: Plan | None = None
    #: The bigger problem's LP columns on the subset's offerings, as (offering key, jobs per shape,
    #: a bucket of the column's class): the subset's column generation starts from them instead
    #: of from single-shape seeds (on the Alibaba week under load its LP took 2.8 s of a 4 s share
    #: from scratch, leaving the cover master no time).
    patterns: tuple[tuple[str, np.ndarray, int], ...] = ()


@dataclass
class _Search:
    """The state one solve carries from step to step: the incumbent (cheapest valid plan so far),
    the proven bound, the LP and its rounding, and the deadline of the integer phase."""

    problem: Problem
    clock: Callable[[], float]
    start: float
    limit: float
    incumbent: Plan | None = None
    bound: float = 0.0
    end: float = 0.0  # the integer phase's deadline
    first_lp_until: float = 0.0  # the first LP stops here (`end` unless a caller gives more)
    mip_status: str = "skipped"
    exact_classes: int = 0
    improved_classes: int = 0
    lp_seconds: float = 0.0
    subset: bool = False  # solving a type-cap subset (`SubsetSeed`) for a bigger problem
    bound_stats: dict = field(default_factory=dict)  # how the bound that sees the cap was computed
    partition_stats: dict = field(default_factory=dict)  # the per-class partition bound's, when run
    prep: Prepared = field(init=False)
    pool: PatternPool = field(init=False)
    pairs: set[tuple[int, int]] = field(init=False)
    heuristic: Plan = field(init=False)
    lp: LpOutcome = field(init=False)
    rounded: Plan | None = None
    passes: list[list[list[RawBin]]] = field(default_factory=list)  # Lagrangian passes' class bins
    cols: Columns = field(init=False)  # LP columns plus the rounding's residual covers
    values: np.ndarray = field(init=False)  # the rounding's integer values of `cols`
    reduced: np.ndarray = field(init=False)  # LP reduced cost of `cols` (0 for the residual covers)
    lp_values: np.ndarray = field(init=False)  # LP value of `cols`

    @classmethod
    def begin(cls, problem: Problem, clock: Callable[[], float]) -> _Search:
        start = clock()
        problem = restrict_to_requirements(problem)
        limit = problem.policy.time_limit_seconds
        end = start + 0.95 * limit
        return cls(problem=problem, clock=clock, start=start, limit=limit, end=end, first_lp_until=end)

    @property
    def elapsed(self) -> float:
        return self.clock() - self.start

    def offer(self, plan: Plan | None) -> bool:
        """Keep `plan` when it meets the policy and is cheaper than the incumbent."""
        if (
            plan is None
            or not plan.has_solution
            or (self.incumbent is not None and plan.objective_usd >= self.incumbent.objective_usd - 1e-9)
            or _policy_violations(self.problem, plan)
        ):
            return False
        self.incumbent = plan
        return True

    def gap_reached(self) -> bool:
        return self.incumbent is not None and _gap(self.incumbent.objective_usd, self.bound) <= (
            self.problem.policy.gap_target
        )

    def separable(self) -> bool:
        """No row couples bucket classes, and the LP gave what the class-by-class passes need."""
        return (
            not self.problem.policy.couples_buckets
            and self.incumbent is not None
            and self.lp.feasible
            and self.lp.class_bounds is not None
        )

    def trivial_answer(self) -> Plan | None:
        """A shape no allowed offering hosts (INFEASIBLE), or no demand at all (the empty plan)."""
        problem = self.problem
        reason = _unhostable(problem)
        if reason is not None:
            return empty_plan(problem, "INFEASIBLE", reason, lower_bound=0.0, solve_seconds=self.elapsed)
        if not problem.demand.any():
            return build_plan(
                problem,
                [],
                np.full(problem.n_buckets, -1),
                np.zeros((len(problem.shapes), 0)),
                status="OPTIMAL",
                reason="no demand",
                lower_bound=0.0,
                solve_seconds=self.elapsed,
            )
        return None

    def prepare(self) -> None:
        """Prune dominated offerings, merge identical buckets, seed the pattern pool."""
        self.prep, self.pool, self.pairs = _prepare_pool(self.problem)

    def start_from_heuristics(self, seed: SubsetSeed | None) -> None:
        """Cheapest-fit on the whole catalogue: a seed for the pool and, when it meets the policy,
        the incumbent the optimizer must beat; under spot limits without a type cap an
        all-on-demand fleet is a safe (dear) incumbent to improve on."""
        problem = self.problem
        started = self.clock()
        heuristic = seed.heuristic if seed is not None else cheapest_fit(problem)
        heuristic_seconds = self.clock() - started
        self.heuristic = heuristic
        if not heuristic.has_solution:
            return
        _seed_from_plan(self.prep, heuristic, self.pool, self.pairs)
        if seed is not None:
            _seed_from_patterns(self.prep, seed.patterns, self.pool, self.pairs)
        heuristic.status = "FEASIBLE"
        if self.offer(heuristic):
            return
        if problem.policy.couples_spot and problem.policy.max_instance_types is None and seed is None:
            # (under a type cap the offering subsets give the safe plan, and `finish` this one if
            # they do not; a subset's solve has its repaired cheapest-fit plan)
            self.offer(on_demand_fallback(problem))
        elif (
            seed is None
            and problem.policy.couples_buckets
            and heuristic_seconds > LATE_FALLBACK_SHARE * self.limit
        ):
            # At scale the plan of last resort is built now, inside the limit, not by `finish`
            # after it: on an 11-year hourly window (345,540 jobs, 98,167 buckets) under the
            # README policy the LP took the whole 60 s and `finish`'s fallback ran 7.6 s past it
            # (cheapest-fit packs and the validator check it twice).
            self.offer(on_demand_fallback(problem))

    def bound_by_partition(self) -> None:
        """Under a spot-share cap without a type cap, when column generation stopped unconverged:
        every bucket class's exact cover with the share priced by a multiplier
        (`partition_bound.py`), where the classes are small enough to enumerate, in
        `PARTITION_TIME_SHARE` of the limit. Under a type cap the child process computes it first,
        on the other core (`_partition_value`). Not in a type-cap subset's short solve (its
        caller has the bound) nor with commitments (their solve runs it itself)."""
        problem = self.problem
        policy = problem.policy
        if (
            policy.max_spot_share is None
            or policy.max_instance_types is not None
            or problem.commitments
            or self.subset
            or self.lp.converged
        ):
            return
        found = self._partition(deadline=self.clock() + PARTITION_TIME_SHARE * self.limit)
        if found is not None:
            self.bound = max(self.bound, found.bound)
            self.partition_stats = found.stats()

    def _partition(self, *, deadline: float) -> PartitionBound | None:
        """The per-class partition bound of the problem by `deadline`. The LP bound is weakest
        where buckets are short: a class with one GPU job pays a fraction of an instance in the
        LP. On the demo's gpu-training queue under the README policy (3,305 ten-minute buckets)
        the LP ran 4 rounds in 7.4 s without converging and the bound was the per-job resource
        bound, $3,308 under a $4,305 plan; this bound is $4,187 in 1.5 s."""
        return partition_bound(
            self.problem, deadline=deadline, clock=self.clock, min_exact_share=ENUMERABLE_SHARE
        )

    def _partition_value(self) -> float | None:
        """In the child process: the partition bound (its value only), in at most twice the
        in-process share: the selection bound and the selection values y the parent's subsets
        wait for come after it (on the demo's gpu-training queue it took 1.5 s, the selection
        bound then no round in the time left anyway)."""
        deadline = min(self.end, self.clock() + 2 * PARTITION_TIME_SHARE * self.limit)
        found = self._partition(deadline=deadline)
        return None if found is None else found.bound

    def relax(self) -> None:
        """Column generation: the LP bound (valid even when stopped early) and its solution."""
        self.lp = column_generation(
            self.prep,
            self.pool,
            self.pairs,
            deadline=self.start + LP_TIME_SHARE * self.limit,
            clock=self.clock,
            # (a type-cap subset's solve on the Alibaba week in ten-minute buckets spent 3.2 s in
            # its first LP on a 0.8 s limit, and the whole solve ended at 12.3 s on 9 s)
            first_deadline=self.first_lp_until,
        )
        self.lp_seconds = self.elapsed
        self.bound = max(self.bound, self.lp.lower_bound)
        self.cols, self.values = self.lp.columns, self.lp.values
        self.reduced, self.lp_values = self.lp.reduced_costs, self.lp.values

    def infeasible(self) -> Plan:
        return empty_plan(
            self.problem,
            "INFEASIBLE",
            _infeasible_reason(self.problem),
            lower_bound=self.bound,
            solve_seconds=self.elapsed,
            stats=_stats(self.prep, self.problem, self.lp, self.pool),
        )

    def round_lp(self) -> None:
        """Floor every LP column and cover what is left with cheapest-fit bins (the residual
        patterns also join the integer master, which otherwise only sees patterns the LP liked).
        Under spot limits without a type cap, the cheapest-fit and rounded plans, which break
        them, are repaired by moving bins greedily and re-placed exactly (`bin_reassignment.py`,
        among the offerings they run, or every offering of a small catalogue: a type-cap
        subset): a good incumbent whatever the coupled master manages in the time left."""
        lp, prep, problem = self.lp, self.prep, self.problem
        if not lp.feasible:
            return
        self.cols, self.values = _floor_and_cover(prep, self.pool, lp.columns, lp.values)
        self.rounded = _plan_from(prep, problem, self.cols, self.values, self.bound, self.elapsed)
        self.offer(self.rounded)
        if (
            self.heuristic.has_solution
            and problem.policy.couples_spot
            and problem.policy.max_instance_types is None
        ):
            extra = small_catalogue(problem)
            # (a type-cap subset's cheapest-fit plan was repaired already, to rank the subsets)
            for base in (self.rounded,) if self.subset else (self.heuristic, self.rounded):
                self.offer(repair_spot_limits(problem, base))
                left = min(REASSIGN_SECONDS, self.end - self.clock())
                self.offer(reassign_bins(problem, base, time_limit=left, extra_offerings=extra))
        n_lp = len(lp.columns)
        self.reduced = np.concatenate([lp.reduced_costs, np.zeros(len(self.cols) - n_lp)])
        self.lp_values = np.concatenate([lp.values, self.values[n_lp:]])

    def solve_class_by_class(self) -> None:
        """No row couples bucket classes: each class is its own covering problem, improved and
        then proven optimal class by class (`_per_class_passes`)."""
        assert self.incumbent is not None
        state, self.improved_classes, self.exact_classes = _per_class_passes(
            self.prep,
            self.problem,
            self.incumbent,
            self.lp,
            self.cols,
            self.reduced,
            gap_target=self.problem.policy.gap_target,
            deadline=self.end,
            clock=self.clock,
        )
        self.mip_status = "per-class"
        self.bound = max(self.bound, float(state.bound.sum()))
        self.offer(plan_from_classes(self.problem, self.prep, state))

    def solve_type_cap_subsets(self) -> None:
        """`max_instance_types`: the restriction heuristic first (fast, and a good incumbent
        shrinks the master); with spot rows as well the master rarely finds a plan in time, so the
        subsets get the time while the bound that sees the cap runs beside them in a child process
        (`bound_process.py`; where none can be forked, in-process after the subsets, as before).
        With the cap alone, the problem without it (solved class by class) bounds the capped
        optimum."""
        problem, lp, clock = self.problem, self.lp, self.clock
        if not lp.feasible:
            return
        spot = problem.policy.couples_spot
        if not spot:
            self._raise_bound_without_cap()
        background = (
            BackgroundBound.start(
                self.prep,
                self.pool,
                lp.columns,
                self._cap_seed,
                deadline=self.end,
                clock=clock,
                first=None if lp.converged else self._partition_value,
            )
            if spot
            else None
        )
        # With spot rows the subsets get the time, less (without a child) what the bound that sees
        # the cap needs (its first rounds sit below the LP bound) when that is a small enough part
        # of it; with the cap alone, what the bound left less the integer master's part.
        left = self.end - clock()
        share = CAP_ALONE_SUBSET_SHARE
        if background is not None:
            share = 1.0
        elif spot:
            share = 1.0 - CAP_BOUND_SECONDS / left if CAP_BOUND_SHARE * left >= CAP_BOUND_SECONDS else 0.9
        cap = problem.policy.max_instance_types or 0
        spends = [
            lp_spend(self.prep, lp.columns.offering, lp.columns.cost, lp.values),
            lp_spend(self.prep, self.cols.offering, self.cols.cost, self.values),
        ]
        selected_by_y: list[list[int]] = []
        scorer = (
            SubsetScorer.on_sample(
                self.prep,
                self.pool,
                np.array(sorted(self.pairs), dtype=np.int64),
                clock,
                expected_seconds=self.lp_seconds / max(1, lp.iterations),
            )
            if spot
            else None
        )

        def from_selection() -> list[list[int]]:
            # The capped LP's top k (the child's latest y, waited for a little): one more candidate.
            assert background is not None
            # (not past the point where no subset's solve fits any more: under load the quick
            # plans can take the LP's whole share)
            wait = min(
                SELECTION_WAIT_SECONDS,
                SELECTION_WAIT_SHARE * share * left,
                self.end - clock() - MIN_SUBSET_SECONDS,
            )
            y = background.wait_for_selection(deadline=clock() + wait, clock=clock)
            chosen = None if y is None else selection_subset(self.prep, y, spends[0], cap)
            selected_by_y.extend([] if chosen is None else [chosen])
            return selected_by_y

        try:
            restricted = _within_type_cap(
                problem,
                self.prep,
                spends,
                cap,
                deadline=clock() + share * left,
                clock=clock,
                more=None if background is None else from_selection,
                scorer=scorer,
                lp_columns=lp.columns,
            )
        except BaseException:
            if background is not None:
                background.stop()
            raise
        self.offer(restricted)
        if background is not None:
            # Whatever the child certified by the deadline (it ends the solve's time: the coupled
            # master with a cap finds nothing better in it).
            selected = background.collect(deadline=self.end, clock=clock)
            if background.partition is not None:
                self.partition_stats = {"partition_bound_usd": round(background.partition, 6)}
            self.bound_stats = {
                "cap_bound": "child process",
                "cap_bound_usd": None if selected is None else round(selected, 6),
                "cap_selection_subset": bool(selected_by_y),
                "cap_bound_rounds": background.selections,
                "cap_subsets_scored": 0 if scorer is None else scorer.evaluated,
                **({"cap_bound_error": background.error} if background.error else {}),
            }
            if selected is not None:
                self.bound = max(self.bound, selected)
            self.end = clock()
        elif restricted is not None and spot:
            # The cap seen by the bound (selection LP, issue 17) in the time the subsets left.
            self.bound_stats = {"cap_bound": "in process"}
            self.bound = max(
                self.bound,
                policy_bound(self.prep, self.pool, lp, self.incumbent, deadline=self.end, clock=clock),
            )
            self.end = clock()  # the coupled master with a cap finds nothing better in the time left

    def _raise_bound_without_cap(self) -> None:
        """Only the cap couples classes, and dropping it leaves a problem solved class by class:
        its per-class integer bounds bound the capped optimum too, and are tighter than the LP
        where few jobs of a shape run at once. Run before the subsets: the passes stop at their
        gap target, which on the KTH week takes them 3 s from the LP; after the subsets (half of
        what those left, 2 s) they stopped at $308.32 against $310.99, and the row missed 2 %
        with a plan 1.3 % above the bound they reach."""
        problem, lp, clock = self.problem, self.lp, self.clock
        if lp.class_bounds is None or not self.heuristic.has_solution:
            return
        start = self.heuristic
        if self.rounded is not None and self.rounded.objective_usd < start.objective_usd:
            start = self.rounded
        uncapped, _, _ = _per_class_passes(
            self.prep,
            problem,
            start,
            lp,
            self.cols,
            self.reduced,
            gap_target=problem.policy.gap_target,
            deadline=clock() + UNCAPPED_BOUND_SHARE * (self.end - clock()),
            clock=clock,
        )
        self.bound = max(self.bound, float(uncapped.bound.sum()))
        # (its plan is kept when it happens to run within the cap: a small catalogue)
        self.offer(plan_from_classes(problem, self.prep, uncapped))

    def _cap_seed(self) -> Plan | None:
        """A plan within the cap for the child's selection LP to start from (its first restricted
        LP is then feasible without artificial covers, whose prohibitive duals make the first
        certificates worthless): cheapest-fit on the first LP-ranked offering subset, spot limits
        repaired, as the subset search's quick plan. Runs in the child, on the other core."""
        cap = self.problem.policy.max_instance_types or 0
        lp = self.lp
        subsets = candidate_subsets(
            self.prep, [lp_spend(self.prep, lp.columns.offering, lp.columns.cost, lp.values)], cap
        )
        if not subsets:
            return None
        sub = _subset_problem(self.problem, self.prep, subsets[0], self.end, self.clock)
        return _subset_fallback(self.problem, sub, cheapest_fit(sub))

    def round_at_coupling_duals(self) -> None:
        """Spot limits without a type cap: the coupling rows priced at their LP duals make the
        problem separable; one small MIP per class, then repaired (`lagrangian_rounding.py`).
        Every pass's per-class covers are kept for the cover master (`mix_covers`)."""
        lp, clock = self.lp, self.clock
        if not lp.feasible or self.subset:
            # (in a type-cap subset's short solve the cover master's own pricing does better
            # with the time: the Lagrangian passes repair and re-place every union they make)
            return
        self.offer(
            lagrangian_plan(
                self.prep,
                self.problem,
                lp.columns,
                lp.reduced_costs,
                lp.item_value,
                lp.values,
                fallback=self.rounded_bins(),
                deadline=clock() + LAGRANGIAN_SHARE * (self.end - clock()),
                clock=clock,
                passes=self.passes,
            )
        )

    def rounded_bins(self) -> list[list[RawBin]] | None:
        """Per class, the LP rounding's bins (None without a rounding)."""
        return None if self.rounded is None else _class_bins(self.prep, self.cols, self.values)

    def mix_covers(self) -> None:
        """Spot limits without a type cap: the cover master (`cover_master.py`) mixes the covers
        of the plans so far, of the LP rounding and of the Lagrangian passes (and covers it
        generates) across each class's buckets to meet the spot rows. It comes after the bound
        without diversification, whose time it would otherwise take (KTH, 4 spot types: $310.99
        against $307.54-308.32)."""
        lp, clock = self.lp, self.clock
        if not lp.feasible:
            return
        # A subset's solve runs no coupled master after this: the cover master gets the rest.
        share = 1.0 if self.subset else COVER_MASTER_SHARE
        deadline = clock() + share * (self.end - clock())
        if deadline - clock() < MIN_START_SECONDS:
            return  # (its columns alone take 0.1-0.3 s to build)
        plan = cover_master_plan(
            self.prep,
            self.problem,
            clipped_pattern_columns(self.prep, self.pool),
            [self.incumbent, self.rounded],
            [self.rounded_bins(), *self.passes],
            lp=lp,
            deadline=deadline,
            clock=clock,
        )
        # (re-placing its bins exactly, as the other plans are, gained $0-0.41 on the bundled
        # weeks' subsets for the 0.3 s it would keep from the master)
        self.offer(plan)

    def raise_bound_without_diversification(self) -> None:
        """Diversification alone barely raises the optimum, while the LP bound under it sits
        below the integer bound of the problem without it (which the class-by-class passes prove,
        and which bounds this problem too)."""
        problem, clock = self.problem, self.clock
        if (
            not self.lp.feasible
            or problem.policy.caps_spot_share
            or self.incumbent is None
            or self.gap_reached()
            or self.end - clock() < RELAXED_BOUND_MIN_SECONDS
        ):
            return
        relaxed = _search(
            problem.with_policy(
                replace(
                    problem.policy,
                    min_spot_instance_types=0,
                    time_limit_seconds=max(0.1, RELAXED_BOUND_SHARE * (self.end - clock())),
                )
            ),
            clock=clock,
        )
        self.bound = max(self.bound, relaxed.lower_bound_usd)

    def solve_integer_master(self) -> None:
        """Price-and-branch over the generated patterns with every row (in a child process killed
        at the deadline). Reduced-cost fixing drops columns that cannot beat the incumbent; under
        a type cap only the offerings the LP leans on most keep their columns (the others made
        HiGHS's root overrun its limit)."""
        prep, lp, clock = self.prep, self.lp, self.clock
        cols = self.cols
        cap = self.problem.policy.max_instance_types
        if self.incumbent is not None:
            slack = self.incumbent.objective_usd - self.bound
            keep = (self.reduced <= slack + 1e-9) | (self.lp_values > 1e-9)
            if cap is not None and lp.feasible:
                keep &= np.isin(cols.offering, _most_used_offerings(prep, lp, TYPE_CAP_CANDIDATES * cap))
            cols = _subset(cols, keep)
        if clock() >= self.end or (
            self.subset and self.problem.policy.couples_spot and self.incumbent is not None
        ):
            # (a subset's coupled master has never found a plan in the time its solve has left)
            return
        mip = solve_integer_master(
            prep, cols, deadline=self.end, clock=clock, relative_gap=self.problem.policy.gap_target / 4
        )
        self.mip_status = mip.status
        if mip.status == "SOLVED":
            self.offer(_plan_from(prep, self.problem, cols, mip.values, self.bound, self.elapsed))

    def finish(self) -> Plan:
        """The incumbent with the proven bound, an unclamped gap, a status and a reason (or an
        INFEASIBLE / TIMEOUT plan when there is none)."""
        problem, limit = self.problem, self.limit
        stats = _stats(
            self.prep,
            problem,
            self.lp,
            self.pool,
            exact_classes=self.exact_classes,
            improved_classes=self.improved_classes,
            mip=self.mip_status,
            lp_seconds=round(self.lp_seconds, 3),
            heuristic_objective_usd=round(self.heuristic.objective_usd, 6),
            **self.bound_stats,
            **self.partition_stats,
        )
        elapsed = self.elapsed
        at_limit = elapsed >= 0.9 * limit  # (the search ran into its time limit, not out of ideas)
        fallback = resource_bound(problem)  # holds when the LP stopped early with a weak bound
        stats["resource_bound_usd"] = round(fallback, 6)
        bound = max(self.bound, fallback)
        if self.incumbent is None and problem.policy.couples_buckets:
            # (the plan of last resort: on demand, within the cap, so the spot rows hold vacuously)
            stats["on_demand_fallback"] = self.offer(on_demand_fallback(problem))
        if self.incumbent is None:
            if self.mip_status == "INFEASIBLE" and problem.policy.max_instance_types is not None:
                return empty_plan(
                    problem,
                    "INFEASIBLE",
                    f"no plan found with at most {problem.policy.max_instance_types} offerings "
                    "among the generated patterns",
                    lower_bound=bound,
                    solve_seconds=elapsed,
                    stats=stats,
                )
            why = (
                f"time limit {limit:,.1f} s reached before a feasible plan"
                if at_limit
                # (the search gave up early: saying the limit was reached would send a person to
                # raise a limit that was never the problem)
                else f"no plan that meets the policy found; the search ended after {elapsed:,.1f} s "
                f"of the {limit:,.1f} s limit"
            )
            return empty_plan(problem, "TIMEOUT", why, lower_bound=bound, solve_seconds=elapsed, stats=stats)
        gap_target = problem.policy.gap_target
        gap = _gap(self.incumbent.objective_usd, bound)
        if bound_above_objective(self.incumbent.objective_usd, bound):
            status = "FEASIBLE"
            why = (
                f"lower bound ${bound:.6f} is above the plan's objective "
                f"${self.incumbent.objective_usd:.6f}: "
                "the bound is wrong (a solver bug), so nothing is proven about optimality"
            )
        elif gap <= 1e-6:
            status, why = "OPTIMAL", "objective equals the lower bound"
        elif gap <= gap_target:
            status, why = "FEASIBLE", f"gap {gap:.3%} within target {gap_target:.3%}"
        else:
            timed_out = at_limit or not self.lp.converged
            status = "FEASIBLE"
            why = f"gap {gap:.3%} above target {gap_target:.3%}" + (
                f" at the time limit {limit:g} s" if timed_out else ""
            )
        source = self.incumbent.stats.get("heuristic")
        if source:
            why += f"; best plan: {plain_source(source)}"
        plan = self.incumbent
        plan.status, plan.reason, plan.stats, plan.solve_seconds = status, why, stats, elapsed
        plan.lower_bound_usd = bound  # as proven: clamping it to the objective would hide a wrong bound
        plan.gap = gap
        return plan


#: When cheapest-fit alone takes more than this share of the time limit, the on-demand plan of last
#: resort (which packs cheapest-fit and single types again, and validates) is built at the start
#: instead of after the search (`_Search.start_from_heuristics`). At the bundled weeks' scale
#: cheapest-fit takes 0.3-1 % of a 9 s limit (25-84 ms), so nothing changes there.
LATE_FALLBACK_SHARE = 0.05
#: Single-type candidates the on-demand fallback packs when cheapest-fit runs too many types.
FALLBACK_SINGLE_TYPES = 3


def on_demand_fallback(problem: Problem) -> Plan | None:
    """A plan on on-demand offerings only, within the type cap, or None: the plan of last resort
    when the search ends without one under policies that couple buckets. Without spot usage the
    spot share is 0 and diversification holds vacuously (no spot pool to exceed 1/K), so only
    the cap binds: cheapest-fit on the on-demand offerings when it runs few enough types, else the
    best single on-demand type that hosts every shape. The subsets the search tries come from the
    LP's spend, which on a tiny problem (two shapes, a cap of 2, two spot pools, a spot share of
    0.5) held no all-on-demand pair, and the solve answered TIMEOUT in 0.04 s where a $0.181
    plan exists."""
    on_demand = [o for o in problem.offerings if not o.is_spot]
    if not on_demand:
        return None
    cap = problem.policy.max_instance_types
    only_on_demand = problem.with_offerings(on_demand)
    everywhere = cheapest_fit(only_on_demand)
    candidates: list[Callable[[], Plan | None]] = [
        lambda: everywhere,
        lambda: _cheapest_fit_within_cap(only_on_demand, everywhere),
        lambda: single_type(only_on_demand, candidates=FALLBACK_SINGLE_TYPES),
    ]
    for candidate in candidates:
        plan = candidate()
        # (build_plan's selection is the offerings used; validity is the caller's `offer`)
        if plan is not None and plan.has_solution and (cap is None or len(plan.selected) <= cap):
            plan.stats = {"heuristic": "all-on-demand"}
            return plan
    return None


def _cheapest_fit_within_cap(problem: Problem, everywhere: Plan) -> Plan | None:
    """Cheapest-fit on at most `max_instance_types` of `problem`'s offerings, chosen as the
    solver's candidate subsets are (`candidate_subsets`: a host for every shape, then the
    offerings `everywhere`, cheapest-fit on all of them, spends most on). None without a cap, a
    plan, or a subset that fits it. On a held-out Alibaba week (day 130) cheapest-fit on demand
    ran 15 types against a cap of 12 and no single type hosts both the GPU and the CPU jobs, so
    the solve had no plan of last resort."""
    cap = problem.policy.max_instance_types
    if cap is None or not everywhere.has_solution:
        return None
    prep = prepare(problem, list(problem.offerings))
    index = {o.key: n for n, o in enumerate(prep.offerings)}
    spend = np.zeros(len(prep.offerings))
    hours = problem.bucket_hours
    for bins in everywhere.buckets:
        for b in bins:
            if b.offering in index:
                spend[index[b.offering]] += b.instance_hours(hours) * prep.price[index[b.offering]]
    subsets = candidate_subsets(prep, [spend], cap)
    if not subsets:
        return None
    return cheapest_fit(problem.with_offerings([prep.offerings[o] for o in subsets[0]]))


def is_last_resort(plan: Plan) -> bool:
    """The plan is `on_demand_fallback`'s: the search itself found none (callers that have a
    better way to get a plan, a coarser problem or more time, treat it as none)."""
    return plan.has_solution and bool(plan.stats.get("on_demand_fallback"))


def _per_class_passes(
    prep: Prepared,
    problem: Problem,
    start: Plan,
    lp: LpOutcome,
    cols: Columns,
    reduced: np.ndarray,
    *,
    gap_target: float,
    deadline: float,
    clock: Callable[[], float],
) -> tuple[ClassIncumbents, int, int]:
    """The class-by-class passes from the plan `start` and the LP's per-class bounds: pass 0
    solves the classes small enough for the recursion over their jobs' sub-multisets exactly
    (milliseconds each), pass 1 improves the other incumbents cheaply (half of the time left),
    pass 2 proves classes optimal (and needs those incumbents to keep its enumeration small).
    Returns the per-class state (incumbents and proven bounds), how many classes pass 1 improved
    and how many passes 0 and 2 proved.

    With no coupling between classes this solves the problem; under `max_instance_types` alone
    it solves the problem without the cap, whose per-class bounds summed bound the capped optimum
    too (tighter than the LP where few jobs of a shape run at once)."""
    assert lp.class_bounds is not None
    state = class_incumbents(prep, problem, start, lp.class_bounds)
    exact = partition_per_class(prep, state, gap_target=gap_target, deadline=deadline, clock=clock)
    lp_class_value = np.bincount(
        lp.columns.bucket_class, weights=lp.columns.cost * lp.values, minlength=prep.n_classes
    )
    improved = branch_per_class(
        prep,
        cols,
        reduced,
        lp_class_value,
        state,
        gap_target=gap_target,
        deadline=(clock() + deadline) / 2,
        clock=clock,
    )
    exact += exact_per_class(
        prep, lp.item_value, state, gap_target=gap_target, deadline=deadline, clock=clock
    )
    return state, improved, exact


def _most_used_offerings(prep: Prepared, lp: LpOutcome, n: int) -> np.ndarray:
    """Up to `n` offerings the LP solution spends most on (prepared indices, most first)."""
    usage = np.bincount(
        lp.columns.offering, weights=lp.columns.cost * lp.values, minlength=len(prep.offerings)
    )
    ranked = np.argsort(-usage, kind="stable")
    return ranked[usage[ranked] > 1e-9][:n]


def _within_type_cap(
    problem: Problem,
    prep: Prepared,
    spends: list[np.ndarray],
    cap: int,
    *,
    deadline: float,
    clock: Callable[[], float],
    more: Callable[[], list[list[int]]] | None = None,
    scorer: SubsetScorer | None = None,
    lp_columns: Columns | None = None,
) -> Plan | None:
    """A plan for `max_instance_types`: pick the `cap` offerings the LP relaxation leans on most
    (keeping every shape hostable) and solve the problem restricted to them without the cap.
    `more` gives further candidate subsets (the capped LP's top k by y, `selection_subset`), asked
    after the LP-spend subsets' quick plans so that whatever it waits for runs meanwhile; they are
    ranked with the others. With a `scorer` the ranking is by each subset's LP over the known
    patterns, after a swap search from the best one (`_swap_and_rank`), else by quick plans.

    The cap's LP relaxation spreads demand over many offerings, so the integer master starts far
    from a good selection; the restricted problem is separable (when no other policy couples
    classes) and the class-by-class solve handles it quickly. A heuristic: it improves the plan,
    never the bound."""
    best: Plan | None = None
    quick_plan = QuickPlan(prep)
    search_end = clock() + SUBSET_SEARCH_SHARE * (deadline - clock())
    subsets: list[list[int]] = []
    # A quick plan per subset first (cheapest-fit on it, spot limits repaired): the time limit never
    # leaves the cap without a plan, and its cost, which already pays for rounding to whole
    # instances, ranks the subsets. The subset's solve starts from the same cheapest-fit plan.
    quick: list[float] = []
    seeds: list[SubsetSeed] = []
    took = 0.0  # seconds the last quick plan took

    def add(chosen: list[int]) -> bool:
        nonlocal best, took
        if best is not None and clock() + took > deadline:
            # Another quick plan would end past the deadline (under load the LP can leave less
            # than they take: at load 6-8, 0.5-1.5 s each after a 6 s LP, and the solve ran
            # 11-14 s); with a plan in hand the time limit wins.
            return False
        started = clock()
        sub = _subset_problem(problem, prep, chosen, deadline, clock)
        heuristic = cheapest_fit(sub)
        plan = _subset_fallback(problem, sub, heuristic)
        subsets.append(chosen)
        quick.append(np.inf if plan is None else plan.objective_usd)
        seeds.append(SubsetSeed(heuristic, fallback=plan))
        if plan is not None and (best is None or plan.objective_usd < best.objective_usd - 1e-9):
            best = plan
        took = clock() - started
        return True

    for lp_subset in candidate_subsets(prep, spends, cap):
        # The LP subset after the swap search; as the LP gave it only when the swapped one's
        # quick plan fails the spot limits (the swaps ignore them).
        for chosen in (
            _swap_improved(prep, lp_subset, quick_plan, deadline=search_end, clock=clock),
            lp_subset,
        ):
            if any(sorted(chosen) == sorted(seen) for seen in subsets):
                break  # (two LP subsets may reach the same one)
            if not add(chosen) or np.isfinite(quick[-1]):
                break
    from_lp = len(subsets)
    for chosen in [] if more is None else more():
        chosen = _swap_improved(
            prep, chosen, quick_plan, deadline=clock() + SUBSET_SEARCH_SECONDS, clock=clock
        )
        if all(sorted(chosen) != sorted(seen) for seen in subsets):
            add(chosen)
    order = np.argsort(quick, kind="stable")
    from_swaps = len(subsets)
    if scorer is not None:
        order = _swap_and_rank(problem, prep, spends, cap, subsets, quick, add, scorer, deadline, clock)
        _log.debug(
            "type-cap subsets (quick plan, score): %s; order %s",
            [
                (round(q, 2), round(scorer.scores.get(tuple(sorted(c)), np.inf), 2))
                for q, c in zip(quick, subsets, strict=True)
            ],
            order.tolist(),
        )
    # A coupled subset solve needs its whole share to get through its LP and the per-class
    # rounding (split between two, neither finished on the bundled weeks), so with spot rows each
    # subset gets all the time left; the next one only runs when a solve ended early.
    whole = problem.policy.couples_spot
    for i, n in enumerate(order):
        if clock() >= deadline - MIN_SUBSET_SECONDS:
            break  # a subset's solve in less would overrun: its LP and rounding alone take longer
        # The most promising subset first, with two thirds of the time when another follows.
        share_end = clock() + (deadline - clock()) * (1.0 if whole or i == len(order) - 1 else 2.0 / 3.0)
        seed = seeds[n]
        if lp_columns is not None:
            seed = replace(seed, patterns=_patterns_on(prep, lp_columns, subsets[n]))
        plan = _solve_subset(problem, prep, subsets[n], seed, deadline=share_end, clock=clock)
        _log.debug(
            "type-cap subset %d solved: %s (%s), %.2f s before its deadline",
            n,
            None if plan is None else round(plan.objective_usd, 2),
            None if plan is None else plan.stats,
            share_end - clock(),
        )
        if plan is not None and n >= from_lp and plan.stats.get("heuristic") == "type-cap restriction":
            source = "the capped LP's selection" if n < from_swaps else "the swap search's subset"
            plan.stats = {"heuristic": f"type-cap restriction to {source}"}
        if plan is not None and (best is None or plan.objective_usd < best.objective_usd - 1e-9):
            best = plan
    return best


def _swap_and_rank(
    problem: Problem,
    prep: Prepared,
    spends: list[np.ndarray],
    cap: int,
    subsets: list[list[int]],
    quick: list[float],
    add: Callable[[list[int]], bool],
    scorer: SubsetScorer,
    deadline: float,
    clock: Callable[[], float],
) -> np.ndarray:
    """The order in which to solve the subsets (`type_cap_swaps.solve_order`): the quick plans',
    unless the subsets' LP over the known patterns ranks another clearly lower, after a swap
    search from the best-scored one in `SWAP_SHARE` of the time left (its subset, when new, joins
    `subsets` with its quick plan). Subsets are scored best quick plan first while a score is
    expected to fit in that share. The search runs only when some quick plan met the policy:
    otherwise the subset's solve is the only way to a plan and gets all the time.

    The share is not cut to leave the subset's solve some multiple of the uncapped LP's time
    (six, until 2026-12-05): on held-out KTH-SP2 weeks under the README policy, whose LPs take
    1.1-1.6 s, that rule left the search nothing, and the subsets the LP's spend picks, solved,
    were 7.8-10.4 % above the bound; with the search's share it finds a subset whose quick plan
    alone beats them ($323.9 against $331.6 on the week from day 232), and the gaps were
    1.4-2.9 %. The subset's solve keeps the other three quarters, and the quick plan of the
    search's subset is a plan whatever its solve manages."""
    by_quick = np.argsort(quick, kind="stable")
    budget = SWAP_SHARE * (deadline - clock())
    if not np.isfinite(min(quick, default=np.inf)) or budget < MIN_SWAP_SCORES * scorer.seconds_per_score:
        return by_quick  # (a search of a few swaps only costs the subset's solve its time)
    ranked = np.argsort(-spends[0], kind="stable")
    candidates = [int(o) for o in ranked if spends[0][o] > 1e-9][: TYPE_CAP_CANDIDATES * cap]
    scores, found, value = rank_subsets(
        scorer,
        subsets,
        candidates,
        deadline=clock() + budget,
        keep_spot=problem.policy.diversification,
        first=[int(n) for n in by_quick],
    )
    if found is not None and add(found):
        scores.append(value)
    return solve_order(quick, scores)


def _swap_improved(
    prep: Prepared, chosen: list[int], quick: QuickPlan, *, deadline: float, clock: Callable[[], float]
) -> list[int]:
    """`chosen` after the swap local search (`subset_search.py`): the subsets come from the LP,
    whose fractional packing favours big instances that round badly in whole ones."""
    found = improve_subset(prep, chosen, deadline=deadline, clock=clock, quick=quick)
    return chosen if found is None else found.subset


def _solve_subset(
    problem: Problem,
    prep: Prepared,
    chosen: list[int],
    seed: SubsetSeed,
    *,
    deadline: float,
    clock: Callable[[], float],
) -> Plan | None:
    """The problem restricted to the `chosen` prepared offerings, solved without the type cap."""
    sub = _subset_problem(problem, prep, chosen, deadline, clock)
    plan = _search(sub, clock=clock, seed=seed)
    if not plan.has_solution or _policy_violations(problem, plan):
        # (the quick plan, repaired when the subset was ranked: repairing it again gives the same)
        return None if seed.fallback is None else copy.copy(seed.fallback)
    plan.stats = {"heuristic": "type-cap restriction"}
    return plan


def _subset_problem(
    problem: Problem, prep: Prepared, chosen: list[int], deadline: float, clock: Callable[[], float]
) -> Problem:
    """The problem on the `chosen` prepared offerings only, without the type cap they meet."""
    keys = {prep.offerings[o].key for o in chosen}
    return problem.with_offerings([o for o in problem.offerings if o.key in keys]).with_policy(
        replace(problem.policy, max_instance_types=None, time_limit_seconds=max(0.1, deadline - clock()))
    )


def _subset_fallback(problem: Problem, sub: Problem, heuristic: Plan) -> Plan | None:
    """The subset's cheapest-fit plan with its spot limits repaired, when that meets the policy:
    fast and dear, the plan to keep if the time limit stops everything else."""
    plan: Plan | None = copy.copy(heuristic)
    if plan is not None and plan.has_solution and sub.policy.couples_spot:
        plan = repair_spot_limits(sub, plan)
    if plan is None or not plan.has_solution or _policy_violations(problem, plan):
        return None
    plan.stats = {"heuristic": "type-cap subset cheapest-fit"}
    return plan


def _floor_and_cover(
    prep: Prepared, pool: PatternPool, cols: Columns, values: np.ndarray
) -> tuple[Columns, np.ndarray]:
    """Columns extended with residual-cover patterns, and integer values: floor(LP) + residual bins."""
    floor = np.floor(values + 1e-9)
    covered = np.zeros_like(prep.demand)
    np.add.at(covered.T, cols.bucket_class, floor[:, None] * cols.counts)
    residual = np.maximum(prep.demand - covered, 0)
    index = {o.key: i for i, o in enumerate(prep.offerings)}
    extra_pairs: list[tuple[int, int]] = []
    extra_values: list[float] = []
    for u in np.flatnonzero(residual.any(axis=0)):
        for key, count, jobs in cheapest_fit_bins(prep, residual[:, u]) or []:
            pid, _ = pool.add(index[key], jobs)
            extra_pairs.append((pid, int(u)))
            extra_values.append(float(count))
    if not extra_pairs:
        return cols, floor
    extra = make_columns(prep, pool, np.array(extra_pairs, dtype=np.int64))
    merged = Columns(
        pattern=np.concatenate([cols.pattern, extra.pattern]),
        bucket_class=np.concatenate([cols.bucket_class, extra.bucket_class]),
        offering=np.concatenate([cols.offering, extra.offering]),
        counts=np.vstack([cols.counts, extra.counts]),
        cost=np.concatenate([cols.cost, extra.cost]),
        weight_hours=np.concatenate([cols.weight_hours, extra.weight_hours]),
    )
    return merged, np.concatenate([floor, np.array(extra_values)])


def _gap(objective: float, bound: float) -> float:
    """Unclamped relative gap (negative when the bound is above the objective)."""
    return relative_gap(objective, bound)


def _subset(cols: Columns, keep: np.ndarray) -> Columns:
    return Columns(
        pattern=cols.pattern[keep],
        bucket_class=cols.bucket_class[keep],
        offering=cols.offering[keep],
        counts=cols.counts[keep],
        cost=cols.cost[keep],
        weight_hours=cols.weight_hours[keep],
    )


def _plan_from(
    prep: Prepared, problem: Problem, cols: Columns, values: np.ndarray, bound: float, elapsed: float
) -> Plan:
    return build_plan(
        problem,
        _class_bins(prep, cols, values),
        prep.bucket_class,
        prep.demand,
        status="FEASIBLE",
        reason="",
        lower_bound=bound,
        solve_seconds=elapsed,
    )


def _policy_violations(problem: Problem, plan: Plan) -> list[str]:
    """Whether a candidate plan is valid (fit, demand, policy, money). Its bound and gap are not
    checked: a candidate carries a provisional bound, and a wrong bound must be reported on the
    final plan, not turn valid candidates away."""
    return validate_plan(problem, plan, check_bound=False)


def _infeasible_reason(problem: Problem) -> str:
    p = problem.policy
    parts = []
    if p.max_spot_share is not None:
        parts.append(f"max_spot_share={p.max_spot_share:g}")
    if p.diversification:
        parts.append(f"min_spot_instance_types={p.min_spot_instance_types}")
    limits = ", ".join(parts) or "no policy limits"
    return f"demand cannot be covered under {limits} (LP relaxation infeasible)"


def why_infeasible(problem: Problem) -> str:
    """What leaves `problem` without a plan: the first demanded shape no allowed offering hosts,
    else the policy limits (what an INFEASIBLE plan's message says; `optimize --lp` prints it
    instead of an estimate of $0.00)."""
    return _unhostable(restrict_to_requirements(problem)) or _infeasible_reason(problem)


def solve_lp_estimate(problem: Problem, *, clock: Callable[[], float]) -> LpEstimate:
    """Column generation only: an instant what-if answer (bound and fractional mix)."""
    if any(s.is_gang for s in problem.shapes):  # multi-node parallel jobs: optimizer.solver.gangs
        from optimizer.solver.gangs import estimate_with_gangs

        return estimate_with_gangs(problem, clock=clock)
    if problem.commitments:  # the bound of the commitments' Lagrangian relaxation
        from optimizer.solver.commitments import estimate_with_commitments

        return estimate_with_commitments(problem, clock=clock)
    warm_up()
    start = clock()
    problem = restrict_to_requirements(problem)
    if _unhostable(problem) is not None or not problem.demand.any():
        return LpEstimate(0.0, 0.0, True, not _unhostable(problem), {}, clock() - start)
    prep, pool, pairs = _prepare_pool(problem)
    lp = column_generation(prep, pool, pairs, deadline=start + problem.policy.time_limit_seconds, clock=clock)
    hours = instance_hours(prep, lp.columns.offering, lp.values, lp.columns.weight_hours)
    return LpEstimate(
        lp.lower_bound,
        lp.objective,
        lp.converged,
        lp.feasible,
        dict(sorted(hours.items(), key=lambda kv: -kv[1])),
        clock() - start,
    )
