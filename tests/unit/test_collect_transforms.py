"""Pure transforms of the collectors on real recorded responses and the real DescribeJobs shape."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optimizer.catalog.files import load_price_snapshot, load_spot_advisor
from optimizer.collectors.batch_fields import node_range
from optimizer.collectors.catalog import transform_instance_types, transform_offerings
from optimizer.collectors.jobs_transform import transform_jobs
from optimizer.collectors.ondemand_prices import transform_price_list
from optimizer.collectors.spot_prices import expand_instance_types, price_checks, transform_spot_prices
from optimizer.collectors.usage import transform_task_events
from tests.collect_helpers import job_record
from tests.data_paths import AWS_FIXTURES, shared

pytestmark = pytest.mark.any_date  # dates are fixed and "now" is injected: the same on any date

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z in ms


def _fixture(*parts: str) -> dict:
    return json.loads(AWS_FIXTURES.joinpath(*parts).read_text())


def test_jobs_transform_reads_attempts_reclaims_and_oom_without_mutating_input() -> None:
    reclaimed = {
        "container": {
            "exitCode": None,
            "taskArn": "arn:aws:ecs:us-east-1:1:task/c/aaa",
            "networkInterfaces": [],
        },
        "startedAt": T0 + 1000,
        "stoppedAt": T0 + 2000,
        "statusReason": "Host EC2 (instance i-0a1b2c3d4e5f67890) terminated.",
    }
    reclaimed["container"].pop("exitCode")
    oom = {
        "container": {
            "exitCode": 137,
            "reason": "OutOfMemoryError: Container killed due to memory usage",
            "taskArn": "arn:aws:ecs:us-east-1:1:task/c/bbb",
            "networkInterfaces": [],
        },
        "startedAt": T0 + 3000,
        "stoppedAt": T0 + 4000,
        "statusReason": "Essential container in task exited",
    }
    records = [
        job_record("job-a", T0, status="FAILED", attempts=[reclaimed, oom]),
        job_record("job-b", T0 + 10, legacy=True),
        job_record("job-c", T0 + 20, attempts=[]),
    ]
    before = copy.deepcopy(records)
    jobs, attempts = transform_jobs(records, "123456789012", "us-east-1")
    assert records == before

    job = jobs.set_index("job_id")
    assert job.loc["job-a", "queue"] == "genomics" and job.loc["job-a", "job_definition_name"] == "align"
    assert job.loc["job-a", "vcpus"] == 2.0 and job.loc["job-a", "memory_mib"] == 4096
    assert job.loc["job-b", "vcpus"] == 1.0 and job.loc["job-b", "memory_mib"] == 2048  # legacy fields
    assert job.loc["job-a", "attempt_count"] == 2 and job.loc["job-a", "retry_attempts"] == 2
    assert job.loc["job-a", "created_at"] == pd.Timestamp("2026-01-01")
    assert job.loc["job-a", "share_identifier"] == "research"
    assert job.loc["job-a", "tags"] == {"project": "wgs"}
    assert job.loc["job-c", "attempt_count"] == 0

    rows = attempts.set_index(["job_id", "attempt"])
    assert bool(rows.loc[("job-a", 0), "is_spot_reclaim"])
    assert rows.loc[("job-a", 0), "instance_id"] == "i-0a1b2c3d4e5f67890"
    assert not bool(rows.loc[("job-a", 0), "is_oom"])
    assert bool(rows.loc[("job-a", 1), "is_oom"]) and rows.loc[("job-a", 1), "exit_code"] == 137
    assert "OutOfMemoryError" in rows.loc[("job-a", 1), "reason"]
    assert not bool(rows.loc[("job-b", 0), "is_oom"]) and not bool(rows.loc[("job-b", 0), "is_spot_reclaim"])
    assert len(attempts) == 3


def test_oom_by_message_alone_and_exit_137_alone() -> None:
    message_only = {"container": {"exitCode": 1, "reason": "OutOfMemoryError: killed"}, "startedAt": T0}
    exit_only = {"container": {"exitCode": 137}, "startedAt": T0}
    _, attempts = transform_jobs([job_record("j", T0, attempts=[message_only, exit_only])], None, "us-east-1")
    assert attempts["is_oom"].tolist() == [True, True]


def test_array_and_multinode_parents_and_children() -> None:
    parent = job_record(
        "arr", T0, arrayProperties={"size": 3, "statusSummary": {"SUCCEEDED": 3}}, attempts=[]
    )
    child = job_record("arr:1", T0, arrayProperties={"index": 1})
    node_parent = job_record(
        "mnp",
        T0,
        attempts=[],
        container=None,
        nodeProperties={
            "numNodes": 4,
            "mainNode": 0,
            "nodeRangeProperties": [
                {
                    "targetNodes": "0:",
                    "container": {
                        "resourceRequirements": [
                            {"type": "VCPU", "value": "16"},
                            {"type": "MEMORY", "value": "65536"},
                            {"type": "GPU", "value": "1"},
                        ]
                    },
                }
            ],
        },
    )
    node_child = job_record("mnp#2", T0, nodeDetails={"nodeIndex": 2, "isMainNode": False})
    fargate = job_record("fg", T0, platformCapabilities=["FARGATE"])
    jobs, _ = transform_jobs([parent, child, node_parent, node_child, fargate], None, "us-east-1")
    job = jobs.set_index("job_id")
    assert job.loc["arr", "array_size"] == 3 and pd.isna(job.loc["arr", "array_parent_id"])
    assert job.loc["arr:1", "array_parent_id"] == "arr" and job.loc["arr:1", "array_index"] == 1
    assert pd.isna(job.loc["arr:1", "array_size"])
    assert job.loc["mnp", "node_count"] == 4 and bool(job.loc["mnp", "is_multinode"])
    assert job.loc["mnp", "vcpus"] == 16 and job.loc["mnp", "gpus"] == 1
    assert job.loc["mnp#2", "array_parent_id"] == "mnp" and job.loc["mnp#2", "array_index"] == 2
    assert bool(job.loc["mnp#2", "is_multinode"])
    assert job.loc["fg", "platform"] == "FARGATE"


def test_catalog_from_recorded_describe_instance_types_with_gpus() -> None:
    pages = [
        _fixture("ec2-instance-selector", "DescribeInstanceTypes_t3_micro_and_p3_16xl.json"),
        _fixture("ec2-instance-selector", "DescribeInstanceTypes_25_instances.json"),
    ]
    described = [t for page in pages for t in page["InstanceTypes"]]
    frame = transform_instance_types(described, "us-east-2").set_index("instance_type")
    assert frame.loc["p3.16xlarge", "gpus"] == 8
    assert "V100" in frame.loc["p3.16xlarge", "gpu_model"]
    assert frame.loc["t3.micro", "memory_mib"] == 1024
    assert frame.loc["t3.micro", "allocatable_memory_mib"] < 1024
    assert frame.loc["p3.16xlarge", "family"] == "p3" and frame.loc["p3.16xlarge", "generation"] == "3"
    offerings = transform_offerings(
        _fixture("ec2-instance-selector", "DescribeInstanceTypeOfferings_us-east-2a.json")[
            "InstanceTypeOfferings"
        ],
        "us-east-2",
    )
    assert len(offerings) > 0 and set(offerings["availability_zone"]) == {"us-east-2a"}


def test_price_list_product_gives_the_hourly_on_demand_price() -> None:
    product = _fixture("ec2-instance-selector", "GetProducts_m5_large.json")
    frame = transform_price_list([json.dumps(product)], "us-east-1")
    assert frame.to_dict("records") == [
        {
            "region": "us-east-1",
            "instance_type": "m5.large",
            "effective_date": pd.Timestamp("2021-02-01"),
            "price_per_hour": 0.096,
            "source": "pricing-api",
            "currency": "USD",
        }
    ]


def test_spot_prices_skip_points_at_or_before_each_pair_watermark() -> None:
    history = json.loads(
        shared("spot-price-history", "DescribeSpotPriceHistory_m5.large_us-east-1_2021-01.json").read_text()
    )["SpotPriceHistory"]
    for record in history:
        record["Timestamp"] = datetime.fromisoformat(record["Timestamp"])
    frame, marks = transform_spot_prices(history, "us-east-1", {})
    assert len(frame) == len(history) and set(frame["availability_zone"]) == {
        r["AvailabilityZone"] for r in history
    }
    again, new_marks = transform_spot_prices(history, "us-east-1", marks)
    assert again.empty and new_marks == {}


def test_each_answers_newest_price_per_pair_is_checked_in_effect_at_the_request_end() -> None:
    """The real recorded answer (m5.large, 5 AZs): the newest record of each AZ is the price in
    effect at the request's end, even when the watermarks skip every record as already stored."""
    history = json.loads(
        shared("spot-price-history", "DescribeSpotPriceHistory_m5.large_us-east-1_2021-01.json").read_text()
    )["SpotPriceHistory"]
    for record in history:
        record["Timestamp"] = datetime.fromisoformat(record["Timestamp"])
    end = datetime(2021, 2, 10, 0, 0)
    checks = price_checks(history, "us-east-1", end).set_index("availability_zone")
    linux = [r for r in history if r["ProductDescription"] in ("Linux/UNIX", "Linux/UNIX (Amazon VPC)")]
    for az, row in checks.iterrows():
        mine = [r for r in linux if r["AvailabilityZone"] == az]
        newest = max(r["Timestamp"] for r in mine)
        vpc_first = sorted(
            (r for r in mine if r["Timestamp"] == newest), key=lambda r: "VPC" not in r["ProductDescription"]
        )
        assert row["price"] == float(vpc_first[0]["SpotPrice"]), az
        assert row["checked_at"] == pd.Timestamp(end) and row["instance_type"] == "m5.large"
    assert set(checks.index) == {r["AvailabilityZone"] for r in linux}
    assert price_checks([], "us-east-1", end).empty


