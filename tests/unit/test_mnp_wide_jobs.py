"""Jobs of 256-1,024 processors, as the Parallel Workloads Archive's large HPC logs have them, go end
to end: SWF import -> MNP node jobs (nodes x vCPUs per node) -> gang shapes -> plan -> replay.

The bundled HPC trace (KTH SP2) stops at 100 processors, so these hand-written SWF lines are the
only place the product meets 64- and 128-node gangs before a user's trace does.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
import pytest

from optimizer.analysis.gang_demand import node_rows
from optimizer.catalog.provider import bundled_catalog
from optimizer.simulate import catalog_from_provider, parse_config, replay
from optimizer.solver.build import build_problem
from optimizer.solver.compute_environments import gang_queue_name, recommend_environments
from optimizer.solver.problem import Policy
from optimizer.solver.solve import solve
from optimizer.solver.validate import validate_plan
from optimizer.traces import TraceMapping
from optimizer.traces.files import parse_text

HOUR = 3600
GIB_KB = 1024 * 1024  # SWF memory is KB per processor


def _swf(
    job: int,
    submit: int,
    run: int,
    alloc: int,
    *,
    req: int = -1,
    req_mem: int = -1,
    used_mem: int = -1,
    wait: int = -1,
) -> str:
    """One SWF line; every field the job does not set is -1 (unknown), as archive logs have them."""
    fields = [job, submit, wait, run, alloc, -1, used_mem, req, -1, req_mem, 1, 7, -1, -1, -1, -1, -1, -1]
    return " ".join(str(f) for f in fields)


#: (job, processors as the log gives them, nodes x vCPUs x MiB per node at 16 and at 8 vCPUs a node)
WIDE = [
    "; UnixStartTime: 820454400",
    "; MaxProcs: 1024",
    _swf(1, 0, 2 * HOUR, 1024),  # no memory in the log: the mapping's 2 GiB per vCPU
    _swf(2, 600, HOUR, 512, req_mem=4 * GIB_KB, wait=30),  # 4 GiB per processor, from the log
    _swf(3, 1200, 3 * HOUR, 256, used_mem=GIB_KB // 2),  # used memory only: the job asks for it
    _swf(4, 1800, HOUR // 2, -1, req=1024),  # allocated unknown: the requested processors
    _swf(5, 2400, 900, 4),  # an ordinary job beside them
    _swf(6, 3000, 600, 1000),  # not a power of two: 63 vCPUs a node at 64, 16 nodes
]


def _jobs(per_node: float) -> pd.DataFrame:
    trace = parse_text("\n".join(WIDE), "swf", "wide.swf", TraceMapping(max_vcpus_per_node=per_node))
    assert not trace.skipped
    return trace.jobs


def _by_job(jobs: pd.DataFrame) -> pd.DataFrame:
    key = jobs["mnp_parent"].where(jobs["mnp_parent"].notna(), jobs["job_id"])
    return (
        jobs.assign(_job=key)
        .groupby("_job")
        .agg(
            rows=("job_id", "size"),
            nodes=("num_nodes", "first"),
            vcpus=("vcpus", "first"),
            memory=("memory_mib", "first"),
            runtime=("runtime_s", "first"),
        )
    )


@pytest.mark.parametrize("per_node", [16.0, 8.0])
def test_wide_swf_jobs_become_gangs_of_whole_nodes(per_node: float) -> None:
    jobs = _by_job(_jobs(per_node))
    for job, procs, mib_per_proc in (
        ("1", 1024, 2048),
        ("2", 512, 4096),
        ("3", 256, 512),
        ("4", 1024, 2048),
    ):
        nodes = int(procs / per_node)
        assert jobs.loc[job, "rows"] == nodes and jobs.loc[job, "nodes"] == nodes, job
        assert jobs.loc[job, "vcpus"] == per_node and jobs.loc[job, "memory"] == per_node * mib_per_proc, job
    assert jobs.loc["5", "rows"] == 1 and pd.isna(jobs.loc["5", "nodes"])
    # 1,000 processors: the fewest nodes that hold them, each its share rounded up to a whole vCPU.
    nodes6 = math.ceil(1000 / per_node)
    assert jobs.loc["6", "nodes"] == nodes6 and jobs.loc["6", "vcpus"] == math.ceil(1000 / nodes6)
    assert jobs.loc["6", "nodes"] * jobs.loc["6", "vcpus"] >= 1000


@pytest.mark.parametrize("per_node", [16.0, 8.0])
def test_wide_gangs_are_planned_whole_and_every_job_starts_in_the_replay(per_node: float) -> None:
    jobs = _jobs(per_node)
    provider = bundled_catalog("us-east-1")
    problem = build_problem(jobs, provider, Policy(time_limit_seconds=10), start_s=0, end_s=4 * HOUR)
    gangs = {s.nodes for s in problem.shapes if s.is_gang}
    assert int(1024 / per_node) in gangs and int(512 / per_node) in gangs  # 64/32 and 128/64 nodes
    # Jobs 1 and 4 (1,024 processors each) run at once in the first hour: two gangs of the same shape.
    widest = next(i for i, s in enumerate(problem.shapes) if s.is_gang and s.nodes == int(1024 / per_node))
    assert problem.demand[widest][0] == 2

    plan = solve(problem, clock=time.perf_counter)
    assert plan.has_solution, plan.reason
    assert validate_plan(problem, plan) == []
    hosts = plan.stats["gangs"]["hosts"]
    assert len(hosts) == len(gangs) and all(h.endswith("/ON_DEMAND") for h in hosts.values())

    document = recommend_environments(problem, plan, "main")
    on_demand = next(e for e in document["computeEnvironments"] if e["computeResources"]["type"] == "EC2")
    # The on-demand CE must hold two 1,024-vCPU gangs at once, or the plan would queue its own jobs.
    assert on_demand["computeResources"]["maxvCpus"] >= 2 * 1024
    queued = jobs.assign(queue=np.where(node_rows(jobs), gang_queue_name("main"), "main"))
    result = replay(queued, parse_config(document, catalog_from_provider(provider)))
    assert result.jobs["started_at"].notna().all(), result.jobs["status_reason"].unique()
    assert (result.jobs["status"] == "SUCCEEDED").all()
    assert result.summary["mnp_jobs"] == 5
    # All nodes of a gang start at the same second, on as many instances of the gang queue's CE.
    starts = result.jobs.dropna(subset=["mnp_parent"]).groupby("mnp_parent")["started_at"].nunique()
    assert (starts == 1).all()


def test_a_gang_wider_than_every_ce_of_its_queue_is_failed_with_the_reason_not_dropped() -> None:
    jobs = _jobs(16.0)
    catalog = catalog_from_provider(bundled_catalog("us-east-1"))
    document = {
        "computeEnvironments": [
            {
                "computeEnvironmentName": "ondemand",
                "type": "MANAGED",
                "computeResources": {
                    "type": "EC2",
                    "allocationStrategy": "BEST_FIT_PROGRESSIVE",
                    "minvCpus": 0,
                    # r5.4xlarge per node: holds jobs 2 and 3 (512 + 256 vCPUs), not the 1,000-1,024
                    # ones (63-64 nodes, over maxvCpus even with the one instance Batch lets it exceed).
                    "maxvCpus": 990,
                    "instanceTypes": ["r5"],
                },
            }
        ],
        "jobQueues": [
            {
                "jobQueueName": "main",
                "priority": 1,
                "computeEnvironmentOrder": [{"order": 1, "computeEnvironment": "ondemand"}],
            }
        ],
    }
    result = replay(jobs, parse_config(document, catalog))
    frame = result.jobs
    assert len(frame) == len(jobs)  # every node job is in the result, started or not
    never = frame[frame["started_at"].isna()]
    assert set(never["mnp_parent"]) == {"1", "4", "6"}
    assert (never["status"] == "FAILED").all()
    assert never["status_reason"].str.contains("can hold all 64 nodes").sum() == 128  # jobs 1 and 4
    assert never["status_reason"].str.contains("can hold all 63 nodes").sum() == 63  # job 6
    assert frame.loc[frame["mnp_parent"].isin(["2", "3"]), "started_at"].notna().all()
