"""MNP jobs that never started, from DescribeJobs to `mnp-on-demand`: on a real account a gang on a
queue that reaches only Spot never starts (Batch runs no MNP job on Spot), so the collector stores
a parent stuck RUNNABLE, or cancelled without an attempt, and usually no node job (the Batch user
guide's MNP lifecycle launches the main node first and the child nodes once it runs).

The answers are in the shape botocore's Batch model gives (`JobDetail.nodeProperties`,
`NodeRangeProperty`, `NodeDetails`, no `startedAt`, empty `attempts`), validated by its Stubber.
moto 5.2.5 does not behave like Batch here: it runs an MNP job submitted to a spot-only queue to
SUCCEEDED at once, with no node jobs, so the emulator serves the never-started records through its
seeded history (`EmulatorState`) instead; the product code reads them as it reads AWS.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import pandas as pd
import pytest
from botocore.stub import Stubber
from sqlalchemy import Engine, select

from optimizer.catalog.provider import bundled_catalog
from optimizer.cli.main import main
from optimizer.collectors import select_sources
from optimizer.collectors.batch_job_definitions import transform_job_definitions
from optimizer.collectors.jobs_transform import transform_jobs
from optimizer.collectors.runner import collect
from optimizer.demo.emulator import Emulator
from optimizer.recommend.inputs import load_recommend_inputs
from optimizer.recommend.strategies import MnpOnDemandStrategy
from optimizer.recommend.strategies.mnp_on_demand import gang_table
from optimizer.recommend.strategies.stuck_job_limits import StuckJobLimitStrategy
from optimizer.simulate import catalog_from_provider, parse_config, replay
from optimizer.simulate.datasets import load_dataset
from optimizer.simulate.gangs import SPOT_ONLY_REASON
from optimizer.simulate.results import blocked_heads
from optimizer.store.engine import create_store_engine
from optimizer.store.read import read_frame
from optimizer.store.schema import job_attempts, job_definitions, jobs
from optimizer.store.upsert import bulk_upsert
from tests.collect_helpers import REGION, client, emulator_plan, job_record
from tests.demo_helpers import NOW

ACCOUNT = "123456789012"
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
HOUR_MS = 3_600_000
DEFINITION = "mpi-solver"
MAIN = {
    "image": "mpi:1",
    "resourceRequirements": [{"type": "VCPU", "value": "4"}, {"type": "MEMORY", "value": "8192"}],
}
WORKER = {
    "image": "mpi:1",
    "resourceRequirements": [{"type": "VCPU", "value": "16"}, {"type": "MEMORY", "value": "30000"}],
}
RANGES = [
    {"targetNodes": "0", "container": MAIN, "instanceTypes": ["r6i.xlarge"]},
    {"targetNodes": "1:", "container": WORKER, "instanceTypes": ["c6i.4xlarge"]},
]


def mnp_record(
    queue_arn: str, job_id: str, created_ms: int, *, nodes: int = 3, ranges: list | None = None, **extra: Any
) -> dict[str, Any]:
    """A DescribeJobs MNP parent that never started: RUNNABLE, no `startedAt`, no attempt."""
    arn_prefix = queue_arn.split(":job-queue/")[0]
    return {
        "jobArn": f"{arn_prefix}:job/{job_id}",
        "jobName": f"{DEFINITION}-{job_id[-2:]}",
        "jobId": job_id,
        "jobQueue": queue_arn,
        "status": "RUNNABLE",
        "attempts": [],
        "createdAt": created_ms,
        "dependsOn": [],
        "jobDefinition": f"{arn_prefix}:job-definition/{DEFINITION}:4",
        "parameters": {},
        "nodeProperties": {"numNodes": nodes, "mainNode": 0, "nodeRangeProperties": ranges or RANGES},
        "tags": {},
        "propagateTags": False,
        "platformCapabilities": ["EC2"],
        **extra,
    }


def node_record(parent: dict[str, Any], index: int) -> dict[str, Any]:
    """A node job of `parent` that never started (Batch created it, the gang never ran)."""
    container = MAIN if index == 0 else WORKER
    fields = {k: v for k, v in parent.items() if k not in ("nodeProperties", "jobId", "jobArn")}
    return {
        **fields,
        "jobId": f"{parent['jobId']}#{index}",
        "jobArn": f"{parent['jobArn']}#{index}",
        "nodeDetails": {"nodeIndex": index, "isMainNode": index == 0},
        "container": dict(container),
    }


def validated(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records as a DescribeJobs answer validated against botocore's Batch model.

    One field is let off: the model lists `JobDetail.startedAt` as required, but Batch leaves it out
    of a job that has not started (moto's fix getmoto/moto#2202 was checked against AWS; amazonka
    made it optional for the same reason, brendanhay/amazonka#561). The check runs with a stand-in
    `startedAt` on such records, which the answer then drops again."""
    client = boto3.client("batch", region_name=REGION)
    ids = [r["jobId"] for r in records]
    unstarted = {r["jobId"] for r in records if "startedAt" not in r}
    checked = [r if r["jobId"] not in unstarted else {**r, "startedAt": r["createdAt"]} for r in records]
    with Stubber(client) as stubber:
        stubber.add_response("describe_jobs", {"jobs": checked}, {"jobs": ids})
        answer = client.describe_jobs(jobs=ids)["jobs"]
    for record in answer:
        if record["jobId"] in unstarted:
            del record["startedAt"]
    return answer


