"""Gangs priced by the hours their jobs hold the nodes (`gang_hours`), not by whole buckets.

The document field, a hand-worked plan, the validator's own recomputation (and its refusals), a
Reserved Instance that covers exactly the held node-hours, and the builder filling the hours from
node start and stop times.
"""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from optimizer.analysis.demand_profile import overlap_hours, peak_counts
from optimizer.catalog.provider import bundled_catalog
from optimizer.errors import InputError
from optimizer.solver.build import build_problem
from optimizer.solver.plan import Bin, plan_from_dict, plan_to_dict
from optimizer.solver.problem import Commitment, Policy, Problem, Shape, problem_from_dict, problem_to_dict
from optimizer.solver.validate import validate_plan
from tests.solver_helpers import offerings, run

TYPES = [
    # instance type, vCPU, allocatable MiB, on-demand $/h, spot discount, spot interruption/h
    ("c5.xlarge", 4, 7600, 0.17, 0.55, 0.0002),
    ("m5.xlarge", 4, 15400, 0.192, 0.60, 0.0002),
]
#: A 4-node gang of 4-vCPU nodes: c5.xlarge on demand ($0.17/h) is its cheapest host.
GANG = Shape("g4x4", 4.0, 6000.0, nodes=4, spot_ok=False)
SMALL = Shape("small", 1.0, 2048.0)


def _document(**overrides: Any) -> dict[str, Any]:
    """Two buckets, one packed shape, a two-range gang (main x1, workers x3) running one job each."""
    document: dict[str, Any] = {
        "schema": "batchopt.problem/v1",
        "bucket_seconds": 3600,
        "buckets": 2,
        "shapes": [
            {"id": "small", "vcpus": 1, "memory_mib": 2048},
            {"id": "main", "vcpus": 2, "memory_mib": 4000, "nodes": 1, "gang": "job"},
            {"id": "workers", "vcpus": 4, "memory_mib": 6000, "nodes": 3, "gang": "job"},
        ],
        "demand": {"small": [1, 1], "main": [1, 0], "workers": [1, 0]},
        "offerings": [
            {
                "instance_type": "c5.xlarge",
                "capacity_type": "ON_DEMAND",
                "vcpus": 4,
                "memory_mib": 7600,
                "gpus": 0,
                "arch": "x86_64",
                "price_per_hour": 0.17,
            }
        ],
        "gang_hours": {"main": [0.25, 0.0], "workers": [0.25, 0.0]},
    }
    document.update(overrides)
    return document


def test_the_document_reads_and_writes_gang_hours() -> None:
    problem = problem_from_dict(_document())
    assert problem.gang_hours["workers"].tolist() == [0.25, 0.0]
    assert problem.gang_job_hours(2).tolist() == [0.25, 0.0]
    again = problem_from_dict(json.loads(json.dumps(problem_to_dict(problem))))
    assert {k: v.tolist() for k, v in again.gang_hours.items()} == {
        "main": [0.25, 0.0],
        "workers": [0.25, 0.0],
    }
    # Absent: whole buckets (demand x bucket hours), and the document written back has no field.
    old = _document()
    del old["gang_hours"]
    whole = problem_from_dict(old)
    assert whole.gang_hours == {} and whole.gang_job_hours(2).tolist() == [1.0, 0.0]
    assert "gang_hours" not in problem_to_dict(whole)


