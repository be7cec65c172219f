"""MNP jobs of a job history become gang demand, and a plan with gangs gets an on-demand-only queue."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from optimizer.catalog.provider import bundled_catalog
from optimizer.solver.build import build_problem
from optimizer.solver.compute_environments import environment_notes, gang_queue_name, recommend_environments
from optimizer.solver.problem import Policy
from optimizer.solver.solve import solve
from optimizer.solver.validate import validate_plan
from optimizer.traces.mapping import TraceMapping


def _job(job_id: str, submit: float, runtime: float, vcpus: float, memory: float, **mnp: object) -> dict:
    return {
        "job_id": job_id,
        "submit_s": submit,
        "runtime_s": runtime,
        "vcpus": vcpus,
        "memory_mib": memory,
        "gpus": 0,
        "queue": "q",
        "job_name": job_id,
        "arch": None,
        "mnp_parent": mnp.get("parent"),
        "node_index": mnp.get("index"),
        "num_nodes": mnp.get("nodes"),
    }


def _mnp(parent: str, submit: float, runtime: float, vcpus: float, memory: float, nodes: int) -> list[dict]:
    return [
        _job(f"{parent}#{n}", submit, runtime, vcpus, memory, parent=parent, index=n, nodes=nodes)
        for n in range(nodes)
    ]


def _history() -> pd.DataFrame:
    rows = [
        _job("a", 0, 5400, 2, 4096),  # an ordinary job over the first two hours
        *_mnp("m1", 0, 3000, 64, 131072, 2),  # two gangs of 2 x 64 vCPU running at once in hour 0
        *_mnp("m2", 600, 1200, 64, 131072, 2),
        *_mnp("m3", 3600, 3600, 64, 131072, 2),  # one in hour 1
        # A gang with two node ranges: a small main node and three 16-vCPU workers, in hour 2.
        _job("m4#0", 7200, 1800, 2, 8192, parent="m4", index=0, nodes=4),
        *[_job(f"m4#{n}", 7200, 1800, 16, 32768, parent="m4", index=n, nodes=4) for n in (1, 2, 3)],
    ]
    return pd.DataFrame(rows)


def test_mnp_jobs_become_gang_shapes_with_their_peak_demand() -> None:
    problem = build_problem(_history(), bundled_catalog("us-east-1"), Policy(time_limit_seconds=5))
    gangs = {s.id: (s, problem.demand[i].tolist()) for i, s in enumerate(problem.shapes) if s.is_gang}
    wide = gangs["v64-m131072-g0-x86_64-x2"]
    assert wide[0].nodes == 2 and wide[0].gang is None and not wide[0].spot_ok
    assert wide[1] == [2, 1, 0]
    ranges = {sid: v for sid, v in gangs.items() if v[0].gang is not None}
    assert len(ranges) == 2
    assert {v[0].nodes for v in ranges.values()} == {1, 3}
    assert len({v[0].gang for v in ranges.values()}) == 1
    assert all(v[1] == [0, 0, 1] for v in ranges.values())
    # The ordinary job stays an ordinary shape; no node row is counted as one.
    ordinary = [(s.id, problem.demand[i].tolist()) for i, s in enumerate(problem.shapes) if not s.is_gang]
    assert ordinary == [("v2-m4096-g0-x86_64", [1, 1, 0])]


def test_a_plan_with_gangs_gets_an_on_demand_queue_and_validates() -> None:
    problem = build_problem(_history(), bundled_catalog("us-east-1"), Policy(time_limit_seconds=5))
    plan = solve(problem, clock=time.perf_counter)
    assert validate_plan(problem, plan) == []
    # Two gangs of two 64-vCPU nodes in hour 0: four instances that host nothing else.
    hour0 = [b for b in plan.buckets[0] if "v64-m131072-g0-x86_64-x2" in b.jobs]
    assert sum(b.count for b in hour0) == 4
    document = recommend_environments(problem, plan, "hpc")
    queues = {q["jobQueueName"]: q for q in document["jobQueues"]}
    assert set(queues) == {"hpc", gang_queue_name("hpc")}
    on_demand = [
        ce["computeEnvironmentName"]
        for ce in document["computeEnvironments"]
        if ce["computeResources"]["type"] == "EC2"
    ]
    assert [e["computeEnvironment"] for e in queues["hpc-mnp"]["computeEnvironmentOrder"]] == on_demand
    assert any("-mnp" in note for note in environment_notes(problem, plan))


def test_a_store_history_drops_mnp_parent_rows() -> None:
    origin = pd.Timestamp("2026-01-05T00:00:00Z")

    def at(seconds: float) -> pd.Timestamp:
        return origin + pd.Timedelta(seconds=seconds)

    rows = []
    for job_id, parent, index in (("p", None, None), ("p#0", "p", 0), ("p#1", "p", 1)):
        rows.append(
            {
                "job_id": job_id,
                "created_at": at(0),
                "started_at": at(0),
                "stopped_at": at(1800),
                "vcpus": 32.0,
                "memory_mib": 65536.0,
                "gpus": 0,
                "queue": "q",
                "job_name": "p",
                "is_multinode": True,
                "array_parent_id": parent,
                "array_index": index,
            }
        )
    problem = build_problem(pd.DataFrame(rows), bundled_catalog("us-east-1"), Policy())
    assert [(s.id, s.nodes) for s in problem.shapes] == [("v32-m65536-g0-x86_64-x2", 2)]
    assert problem.demand.tolist() == [[1]]


def test_the_trace_mapping_split_feeds_gangs() -> None:
    # A 100-processor SWF job at 64 vCPUs per node: 2 nodes of 50 vCPU (rounded up to 64 on the grid).
    nodes, per_node, memory = TraceMapping(max_vcpus_per_node=64).node_split(100.0, 204800.0)
    frame = pd.DataFrame(_mnp("w", 0, 3600, per_node, memory, nodes))
    problem = build_problem(frame, bundled_catalog("us-east-1"), Policy())
    assert [(s.id, s.nodes) for s in problem.shapes] == [("v64-m131072-g0-x86_64-x2", 2)]
    assert np.array_equal(problem.demand, [[1]])


def test_a_node_range_s_instance_types_bind_its_host() -> None:
    # The range names m5.16xlarge (Batch's nodeRangeProperties[].instanceTypes): dearer than the
    # cheapest type that fits, but the only one Batch would launch for these nodes.
    rows = _mnp("w", 0, 3600, 64, 131072, 2)
    for row in rows:
        row["node_instance_types"] = ["m5.16xlarge"]
    problem = build_problem(pd.DataFrame(rows), bundled_catalog("us-east-1"), Policy(time_limit_seconds=5))
    (shape,) = problem.shapes
    assert shape.id == "v64-m131072-g0-x86_64-x2-on-m5.16xlarge"
    assert shape.instance_types == ("m5.16xlarge",)
    plan = solve(problem, clock=time.perf_counter)
    assert validate_plan(problem, plan) == []
    assert [(b.offering, b.count) for b in plan.buckets[0]] == [("m5.16xlarge/ON_DEMAND", 2)]
