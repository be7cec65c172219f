"""MNP node ranges from DescribeJobs to the replay: each node job keeps its range's instance types.

No recorded MNP DescribeJobs answer is public (the shared fixtures have none), so the answer here
goes through botocore's Stubber, which validates it against the Batch model (`NodeProperties`,
`NodeRangeProperty.targetNodes`/`instanceTypes`, `NodeDetails`): the fields are the ones AWS sends.
The frames are written to a migrated store, read back as the canonical table the replay runs, and
replayed: each node lands on its range's type.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from sqlalchemy import Engine, select

from optimizer.catalog.provider import bundled_catalog
from optimizer.collectors.jobs_transform import transform_jobs
from optimizer.simulate import catalog_from_provider, parse_config, replay
from optimizer.simulate.datasets import import_trace, load_dataset
from optimizer.store.read import read_frame
from optimizer.store.schema import job_attempts, jobs
from optimizer.store.upsert import bulk_upsert
from optimizer.traces.files import parse_text
from tests.collect_helpers import REGION

pytestmark = pytest.mark.any_date

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
ACCOUNT = "123456789012"
QUEUE = f"arn:aws:batch:{REGION}:{ACCOUNT}:job-queue/hpc"
DEFINITION = f"arn:aws:batch:{REGION}:{ACCOUNT}:job-definition/mpi-solver:4"
MAIN = {"resourceRequirements": [{"type": "VCPU", "value": "4"}, {"type": "MEMORY", "value": "8192"}]}
WORKER = {"resourceRequirements": [{"type": "VCPU", "value": "16"}, {"type": "MEMORY", "value": "30000"}]}
RANGES = [
    {"targetNodes": "0", "container": MAIN, "instanceTypes": ["r6i.xlarge"]},
    {"targetNodes": "1:", "container": WORKER, "instanceTypes": ["c6i.4xlarge"]},
]


def _job(job_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "jobArn": f"arn:aws:batch:{REGION}:{ACCOUNT}:job/{job_id}",
        "jobName": "mpi-solver",
        "jobId": job_id,
        "jobQueue": QUEUE,
        "status": "SUCCEEDED",
        "createdAt": T0,
        "startedAt": T0 + 300_000,
        "stoppedAt": T0 + 3_900_000,
        "jobDefinition": DEFINITION,
        "platformCapabilities": ["EC2"],
        **extra,
    }


def _node(index: int) -> dict[str, Any]:
    return _job(
        f"mpi-1#{index}",
        nodeDetails={"nodeIndex": index, "isMainNode": index == 0},
        container={**(MAIN if index == 0 else WORKER), "exitCode": 0},
        attempts=[{"container": {"exitCode": 0}, "startedAt": T0 + 300_000, "stoppedAt": T0 + 3_900_000}],
    )


PARENT = _job("mpi-1", nodeProperties={"numNodes": 3, "mainNode": 0, "nodeRangeProperties": RANGES})


def described(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records as a DescribeJobs answer validated against botocore's Batch model."""
    client = boto3.client("batch", region_name=REGION)
    ids = [r["jobId"] for r in records]
    with Stubber(client) as stubber:
        stubber.add_response("describe_jobs", {"jobs": records}, {"jobs": ids})
        return client.describe_jobs(jobs=ids)["jobs"]


def test_node_jobs_store_their_range_and_the_replay_places_them_on_its_types(sqlite_engine: Engine) -> None:
    records = described([_node(2), PARENT, _node(0), _node(1)])
    frame, attempts = transform_jobs(records, ACCOUNT, REGION)
    with sqlite_engine.begin() as conn:
        bulk_upsert(conn, jobs, frame)
        bulk_upsert(conn, job_attempts, attempts)
    stored = read_frame(sqlite_engine, select(jobs)).set_index("job_id")
    assert stored.loc["mpi-1#0", "node_target_nodes"] == "0"
    assert stored.loc["mpi-1#0", "node_instance_types"] == ["r6i.xlarge"]
    assert stored.loc["mpi-1#2", "node_target_nodes"] == "1:"
    assert stored.loc["mpi-1#2", "node_instance_types"] == ["c6i.4xlarge"]
    # The parent carries the main node's requests, so its range is the main node's.
    assert stored.loc["mpi-1", "node_target_nodes"] == "0"
    assert stored.loc["mpi-1", "node_instance_types"] == ["r6i.xlarge"]

    canonical, _ = load_dataset(sqlite_engine, "aws")
    canonical = canonical.set_index("job_id")
    assert sorted(canonical.index) == ["mpi-1#0", "mpi-1#1", "mpi-1#2"]
    assert canonical.loc["mpi-1#1", "node_instance_types"] == ["c6i.4xlarge"]

    catalog = catalog_from_provider(bundled_catalog(REGION))
    document = {
        "computeEnvironments": [
            {
                "computeEnvironmentName": "hpc-ondemand",
                "type": "MANAGED",
                "state": "ENABLED",
                "computeResources": {
                    "type": "EC2",
                    "allocationStrategy": "BEST_FIT",
                    "minvCpus": 0,
                    "maxvCpus": 256,
                    "instanceTypes": ["m6i", "c6i", "r6i"],
                },
            }
        ],
        "jobQueues": [
            {
                "jobQueueName": "hpc",
                "state": "ENABLED",
                "priority": 1,
                "computeEnvironmentOrder": [{"order": 1, "computeEnvironment": "hpc-ondemand"}],
            }
        ],
    }
    # BEST_FIT alone picks m6i.xlarge for the main node's 4 vCPU / 8 GiB: its range's r6i.xlarge wins.
    result = replay(canonical.reset_index(), parse_config(document, catalog))
    placed = result.attempts.set_index("job_id")["instance_type"]
    assert placed.to_dict() == {"mpi-1#0": "r6i.xlarge", "mpi-1#1": "c6i.4xlarge", "mpi-1#2": "c6i.4xlarge"}


def test_a_node_job_described_without_its_parent_has_no_range() -> None:
    """Without its parent in the batch nothing says which range a node belongs to: the columns stay
    empty (the CE's types), they are never guessed."""
    frame, _ = transform_jobs(described([_node(1)]), ACCOUNT, REGION)
    row = frame.set_index("job_id").loc["mpi-1#1"]
    assert row.node_target_nodes is None and row.node_instance_types is None
    assert bool(row.is_multinode) and row.vcpus == 16.0


def test_plain_jobs_have_no_node_range() -> None:
    plain = _job("plain-1", container={**MAIN, "exitCode": 0})
    frame, _ = transform_jobs(described([plain]), ACCOUNT, REGION)
    row = frame.set_index("job_id").loc["plain-1"]
    assert row.node_target_nodes is None and row.node_instance_types is None
    assert datetime(2026, 1, 1) == row.created_at


def test_an_imported_describe_jobs_export_reads_back_the_same_node_types(sqlite_engine: Engine) -> None:
    """`batchopt import-trace --format batch-json` of the same answer stores the same ranges' types."""
    records = described([PARENT, _node(0), _node(1), _node(2)])
    trace = parse_text(json.dumps({"jobs": records}), "batch-json", "mpi.json")
    import_trace(sqlite_engine, trace, "mpi-export", imported_at=datetime(2026, 1, 2))
    imported, _ = load_dataset(sqlite_engine, "mpi-export")
    types = dict(zip(imported["job_id"], imported["node_instance_types"], strict=True))
    assert types == {"mpi-1#0": ["r6i.xlarge"], "mpi-1#1": ["c6i.4xlarge"], "mpi-1#2": ["c6i.4xlarge"]}