def test_keyword_and_family_expansion_uses_the_catalog() -> None:
    catalog = ["m5.large", "m5.xlarge", "c5.large", "r6g.large", "c4.large", "m6i.large", "c7i.large"]
    assert expand_instance_types(["m5", "r6g.large"], catalog) == {"m5.large", "m5.xlarge", "r6g.large"}
    # `optimal` is the same bundle as default_x86_64 (Batch API reference, botocore 1.44).
    assert expand_instance_types(["optimal"], catalog) == {"m6i.large", "c7i.large"}
    assert expand_instance_types(["default_x86_64"], catalog) == {"m6i.large", "c7i.large"}


def test_task_events_become_vcpu_and_memory_samples() -> None:
    events = [
        {
            "timestamp": T0,
            "message": json.dumps(
                {
                    "Type": "Task",
                    "TaskId": "t1",
                    "CpuUtilized": 1536.0,
                    "MemoryUtilized": 700,
                    "Timestamp": T0,
                }
            ),
        },
        {"timestamp": T0, "message": json.dumps({"Type": "Container", "TaskId": "t1", "CpuUtilized": 5.0})},
        {"timestamp": T0, "message": "not json"},
    ]
    frame = transform_task_events(events)
    assert sorted(zip(frame["metric"], frame["value"], strict=True)) == [
        ("cpu_vcpus", 1.5),
        ("memory_mib", 700.0),
    ]