QUEUE_ARN = f"arn:aws:batch:{REGION}:{ACCOUNT}:job-queue/hpc"
STUCK = mnp_record(QUEUE_ARN, "mpi-stuck-01", T0, nodes=4)
CANCELLED = mnp_record(
    QUEUE_ARN,
    "mpi-cancelled-02",
    T0 + 2 * HOUR_MS,
    status="FAILED",
    statusReason="cancelled by its owner: the queue never runs it",
    stoppedAt=T0 + 8 * HOUR_MS,
    isCancelled=True,
)
OVERRIDDEN = mnp_record(
    QUEUE_ARN,
    "mpi-overridden-03",
    T0 + 4 * HOUR_MS,
    ranges=[
        {
            "targetNodes": "0:",
            "container": {**MAIN, "resourceRequirements": [
                {"type": "VCPU", "value": "8"}, {"type": "MEMORY", "value": "16384"}
            ]},
            "instanceTypes": ["r6i.2xlarge"],
        }
    ],
)  # fmt: skip
MNP_DEFINITION = {
    "jobDefinitionName": DEFINITION,
    "jobDefinitionArn": f"arn:aws:batch:{REGION}:{ACCOUNT}:job-definition/{DEFINITION}:4",
    "revision": 4,
    "status": "ACTIVE",
    "type": "multinode",
    "nodeProperties": {"numNodes": 3, "mainNode": 0, "nodeRangeProperties": RANGES},
}
COLLECTED_AT = datetime(2026, 1, 3)
CANCELLED_NODES = [
    {**node_record(CANCELLED, k), "status": "FAILED", "stoppedAt": T0 + 8 * HOUR_MS} for k in range(3)
]


def document(ce_type: str, cancel_s: float) -> dict[str, Any]:
    """Queue hpc on one managed CE of `ce_type` (SPOT or EC2) of c6i/r6i, the owner's cancel delay."""
    strategy = "SPOT_PRICE_CAPACITY_OPTIMIZED" if ce_type == "SPOT" else "BEST_FIT_PROGRESSIVE"
    return {
        "computeEnvironments": [
            {
                "computeEnvironmentName": "hpc-ce",
                "type": "MANAGED",
                "state": "ENABLED",
                "computeResources": {
                    "type": ce_type,
                    "allocationStrategy": strategy,
                    "minvCpus": 0,
                    "maxvCpus": 256,
                    "instanceTypes": ["c6i", "r6i"],
                },
            }
        ],
        "jobQueues": [
            {
                "jobQueueName": "hpc",
                "state": "ENABLED",
                "priority": 1,
                "computeEnvironmentOrder": [{"order": 1, "computeEnvironment": "hpc-ce"}],
            }
        ],
        "simulation": {"blockedJobCancelSeconds": cancel_s},
    }


