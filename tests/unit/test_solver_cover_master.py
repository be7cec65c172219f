"""The cover master (`optimizer/solver/cover_master.py`): a class's buckets may run different covers.

Hand-worked cases where one cover per bucket class (what the pattern master and the per-class
rounding decide) is provably dearer than mixing covers across the class's identical buckets, and
brute-force checks: the integer master is the cheapest assignment of the given covers to buckets,
and on small random problems its plan meets the policy, is never cheaper than the brute-force
optimum of the policy (`test_solver_policy_bounds._brute_force`) and never dearer than the plans it
was seeded with.
"""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pytest

from optimizer.solver.assemble import RawBin, heuristic_plan
from optimizer.solver.baselines import cheapest_fit, cheapest_fit_bins
from optimizer.solver.column_generation import column_generation
from optimizer.solver.columns import PatternPool, make_columns, prepare
from optimizer.solver.cover_master import (
    CoverSet,
    _master,
    clipped_pattern_columns,
    cover_master_plan,
    greedy_cover,
    solve_cover_master,
)
from optimizer.solver.problem import Offering, Policy, Problem, Shape
from optimizer.solver.solve import _prepare_pool
from optimizer.solver.spot_repair import repair_spot_limits
from optimizer.solver.validate import validate_plan
from tests.unit.test_solver_policy_bounds import POLICIES, _brute_force, _problem


def _still() -> float:
    """A clock that never moves: every step runs to its own end (convergence, or HiGHS's optimum)."""
    return 0.0


def _one_type(on_demand: float, spot: dict[str, float]) -> tuple[Offering, ...]:
    """2-vCPU offerings: one on-demand at `on_demand` $/h and a spot pool per `spot` entry (type: $/h)."""
    out = [Offering("c5.large", "ON_DEMAND", 2, 8000, 0, "x86_64", on_demand)]
    out += [Offering(name, "SPOT", 2, 8000, 0, "x86_64", price) for name, price in spot.items()]
    return tuple(out)


def _cover_costs(problem: Problem, by_bucket: list[list[RawBin]]) -> float:
    plan = heuristic_plan(problem, by_bucket, np.arange(problem.n_buckets), problem.demand)
    assert validate_plan(problem, plan, check_bound=False) == []
    return plan.objective_usd


def _one_cover_per_class(covers: CoverSet) -> float:
    """The cheapest plan that runs ONE cover in all the buckets of each class (enumerated)."""
    problem, prep = covers.problem, covers.prep
    per_class = [[n for n, u in enumerate(covers.cls) if u == c] for c in range(prep.n_classes)]
    best = np.inf
    for choice in itertools.product(*per_class):
        bins = [list(covers.bins[choice[prep.bucket_class[t]]]) for t in range(problem.n_buckets)]
        plan = heuristic_plan(problem, bins, np.arange(problem.n_buckets), problem.demand)
        if not validate_plan(problem, plan, check_bound=False):
            best = min(best, plan.objective_usd)
    return best


def test_a_spot_share_met_by_mixing_covers_across_identical_buckets() -> None:
    # Three identical hourly buckets, each one 2-vCPU job; a 2-vCPU type at $1.00/h on demand and
    # $0.40/h on spot. Spot share 0.5: 6 job vCPU-hours in all, at most 3 on spot, so one bucket
    # (2 vCPU-hours) may run on spot, two may not. One cover for the whole class: all on demand,
    # $3.00 (all on spot breaks the cap). Mixing: one bucket on spot, two on demand, $2.40.
    problem = Problem(
        3600.0,
        (Shape("job", 2.0, 4000.0),),
        np.array([[1, 1, 1]]),
        _one_type(1.0, {"c5.large": 0.4}),
        Policy(max_spot_share=0.5),
    )
    prep = prepare(problem, list(problem.offerings))
    assert prep.n_classes == 1 and prep.weight.tolist() == [3.0]
    covers = CoverSet(problem, prep)
    job = np.array([1])
    assert covers.add(0, [("c5.large/SPOT", 1, job)])
    assert covers.add(0, [("c5.large/ON_DEMAND", 1, job)])
    assert not covers.add(0, [("c5.large/ON_DEMAND", 1, job)])  # already there
    assert _one_cover_per_class(covers) == pytest.approx(3.0)
    by_bucket = solve_cover_master(covers, deadline=10.0, clock=_still)
    assert by_bucket is not None
    assert _cover_costs(problem, by_bucket) == pytest.approx(2.4)
    assert sum(b[0][0] == "c5.large/SPOT" for b in by_bucket) == 1