@pytest.mark.parametrize(
    ("gang_hours", "message"),
    [
        ([0.25, 0.0], "gang_hours: must be an object mapping gang shape id"),
        ({"nope": [0, 0]}, "gang_hours.nope: not a shape id"),
        ({"small": [0.5, 0.5]}, "gang_hours.small: shape small is not a gang"),
        ({"main": [0.25], "workers": [0.25]}, "gang_hours.main: must be an array of 2 numbers"),
        ({"main": [0.25, "x"], "workers": [0.25, 0]}, r"gang_hours.main\[1\]: must be a finite number"),
        ({"main": [True, 0], "workers": [0.25, 0]}, r"gang_hours.main\[0\]: must be a finite number"),
        ({"main": [-0.1, 0], "workers": [0.25, 0]}, r"gang_hours.main\[0\]: must be >= 0"),
        ({"main": [1.5, 0], "workers": [1.5, 0]}, r"gang_hours.main\[0\]: 1.5 h is more than demand 1 x 1 h"),
        ({"main": [0.25, 0.1], "workers": [0.25, 0.1]}, r"gang_hours.main\[1\]: 0.1 h is more than demand 0"),
        (
            {"main": [0.25, 0], "workers": [0.5, 0]},
            "gang_hours.workers: node ranges of gang 'job' run together",
        ),
        ({"main": [0.25, 0]}, "gang_hours.workers: node ranges of gang 'job' run together"),
    ],
)
def test_the_document_refuses_bad_gang_hours(gang_hours: Any, message: str) -> None:
    with pytest.raises(InputError, match=message):
        problem_from_dict(_document(gang_hours=gang_hours))


def test_the_document_still_refuses_unknown_keys() -> None:
    with pytest.raises(InputError, match="gang_hour: unknown key"):
        problem_from_dict(_document(gang_hour={}))


def _twenty_minute_gang() -> Problem:
    return Problem(
        3600.0,
        (GANG,),
        np.array([[1]]),
        offerings(catalog=TYPES),
        Policy(),
        gang_hours={"g4x4": np.array([1 / 3])},
    )


def test_a_twenty_minute_four_node_gang_pays_a_third_of_an_hour_per_node() -> None:
    problem = _twenty_minute_gang()
    plan = run(problem)
    # 4 nodes x 1/3 h x $0.17 on c5.xlarge; the bound is the same term at the cheapest host.
    assert plan.status == "OPTIMAL", plan.reason
    assert plan.cost_usd == pytest.approx(4 * (1 / 3) * 0.17)
    assert plan.lower_bound_usd == pytest.approx(plan.cost_usd)
    # The plan still says 4 instances run at once, each held 1/3 h of the bucket.
    assert plan.buckets[0] == [Bin("c5.xlarge/ON_DEMAND", 4, {"g4x4": 1}, 1 / 3)]
    assert validate_plan(problem, plan) == []
    # Written and read back, the validator recomputes the same cost from the document alone.
    again = plan_from_dict(json.loads(json.dumps(plan_to_dict(plan))))
    assert validate_plan(problem, again) == []


def test_without_gang_hours_a_gang_pays_whole_buckets_as_before() -> None:
    problem = replace(_twenty_minute_gang(), gang_hours={})
    plan = run(problem)
    assert plan.cost_usd == pytest.approx(4 * 0.17)
    assert plan.buckets[0] == [Bin("c5.xlarge/ON_DEMAND", 4, {"g4x4": 1})]
    assert "hours" not in plan_to_dict(plan)["buckets"][0][0]
    assert validate_plan(problem, plan) == []


def test_the_validator_refuses_a_tampered_cost_or_held_hours() -> None:
    problem = _twenty_minute_gang()
    plan = run(problem)
    cheap = copy.deepcopy(plan)
    cheap.cost_usd = cheap.objective_usd = 0.17  # one instance-hour: neither the bins nor the hours
    assert any(
        "cost_usd 0.170000 but bins and commitments cost 0.226667" in e for e in validate_plan(problem, cheap)
    )
    # Held hours cut to 1/6 with the money to match: the gang's jobs still run 1/3 h on 4 nodes.
    short = copy.deepcopy(plan)
    short.buckets[0] = [Bin("c5.xlarge/ON_DEMAND", 4, {"g4x4": 1}, 1 / 6)]
    short.cost_usd = short.objective_usd = short.lower_bound_usd = 4 / 6 * 0.17
    assert any("holds 0.666667 node-hours < its jobs' 1.333333" in e for e in validate_plan(problem, short))
    long = copy.deepcopy(plan)
    long.buckets[0] = [Bin("c5.xlarge/ON_DEMAND", 4, {"g4x4": 1}, 1.5)]
    long.cost_usd = long.objective_usd = 4 * 1.5 * 0.17
    assert any("hours 1.5 outside [0, 1]" in e for e in validate_plan(problem, long))


