"""Gang shapes (multi-node parallel jobs) in the problem document, the solver and the validator.

The brute force here is written from the rules alone: every partition of each bucket's packed jobs
into bins on every offering, and every on-demand host for every gang (each gang on its own, so more
freedom than the solver's one offering per node range). Its optimum is the true one on these tiny
instances, so the solver's bound must stay at or below it, and without a type cap the plan must
reach it.
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import replace

import numpy as np
import pytest

from optimizer.errors import InputError
from optimizer.solver.plan import Bin, Plan
from optimizer.solver.problem import (
    Commitment,
    Offering,
    Policy,
    Problem,
    Shape,
    problem_from_dict,
    problem_to_dict,
)
from optimizer.solver.requirements import restrict_to_requirements
from optimizer.solver.solve import solve_lp_estimate
from optimizer.solver.validate import validate_plan
from tests.solver_helpers import offerings, run

TYPES = [
    # instance type, vCPU, allocatable MiB, on-demand $/h, spot discount, spot interruption/h
    ("c5.xlarge", 4, 7600, 0.17, 0.55, 0.0002),
    ("m5.large", 2, 7600, 0.096, 0.58, 0.0001),
    ("m5.xlarge", 4, 15400, 0.192, 0.60, 0.0002),
]
PACKED = (Shape("small", 1.0, 2048.0), Shape("mid", 2.0, 3000.0))
#: A 2-node gang of 4-vCPU nodes (c5.xlarge or m5.xlarge) and a 3-node gang that needs m5's memory.
GANGS = (
    Shape("g4x2", 4.0, 6000.0, nodes=2, spot_ok=False),
    Shape("g2x3", 2.0, 7000.0, nodes=3, spot_ok=False),
)


def _partitions(items: list[int]) -> list[list[list[int]]]:
    if not items:
        return [[]]
    first, rest = items[0], items[1:]
    out = []
    for part in _partitions(rest):
        out.append([[first], *part])
        for i in range(len(part)):
            out.append([*part[:i], [first, *part[i]], *part[i + 1 :]])
    return out


def _fits(o: Offering, shapes: list[Shape]) -> bool:
    return (
        sum(s.vcpus for s in shapes) <= o.vcpus
        and sum(s.memory_mib for s in shapes) <= o.memory_mib
        and all(s.spot_ok or not o.is_spot for s in shapes)
    )


def _bucket_options(problem: Problem, t: int) -> list[tuple[float, frozenset[str], float]]:
    """(objective, offerings used, spot job vCPU-hours) of every way to run bucket t."""
    offers = problem.offerings
    icf = problem.policy.interruption_cost_factor
    hours = problem.bucket_hours
    packed = [
        s
        for s in problem.shapes
        if not s.is_gang
        for _ in range(int(problem.demand[problem.shapes.index(s), t]))
    ]
    gang_jobs = [
        s for s in problem.shapes if s.is_gang for _ in range(int(problem.demand[problem.shapes.index(s), t]))
    ]
    held = [_held_per_job(problem, s, t) for s in gang_jobs]
    best: dict[tuple, float] = {}
    packed_ways = []
    for part in _partitions(list(range(len(packed)))):
        hosts = [[o for o in offers if _fits(o, [packed[j] for j in group])] for group in part]
        for choice in itertools.product(*hosts):
            spot = sum(packed[j].vcpus for o, g in zip(choice, part, strict=True) if o.is_spot for j in g)
            packed_ways.append((sum(o.hourly_objective(icf) for o in choice), {o.key for o in choice}, spot))
    gang_hosts = [
        [o for o in offers if not o.is_spot and _fits(o, [s])] for s in gang_jobs
    ]  # one node per instance, on demand only
    for (cost, used, spot), gang_choice in itertools.product(packed_ways, itertools.product(*gang_hosts)):
        total = cost * hours + sum(
            o.price_per_hour * s.instances_per_job * h
            for o, s, h in zip(gang_choice, gang_jobs, held, strict=True)
        )
        key = (frozenset(used | {o.key for o in gang_choice}), round(spot * hours, 9))
        if total < best.get(key, np.inf):
            best[key] = total
    return [(c, k[0], k[1]) for k, c in best.items()]


def _held_per_job(problem: Problem, shape: Shape, t: int) -> float:
    """Hours one gang job of `shape` holds its nodes in bucket t: its share of the gang hours (the
    whole bucket without them); how jobs share the hours changes no cost (price x nodes x hours)."""
    i = problem.shapes.index(shape)
    return float(problem.gang_job_hours(i)[t]) / int(problem.demand[i, t])


def _brute_force(problem: Problem) -> float:
    policy = problem.policy
    # Job vCPU-hours: a packed shape's demand x bucket hours, a gang's held hours x its nodes.
    all_job_hours = sum(
        (
            float(problem.gang_job_hours(i).sum())
            if s.is_gang
            else float(problem.demand[i].sum()) * problem.bucket_hours
        )
        * s.vcpus
        * s.instances_per_job
        for i, s in enumerate(problem.shapes)
    )
    best = np.inf
    for combo in itertools.product(*(_bucket_options(problem, t) for t in range(problem.n_buckets))):
        cost = sum(c for c, _, _ in combo)
        if cost >= best:
            continue
        used = frozenset().union(*(u for _, u, _ in combo))
        if policy.max_instance_types is not None and len(used) > policy.max_instance_types:
            continue
        spot = sum(s for _, _, s in combo)
        if policy.max_spot_share is not None and spot > policy.max_spot_share * all_job_hours + 1e-9:
            continue
        best = cost
    return best


def _problem(seed: int, policy: Policy, *, gang_hours: bool = False) -> Problem:
    """A random 2-bucket problem; with `gang_hours`, each gang runs a random part of its buckets."""
    rng = np.random.default_rng(seed)
    packed = rng.integers(0, 3, size=(len(PACKED), 2))
    packed[0, packed.sum(axis=0) == 0] = 1
    gangs = rng.integers(0, 2, size=(len(GANGS), 2))
    gangs[0, gangs.sum(axis=0) == 0] = 1
    demand = np.vstack([packed, gangs])
    held = (
        {s.id: gangs[k] * rng.uniform(0.05, 1.0, size=2) for k, s in enumerate(GANGS)} if gang_hours else {}
    )
    problem = Problem(3600.0, PACKED + GANGS, demand, offerings(catalog=TYPES), policy, gang_hours=held)
    return restrict_to_requirements(problem)


POLICIES = {
    "none": Policy(),
    "type cap 2": Policy(max_instance_types=2),
    "type cap 3": Policy(max_instance_types=3),
    "spot share 0.2": Policy(max_spot_share=0.2),
    "cap 3, share 0.3": Policy(max_instance_types=3, max_spot_share=0.3),
}


@pytest.mark.parametrize("gang_hours", [False, True], ids=["whole buckets", "gang hours"])
@pytest.mark.parametrize("name", list(POLICIES))
@pytest.mark.parametrize("seed", range(4))
def test_gang_bound_is_below_the_brute_force_optimum(name: str, seed: int, gang_hours: bool) -> None:
    policy = replace(POLICIES[name], time_limit_seconds=5.0, gap_target=0.0)
    problem = _problem(seed, policy, gang_hours=gang_hours)
    optimum = _brute_force(problem)
    plan = run(problem)
    assert validate_plan(problem, plan) == []
    if not np.isfinite(optimum):
        assert not plan.has_solution
        return
    if not plan.has_solution:  # a type cap the greedy gang placement cannot meet: bound still honest
        assert policy.max_instance_types is not None and plan.lower_bound_usd <= optimum + 1e-6
        return
    assert plan.lower_bound_usd <= optimum + 1e-6, (plan.lower_bound_usd, optimum)
    assert plan.objective_usd >= optimum - 1e-6
    if not policy.couples_buckets:
        # Gangs are exact and the packed jobs separate by bucket class: the plan is the optimum.
        # (Under a spot share cap the packed jobs' own rounding may stop above it, gangs or not.)
        assert plan.objective_usd == pytest.approx(optimum, abs=1e-6), plan.reason


def test_a_hand_checked_gang() -> None:
    # One 2-node gang of 4-vCPU/6,000 MiB nodes for one hour: c5.xlarge on demand ($0.17/h) is the
    # cheapest host that fits a node; two instances, $0.34, which is also the bound.
    problem = Problem(3600.0, (GANGS[0],), np.array([[1]]), offerings(catalog=TYPES), Policy())
    plan = run(restrict_to_requirements(problem))
    assert plan.status == "OPTIMAL"
    assert plan.cost_usd == pytest.approx(0.34)
    assert plan.buckets[0] == [Bin("c5.xlarge/ON_DEMAND", 2, {"g4x2": 1})]


def test_node_ranges_of_one_gang_take_their_own_types_on_demand() -> None:
    main = Shape("job/main", 1.0, 14000.0, nodes=1, gang="job", spot_ok=False)
    workers = Shape("job/workers", 4.0, 6000.0, nodes=3, gang="job", spot_ok=False)
    problem = Problem(3600.0, (main, workers), np.array([[1, 2], [1, 2]]), offerings(catalog=TYPES), Policy())
    plan = run(problem)
    assert validate_plan(problem, plan) == []
    assert plan.buckets[1] == [
        Bin("m5.xlarge/ON_DEMAND", 2, {"job/main": 1}),
        Bin("c5.xlarge/ON_DEMAND", 6, {"job/workers": 1}),
    ]


def _gang_plan(buckets: list[list[Bin]], cost: float) -> Plan:
    return Plan(
        status="FEASIBLE",
        reason="hand-made",
        cost_usd=cost,
        objective_usd=cost,
        lower_bound_usd=0.0,
        gap=1.0,
        solve_seconds=0.0,
        selected=sorted({b.offering for bins in buckets for b in bins}),
        buckets=buckets,
    )


def test_the_validator_refuses_split_shared_and_spot_gangs() -> None:
    problem = Problem(3600.0, (PACKED[0], GANGS[0]), np.array([[1], [1]]), offerings(catalog=TYPES), Policy())
    good = _gang_plan(
        [[Bin("c5.xlarge/ON_DEMAND", 2, {"g4x2": 1}), Bin("m5.large/SPOT", 1, {"small": 1})]],
        0.34 + 0.04032,
    )
    good.objective_usd = 0.34 + 0.04032 * 1.0001
    assert validate_plan(problem, good) == []
    split = _gang_plan(
        [
            [
                Bin("c5.xlarge/ON_DEMAND", 1, {"g4x2": 1}),
                Bin("m5.xlarge/ON_DEMAND", 1, {"g4x2": 1}),
                Bin("m5.large/ON_DEMAND", 1, {"small": 1}),
            ]
        ],
        0.17 + 0.192 + 0.096,
    )
    assert any("shape g4x2 hosted 0 < demand 1" in e for e in validate_plan(problem, split))
    shared = _gang_plan([[Bin("m5.xlarge/ON_DEMAND", 2, {"g4x2": 1, "small": 1})]], 0.384)
    assert any("shares its instance with small" in e for e in validate_plan(problem, shared))
    two_nodes = _gang_plan(
        [[Bin("m5.xlarge/ON_DEMAND", 1, {"g4x2": 2}), Bin("m5.large/ON_DEMAND", 1, {"small": 1})]], 0.288
    )
    assert any("one node per instance" in e for e in validate_plan(problem, two_nodes))
    spot = _gang_plan(
        [[Bin("c5.xlarge/SPOT", 2, {"g4x2": 1}), Bin("m5.large/ON_DEMAND", 1, {"small": 1})]], 0.249
    )
    spot.objective_usd = 0.0765 * 2 * 1.0002 + 0.096
    assert any("cannot host shape g4x2" in e for e in validate_plan(problem, spot))


def test_the_spot_share_counts_every_gang_node() -> None:
    # 1 packed vCPU-hour on spot, 8 gang vCPU-hours on demand: 1/9 of the job vCPU-hours on spot.
    problem = Problem(
        3600.0,
        (PACKED[0], GANGS[0]),
        np.array([[1], [1]]),
        offerings(catalog=TYPES),
        Policy(max_spot_share=0.12),
    )
    plan = run(problem)
    assert validate_plan(problem, plan) == []
    assert any(b.offering.endswith("/SPOT") for b in plan.buckets[0])
    tighter = problem.with_policy(Policy(max_spot_share=0.1))
    plan = run(tighter)
    assert validate_plan(tighter, plan) == []
    assert not any(b.offering.endswith("/SPOT") for b in plan.buckets[0])


def test_commitments_bill_gang_usage_and_keep_the_bound_honest() -> None:
    ri = Commitment(id="ri", type="RESERVED_INSTANCE", instance_type="c5.xlarge", count=1)
    problem = Problem(
        3600.0,
        (PACKED[0], GANGS[0]),
        np.array([[2, 1], [1, 1]]),
        offerings(catalog=TYPES),
        Policy(time_limit_seconds=5),
    ).with_commitments([ri])
    plan = run(problem)
    assert validate_plan(problem, plan) == []
    assert plan.lower_bound_usd <= plan.objective_usd + 1e-6
    # One of the two c5.xlarge gang nodes per hour is reserved: 2 hours x $0.17 instead of 4.
    gang_usd = sum(b.count for bins in plan.buckets for b in bins if "g4x2" in b.jobs) * 0.17
    assert gang_usd == pytest.approx(4 * 0.17)
    assert plan.commitments[0]["utilization"] == pytest.approx(1.0)


def test_network_and_efa_requirements_choose_the_host() -> None:
    offers = (
        Offering("c6i.16xlarge", "ON_DEMAND", 64, 127728, 0, "x86_64", 2.72, network_gbps=25.0),
        Offering("c6in.16xlarge", "ON_DEMAND", 64, 127728, 0, "x86_64", 3.6288, network_gbps=100.0, efa=True),
    )
    plain = Shape("mpi", 64.0, 65536.0, nodes=4, spot_ok=False)
    for shape, host in (
        (plain, "c6i.16xlarge/ON_DEMAND"),
        (replace(plain, min_network_gbps=50.0), "c6in.16xlarge/ON_DEMAND"),
        (replace(plain, efa=True), "c6in.16xlarge/ON_DEMAND"),
    ):
        problem = Problem(3600.0, (shape,), np.array([[1]]), offers, Policy())
        plan = run(problem)
        assert validate_plan(problem, plan) == []
        assert plan.buckets[0] == [Bin(host, 4, {"mpi": 1})]
    needs_more = Problem(3600.0, (replace(plain, min_network_gbps=200.0),), np.array([[1]]), offers, Policy())
    plan = run(needs_more)
    assert plan.status == "INFEASIBLE" and "200 Gbit/s" in plan.reason


def _document(**shape: object) -> dict:
    base = {"id": "g", "vcpus": 4, "memory_mib": 6000, "nodes": 2, "spot_ok": False}
    return {
        "schema": "batchopt.problem/v1",
        "bucket_seconds": 3600,
        "buckets": 1,
        "shapes": [{**base, **shape}],
        "demand": {"g": [1]},
        "offerings": [
            {
                "instance_type": "c5.xlarge",
                "capacity_type": "ON_DEMAND",
                "vcpus": 4,
                "memory_mib": 7600,
                "gpus": 0,
                "arch": "x86_64",
                "price_per_hour": 0.17,
                "network_gbps": 10,
                "efa": False,
            },
        ],
    }


def test_the_document_reads_and_writes_gangs() -> None:
    problem = problem_from_dict(
        _document(min_network_gbps=5, efa=False, gang="job", instance_types=["c5.xlarge"])
    )
    assert problem.shapes[0].instance_types == ("c5.xlarge",)
    assert problem.shapes[0].nodes == 2 and problem.shapes[0].gang == "job"
    assert problem.offerings[0].network_gbps == 10.0
    again = problem_from_dict(json.loads(json.dumps(problem_to_dict(problem))))
    assert again.shapes == problem.shapes and again.offerings == problem.offerings
    assert problem_from_dict(_document(spot_ok=None)).shapes[0].spot_ok is False  # a gang defaults off spot


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ({"nodes": 0}, "shapes[0].nodes: must be >= 1"),
        ({"nodes": 1.5}, "shapes[0].nodes: must be an integer"),
        ({"spot_ok": True}, "shapes[0].spot_ok: must be false for a gang"),
        ({"nodes": None, "spot_ok": True, "gang": "x"}, "shapes[0].gang: needs nodes"),
        ({"placement": "cluster"}, "shapes[0].placement: unknown key"),
        ({"min_network_gbps": -1}, "shapes[0].min_network_gbps: must be >= 0"),
        ({"instance_types": []}, "shapes[0].instance_types: must be a non-empty array"),
        ({"instance_types": ["c5.xlarge", 3]}, "shapes[0].instance_types: must be a non-empty array"),
        (
            {"nodes": None, "spot_ok": True, "instance_types": ["c5.xlarge"]},
            "shapes[0].instance_types: needs nodes",
        ),
    ],
)
def test_the_document_refuses_bad_gang_fields(shape: dict, message: str) -> None:
    with pytest.raises(InputError, match=message.replace("[", r"\[").replace("]", r"\]")):
        problem_from_dict(_document(**shape))


def test_node_ranges_of_one_gang_must_share_their_demand() -> None:
    document = _document(gang="job")
    document["shapes"].append({"id": "w", "vcpus": 2, "memory_mib": 2000, "nodes": 3, "gang": "job"})
    document["buckets"] = 2
    document["demand"] = {"g": [1, 0], "w": [1, 1]}
    with pytest.raises(InputError, match=r"demand\.w: node ranges of gang 'job' run together"):
        problem_from_dict(document)


def test_gangs_alone_under_a_savings_plan_are_bounded_by_its_fee() -> None:
    # The hand-checked gang (two c5.xlarge nodes for one hour) under a $0.50/h Compute Savings
    # Plan that covers c5.xlarge at $0.115/h: the nodes use $0.23 of the $0.50 and cost nothing
    # more, so every plan costs the fee, $0.50. Without packed jobs the bound once left the fee
    # out and read $0.00 (gap 100 %).
    sp = Commitment(id="sp", type="COMPUTE_SAVINGS_PLAN", usd_per_hour=0.5, rates={"c5.xlarge": 0.115})
    problem = Problem(
        3600.0, (GANGS[0],), np.array([[1]]), offerings(catalog=TYPES), Policy()
    ).with_commitments([sp])
    plan = run(problem)
    assert validate_plan(problem, plan) == []
    assert plan.cost_usd == pytest.approx(0.5)
    assert plan.lower_bound_usd == pytest.approx(0.5)
    assert plan.status == "OPTIMAL"
    assert solve_lp_estimate(problem, clock=time.monotonic).lower_bound_usd == pytest.approx(0.5)


def _billed_optimum(problem: Problem) -> float:
    """Cheapest objective over every plan, billed with the problem's commitments bucket by bucket
    (`bill_plan`, AWS's coverage order): without a policy row the buckets are independent."""
    from optimizer.solver.commitments import bill_plan

    total = 0.0
    for t in range(problem.n_buckets):
        one = problem.with_buckets(np.arange(t, t + 1))
        packed = [
            s for i, s in enumerate(problem.shapes) if not s.is_gang for _ in range(problem.demand[i, t])
        ]
        gang_jobs = [
            s for i, s in enumerate(problem.shapes) if s.is_gang for _ in range(problem.demand[i, t])
        ]
        gang_hosts = [[o for o in problem.offerings if not o.is_spot and _fits(o, [s])] for s in gang_jobs]
        best = np.inf
        for part in _partitions(list(range(len(packed)))):
            hosts = [[o for o in problem.offerings if _fits(o, [packed[j] for j in g])] for g in part]
            for choice in itertools.product(*hosts):
                bins = [
                    Bin(
                        o.key, 1, {packed[j].id: sum(1 for k in g if packed[k].id == packed[j].id) for j in g}
                    )
                    for o, g in zip(choice, part, strict=True)
                ]
                for gang_choice in itertools.product(*gang_hosts):
                    gang_bins = [
                        Bin(o.key, s.instances_per_job, {s.id: 1}, _held_per_job(problem, s, t))
                        for o, s in zip(gang_choice, gang_jobs, strict=True)
                    ]
                    plan = _gang_plan([bins + gang_bins], 0.0)
                    best = min(best, bill_plan(one, plan).objective_usd)
        total += best
    return total


@pytest.mark.parametrize("gang_hours", [False, True], ids=["whole buckets", "gang hours"])
@pytest.mark.parametrize("seed", range(4))
def test_with_commitments_the_bound_stays_below_the_billed_optimum(seed: int, gang_hours: bool) -> None:
    ri = Commitment(id="ri", type="RESERVED_INSTANCE", instance_type="c5.xlarge", count=1)
    plan_rates = {"m5.xlarge": 0.13, "m5.large": 0.065, "c5.xlarge": 0.115}
    sp = Commitment(id="sp", type="COMPUTE_SAVINGS_PLAN", usd_per_hour=0.2, rates=plan_rates)
    base = _problem(seed, Policy(time_limit_seconds=5.0, gap_target=0.0), gang_hours=gang_hours)
    problem = base.with_commitments([ri, sp])
    optimum = _billed_optimum(problem)
    plan = run(problem)
    assert validate_plan(problem, plan) == []
    assert plan.lower_bound_usd <= optimum + 1e-6, (plan.lower_bound_usd, optimum)
    assert plan.objective_usd >= optimum - 1e-6


@pytest.mark.parametrize("usd_per_hour", [0.02, 0.2, 2.0])
@pytest.mark.parametrize("seed", range(4))
def test_gangs_alone_under_a_small_commitment_keep_a_valid_bound(seed: int, usd_per_hour: float) -> None:
    # Only gangs: the bound is also list cost + fees - the most coverage can save; a small plan
    # covering many node-hours is where it binds. It must stay below the billed optimum.
    plan_rates = {"m5.xlarge": 0.13, "m5.large": 0.065, "c5.xlarge": 0.115}
    sp = Commitment(id="sp", type="COMPUTE_SAVINGS_PLAN", usd_per_hour=usd_per_hour, rates=plan_rates)
    base = _problem(seed, Policy(time_limit_seconds=5.0, gap_target=0.0), gang_hours=True)
    gangs_only = base.with_shapes([i for i, s in enumerate(base.shapes) if s.is_gang]).with_commitments([sp])
    optimum = _billed_optimum(gangs_only)
    plan = run(gangs_only)
    assert validate_plan(gangs_only, plan) == []
    assert plan.lower_bound_usd <= optimum + 1e-6, (plan.lower_bound_usd, optimum)
    if usd_per_hour == 0.02:  # the fee covers little: the bound is within the coverage it can buy
        # (each $ of the plan's $0.04 covers 0.17 / 0.115 $ of list at most, 0.096 / 0.065 at least)
        assert plan.objective_usd - plan.lower_bound_usd <= 0.04 * (0.17 / 0.115 - 0.096 / 0.065) + 1e-6


def test_under_a_type_cap_the_gang_cover_takes_the_cheaper_host() -> None:
    # Both types host a 4-vCPU node; c5.2xlarge ($0.34/h) sorts first but m5.xlarge ($0.192/h) wins.
    catalog = [("c5.2xlarge", 8, 15400, 0.34, 0.57, 0.0003), ("m5.xlarge", 4, 15400, 0.192, 0.60, 0.0002)]
    problem = Problem(
        3600.0, (GANGS[0],), np.array([[1]]), offerings(catalog=catalog), Policy(max_instance_types=1)
    )
    plan = run(problem)
    assert validate_plan(problem, plan) == []
    assert plan.buckets[0] == [Bin("m5.xlarge/ON_DEMAND", 2, {"g4x2": 1})]
