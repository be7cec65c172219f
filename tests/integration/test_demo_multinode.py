"""The demo's MNP queue end to end through the emulator: the KTH jobs too wide for one node become
gangs of 6-vCPU nodes, served by DescribeJobs as Batch describes MNP jobs (parent `nodeProperties`,
node jobs `nodeDetails`), the `mpi-solver` definition keeps its `nodeProperties` in
DescribeJobDefinitions, and the collector's transform reads them back as gangs with node ranges."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import boto3
import pandas as pd
import pytest

from optimizer.aws.session import SessionFactory
from optimizer.collectors.jobs_transform import transform_jobs
from optimizer.config import AwsSettings
from optimizer.demo.emulator import Emulator, HistoryFrames
from optimizer.demo.estate import Estate, build_estate
from optimizer.demo.multinode_queue import MNP_DEFINITION, MNP_QUEUE, mnp_jobs, plain_mnp_links
from tests.demo_helpers import NOW, small_history

pytestmark = [pytest.mark.emulator, pytest.mark.xdist_group("demo")]
REGION = "us-east-1"
PARENT = "7b3e9c1a-0000-4000-8000-000000000001"


def test_wide_jobs_become_gangs_of_six_vcpu_nodes() -> None:
    wide = pd.DataFrame(
        {"job_id": ["12", "13"], "user": ["u7", "u8"], "vcpus": [70.0, 100.0], "runtime_s": [600.0, 60.0]}
    )
    nodes = mnp_jobs(wide)
    sizes = nodes.groupby("mnp_parent").agg(n=("job_id", "size"), v=("vcpus", "first"))
    # 70 vCPUs: 12 nodes of 6 (72 >= 70); 100: 17 nodes of 6 (102).
    assert sorted(sizes["n"]) == [12, 17] and set(sizes["v"]) == {6.0}
    assert (nodes["queue"] == MNP_QUEUE).all() and (nodes["memory_mib"] == 12288.0).all()
    first = nodes[nodes["mnp_parent"] == nodes["mnp_parent"].iat[0]]
    assert first["job_id"].tolist() == [f"{first['mnp_parent'].iat[0]}#{k}" for k in range(12)]
    assert (first["num_nodes"] == 12).all() and first["node_index"].tolist() == list(range(12))


def mnp_frames(estate: Estate) -> HistoryFrames:
    """`small_history` plus one finished 3-node MNP job of `mpi-solver`, as the replay's store
    frames carry it (a parent row and `<parent>#<n>` node rows)."""
    base = small_history(estate)
    start = (NOW - timedelta(days=1)).replace(tzinfo=None)
    common: dict[str, Any] = {
        "queue": MNP_QUEUE,
        "job_queue_arn": estate.queues[MNP_QUEUE],
        "job_definition": estate.job_definitions[MNP_DEFINITION],
        "job_definition_name": MNP_DEFINITION,
        "status": "SUCCEEDED",
        "status_reason": None,
        "created_at": start,
        "started_at": start + timedelta(minutes=4),
        "stopped_at": start + timedelta(minutes=34),
        "vcpus": 6.0,
        "memory_mib": 12288,
        "gpus": 0,
        "retry_attempts": 1,
        "is_multinode": True,
    }
    rows = [{**common, "job_id": PARENT, "job_name": None, "node_count": 3}]
    rows += [
        {
            **common,
            "job_id": f"{PARENT}#{k}",
            "job_name": "kth-u7-12",
            "array_parent_id": f"demo-history:{PARENT}",
            "array_index": k,
            "attempt_count": 1,
        }
        for k in range(3)
    ]
    # The replay's parent link carries its dataset prefix; the parent row has no name of its own.
    mnp = plain_mnp_links(pd.DataFrame(rows), "demo-history:")
    jobs = pd.concat([base.jobs, mnp], ignore_index=True)
    return HistoryFrames(jobs=jobs, attempts=base.attempts, instances=base.instances)


@pytest.fixture(scope="module")
def seeded() -> Iterator[tuple[Emulator, Estate]]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_ACCESS_KEY_ID", "testing")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        with Emulator(NOW, history_days=3) as emulator:
            sessions = SessionFactory(AwsSettings(endpoint_url=emulator.endpoint_url, regions=[REGION]))
            estate = build_estate(sessions, sessions.target_regions()[0])
            emulator.seed_history(REGION, mnp_frames(estate))
            yield emulator, estate


def test_describe_jobs_and_definitions_read_back_as_gangs(seeded: tuple[Emulator, Estate]) -> None:
    emulator, _ = seeded
    batch = boto3.client("batch", region_name=REGION, endpoint_url=emulator.endpoint_url)
    ids = [PARENT, *(f"{PARENT}#{k}" for k in range(3))]
    records = batch.describe_jobs(jobs=ids)["jobs"]
    by_id = {r["jobId"]: r for r in records}
    parent = by_id[PARENT]
    assert parent["jobName"] == "kth-u7-12" and "container" not in parent
    assert parent["nodeProperties"]["numNodes"] == 3 and parent["nodeProperties"]["mainNode"] == 0
    [node_range] = parent["nodeProperties"]["nodeRangeProperties"]
    assert node_range["targetNodes"] == "0:"
    assert {"type": "VCPU", "value": "6"} in node_range["container"]["resourceRequirements"]
    assert by_id[f"{PARENT}#2"]["nodeDetails"] == {"nodeIndex": 2, "isMainNode": False}

    frame, _ = transform_jobs(records, None, REGION)
    rows = frame.set_index("job_id")
    assert rows.loc[PARENT, "node_count"] == 3 and bool(rows.loc[PARENT, "is_multinode"])
    assert rows.loc[f"{PARENT}#1", "array_parent_id"] == PARENT
    assert rows.loc[f"{PARENT}#1", "node_target_nodes"] == "0:"
    assert (rows.loc[f"{PARENT}#1", "vcpus"], rows.loc[f"{PARENT}#1", "memory_mib"]) == (6.0, 12288)

    [definition] = batch.describe_job_definitions(jobDefinitionName=MNP_DEFINITION)["jobDefinitions"]
    assert definition["type"] == "multinode"
    props = definition["nodeProperties"]
    assert props["numNodes"] == 16 and props["nodeRangeProperties"][0]["targetNodes"] == "0:"
