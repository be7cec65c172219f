"""The capped LP's top k by y as a type-cap candidate subset (`type_cap_subsets.selection_subset`):
built as the other candidates are (every shape hostable, K spot offerings under diversification),
and in the solve never a dearer or invalid plan than without it."""

from __future__ import annotations

import numpy as np

import optimizer.solver.solve as solve_module
from optimizer.solver.problem import Policy, Problem, Shape
from optimizer.solver.solve import _prepare_pool
from optimizer.solver.type_cap_subsets import required_offerings, selection_subset
from optimizer.solver.validate import validate_plan
from tests.clock import StepClock
from tests.solver_helpers import offerings, random_problem, run

CATALOG = [
    # instance type, vCPU, allocatable MiB, on-demand $/h, spot discount, spot interruption/h
    ("c5.xlarge", 4, 7600, 0.17, 0.55, 0.0002),
    ("m5.large", 2, 7600, 0.096, 0.58, 0.0001),
    ("r5.large", 2, 15400, 0.126, 0.62, 0.0001),
]
#: "small" fits every type, "cpu" only c5.xlarge, "mem" only r5.large.
SHAPES = (Shape("small", 1.0, 1024.0), Shape("cpu", 4.0, 2048.0), Shape("mem", 1.0, 14000.0))


def _prep(cap: int, spot_types: int, share: float | None = None):
    problem = Problem(
        3600.0,
        SHAPES,
        np.array([[3, 1], [1, 0], [1, 1]]),
        offerings(catalog=CATALOG),
        Policy(max_instance_types=cap, min_spot_instance_types=spot_types, max_spot_share=share),
    )
    prep, _, _ = _prepare_pool(problem)
    index = {o.key: i for i, o in enumerate(prep.offerings)}
    assert len(index) == 6  # nothing pruned: each offering is someone's cheapest host
    return prep, index


def _vector(index: dict[str, int], values: dict[str, float]) -> np.ndarray:
    out = np.zeros(len(index))
    for key, value in values.items():
        out[index[key]] = value
    return out


def test_the_subset_keeps_a_host_per_shape_and_k_spot_pools_then_follows_y() -> None:
    # y favours m5.large (on-demand, then spot) and c5.xlarge spot, and leaves r5.large at 0: the
    # only host of "mem" comes in by LP spend, and a second spot offering by y (K = 2).
    y = {"m5.large/ON_DEMAND": 0.9, "m5.large/SPOT": 0.8, "c5.xlarge/SPOT": 0.6, "c5.xlarge/ON_DEMAND": 0.3}
    spend = {"r5.large/ON_DEMAND": 2.0, "r5.large/SPOT": 1.0, "c5.xlarge/ON_DEMAND": 5.0}
    prep, index = _prep(cap=4, spot_types=2)
    chosen = selection_subset(prep, _vector(index, y), _vector(index, spend), 4)
    assert chosen is not None
    keys = [prep.offerings[o].key for o in chosen]
    # Hosts first (best y, else best spend), then the K-th spot pool by y; nothing else fits.
    assert keys == ["m5.large/ON_DEMAND", "c5.xlarge/SPOT", "r5.large/ON_DEMAND", "m5.large/SPOT"]
    # One more place: the next by y (c5.xlarge on-demand, y 0.3), ahead of larger LP spend at y = 0.
    prep, index = _prep(cap=5, spot_types=2)
    chosen = selection_subset(prep, _vector(index, y), _vector(index, spend), 5)
    assert [prep.offerings[o].key for o in chosen][4] == "c5.xlarge/ON_DEMAND"
    # The required offerings alone exceed a cap of 3: no candidate.
    prep, index = _prep(cap=3, spot_types=2)
    assert selection_subset(prep, _vector(index, y), _vector(index, spend), 3) is None


def test_without_diversification_the_subset_is_hosts_then_y() -> None:
    y = {"m5.large/SPOT": 0.9, "c5.xlarge/SPOT": 0.7, "r5.large/SPOT": 0.2, "m5.large/ON_DEMAND": 0.5}
    prep, index = _prep(cap=4, spot_types=0)
    chosen = selection_subset(prep, _vector(index, y), np.zeros(len(index)), 4)
    assert chosen is not None
    assert [prep.offerings[o].key for o in chosen] == [
        "m5.large/SPOT",
        "c5.xlarge/SPOT",
        "r5.large/SPOT",
        "m5.large/ON_DEMAND",
    ]