def test_never_started_mnp_jobs_read_back_as_gangs_the_replay_blocks_or_places(store_engine: Engine) -> None:
    """The stuck parent (no node jobs; numNodes 4 overriding the revision's 3) becomes 4 nodes: node
    0 from the parent row (the main range's requests and types), nodes 1-3 from its job definition
    revision's "1:" range, stored as the collector stores revisions. A parent whose main range was
    overridden (8 vCPUs, the revision says 4) cannot trust the revision's other ranges: its nodes
    all take the parent's requests. The cancelled one keeps its 3 stored node jobs. All never
    started: runtime 0, kept as jobs that would succeed. On a spot-only queue every gang blocks its
    head with SPOT_ONLY_REASON; on an on-demand CE every gang runs, each node on its range's type."""
    frame, attempts = transform_jobs(
        validated([STUCK, CANCELLED, *CANCELLED_NODES, OVERRIDDEN]), ACCOUNT, REGION
    )
    with store_engine.begin() as conn:
        bulk_upsert(conn, jobs, frame)
        bulk_upsert(conn, job_attempts, attempts)
        bulk_upsert(conn, job_definitions, transform_job_definitions([MNP_DEFINITION], REGION, COLLECTED_AT))
    canonical, _ = load_dataset(store_engine, "aws")
    rows = canonical.set_index("job_id")
    stuck = [f"mpi-stuck-01#{k}" for k in range(4)]
    cancelled = [f"mpi-cancelled-02#{k}" for k in range(3)]
    overridden = [f"mpi-overridden-03#{k}" for k in range(3)]
    assert sorted(rows.index) == sorted(stuck + cancelled + overridden)
    assert rows.loc[stuck, "mnp_parent"].eq("mpi-stuck-01").all()
    assert rows.loc[stuck, "node_index"].tolist() == [0, 1, 2, 3]
    assert rows.loc[stuck, "num_nodes"].eq(4).all()
    assert rows.loc[stuck, "vcpus"].tolist() == [4.0, 16.0, 16.0, 16.0]
    assert rows.loc[stuck, "memory_mib"].tolist() == [8192.0, 30000.0, 30000.0, 30000.0]
    assert rows.loc[stuck, "node_instance_types"].tolist() == [["r6i.xlarge"]] + [["c6i.4xlarge"]] * 3
    assert rows.loc[overridden, "vcpus"].eq(8.0).all()
    assert rows.loc[overridden, "node_instance_types"].tolist() == [["r6i.2xlarge"]] * 3
    assert rows.loc[cancelled, "vcpus"].tolist() == [4.0, 16.0, 16.0]
    assert rows.loc[cancelled[2], "node_instance_types"] == ["c6i.4xlarge"]
    assert rows.loc[cancelled, "num_nodes"].eq(3).all()
    assert rows["never_started"].all() and rows["runtime_s"].eq(0.0).all()
    assert set(rows["status"]) == {"SUCCEEDED"}  # the cancelled gang's FAILED is not a run's outcome
    assert rows.loc[cancelled[0], "submit_s"] - rows.loc[stuck[0], "submit_s"] == 7200.0

    catalog = catalog_from_provider(bundled_catalog(REGION))
    spot = replay(canonical, parse_config(document("SPOT", 3600.0), catalog))
    heads = blocked_heads(spot)
    assert heads["reason"].tolist() == [SPOT_ONLY_REASON] * 3
    assert heads["blocked_s"].tolist() == [3600.0] * 3
    assert spot.summary["mnp_jobs"] == 3 and spot.summary["mnp_jobs_failed"] == 3
    on_demand = replay(canonical, parse_config(document("EC2", 3600.0), catalog))
    assert blocked_heads(on_demand).empty and on_demand.summary["mnp_jobs_failed"] == 0
    placed = on_demand.attempts.set_index("job_id")["instance_type"]
    assert placed[stuck].tolist() == ["r6i.xlarge"] + ["c6i.4xlarge"] * 3
    assert placed[cancelled[1]] == "c6i.4xlarge" and placed[overridden[2]] == "r6i.2xlarge"


@pytest.mark.parametrize("status", ["SUBMITTED", "PENDING"])
def test_mnp_jobs_not_yet_at_the_queue_are_not_replayed(sqlite_engine: Engine, status: str) -> None:
    frame, _ = transform_jobs(validated([{**STUCK, "status": status}]), ACCOUNT, REGION)
    with sqlite_engine.begin() as conn:
        bulk_upsert(conn, jobs, frame)
    with pytest.raises(Exception, match="no finished jobs"):
        load_dataset(sqlite_engine, "aws")