def test_diversification_met_by_running_the_pools_in_different_buckets() -> None:
    # Two identical buckets, one 2-vCPU job each; spot pools m5 ($0.30/h) and r5 ($0.40/h), on demand
    # $1.00/h; at least 2 spot types: no pool above half of the spot instance vCPU-hours. One cover
    # per class: both on demand ($2.00), or an instance in each pool in every bucket, one of them
    # idle ($1.40). Mixing: the first bucket on pool m5, the second on pool r5, $0.70.
    problem = Problem(
        3600.0,
        (Shape("job", 2.0, 4000.0),),
        np.array([[1, 1]]),
        _one_type(1.0, {"m5.large": 0.3, "r5.large": 0.4}),
        Policy(min_spot_instance_types=2),
    )
    prep = prepare(problem, list(problem.offerings))
    covers = CoverSet(problem, prep)
    job, idle = np.array([1]), np.array([0])
    covers.add(0, [("m5.large/SPOT", 1, job)])
    covers.add(0, [("r5.large/SPOT", 1, job)])
    covers.add(0, [("c5.large/ON_DEMAND", 1, job)])
    covers.add(0, [("m5.large/SPOT", 1, job), ("r5.large/SPOT", 1, idle)])
    assert _one_cover_per_class(covers) == pytest.approx(1.4)
    by_bucket = solve_cover_master(covers, deadline=10.0, clock=_still)
    assert by_bucket is not None
    assert _cover_costs(problem, by_bucket) == pytest.approx(0.7)
    assert sorted(b[0][0] for b in by_bucket) == ["m5.large/SPOT", "r5.large/SPOT"]


def test_the_master_rows_are_what_the_validator_measures() -> None:
    # Half-hour buckets; one 1-vCPU and one 2-vCPU job. The cover asks pool m5 for two 1-vCPU jobs
    # where one runs (trimmed to one) and runs the 2-vCPU job on demand. Per bucket: $0.5 x (0.3 +
    # 1.0); spot job vCPU-hours 0.5 of 1.5 (cap 0.6 x 1.5); pool rows K x pool - spot total:
    # m5 2 x 1.0 - 1.0, r5 0 - 1.0.
    problem = Problem(
        1800.0,
        (Shape("one", 1.0, 1000.0), Shape("two", 2.0, 1000.0)),
        np.array([[1], [1]]),
        _one_type(1.0, {"m5.large": 0.3, "r5.large": 0.4}),
        Policy(max_spot_share=0.6, min_spot_instance_types=2),
    )
    prep = prepare(problem, list(problem.offerings))
    covers = CoverSet(problem, prep)
    assert covers.add(
        0, [("m5.large/SPOT", 1, np.array([2, 0])), ("c5.large/ON_DEMAND", 1, np.array([0, 1]))]
    )
    assert {key: jobs.tolist() for key, _, jobs in covers.bins[0]} == {
        "m5.large/SPOT": [1, 0],
        "c5.large/ON_DEMAND": [0, 1],
    }
    assert covers.cost[0] == pytest.approx(0.5 * (0.3 + 1.0))
    assert covers.spot_jobs[0] == pytest.approx(0.5)
    master = _master(covers)
    assert master.b_ub.tolist() == pytest.approx([0.6 * 1.5, 0.0, 0.0])
    assert master.a_ub.toarray()[:, 0].tolist() == pytest.approx([0.5, 1.0, -1.0])
    # A cover that leaves a job out is refused.
    assert not covers.add(0, [("m5.large/SPOT", 1, np.array([1, 0]))])


def _random_covers(problem: Problem, rng: np.random.Generator) -> CoverSet:
    """Covers from cheapest-fit on random subsets of the offerings, per class."""
    prep = prepare(problem, list(problem.offerings))
    covers = CoverSet(problem, prep)
    covers.add_on_demand()
    for u in range(prep.n_classes):
        for _ in range(4):
            allowed = rng.random(len(prep.offerings)) < 0.6
            bins = cheapest_fit_bins(prep, prep.demand[:, u], allowed)
            if bins is not None:
                covers.add(u, bins)
    return covers