@pytest.mark.parametrize("instance_type", ["m5.large", "g5.xlarge", "c7g.large"])
def test_bundled_snapshots_load(instance_type: str) -> None:
    prices = load_price_snapshot().set_index("instance_type")
    assert prices.loc[instance_type, "ondemand_price"] > 0
    assert prices.loc[instance_type, "allocatable_memory_mib"] < prices.loc[instance_type, "memory_mib"]
    assert prices.loc[instance_type, "arch"] in ("x86_64", "arm64")
    bands = load_spot_advisor("us-east-1")
    assert set(bands["band"]) <= {0, 1, 2, 3, 4} and (bands["region"] == "us-east-1").all()


_reasons = st.sampled_from(
    [
        None,
        "Essential container in task exited",
        "Host EC2 (instance i-0abc123def4567890) terminated.",
        "OutOfMemoryError: Container killed due to memory usage",
        "CannotPullContainerError: pull access denied",
    ]
)
_attempt = st.fixed_dictionaries(
    {
        "container": st.fixed_dictionaries(
            {}, optional={"exitCode": st.sampled_from([0, 1, 137]), "reason": _reasons}
        ),
        "startedAt": st.integers(T0, T0 + 10**9),
    },
    optional={"stoppedAt": st.integers(T0, T0 + 10**9), "statusReason": _reasons},
)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.lists(_attempt, max_size=3), st.booleans()), min_size=1, max_size=8))
def test_transform_invariants(specs: list) -> None:
    records = [
        job_record(f"job-{n}", T0 + n, attempts=attempts, legacy=legacy)
        for n, (attempts, legacy) in enumerate(specs)
    ]
    before = copy.deepcopy(records)
    jobs, attempts = transform_jobs(records, "123456789012", "us-east-1")
    assert records == before
    assert len(jobs) == len(records) and len(attempts) == sum(len(a) for a, _ in specs)
    assert not (attempts["is_oom"] & attempts["is_spot_reclaim"]).any()
    reclaimed = attempts[attempts["is_spot_reclaim"]]
    assert reclaimed["instance_id"].str.startswith("i-").all()
    assert (jobs["attempt_count"] == [len(a) for a, _ in specs]).all()