def test_under_a_spot_share_cap_the_subset_keeps_an_on_demand_offering() -> None:
    # y picks three spot offerings, one host per shape; the LP's on-demand spend is small (a share
    # near 1 leaves little work off spot), so by y alone a cap of 3 would hold no on-demand
    # offering, and no plan on it could keep any work off spot.
    y = {"m5.large/SPOT": 0.9, "c5.xlarge/SPOT": 0.8, "r5.large/SPOT": 0.7}
    spend = {"m5.large/ON_DEMAND": 0.01, "r5.large/SPOT": 1.0}
    prep, index = _prep(cap=4, spot_types=0, share=0.99)
    chosen = selection_subset(prep, _vector(index, y), _vector(index, spend), 4)
    assert chosen is not None
    assert [prep.offerings[o].key for o in chosen] == [
        "m5.large/SPOT",
        "c5.xlarge/SPOT",
        "r5.large/SPOT",
        "m5.large/ON_DEMAND",
    ]
    prep, index = _prep(cap=3, spot_types=0, share=0.99)
    assert selection_subset(prep, _vector(index, y), _vector(index, spend), 3) is None
    # Without the share cap the same y fills the places with spot offerings only.
    prep, index = _prep(cap=3, spot_types=0)
    chosen = selection_subset(prep, _vector(index, y), _vector(index, spend), 3)
    assert chosen is not None and all(prep.spot[o] for o in chosen)


POLICY = Policy(
    max_instance_types=3,
    min_spot_instance_types=2,
    max_spot_share=0.6,
    time_limit_seconds=8.0,
    gap_target=0.0,
)


def test_capped_solves_with_spot_rows_stay_valid_and_no_dearer_with_the_y_subset(monkeypatch) -> None:
    # The same instances solved with and without the y candidate: it is one more subset, ranked
    # with the others by its quick plan, and the best quick plan is kept whatever is solved. Each
    # plan must pass the validator, its bound stay below it; at least one solve must have built the
    # y subset (else this tests nothing).
    plans = []
    for seed in range(4):
        problem = random_problem(seed, n_buckets=6, policy=POLICY)
        plans.append((problem, run(problem)))
    monkeypatch.setattr(solve_module, "selection_subset", lambda *a, **k: None)
    built = 0
    for problem, with_y in plans:
        without = run(problem)
        for plan in (with_y, without):
            assert validate_plan(problem, plan) == []
            assert plan.has_solution
            assert plan.lower_bound_usd <= plan.objective_usd + 1e-6
        assert not without.stats.get("cap_selection_subset")
        built += bool(with_y.stats.get("cap_selection_subset"))
        assert with_y.objective_usd <= without.objective_usd + 1e-6, (with_y.stats, without.stats)
    assert built > 0


def test_no_quick_plan_starts_past_the_deadline_once_one_is_in_hand(monkeypatch) -> None:
    # Two candidate subsets (by two spend vectors); the clock jumps 10 s a reading, so the first
    # quick plan ends past the deadline: the second is not started (under load they took 0.5-1.5 s
    # each after the LP and the solve ran 11-14 s), and the first one's plan is the answer.
    problem = Problem(
        3600.0,
        SHAPES,
        np.array([[3, 1], [1, 0], [1, 1]]),
        offerings(catalog=CATALOG),
        Policy(max_instance_types=3),
    )
    prep, _, _ = _prepare_pool(problem)
    index = {o.key: i for i, o in enumerate(prep.offerings)}
    first = _vector(index, {"c5.xlarge/ON_DEMAND": 3.0, "r5.large/ON_DEMAND": 2.0, "m5.large/ON_DEMAND": 1.0})
    second = _vector(index, {"c5.xlarge/SPOT": 3.0, "r5.large/SPOT": 2.0, "m5.large/SPOT": 1.0})
    calls: list[int] = []
    cheapest_fit = solve_module.cheapest_fit
    monkeypatch.setattr(solve_module, "cheapest_fit", lambda p: calls.append(1) or cheapest_fit(p))
    clock = StepClock(10.0)
    plan = solve_module._within_type_cap(
        problem, prep, [first, second], 3, deadline=clock() + 25.0, clock=clock
    )
    assert len(calls) == 1
    assert plan is not None and validate_plan(problem, plan, check_bound=False) == []
    assert sorted(plan.selected) == ["c5.xlarge/ON_DEMAND", "m5.large/ON_DEMAND", "r5.large/ON_DEMAND"]
    # With the time, both quick plans run.
    calls.clear()
    clock = StepClock(0.001)
    solve_module._within_type_cap(
        problem, prep, [first, second], 3, deadline=clock() + 0.001 * 200, clock=clock
    )
    assert len(calls) >= 2


