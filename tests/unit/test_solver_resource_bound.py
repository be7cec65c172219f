"""The resource-price fallback bound (`optimizer.solver.resource_bound`): never above the optimum of
small problems solved by enumeration, and what a plan reports when column generation stops with a
bound weaker than it."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optimizer.solver.problem import Offering, Policy, Problem, Shape
from optimizer.solver.requirements import restrict_to_requirements
from optimizer.solver.resource_bound import resource_bound
from optimizer.solver.validate import validate_plan
from tests.solver_helpers import run
from tests.unit.test_solver_policy_bounds import _brute_force
from tests.unit.test_solver_solve import _lp_bound_set_to, _two_jobs_one_box

_SHAPE = st.tuples(
    st.sampled_from([0.5, 1.0, 2.0, 3.0, 4.0]),  # vCPU
    st.sampled_from([512.0, 2048.0, 4000.0, 7000.0, 15000.0]),  # MiB
    st.sampled_from([0, 0, 0, 1]),  # GPUs
    st.sampled_from([None, "x86_64", "arm64"]),
    st.booleans(),  # spot_ok
)
_OFFERING = st.tuples(
    st.sampled_from([1, 2, 4, 8]),  # vCPU
    st.sampled_from([2000, 4000, 8000, 16000]),  # MiB
    st.sampled_from([0, 0, 1, 2]),  # GPUs
    st.sampled_from(["x86_64", "arm64"]),
    st.floats(0.01, 2.0),  # on-demand $/h
    st.floats(0.2, 1.0),  # spot price as a share of on-demand
    st.floats(0.0, 0.2),  # spot interruptions per hour
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    shapes=st.lists(_SHAPE, min_size=1, max_size=3),
    catalogue=st.lists(_OFFERING, min_size=1, max_size=3),
    jobs=st.lists(st.tuples(st.integers(0, 2), st.integers(0, 1)), min_size=1, max_size=4),
    share=st.one_of(st.none(), st.sampled_from([0.0, 0.3, 0.7])),
    icf=st.sampled_from([0.0, 1.0, 5.0]),
    only_first_type=st.booleans(),
)
def test_never_above_the_enumerated_optimum(
    shapes: list[tuple],
    catalogue: list[tuple],
    jobs: list[tuple[int, int]],
    share: float | None,
    icf: float,
    only_first_type: bool,
) -> None:
    offerings = []
    for k, (vcpus, mib, gpus, arch, price, spot_share, rate) in enumerate(catalogue):
        offerings.append(Offering(f"t{k}.x", "ON_DEMAND", vcpus, mib, gpus, arch, price))
        offerings.append(Offering(f"t{k}.x", "SPOT", vcpus, mib, gpus, arch, price * spot_share, rate))
    sh = tuple(
        Shape(
            f"s{i}",
            vcpus,
            mib,
            gpus,
            arch,
            spot_ok,
            instance_types=("t0.x",) if only_first_type and i == 0 else None,
        )
        for i, (vcpus, mib, gpus, arch, spot_ok) in enumerate(shapes)
    )
    demand = np.zeros((len(sh), 2), dtype=np.int64)
    for shape, bucket in jobs:
        demand[shape % len(sh), bucket] += 1
    policy = Policy(max_spot_share=share, interruption_cost_factor=icf)
    problem = Problem(3600.0, sh, demand, tuple(offerings), policy)
    optimum = _brute_force(restrict_to_requirements(problem))
    bound = resource_bound(problem)
    assert bound >= 0.0
    if np.isfinite(optimum):
        assert bound <= optimum * (1 + 1e-9) + 1e-12


def test_weighting_vcpu_and_memory_together_beats_either_alone() -> None:
    # A 2 vCPU / 4 GiB job on a $1 box of 4 vCPU / 4 GiB or a $1 box of 2 vCPU / 16 GiB: each box
    # is cheap in one resource, so vCPU alone prices the job at min(2/4, 2/2) = $0.50 and memory
    # alone at min(4/4, 4/16) = $0.25; weighting vCPU 0.6 and memory 0.4 gives
    # min(0.6*2/4 + 0.4*4/4, 0.6*2/2 + 0.4*4/16) = $0.70 (the optimum is $1).
    offs = (
        Offering("cpu.box", "ON_DEMAND", 4, 4096, 0, "x86_64", 1.0),
        Offering("mem.box", "ON_DEMAND", 2, 16384, 0, "x86_64", 1.0),
    )
    problem = Problem(3600.0, (Shape("j", 2.0, 4096.0),), np.array([[1]]), offs, Policy())
    assert resource_bound(problem) == pytest.approx(0.70, rel=1e-6)


def test_spot_share_cap_prices_the_capped_hours_on_demand() -> None:
    # Four 1-vCPU jobs, $0.40/h on-demand or $0.10/h spot boxes of 1 vCPU; at most half on spot: the
    # optimum is 2 x 0.10 + 2 x 0.40 = $1.00, and the Lagrangian term reaches it (without the term
    # the bound would be 4 x 0.10 = $0.40).
    offs = (
        Offering("one", "ON_DEMAND", 1, 4096, 0, "x86_64", 0.40),
        Offering("one", "SPOT", 1, 4096, 0, "x86_64", 0.10),
    )
    shape = (Shape("j", 1.0, 1024.0),)
    capped = Problem(3600.0, shape, np.array([[4]]), offs, Policy(max_spot_share=0.5))
    assert resource_bound(capped) == pytest.approx(1.00, rel=1e-5)  # less the cap's slack
    assert resource_bound(capped.with_policy(Policy())) == pytest.approx(0.40, rel=1e-6)


def test_gangs_and_commitments_get_no_fallback() -> None:
    problem = _two_jobs_one_box()
    gang = Shape("g", 1.0, 1024.0, nodes=2, spot_ok=False)
    with_gang = Problem(3600.0, (gang,), np.array([[1]]), problem.offerings, Policy())
    assert resource_bound(with_gang) == 0.0


def test_a_plan_whose_lp_stopped_with_a_negative_bound_reports_the_fallback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The demo's cpu-batch solve under load: column generation stopped at its time limit with a
    # bound of -$15,033, so the plan said "Lower bound $0.00, gap 100 %". The resource bound of the
    # hand-checked case is its optimum, $0.17 (both jobs' vCPUs at the 4-vCPU box's $0.0425).
    problem = _two_jobs_one_box()
    _lp_bound_set_to(monkeypatch, -15033.0)
    plan = run(problem)
    assert plan.objective_usd == pytest.approx(0.17)
    assert plan.lower_bound_usd == pytest.approx(0.17, rel=1e-6)
    assert plan.stats["resource_bound_usd"] == pytest.approx(0.17, rel=1e-6)
    assert plan.status == "OPTIMAL"
    assert validate_plan(problem, plan) == []