def test_only_gang_bins_may_hold_part_of_a_bucket() -> None:
    problem = Problem(3600.0, (SMALL,), np.array([[1]]), offerings(catalog=TYPES), Policy())
    plan = run(problem)
    part = copy.deepcopy(plan)
    b = part.buckets[0][0]
    part.buckets[0] = [replace(b, hours=0.5)]
    price = {o.key: o.price_per_hour for o in problem.offerings}[b.offering]
    part.cost_usd = part.objective_usd = 0.5 * price * b.count
    assert any("hours set on a bin that hosts no gang" in e for e in validate_plan(problem, part))


def test_a_reserved_instance_covers_the_held_node_hours() -> None:
    # A 2-node gang held half an hour: 1 c5.xlarge instance-hour, exactly what one RI covers.
    gang = Shape("g4x2", 4.0, 6000.0, nodes=2, spot_ok=False)
    ri = Commitment(id="ri", type="RESERVED_INSTANCE", instance_type="c5.xlarge", count=1)
    problem = Problem(
        3600.0,
        (gang,),
        np.array([[1]]),
        offerings(catalog=TYPES),
        Policy(time_limit_seconds=5),
        (ri,),
        gang_hours={"g4x2": np.array([0.5])},
    )
    plan = run(problem)
    assert validate_plan(problem, plan) == []
    assert plan.cost_usd == pytest.approx(0.0)
    assert plan.commitments[0]["utilization"] == pytest.approx(1.0)
    whole = run(replace(problem, gang_hours={}))  # whole buckets: 2 instance-hours, one of them paid
    assert whole.cost_usd == pytest.approx(0.17)


def _spot_vcpu_hours(problem: Problem, plan: Any) -> float:
    sizes = {s.id: s.vcpus for s in problem.shapes}
    return sum(
        b.count * n * sizes[sid] * problem.bucket_hours
        for bins in plan.buckets
        for b in bins
        if b.offering.endswith("/SPOT")
        for sid, n in b.jobs.items()
    )


def test_the_spot_share_counts_a_gang_by_the_hours_it_holds() -> None:
    """One 1-hour bucket: 8 packed 1-vCPU jobs (8 job vCPU-hours) and the 4-node gang of 4 vCPUs
    held half an hour (4 x 4 x 0.5 = 8 vCPU-hours). All job vCPU-hours: 16, so a spot share of
    0.3 allows 4.8 on spot: one c5.xlarge of 4 packed jobs on spot, the other 4 on demand.
    Counting the gang by whole buckets (4 x 4 x 1 = 16, 8 vCPU-hours it neither runs nor pays
    for) made the total 24 and allowed 7.2: 7 of the 8 packed jobs on spot, 44 % of the work
    under a 30 % cap."""
    problem = Problem(
        3600.0,
        (SMALL, GANG),
        np.array([[8], [1]]),
        offerings(catalog=TYPES),
        Policy(max_spot_share=0.3, time_limit_seconds=5),
        gang_hours={"g4x4": np.array([0.5])},
    )
    assert problem.job_vcpu_hours().tolist() == pytest.approx([8.0, 8.0])
    plan = run(problem)
    assert validate_plan(problem, plan) == []
    assert _spot_vcpu_hours(problem, plan) == pytest.approx(4.0)
    # A plan the whole-bucket count allowed (7 of 24): the validator now refuses it (7 of 16).
    all_spot = copy.deepcopy(plan)
    all_spot.buckets[0] = [
        Bin("c5.xlarge/SPOT", 1, {"small": 4}),
        Bin("c5.xlarge/SPOT", 1, {"small": 3}),
        Bin("c5.xlarge/ON_DEMAND", 1, {"small": 1}),
        Bin("c5.xlarge/ON_DEMAND", 4, {"g4x4": 1}, 0.5),
    ]
    spot = {o.key: o for o in problem.offerings}["c5.xlarge/SPOT"]
    all_spot.cost_usd = 2 * spot.price_per_hour + 0.17 + 4 * 0.5 * 0.17
    all_spot.objective_usd = 2 * spot.hourly_objective(1.0) + 0.17 + 4 * 0.5 * 0.17
    all_spot.lower_bound_usd = min(all_spot.lower_bound_usd, all_spot.objective_usd)
    all_spot.gap = (all_spot.objective_usd - all_spot.lower_bound_usd) / all_spot.objective_usd
    errors = validate_plan(problem, all_spot)
    assert any("spot job vCPU-hours 7.000 > max_spot_share 0.3 of 16.000" in e for e in errors), errors