def spot_only_estate(endpoint: str) -> dict[str, str]:
    """Through boto3 on the emulator: queue hpc whose only CE is a managed SPOT one (c6i, r6i), the
    `mpi-solver` multinode definition and the `prep` container definition its single jobs use."""
    ec2, iam, batch = (client(endpoint, s) for s in ("ec2", "iam", "batch"))
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24", AvailabilityZone="us-east-1a")
    group = ec2.create_security_group(GroupName="hpc", Description="hpc", VpcId=vpc)["GroupId"]
    role = iam.create_role(RoleName="batch-service", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    profile = iam.create_instance_profile(InstanceProfileName="ecs-instance")["InstanceProfile"]["Arn"]
    ce = batch.create_compute_environment(
        computeEnvironmentName="hpc-spot",
        type="MANAGED",
        state="ENABLED",
        serviceRole=role,
        computeResources={
            "type": "SPOT",
            "allocationStrategy": "SPOT_PRICE_CAPACITY_OPTIMIZED",
            "minvCpus": 0,
            "maxvCpus": 256,
            "desiredvCpus": 0,
            "instanceTypes": ["c6i", "r6i"],
            "subnets": [subnet["Subnet"]["SubnetId"]],
            "securityGroupIds": [group],
            "instanceRole": profile,
        },
    )["computeEnvironmentArn"]
    queue = batch.create_job_queue(
        jobQueueName="hpc",
        state="ENABLED",
        priority=1,
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": ce}],
    )["jobQueueArn"]
    mpi = batch.register_job_definition(
        jobDefinitionName=DEFINITION,
        type="multinode",
        nodeProperties={"numNodes": 3, "mainNode": 0, "nodeRangeProperties": RANGES},
    )["jobDefinitionArn"]
    prep = batch.register_job_definition(
        jobDefinitionName="prep",
        type="container",
        containerProperties={
            "image": "busybox",
            "command": ["true"],
            "resourceRequirements": [{"type": "VCPU", "value": "2"}, {"type": "MEMORY", "value": "4096"}],
        },
    )["jobDefinitionArn"]
    return {"queue": queue, "prep": prep, "mpi": mpi}


@pytest.mark.emulator
def test_collected_stuck_gangs_make_mnp_on_demand_propose_an_on_demand_ce(sqlite_engine: Engine) -> None:
    """End to end: the emulator serves a spot-only queue's history (24 single jobs, one every 2 h,
    and two MNP jobs that never started: one cancelled after 6 h, one still RUNNABLE); the
    collector stores it; `load_recommend_inputs` reads it back with the gangs; `mnp-on-demand`
    proposes an on-demand copy of hpc-spot, counting both gangs blocked now (for the owner's cancel
    delay the history shows) and run after, and says their run time is unknown. `stuck-job-limits`
    proposes no time limit for them."""
    now = NOW.replace(tzinfo=None)
    now_ms = int(NOW.timestamp() * 1000)
    with Emulator(NOW, history_days=3) as emulator:
        estate = spot_only_estate(emulator.endpoint_url)
        first = now_ms - 48 * HOUR_MS
        singles = [
            job_record(
                f"prep-{k:02d}-0000-4000-8000-000000000000",
                first + k * 2 * HOUR_MS,
                jobQueue=estate["queue"],
                jobDefinition=estate["prep"],
            )
            for k in range(24)
        ]
        cancelled = mnp_record(
            estate["queue"],
            "7b3e9c1a-0000-4000-8000-0000000000c1",
            first + HOUR_MS,
            status="FAILED",
            statusReason="cancelled by its owner: the queue never runs it",
            stoppedAt=first + 7 * HOUR_MS,
            isCancelled=True,
            jobDefinition=estate["mpi"],
        )
        stuck = mnp_record(
            estate["queue"],
            "7b3e9c1a-0000-4000-8000-0000000000c2",
            first + 25 * HOUR_MS,
            nodes=4,
            jobDefinition=estate["mpi"],
        )
        emulator.state.add_jobs(emulator.account_id, REGION, validated([*singles, cancelled, stuck]))
        sources = select_sources(["compute_environments", "job_queues", "jobs", "job_definitions"])
        results = collect(sqlite_engine, [emulator_plan(emulator.endpoint_url)], sources, clock=lambda: now)
        assert [r.status for r in results] == ["succeeded"] * 4, results

    stored = read_frame(sqlite_engine, select(jobs)).set_index("job_id")
    assert stored.loc[stuck["jobId"], "status"] == "RUNNABLE" and pd.isna(
        stored.loc[stuck["jobId"], "started_at"]
    )
    assert stored.loc[cancelled["jobId"], "node_count"] == 3
    [snapshot] = load_recommend_inputs(sqlite_engine)
    gangs = gang_table(snapshot.baseline.jobs).set_index("mnp_parent")
    assert gangs["nodes"].to_dict() == {cancelled["jobId"]: 3, stuck["jobId"]: 4}
    assert gangs["never_started"].all()
    # The stuck job's workers take the collected revision's "1:" range, its main node the parent's.
    history = snapshot.baseline.jobs.set_index("job_id")
    assert history.loc[[f"{stuck['jobId']}#{k}" for k in range(4)], "vcpus"].tolist() == [
        4.0,
        16.0,
        16.0,
        16.0,
    ]

    [rec] = MnpOnDemandStrategy().run(snapshot)
    assert (rec.strategy, rec.target_name) == ("mnp-on-demand", "hpc")
    assert rec.proposed["compute_environment_order"] == ["hpc-spot", "hpc-spot-ondemand"]
    evidence = rec.evidence
    assert evidence["gangs"]["mnp_jobs"] == 2 and evidence["gangs"]["node_jobs"] == 7
    assert evidence["gangs"]["mnp_jobs_blocked_before"] == 2 and evidence["gangs"]["mnp_jobs_run_after"] == 2
    assert evidence["gangs"]["mnp_jobs_never_started_in_history"] == 2
    blocked = evidence["blocked"]
    assert blocked["reason"] == SPOT_ONLY_REASON
    assert blocked["before"]["blocked_jobs"] == 2 and blocked["before"]["jobs_delayed"] > 0
    assert blocked["after"] == {"blocked_jobs": 0, "blocked_s": 0.0, "jobs_delayed": 0}
    # The owner's cancel delay is the history's: the cancelled gang stayed 6 h, the stuck one 21 h
    # 630 s until the history's end (the last single job's stop); their median, not the assumed day.
    assert blocked["owner_cancel_s"] == (6 * 3600 + 21 * 3600 + 630) / 2
    assert not blocked["owner_cancel_assumed"] and blocked["owner_cancel_source"].startswith("history")
    assert blocked["before"]["blocked_s"] == 2 * blocked["owner_cancel_s"] and rec.confidence == 0.7
    assert "never ran (unknown)" in rec.title and "run time is unknown" in rec.risk["cost"]
    assert (
        evidence["wait_improvement"]["p95_wait_after_s"] < evidence["wait_improvement"]["p95_wait_before_s"]
    )
    assert StuckJobLimitStrategy().run(snapshot) == []


def completed_run(job_id: str, started_ms: int, attempts_s: list[int]) -> list[dict[str, Any]]:
    """A 4-node mpi-solver job that SUCCEEDED: its parent (one attempt per entry of `attempts_s`,
    back to back, the last one the success) and its node jobs, as DescribeJobs gives them."""
    attempts, at = [], started_ms
    for seconds in attempts_s:
        attempts.append({"container": {"exitCode": 0}, "startedAt": at, "stoppedAt": at + seconds * 1000})
        at += seconds * 1000
    parent = mnp_record(
        QUEUE_ARN,
        job_id,
        started_ms - 60_000,
        nodes=4,
        status="SUCCEEDED",
        startedAt=started_ms,
        stoppedAt=at,
        attempts=attempts,
    )
    nodes = [
        {
            **node_record(parent, k),
            "status": "SUCCEEDED",
            "startedAt": started_ms,
            "stoppedAt": at,
            "attempts": [],
        }
        for k in range(4)
    ]
    return [parent, *nodes]


def test_a_stuck_gang_runs_for_the_median_of_its_definitions_completed_runs(store_engine: Engine) -> None:
    """Two 4-node runs of mpi-solver completed: one in 1 h, one whose last attempt ran 3 h after a
    1 h spot-like first attempt (a retry's span is not a run time: the last attempt is), so the
    median is 2 h. The stuck 4-node gang runs 2 h in the replay; a stuck one whose own
    attemptDurationSeconds is 5400 runs 1.5 h; both with all their nodes starting together on the
    on-demand CE. The estimate's record is on every node row, for the recommendation to quote."""
    done = [
        *completed_run("mpi-done-11", T0, [3600]),
        *completed_run("mpi-done-12", T0 + HOUR_MS, [3600, 10800]),
    ]
    capped = mnp_record(
        QUEUE_ARN, "mpi-capped-05", T0 + 6 * HOUR_MS, nodes=4, timeout={"attemptDurationSeconds": 5400}
    )
    frame, attempts = transform_jobs(validated([*done, STUCK, capped]), ACCOUNT, REGION)
    with store_engine.begin() as conn:
        bulk_upsert(conn, jobs, frame)
        bulk_upsert(conn, job_attempts, attempts)
    canonical, _ = load_dataset(store_engine, "aws")
    rows = canonical.set_index("job_id")
    stuck = [f"mpi-stuck-01#{k}" for k in range(4)]
    short = [f"mpi-capped-05#{k}" for k in range(4)]
    assert rows.loc[stuck, "runtime_s"].eq(7200.0).all() and rows.loc[short, "runtime_s"].eq(5400.0).all()
    record = rows.loc[stuck[0], "runtime_estimate"]
    assert (record["basis"], record["samples"], record["median_s"], record["capped"]) == (
        "definition-and-nodes",
        2,
        7200.0,
        False,
    )
    assert (
        rows.loc[short[3], "runtime_estimate"]["capped"]
        and rows.loc[short[3], "runtime_estimate"]["cap_s"] == 5400
    )
    assert rows.loc[[f"mpi-done-12#{k}" for k in range(4)], "runtime_estimate"].isna().all()

    catalog = catalog_from_provider(bundled_catalog(REGION))
    result = replay(canonical, parse_config(document("EC2", 3600.0), catalog))
    assert result.summary["mnp_jobs_failed"] == 0
    ran = result.attempts.set_index("job_id")
    for nodes, seconds in ((stuck, 7200.0), (short, 5400.0)):
        assert ran.loc[nodes, "started_at"].nunique() == 1  # the gang starts together
        assert (ran.loc[nodes, "ended_at"] - ran.loc[nodes, "started_at"]).eq(seconds).all()


def test_simulate_says_what_the_never_started_gangs_ran_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`batchopt simulate --dataset aws` prints the same sentence the recommendation quotes: which
    gangs never started and what each was replayed for (here one estimate, one capped at its own
    attemptDurationSeconds)."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    monkeypatch.setenv("BATCHOPT_DATABASE_URL", url)
    assert main(["db", "upgrade"]) == 0
    capped = mnp_record(
        QUEUE_ARN, "mpi-capped-05", T0 + 6 * HOUR_MS, nodes=4, timeout={"attemptDurationSeconds": 5400}
    )
    done = [*completed_run("mpi-done-11", T0, [3600]), *completed_run("mpi-done-12", T0 + HOUR_MS, [10800])]
    frame, attempts = transform_jobs(validated([*done, STUCK, capped]), ACCOUNT, REGION)
    engine = create_store_engine(url)
    with engine.begin() as conn:
        bulk_upsert(conn, jobs, frame)
        bulk_upsert(conn, job_attempts, attempts)
    engine.dispose()
    config = tmp_path / "ec2.json"
    config.write_text(json.dumps(document("EC2", 3600.0)))
    capsys.readouterr()
    assert main(["simulate", "--dataset", "aws", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    runs = "estimated from 2 completed runs of mpi-solver with 4 nodes"
    assert (
        f"2 of the MNP jobs never started in the history; 1 never started: run time 1.5 h {runs}"
        " (median 2.0 h, capped at the job's attemptDurationSeconds);"
        f" 1 never started: run time 2.0 h {runs} (median)\n"
    ) in out
