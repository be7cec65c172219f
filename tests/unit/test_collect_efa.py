"""EFA asks in collected jobs: a node range that passes `/dev/infiniband/uverbs*` through (the AWS
Batch user guide's "Elastic Fabric Adapter" job definition) becomes a gang that needs EFA."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from optimizer.catalog.provider import bundled_catalog
from optimizer.collectors.batch_fields import efa_devices
from optimizer.collectors.jobs_transform import transform_jobs
from optimizer.solver.build import build_problem
from optimizer.solver.problem import Policy
from tests.collect_helpers import job_record

pytestmark = pytest.mark.any_date  # dates are fixed: the same on any date

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z in ms
#: The devices member of the user guide's EFA example (multi-node: inside the node range's container).
EFA_DEVICE = {
    "hostPath": "/dev/infiniband/uverbs0",
    "containerPath": "/dev/infiniband/uverbs0",
    "permissions": ["READ", "WRITE", "MKNOD"],
}
NODE_CONTAINER = {
    "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/gromacs_mpi:latest",
    "resourceRequirements": [{"type": "VCPU", "value": "64"}, {"type": "MEMORY", "value": "131072"}],
    "linuxParameters": {"devices": [EFA_DEVICE]},
}


def _mnp(parent: str, created_ms: int, container: dict[str, Any]) -> list[dict[str, Any]]:
    """An MNP parent of two nodes in one range and its two node jobs, as DescribeJobs returns them
    (a node job's `container` is its range's, resolved)."""
    props = {
        "numNodes": 2,
        "mainNode": 0,
        "nodeRangeProperties": [{"targetNodes": "0:1", "container": container}],
    }
    head = job_record(parent, created_ms, attempts=[], container=None, nodeProperties=props)
    nodes = [
        job_record(
            f"{parent}#{n}",
            created_ms,
            container={**copy.deepcopy(container), "exitCode": 0},
            nodeDetails={"nodeIndex": n, "isMainNode": n == 0},
        )
        for n in range(2)
    ]
    return [head, *nodes]


def test_efa_devices_counts_only_infiniband_verbs_devices() -> None:
    assert efa_devices([NODE_CONTAINER]) == 1
    two = {
        "linuxParameters": {"devices": [EFA_DEVICE, {**EFA_DEVICE, "hostPath": "/dev/infiniband/uverbs1"}]}
    }
    assert efa_devices([two]) == 2
    assert efa_devices([{"linuxParameters": {"devices": [{"hostPath": "/dev/fuse"}]}}]) == 0
    assert efa_devices([{"image": "x"}]) == 0


def test_collected_efa_nodes_become_a_gang_that_needs_efa() -> None:
    plain = {k: v for k, v in NODE_CONTAINER.items() if k != "linuxParameters"}
    records = [*_mnp("efa-mnp", T0, NODE_CONTAINER), *_mnp("tcp-mnp", T0, plain), job_record("single", T0)]
    jobs, _ = transform_jobs(records, "123456789012", "us-east-1")
    devices = jobs.set_index("job_id")["efa_devices"]
    assert devices[["efa-mnp", "efa-mnp#0", "efa-mnp#1"]].tolist() == [1, 1, 1]
    assert devices[["tcp-mnp", "tcp-mnp#0", "tcp-mnp#1", "single"]].tolist() == [0, 0, 0, 0]

    # A node record without its container (the range still says): the range's devices count.
    bare = _mnp("bare-mnp", T0, NODE_CONTAINER)
    del bare[2]["container"]
    assert transform_jobs(bare, None, "us-east-1")[0].set_index("job_id")["efa_devices"]["bare-mnp#1"] == 1

    problem = build_problem(jobs, bundled_catalog("us-east-1"), Policy(time_limit_seconds=5))
    gangs = {s.id: s for s in problem.shapes if s.is_gang}
    assert {sid: s.efa for sid, s in gangs.items()} == {
        "v64-m131072-g0-x86_64-x2": False,
        "v64-m131072-g0-x86_64-x2-efa": True,
    }
    assert all(not s.efa for s in problem.shapes if not s.is_gang)


def test_imported_history_without_the_column_asks_for_no_efa() -> None:
    jobs, _ = transform_jobs(_mnp("efa-mnp", T0, NODE_CONTAINER), None, "us-east-1")
    problem = build_problem(jobs.drop(columns=["efa_devices"]), bundled_catalog("us-east-1"), Policy())
    assert [s.efa for s in problem.shapes if s.is_gang] == [False]