def test_a_nested_node_range_overrides_the_range_it_sits_in() -> None:
    """botocore's NodeRangeProperty.targetNodes: "You can nest node ranges (for example, 0:10 and
    4:5). In this case, the 4:5 range properties override the 0:10 properties." Listed outer first,
    the first match would give node 4 the outer range's container and instance types."""
    props = {
        "numNodes": 16,
        "mainNode": 0,
        "nodeRangeProperties": [
            {"targetNodes": "0:10", "instanceTypes": ["m6i.xlarge"]},
            {"targetNodes": "4:5", "instanceTypes": ["r6i.xlarge"]},
            {"targetNodes": "11:", "instanceTypes": ["c6i.xlarge"]},
        ],
    }
    types = {n: node_range(props, n)["instanceTypes"][0] for n in (0, 3, 4, 5, 6, 10, 11, 15)}
    assert types == {
        0: "m6i.xlarge",
        3: "m6i.xlarge",
        4: "r6i.xlarge",
        5: "r6i.xlarge",
        6: "m6i.xlarge",
        10: "m6i.xlarge",
        11: "c6i.xlarge",
        15: "c6i.xlarge",
    }
    assert node_range(props, 16) is not None  # "11:" is open-ended
    assert node_range({"nodeRangeProperties": [{"targetNodes": "0:3"}]}, 4) is None


def test_open_ended_nested_ranges_end_at_the_last_node() -> None:
    """ "0:" and "8:" both reach the last node, so "8:" is the narrower one for nodes 8 and up: an
    open end counted as unbounded made the two tie and gave the first listed, "0:", every node."""
    props = {
        "numNodes": 12,
        "mainNode": 0,
        "nodeRangeProperties": [
            {"targetNodes": "0:", "instanceTypes": ["m6i.xlarge"]},
            {"targetNodes": "8:", "instanceTypes": ["c6i.xlarge"]},
            {"targetNodes": "bad", "instanceTypes": ["r6i.xlarge"]},  # unreadable: holds no node
        ],
    }
    types = {n: node_range(props, n)["instanceTypes"][0] for n in (0, 7, 8, 11)}
    assert types == {0: "m6i.xlarge", 7: "m6i.xlarge", 8: "c6i.xlarge", 11: "c6i.xlarge"}
    no_count = {"nodeRangeProperties": props["nodeRangeProperties"]}  # numNodes missing
    assert node_range(no_count, 9)["instanceTypes"] == ["c6i.xlarge"]