def test_under_a_spot_share_the_subset_can_host_the_work_kept_off_spot() -> None:
    # Share 0.5 of 10 job vCPU-hours ("small" 4, "cpu" 4, "mem" 2): 5 must run on demand. The
    # most used on-demand offering, m5.large, hosts only "small" (4), so the next on-demand one
    # that hosts more work, c5.xlarge ("cpu"), joins although the LP spends little on it; r5.large
    # on demand is not needed then. Without it every plan on the subset breaks the share (on a
    # held-out Alibaba week the solve had no plan at all).
    spend = {
        "m5.large/ON_DEMAND": 5.0,
        "c5.xlarge/SPOT": 4.0,
        "r5.large/SPOT": 3.0,
        "c5.xlarge/ON_DEMAND": 0.5,
        "r5.large/ON_DEMAND": 0.2,
    }
    prep, index = _prep(cap=4, spot_types=0, share=0.5)
    vector = _vector(index, spend)
    ranked = [int(o) for o in np.argsort(-vector, kind="stable") if vector[o] > 0]
    chosen = required_offerings(prep, ranked)
    assert chosen is not None
    assert [prep.offerings[o].key for o in chosen] == [
        "m5.large/ON_DEMAND",
        "c5.xlarge/SPOT",
        "r5.large/SPOT",
        "c5.xlarge/ON_DEMAND",
    ]
    # With share 0.7 only 3 vCPU-hours must stay off spot: m5.large's 4 are enough.
    prep, index = _prep(cap=4, spot_types=0, share=0.7)
    chosen = required_offerings(prep, ranked)
    assert chosen is not None and "c5.xlarge/ON_DEMAND" not in [prep.offerings[o].key for o in chosen]


def test_the_on_demand_plan_of_last_resort_keeps_within_the_cap() -> None:
    # Cheapest-fit on demand runs three types (c5.xlarge for "cpu", r5.large for "mem" and a
    # "small" job beside it, m5.large for the third "small" job) against a cap of 2, and no single
    # type hosts both "cpu" and "mem": the fallback had no plan. A host per shape among the types
    # cheapest-fit spends most on (c5.xlarge also hosts "small") fits the cap.
    problem = Problem(
        3600.0,
        SHAPES,
        np.array([[3], [2], [2]]),
        offerings(catalog=CATALOG),
        Policy(max_instance_types=2, min_spot_instance_types=2, max_spot_share=0.5, time_limit_seconds=5),
    )
    on_demand = problem.with_offerings([o for o in problem.offerings if not o.is_spot])
    assert len(solve_module.cheapest_fit(on_demand).selected) == 3
    plan = solve_module.on_demand_fallback(problem)
    assert plan is not None
    assert sorted(plan.selected) == ["c5.xlarge/ON_DEMAND", "r5.large/ON_DEMAND"]
    assert validate_plan(problem, plan, check_bound=False) == []


def test_a_search_that_ends_early_without_a_plan_does_not_blame_the_time_limit() -> None:
    # One type may run, and none hosts both "cpu" and "mem": no plan meets the cap. The search
    # gives up long before its 100 s; "time limit reached" would send a person to raise it.
    problem = Problem(
        3600.0,
        SHAPES,
        np.array([[1], [1], [1]]),
        offerings(catalog=CATALOG),
        Policy(max_instance_types=1, max_spot_share=0.5, time_limit_seconds=100.0),
    )
    plan = solve_module.solve(problem, clock=StepClock(0.001))
    assert plan.status == "TIMEOUT" and plan.solve_seconds < 90.0
    assert plan.reason.startswith("no plan that meets the policy found; the search ended after"), plan.reason
