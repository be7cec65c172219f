"""Wide trace jobs become multi-node parallel jobs, stored as Batch stores them and read back as gangs."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import pytest
from sqlalchemy import Engine, select

from optimizer.collectors.jobs_transform import transform_jobs
from optimizer.errors import ConfigError
from optimizer.simulate.datasets import import_trace, load_dataset
from optimizer.store.read import read_frame
from optimizer.store.schema import jobs
from optimizer.traces import TraceMapping, read_trace
from optimizer.traces.files import parse_text
from tests.data_paths import shared

T0 = datetime(2026, 1, 5)


def _swf_line(job: int, submit: int, run: int, procs: int, *, req_mem: int = -1, prev: int = -1) -> str:
    fields = [job, submit, 0, run, procs, -1, -1, procs, 3600, req_mem, 1, 3, 3, -1, 1, -1, prev, -1]
    return " ".join(str(f) for f in fields)


@pytest.mark.parametrize(
    ("vcpus", "expected"),
    [
        (64.0, (1, 64.0)),
        (65.0, (2, 33.0)),  # the fewest nodes, each its share rounded up to a whole vCPU
        (100.0, (2, 50.0)),
        (1024.0, (16, 64.0)),
        (1000.0, (16, 63.0)),
    ],
)
def test_node_split_rule(vcpus: float, expected: tuple[int, float]) -> None:
    nodes, per_node, memory = TraceMapping().node_split(vcpus, vcpus * 2048.0)
    assert (nodes, per_node) == expected
    assert nodes * per_node >= vcpus and memory == per_node * 2048.0


def test_max_vcpus_per_node_is_validated() -> None:
    with pytest.raises(ConfigError, match="max_vcpus_per_node: must be a number >= 1"):
        TraceMapping(max_vcpus_per_node=0)


def test_swf_wide_job_becomes_node_jobs_with_the_traces_memory_per_node() -> None:
    lines = [
        "; UnixStartTime: 0",
        _swf_line(1, 0, 100, 128, req_mem=1024 * 1000),  # 1,000 MiB per processor, in the trace
        _swf_line(2, 5, 10, 4, prev=1),
    ]
    trace = parse_text("\n".join(lines), "swf", "t.swf", TraceMapping(max_vcpus_per_node=32))
    frame = trace.jobs.set_index("job_id")
    assert frame.index.tolist() == ["1#0", "1#1", "1#2", "1#3", "2"]
    nodes = frame.loc[["1#0", "1#1", "1#2", "1#3"]]
    assert (nodes["vcpus"] == 32).all() and (nodes["memory_mib"] == 32 * 1000.0).all()
    assert nodes["mnp_parent"].tolist() == ["1"] * 4 and nodes["node_index"].tolist() == [0, 1, 2, 3]
    assert (nodes["num_nodes"] == 4).all() and (nodes["runtime_s"] == 100).all()
    assert pd.isna(frame.loc["2", "mnp_parent"]) and pd.isna(frame.loc["2", "num_nodes"])
    assert frame.loc["2", "depends_on"] == ["1"]  # the MNP job's own id, resolved by the replay
    assert trace.mapping_json()["max_vcpus_per_node"] == 32


def test_kth_jobs_over_64_processors_are_mnp_jobs() -> None:
    jobs_frame = read_trace(shared("traces/KTH-SP2-1996-2.1-cln.swf.gz"), "swf").jobs
    nodes = jobs_frame[jobs_frame["mnp_parent"].notna()]
    single = jobs_frame[jobs_frame["mnp_parent"].isna()]
    assert single["vcpus"].max() <= 64 and nodes["vcpus"].max() <= 64
    per_job = nodes.groupby("mnp_parent").agg(n=("job_id", "size"), want=("num_nodes", "first"))
    assert (per_job["n"] == per_job["want"]).all() and len(per_job) > 0


def test_imported_mnp_job_is_stored_like_a_collected_one_and_reads_back_as_a_gang(
    store_engine: Engine,
) -> None:
    lines = ["; UnixStartTime: 0", _swf_line(7, 0, 600, 96), _swf_line(8, 60, 30, 2, prev=7)]
    trace = parse_text("\n".join(lines), "swf", "t.swf", TraceMapping(max_vcpus_per_node=48))
    assert import_trace(store_engine, trace, "hpc", imported_at=T0, start=T0) == 4  # parent, 2 nodes, job 8
    stored = read_frame(store_engine, select(jobs)).set_index("job_id")
    # The collector's shape of an MNP job (jobs_transform's test record, numNodes 2, 48 vCPUs a node).
    ms = int(T0.timestamp() * 1000)
    record = {
        "jobId": "mnp",
        "jobName": "j",
        "jobQueue": "q",
        "status": "SUCCEEDED",
        "createdAt": ms,
        "jobDefinition": "d:1",
        "nodeProperties": {
            "numNodes": 2,
            "mainNode": 0,
            "nodeRangeProperties": [{"targetNodes": "0:", "container": {"vcpus": 48, "memory": 98304}}],
        },
    }
    node = {**record, "jobId": "mnp#1", "nodeDetails": {"nodeIndex": 1}, "container": {"vcpus": 48}}
    node.pop("nodeProperties")
    collected, _ = transform_jobs([record, node], None, "us-east-1")
    collected = collected.set_index("job_id")
    for imported_id, collected_id in (("hpc:7", "mnp"), ("hpc:7#1", "mnp#1")):
        for column in ("is_multinode", "node_count", "array_index", "vcpus"):
            a, b = stored.loc[imported_id, column], collected.loc[collected_id, column]
            assert (pd.isna(a) and pd.isna(b)) or a == b, (imported_id, column, a, b)
    assert stored.loc["hpc:7#1", "array_parent_id"] == "hpc:7" and pd.isna(
        stored.loc["hpc:7", "array_parent_id"]
    )
    assert stored.loc["hpc:7", "memory_mib"] == 48 * 2048

    canonical, _ = load_dataset(store_engine, "hpc")
    replayed = canonical.set_index("job_id")
    assert replayed.index.tolist() == ["7#0", "7#1", "8"]  # the parent is not replayed twice
    assert replayed.loc["7#1", "mnp_parent"] == "7" and replayed.loc["7#1", "node_index"] == 1
    assert replayed.loc["7#0", "num_nodes"] == 2 and replayed.loc["8", "depends_on"] == ["7"]
    assert pd.isna(replayed.loc["8", "mnp_parent"])


def test_a_saved_replay_keeps_its_mnp_jobs_and_replays_them_as_gangs_again(store_engine: Engine) -> None:
    from optimizer.simulate import parse_config, replay
    from optimizer.simulate.datasets import save_replay
    from tests.simulate_helpers import ce, queue, tiny_catalog

    lines = ["; UnixStartTime: 0", _swf_line(7, 0, 600, 96), _swf_line(8, 60, 30, 2)]
    trace = parse_text("\n".join(lines), "swf", "t.swf", TraceMapping(max_vcpus_per_node=48))
    catalog = tiny_catalog({"c.12xlarge": (48, 98304 * 2, 0, 2.0, None, None)})
    document = {
        "computeEnvironments": [ce("od", "EC2", 256, ["c.12xlarge"], allocationStrategy="BEST_FIT")],
        "jobQueues": [queue("q", 1, "od")],
    }
    config = parse_config(document, catalog)
    result = replay(trace.jobs, config)
    assert result.summary["mnp_jobs"] == 1 and set(result.jobs["status"]) == {"SUCCEEDED"}
    save_replay(store_engine, result, "saved", anchor=T0, source="t", imported_at=T0, mapping={})
    stored = read_frame(store_engine, select(jobs)).set_index("job_id")
    assert stored.loc["saved:7", "node_count"] == 2 and bool(stored.loc["saved:7", "is_multinode"])
    assert stored.loc["saved:7#1", "array_parent_id"] == "saved:7"
    canonical, _ = load_dataset(store_engine, "saved")
    assert canonical.set_index("job_id").loc["7#1", "mnp_parent"] == "7"
    again = replay(canonical, config)
    assert again.summary["mnp_jobs"] == 1
    assert again.summary["total_cost_usd"] == result.summary["total_cost_usd"]


def test_describe_jobs_export_keeps_node_jobs_as_a_gang_with_their_node_ranges() -> None:
    """A DescribeJobs export of one MNP job (parent + 3 node jobs, shapes as botocore's model names
    them): node 0's range asks for p3.2xlarge, range `1:` for c5 instances; a job depending on the
    MNP job names the parent."""
    import json

    ms = 1_700_000_000_000
    ranges = [
        {"targetNodes": "0", "instanceTypes": ["p3.2xlarge"], "container": {"vcpus": 8, "memory": 60000}},
        {"targetNodes": "1:", "instanceTypes": ["c5.4xlarge"], "container": {"vcpus": 16, "memory": 30000}},
    ]
    parent = {
        "jobId": "mpi",
        "jobName": "mpi",
        "jobQueue": "arn:aws:batch:us-east-1:123456789012:job-queue/hpc",
        "status": "SUCCEEDED",
        "createdAt": ms,
        "startedAt": ms + 60_000,
        "stoppedAt": ms + 660_000,
        "jobDefinition": "mpi:1",
        "nodeProperties": {"numNodes": 3, "mainNode": 0, "nodeRangeProperties": ranges},
    }
    nodes = [
        {
            **{k: v for k, v in parent.items() if k != "nodeProperties"},
            "jobId": f"mpi#{k}",
            "nodeDetails": {"nodeIndex": k, "isMainNode": k == 0},
            "container": ranges[0 if k == 0 else 1]["container"],
        }
        for k in range(3)
    ]
    after = {
        **nodes[1],
        "jobId": "after",
        "dependsOn": [{"jobId": "mpi"}],
        "container": {"vcpus": 1, "memory": 512},
    }
    after.pop("nodeDetails")
    text = json.dumps({"jobs": [nodes[2], parent, nodes[0], nodes[1], after]})
    frame = parse_text(text, "batch-json", "mpi.json").jobs.set_index("job_id")
    assert sorted(frame.index) == ["after", "mpi#0", "mpi#1", "mpi#2"]
    assert frame.loc["mpi#0", "node_instance_types"] == ["p3.2xlarge"]
    assert frame.loc["mpi#2", "node_instance_types"] == ["c5.4xlarge"]
    assert frame.loc["mpi#1", "vcpus"] == 16 and frame.loc["mpi#0", "vcpus"] == 8
    assert (frame.loc[["mpi#0", "mpi#1", "mpi#2"], "num_nodes"] == 3).all()
    assert frame.loc["mpi#2", "mnp_parent"] == "mpi" and frame.loc["mpi#2", "node_index"] == 2
    assert frame.loc["after", "depends_on"] == ["mpi"] and pd.isna(frame.loc["after", "mnp_parent"])