def _cheapest_assignment(covers: CoverSet) -> float:
    """Brute force: every cover in every bucket, cheapest combination that meets the policy."""
    problem, prep = covers.problem, covers.prep
    options = [
        [n for n, u in enumerate(covers.cls) if u == prep.bucket_class[t]]
        if prep.bucket_class[t] >= 0
        else [-1]
        for t in range(problem.n_buckets)
    ]
    best = np.inf
    for choice in itertools.product(*options):
        bins = [list(covers.bins[n]) if n >= 0 else [] for n in choice]
        plan = heuristic_plan(problem, bins, np.arange(problem.n_buckets), problem.demand)
        if not validate_plan(problem, plan, check_bound=False):
            best = min(best, plan.objective_usd)
    return best


@pytest.mark.parametrize(
    "policy",
    [
        Policy(max_spot_share=0.5),
        Policy(min_spot_instance_types=2),
        Policy(max_spot_share=0.6, min_spot_instance_types=2),
    ],
    ids=["share", "diversification", "both"],
)
@pytest.mark.parametrize("seed", range(4))
def test_the_integer_master_is_the_cheapest_assignment_of_its_covers(policy: Policy, seed: int) -> None:
    rng = np.random.default_rng(seed)
    shapes = (Shape("small", 1.0, 2048.0), Shape("mid", 2.0, 3000.0))
    demand = rng.integers(0, 3, size=(2, 4))
    demand[:, 2] = demand[:, 0]  # a class of two buckets at least
    demand[0, demand.sum(axis=0) == 0] = 1
    offers = (
        *_one_type(0.2, {"m5.large": 0.08, "r5.large": 0.09}),
        Offering("c5.xlarge", "ON_DEMAND", 4, 8000, 0, "x86_64", 0.34),
        Offering("c5.xlarge", "SPOT", 4, 8000, 0, "x86_64", 0.15),
    )
    problem = Problem(3600.0, shapes, demand, offers, policy)
    covers = _random_covers(problem, rng)
    expected = _cheapest_assignment(covers)
    by_bucket = solve_cover_master(covers, deadline=10.0, clock=_still)
    if not np.isfinite(expected):
        assert by_bucket is None
        return
    assert by_bucket is not None
    assert _cover_costs(problem, by_bucket) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize(
    "name", ["spot diversification 2", "spot share 0.5", "cap 3, 2 spot types, share 0.6"]
)
@pytest.mark.parametrize("seed", range(4))
def test_plans_meet_the_policy_and_sit_between_the_optimum_and_their_seeds(name: str, seed: int) -> None:
    # The type cap is left to the caller (a type-cap subset's solve has none): dropped here.
    policy = replace(POLICIES[name], max_instance_types=None, time_limit_seconds=5.0)
    problem = _problem(seed, policy)
    prep, pool, pairs = _prepare_pool(problem)
    lp = column_generation(prep, pool, pairs, deadline=10.0, clock=_still)
    if not lp.feasible:
        return
    seed_plan = repair_spot_limits(problem, cheapest_fit(problem))
    plan = cover_master_plan(prep, problem, lp.columns, [seed_plan], [], lp=lp, deadline=10.0, clock=_still)
    optimum = _brute_force(problem)
    if plan is None:
        assert not np.isfinite(optimum) or policy.diversification  # idle spot bins may be needed
        return
    assert validate_plan(problem, plan, check_bound=False) == []
    assert plan.objective_usd >= optimum - 1e-6
    if seed_plan is not None and not validate_plan(problem, seed_plan, check_bound=False):
        assert plan.objective_usd <= seed_plan.objective_usd * (1 + 1e-5) + 1e-9


def test_greedy_pricing_takes_the_least_price_per_job_value_first() -> None:
    # Three 1-vCPU jobs; patterns: two jobs on c5.large on demand, priced $1.00 ($0.50 a job),
    # one job on m5.large spot at $0.60. Greedy: the pair once (a second would cover one job for
    # $1.00), then the single for the last job ($0.60 < $1.00): $1.60, where two pairs cost $2.00
    # and three singles $1.80. A shape no column hosts leaves no cover.
    problem = Problem(
        3600.0,
        (Shape("job", 1.0, 1000.0), Shape("other", 1.0, 1000.0)),
        np.array([[3], [0]]),
        _one_type(1.0, {"m5.large": 0.6}),
        Policy(max_spot_share=0.5),
    )
    prep = prepare(problem, list(problem.offerings))
    pool = PatternPool(2)
    pair, _ = pool.add(0, np.array([2, 0]))
    single, _ = pool.add(1, np.array([1, 0]))
    cols = make_columns(prep, pool, np.array([[pair, 0], [single, 0]]))
    prices = np.array([1.0, 0.6])
    value = np.array([1.0, 1.0])
    bins = greedy_cover(prep, cols, prices, np.arange(2), 0, value)
    assert bins is not None
    assert sorted((key, count, jobs.tolist()) for key, count, jobs in bins) == [
        ("c5.large/ON_DEMAND", 1, [2, 0]),
        ("m5.large/SPOT", 1, [1, 0]),
    ]
    other = Problem(3600.0, problem.shapes, np.array([[1], [1]]), problem.offerings, problem.policy)
    other_prep = prepare(other, list(other.offerings))
    assert (
        greedy_cover(
            other_prep,
            make_columns(other_prep, pool, np.array([[pair, 0]])),
            prices[:1],
            np.arange(1),
            0,
            value,
        )
        is None
    )


