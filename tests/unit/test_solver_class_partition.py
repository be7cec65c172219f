"""The recursion over a class's sub-multisets of jobs gives its exact cheapest cover at any prices.

Both Lagrangian bounds take a class's term from `cheapest_partition` when the class is small
enough, so a value above the true optimum would make them invalid. The reference here is a MIP
over EVERY packing of every offering that hosts exactly those jobs (costs per bin: offering cost
plus a surcharge per job hosted), equality-covered so that no surplus job pays a surcharge.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import LinearConstraint, milp

from optimizer.solver.class_partition import (
    MAX_STATES,
    cheapest_partition,
    cheapest_partition_bins,
    class_pairs,
)
from optimizer.solver.columns import Prepared, prepare
from optimizer.solver.problem import Policy, Problem, Shape
from tests.solver_helpers import CATALOG, offerings, shapes


def _reference(prep: Prepared, u: int, cost: np.ndarray, surcharge: np.ndarray) -> float:
    """Cheapest exact cover of class u over every packing of every offering (inf: none)."""
    demand = prep.demand[:, u]
    cols, costs = [], []
    for o in range(len(prep.offerings)):
        hosts = [s for s in range(len(demand)) if prep.compat[o, s] and demand[s] > 0]
        for combo in itertools.product(*(range(int(demand[s]) + 1) for s in hosts)):
            counts = np.zeros(len(demand))
            counts[hosts] = combo
            if counts.any() and (counts @ prep.sizes <= prep.caps[o] + 1e-9).all():
                cols.append(counts)
                costs.append(cost[o] + counts @ surcharge[o])
    if not cols:
        return np.inf
    rows = demand > 0
    res = milp(
        np.array(costs),
        constraints=LinearConstraint(np.array(cols).T[rows], lb=demand[rows], ub=demand[rows]),
        integrality=np.ones(len(costs)),
    )
    return float(res.fun) if res.status == 0 else np.inf


def _prepared(seed: int, n_types: int, spot: bool) -> tuple[Prepared, np.random.Generator]:
    rng = np.random.default_rng(seed)
    catalog = [CATALOG[i] for i in sorted(rng.choice(len(CATALOG), n_types, replace=False))]
    demand = rng.integers(0, 4, size=(5, 1))
    demand[rng.integers(0, 5), 0] += 1
    problem = Problem(3600.0, shapes(), demand, offerings(spot=spot, catalog=catalog), Policy())
    return prepare(problem, list(problem.offerings)), rng


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n_types=st.integers(1, 4), spot=st.booleans())
def test_the_recursion_equals_the_cheapest_exact_cover_at_random_prices(
    seed: int, n_types: int, spot: bool
) -> None:
    prep, rng = _prepared(seed, n_types, spot)
    o_count, s_count = prep.compat.shape
    cost = rng.uniform(0.0, 1.0, o_count) * (rng.random(o_count) > 0.2)  # some free instances
    surcharge = rng.uniform(0.0, 0.3, (o_count, s_count)) * (rng.random((o_count, s_count)) > 0.5)
    got = cheapest_partition(prep, 0, cost, surcharge)
    want = _reference(prep, 0, cost, surcharge)
    assert got is not None
    if np.isinf(want):
        assert np.isinf(got)  # a shape no sampled offering hosts
        return
    assert got == pytest.approx(want, rel=1e-9, abs=1e-12)
    # The partition it reports hosts exactly the class's jobs, each bin fits, and it costs that.
    out = cheapest_partition_bins(prep, 0, cost, surcharge)
    assert out is not None and out[0] == got
    bins = out[1]
    assert sum(jobs for _, jobs in bins).tolist() == prep.demand[:, 0].tolist()
    for o, jobs in bins:
        assert jobs.any() and (jobs @ prep.sizes <= prep.caps[o] + 1e-9).all()
        assert prep.compat[o, jobs > 0].all()
    assert sum(cost[o] + jobs @ surcharge[o] for o, jobs in bins) == pytest.approx(got, rel=1e-12, abs=1e-12)


def test_two_half_full_instances_cost_two_and_a_surcharge_counts_per_job() -> None:
    # Three 1-vCPU jobs; x.large hosts 2 at $0.10, y.xlarge 4 at $0.30: two x.large ($0.20).
    # A surcharge of $0.06 per job on x.large makes the y.xlarge ($0.30) the cheaper cover.
    catalog = [("x.large", 2, 8000, 0.10, 0.5, 0.0), ("y.xlarge", 4, 16000, 0.30, 0.5, 0.0)]
    problem = Problem(3600.0, (Shape("one", 1.0, 1000.0),), np.array([[3]]), offerings(False, catalog))
    prep = prepare(problem, list(problem.offerings))
    no_surcharge = np.zeros((2, 1))
    assert cheapest_partition(prep, 0, prep.hourly, no_surcharge) == pytest.approx(0.20)
    surcharge = np.array([[0.06], [0.0]])
    assert cheapest_partition(prep, 0, prep.hourly, surcharge) == pytest.approx(0.30)


def test_a_class_too_large_for_the_recursion_is_left_to_the_mip() -> None:
    side = int(np.ceil(MAX_STATES ** (1 / 5)))  # (side + 1)^5 sub-multisets > MAX_STATES
    demand = np.full((5, 1), side)
    problem = Problem(3600.0, shapes(), demand, offerings(), Policy())
    prep = prepare(problem, list(problem.offerings))
    assert class_pairs(demand[:, 0]) > 0
    o_count, s_count = prep.compat.shape
    assert cheapest_partition(prep, 0, prep.hourly, np.zeros((o_count, s_count))) is None


def test_negative_prices_are_refused() -> None:
    prep, _ = _prepared(1, 2, True)
    o_count, s_count = prep.compat.shape
    with pytest.raises(ValueError):
        cheapest_partition(prep, 0, -np.ones(o_count), np.zeros((o_count, s_count)))