def test_a_sigkill_with_another_cause_is_not_an_oom_and_a_sidecar_does_not_decide_the_outcome() -> None:
    """Exit 137 is any SIGKILL: Batch kills a timed-out attempt that way too. And a multi-container
    job's outcome is its essential containers': ECS kills a non-essential log router (137) when the
    essential container exits 0."""
    timed_out = {
        "container": {"exitCode": 137},
        "statusReason": "Job attempt duration exceeded timeout",
        "startedAt": T0,
    }
    _, attempts = transform_jobs(
        [job_record("t", T0, status="FAILED", attempts=[timed_out])], None, "us-east-1"
    )
    assert attempts["is_oom"].tolist() == [False]
    containers = [
        {"name": "app", "essential": True, "image": "app:1", "exitCode": 0},
        {"name": "log-router", "essential": False, "image": "fluent-bit:2", "exitCode": 137},
    ]
    task = {
        "containerInstanceArn": "arn:aws:ecs:us-east-1:1:container-instance/c/1",
        "taskArn": "arn:aws:ecs:us-east-1:1:task/c/t",
    }
    record = job_record(
        "mc", T0, container=None,
        ecsProperties={"taskProperties": [{"containers": containers}]},
        attempts=[{
            "startedAt": T0, "stoppedAt": T0 + 60_000,
            "taskProperties": [{**task, "containers": [
                {"name": "app", "exitCode": 0}, {"name": "log-router", "exitCode": 137},
            ]}],
        }],
    )  # fmt: skip
    jobs, attempts = transform_jobs([record], None, "us-east-1")
    assert jobs["exit_code"].tolist() == [0]
    assert attempts["exit_code"].tolist() == [0] and attempts["is_oom"].tolist() == [False]
    assert attempts["task_arn"].tolist() == [task["taskArn"]]


def test_a_job_without_created_at_takes_its_earliest_time_instead_of_failing_the_run() -> None:
    """The Batch model does not require createdAt; the store's NOT NULL column made one such record
    fail the whole jobs run, every run."""
    no_created = {k: v for k, v in job_record("late", T0).items() if k != "createdAt"}
    jobs, _ = transform_jobs([no_created, job_record("ok", T0)], None, "us-east-1")
    started = min(a["startedAt"] for a in no_created["attempts"]) if no_created.get("attempts") else None
    first = min(t for t in (no_created.get("startedAt"), no_created.get("stoppedAt"), started) if t)
    got = jobs.set_index("job_id")["created_at"]
    assert got["late"] == datetime.fromtimestamp(first / 1000, tz=UTC).replace(tzinfo=None)
    bare = {"jobId": "bare", "jobName": "n", "jobQueue": "q", "status": "SUBMITTED", "jobDefinition": "d"}
    jobs, _ = transform_jobs([bare, job_record("ok", T0)], None, "us-east-1")
    assert jobs["job_id"].tolist() == ["ok"]  # nothing to date it by: left out, not a failed run