def test_overlap_hours_sum_each_interval_s_time_in_its_buckets() -> None:
    a = np.array([600.0, 3000.0, 7000.0])
    b = np.array([1800.0, 4800.0, 7000.0])  # the third is empty
    code = np.array([0, 0, 1])
    window = {"w0": 0.0, "n_buckets": 2, "bucket_seconds": 3600.0}
    hours = overlap_hours(a, b, code, 2, **window)
    assert hours[0].tolist() == pytest.approx([1 / 3 + 1 / 6, 1 / 3])
    assert hours[1].tolist() == [0.0, 0.0]
    assert (hours <= peak_counts(a, b, code, 2, **window) + 1e-12).all()


def _node(parent: str, index: int, start: float, stop: float, nodes: int = 2) -> dict[str, Any]:
    return {
        "job_id": f"{parent}#{index}",
        "submit_s": 0.0,
        "start_s": start,
        "runtime_s": stop - start,
        "vcpus": 64.0,
        "memory_mib": 131072.0,
        "gpus": 0,
        "queue": "q",
        "job_name": parent,
        "arch": None,
        "mnp_parent": parent,
        "node_index": index,
        "num_nodes": nodes,
    }


def test_the_builder_fills_gang_hours_from_node_start_and_stop_times() -> None:
    rows = [
        # 20 minutes in hour 0: the main node 0-1200, its second node up at 300 (formation).
        _node("m1", 0, 0, 1200),
        _node("m1", 1, 300, 1200),
        # Forms from 3000 (main) to 3300 (second node) and runs to 4800: 1/6 h in hour 0, 1/3 in hour 1.
        _node("m2", 0, 3000, 4800),
        _node("m2", 1, 3300, 4800),
    ]
    problem = build_problem(pd.DataFrame(rows), bundled_catalog("us-east-1"), Policy(time_limit_seconds=5))
    (i,) = [k for k, s in enumerate(problem.shapes) if s.is_gang]
    shape = problem.shapes[i]
    assert problem.demand[i].tolist() == [1, 1]
    assert problem.gang_hours[shape.id].tolist() == pytest.approx([1 / 3 + 1 / 6, 1 / 3])
    plan = run(problem)
    assert validate_plan(problem, plan) == []
    (host,) = {b.offering for bins in plan.buckets for b in bins}
    price = {o.key: o.price_per_hour for o in problem.offerings}[host]
    assert plan.cost_usd == pytest.approx((0.5 + 1 / 3) * 2 * price)


def test_the_builder_holds_nodes_from_the_first_start_to_the_last_stop() -> None:
    # A worker node that outlives the main node keeps the gang's instances until it stops.
    rows = [_node("m", 0, 0, 1200), _node("m", 1, 300, 1800)]
    problem = build_problem(pd.DataFrame(rows), bundled_catalog("us-east-1"), Policy())
    (hours,) = problem.gang_hours.values()
    assert hours.tolist() == pytest.approx([0.5])


@pytest.mark.parametrize("hours", [-0.5, "half", True, float("inf")])
def test_the_plan_reader_refuses_bad_bin_hours(hours: Any) -> None:
    plan = plan_to_dict(run(_twenty_minute_gang()))
    plan["buckets"][0][0]["hours"] = hours
    with pytest.raises(InputError, match=r"buckets\[0\]\[0\]\.hours: must be a number of hours >= 0"):
        plan_from_dict(plan)