def test_pooled_patterns_become_columns_of_every_class_clipped_to_its_demand() -> None:
    # Patterns made for a class running 2 "job" and 1 "other": (c5.large, [2, 1]) and the spot
    # (m5.large, [0, 1]). A class running 1 "job" only gets c5.large with [1, 0] (the spot pattern
    # hosts none of its jobs); the class of both keeps them as they are.
    problem = Problem(
        3600.0,
        (Shape("job", 0.5, 1000.0), Shape("other", 1.0, 1000.0)),
        np.array([[1, 2], [0, 1]]),
        _one_type(1.0, {"m5.large": 0.6}),
        Policy(max_spot_share=0.5),
    )
    prep = prepare(problem, list(problem.offerings))
    pool = PatternPool(2)
    pool.add(0, np.array([2, 1]))
    pool.add(1, np.array([0, 1]))
    cols = clipped_pattern_columns(prep, pool)
    got = sorted(
        (int(u), prep.offerings[int(o)].key, jobs.tolist(), round(float(c), 6))
        for u, o, jobs, c in zip(cols.bucket_class, cols.offering, cols.counts, cols.cost, strict=True)
    )
    small = int(prep.bucket_class[0])  # the class of the bucket running one "job"
    assert got == sorted(
        [
            (small, "c5.large/ON_DEMAND", [1, 0], 1.0),
            (1 - small, "c5.large/ON_DEMAND", [2, 1], 1.0),
            (1 - small, "m5.large/SPOT", [0, 1], 0.6),
        ]
    )


def test_time_the_integer_master_leaves_goes_to_more_pricing(monkeypatch: pytest.MonkeyPatch) -> None:
    # The integer master keeps 1 - PRICING_SHARE of what pricing leaves but often ends in a
    # fraction of it (0.1-0.4 s of 1-1.5 s on the bundled weeks' type-cap subsets): the rest goes
    # to more class-MIP pricing and another master, until too little is left. Greedy pricing that
    # converged is not run again. Here every master takes 0.05 s and the class MIPs use their
    # whole share, adding covers each time.
    from optimizer.solver import cover_master

    policy = replace(POLICIES["spot share 0.5"], max_instance_types=None)
    problem = _problem(0, policy)
    prep, pool, pairs = _prepare_pool(problem)
    lp = column_generation(prep, pool, pairs, deadline=10.0, clock=_still)
    assert lp.feasible
    now = [0.0]
    calls: list[tuple[str, float]] = []

    def pricing(covers, cols, *, lp_class_value, job_value, deadline, clock):
        stage = "greedy" if job_value is not None else "mip"
        calls.append((stage, round(now[0], 4)))
        if stage == "greedy":
            now[0] += 0.1  # converges before its deadline
            return 3, 5
        now[0] = deadline
        return 1, 2

    def master(covers, *, deadline, clock):
        calls.append(("master", round(now[0], 4)))
        now[0] = min(deadline, now[0] + 0.05)
        return None

    monkeypatch.setattr(cover_master, "generate_covers", pricing)
    monkeypatch.setattr(cover_master, "solve_cover_master", master)
    deadline = 4.0
    cover_master_plan(prep, problem, lp.columns, [], [], lp=lp, deadline=deadline, clock=lambda: now[0])
    stages = [stage for stage, _ in calls]
    assert stages[:4] == ["master", "greedy", "mip", "master"]
    assert stages.count("greedy") == 1
    assert stages.count("master") >= 4  # one per pricing of the time left, not just two
    assert stages[-1] == "master"
    # Nothing starts without the time a master needs, and the last master ends near the deadline.
    latest = deadline - cover_master.MIN_MASTER_SECONDS
    assert all(t < latest + 1e-9 for stage, t in calls if stage != "master")
    assert deadline - now[0] < 0.2