def test_node_ranges_give_each_node_its_own_range_and_may_be_multi_container() -> None:
    gpu = [
        {"type": "VCPU", "value": "96"},
        {"type": "MEMORY", "value": "1000000"},
        {"type": "GPU", "value": "8"},
    ]
    small = [{"type": "VCPU", "value": "2"}, {"type": "MEMORY", "value": "4096"}]
    ranges = {
        "numNodes": 4, "mainNode": 0,
        "nodeRangeProperties": [
            {"targetNodes": "0", "container": {"image": "main:1", "resourceRequirements": small}},
            {"targetNodes": "1:3", "instanceTypes": ["p4d.24xlarge"],
             "container": {"image": "worker:1", "resourceRequirements": gpu}},
        ],
    }  # fmt: skip
    node = job_record(
        "m#2", T0, container={"exitCode": 0}, nodeProperties=ranges, nodeDetails={"nodeIndex": 2}
    )
    ecs_range = {
        "numNodes": 2, "mainNode": 0,
        "nodeRangeProperties": [{"targetNodes": "0:1", "ecsProperties": {"taskProperties": [{"containers": [
            {"name": "a", "image": "a:1", "resourceRequirements": [{"type": "VCPU", "value": "8"},
             {"type": "MEMORY", "value": "16384"}, {"type": "GPU", "value": "4"}]},
        ]}]}}],
    }  # fmt: skip
    parent = job_record("mnp-ecs", T0, container=None, attempts=[], nodeProperties=ecs_range)
    jobs, _ = transform_jobs([node, parent], None, "us-east-1")
    got = jobs.set_index("job_id")[["vcpus", "memory_mib", "gpus"]]
    assert got.loc["m#2"].tolist() == [96.0, 1000000, 8]  # its range's, not the main node's 2 vCPUs
    assert got.loc["mnp-ecs"].tolist() == [8.0, 16384, 4]  # (were all None)


def test_a_multi_container_attempt_with_only_network_details_in_container_keeps_its_task() -> None:
    task = {
        "taskArn": "arn:aws:ecs:us-east-1:1:task/c/t",
        "containerInstanceArn": "arn:aws:ecs:us-east-1:1:container-instance/c/1",
        "containers": [{"name": "app", "exitCode": 1, "logStreamName": "ls/app"}],
    }  # fmt: skip
    attempt = {
        "container": {"networkInterfaces": [{"attachmentId": "a", "privateIpv4Address": "10.0.0.1"}]},
        "taskProperties": [task], "startedAt": T0, "stoppedAt": T0 + 1000,
    }  # fmt: skip
    record = job_record("mc", T0, status="FAILED", container=None, attempts=[attempt])
    _, attempts = transform_jobs([record], None, "us-east-1")
    row = attempts.iloc[0]
    assert (row["task_arn"], row["exit_code"], row["log_stream_name"]) == (task["taskArn"], 1, "ls/app")


def test_a_multi_node_job_on_eks_takes_its_ranges_pod_requests() -> None:
    pod = {"containers": [{"name": "w", "image": "w:1", "resources": {
        "requests": {"cpu": "4", "memory": "8Gi", "nvidia.com/gpu": "1"}}}]}  # fmt: skip
    ranges = {"numNodes": 2, "mainNode": 0, "nodeRangeProperties": [
        {"targetNodes": "0:1", "eksProperties": {"podProperties": pod}}]}  # fmt: skip
    parent = job_record("mnp-eks", T0, container=None, attempts=[], nodeProperties=ranges)
    jobs, _ = transform_jobs([parent], None, "us-east-1")
    row = jobs.iloc[0]
    assert (row["vcpus"], row["memory_mib"], row["gpus"], row["platform"]) == (4.0, 8192, 1, "EKS")


def test_a_fargate_spot_interruption_is_a_spot_reclaim_not_a_failure() -> None:
    """ECS's stopped reason for a Fargate Spot task taken back, as a Batch job on a Spot Fargate
    CE reports it (nextflow-io/nextflow#5786). It was read as a plain failure (the attempt's cost
    booked as failed work), or, on exit 137, as out of memory: memory advice for a spot event."""
    interrupted = {
        "container": {
            "exitCode": 137,
            "taskArn": "arn:aws:ecs:us-east-1:1:task/c/fff",
            "networkInterfaces": [],
        },
        "startedAt": T0 + 1000,
        "stoppedAt": T0 + 2000,
        "statusReason": "Your Spot Task was interrupted.",
    }
    _, attempts = transform_jobs(
        [job_record("job-f", T0, status="FAILED", attempts=[interrupted], platformCapabilities=["FARGATE"])],
        "123456789012",
        "us-east-1",
    )
    [row] = attempts.to_dict("records")
    assert row["is_spot_reclaim"] and not row["is_oom"]
    assert row["instance_id"] is None  # Fargate: no instance to name
