"""The event intake and the completeness of collection (issue 15's done-when):

- job events out of order and re-delivered: a state never goes back, attempts merge, nothing is
  written twice; unreadable messages are kept with the reason (store on SQLite and PostgreSQL);
- the `events` source drains a real SQS queue on the emulator, deletes only what it stored, and
  gives instances that lived ten minutes between two runs their exact lifetimes (EC2 on the emulator
  knows how they were launched, so they are matched to the Batch CE; another instance is not);
- the ListJobs reconciliation alone (Stubber, model-valid responses) collects a 30-hour job that
  short jobs overtook, and an outage longer than Batch's listing retention is stored as a gap.

Event shapes: the AWS documentation's "Batch Job State Change" example in shared/data (its detail
is a DescribeJobs job), and EC2's documented state-change notification.
"""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from sqlalchemy import Engine, insert, select

from optimizer.collectors import select_sources
from optimizer.collectors.coverage import EVENTS_NOT_SET_UP
from optimizer.collectors.event_messages import INSTANCE_EVENT, parse_messages
from optimizer.collectors.events import store_batch
from optimizer.collectors.job_states import OPEN_STATES
from optimizer.collectors.reconcile import OUTAGE
from optimizer.collectors.runner import collect
from optimizer.store.read import read_frame
from optimizer.store.schema import compute_environments, instances, job_attempts, jobs
from optimizer.store.tables.collection import collection_coverage, collection_gaps, event_rejects
from tests.collect_helpers import (
    ACCOUNT,
    QUEUE_ARN,
    REGION,
    Clock,
    client,
    count,
    emulator_plan,
    fixed_plan,
    job_record,
    summary,
)
from tests.data_paths import shared

pytestmark = pytest.mark.any_date  # every time is fixed and "now" is injected

T = datetime(2026, 1, 1)
T_MS = 1_767_225_600_000  # T in epoch milliseconds
HOUR_MS = 3_600_000


def _docs_event() -> dict[str, Any]:
    path = shared("aws-api-fixtures", "aws-docs-batch-event", "batch-job-state-change_RUNNABLE_example.json")
    return json.loads(path.read_text())


def job_message(record: dict[str, Any], when: datetime, message_id: str) -> dict[str, Any]:
    """An SQS message as EventBridge delivers it: the event JSON as the body."""
    event = _docs_event()
    event.update(id=message_id, time=when.strftime("%Y-%m-%dT%H:%M:%SZ"), account=ACCOUNT, region=REGION)
    event["resources"] = [record["jobArn"]]
    event["detail"] = record
    return {"MessageId": message_id, "Body": json.dumps(event)}


def instance_message(instance_id: str, state: str, when: datetime, message_id: str) -> dict[str, Any]:
    event = {
        "version": "0",
        "id": message_id,
        "detail-type": INSTANCE_EVENT,
        "source": "aws.ec2",
        "account": ACCOUNT,
        "time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/{instance_id}"],
        "detail": {"instance-id": instance_id, "state": state},
    }
    return {"MessageId": message_id, "Body": json.dumps(event)}


def _state(record: dict[str, Any], status: str, attempts: int) -> dict[str, Any]:
    """The job as an event in `status` reports it: the first `attempts` finished attempts."""
    out = copy.deepcopy(record)
    out["status"] = status
    out["attempts"] = out["attempts"][:attempts]
    if status not in ("SUCCEEDED", "FAILED"):
        out.pop("stoppedAt", None)
    return out


def _store(engine: Engine, messages: list[dict[str, Any]], now: datetime = T) -> int:
    result = store_batch(
        engine, parse_messages(messages), queue_url="q", now=now, account_id=ACCOUNT, region=REGION
    )
    return result.jobs_written + result.instances_written + result.rejected


def test_the_documented_event_is_a_job_row(store_engine: Engine) -> None:
    body = json.dumps(_docs_event())
    assert _store(store_engine, [{"MessageId": "m1", "Body": body}]) == 1
    [row] = read_frame(store_engine, select(jobs)).to_dict("records")
    assert row["job_id"] == "4c7599ae-0a82-49aa-ba5a-4727fcce14a8"
    assert (row["status"], row["vcpus"], row["memory_mib"], row["queue"]) == (
        "RUNNABLE",
        2,
        256,
        "PexjEHappyPathCanary2JobQueue",
    )
    assert row["created_at"] == datetime(2022, 1, 11, 23, 36, 40, 58_000)


def test_out_of_order_retries_and_redelivery(store_engine: Engine) -> None:
    failed_then_ok = [
        {
            "container": {
                "exitCode": 137,
                "reason": "OutOfMemoryError: Container killed due to memory usage",
            },
            "startedAt": T_MS + 60_000,
            "stoppedAt": T_MS + 120_000,
            "statusReason": "Essential container in task exited",
        },
        {
            "container": {"exitCode": 0},
            "startedAt": T_MS + 180_000,
            "stoppedAt": T_MS + 600_000,
            "statusReason": "Essential container in task exited",
        },
    ]
    record = job_record("job-retry", T_MS, attempts=failed_then_ok)
    at = lambda minutes: T + timedelta(minutes=minutes)  # noqa: E731
    running = job_message(_state(record, "RUNNING", 0), at(1), "e1")
    retry = job_message(_state(record, "RUNNABLE", 1), at(2), "e2")  # back to RUNNABLE after attempt 1
    done = job_message(_state(record, "SUCCEEDED", 2), at(10), "e3")

    # The final state arrives first; the earlier ones later and out of order.
    assert _store(store_engine, [done]) == 3  # the job and both attempts
    assert _store(store_engine, [retry, running]) == 0  # nothing goes back
    [row] = read_frame(store_engine, select(jobs)).to_dict("records")
    assert (row["status"], row["attempt_count"]) == ("SUCCEEDED", 2)
    # Re-delivery of everything, in one batch: still nothing written.
    assert _store(store_engine, [running, done, retry, done]) == 0

    # The second attempt's RUNNING is stored before the retry's RUNNABLE arrives: the job stays
    # RUNNING, and the failed first attempt the late event carries is merged in.
    other = job_record("job-merge", T_MS, attempts=failed_then_ok)
    assert _store(store_engine, [job_message(_state(other, "RUNNING", 0), at(3), "f2")]) == 1
    assert _store(store_engine, [job_message(_state(other, "RUNNABLE", 1), at(2), "f1")]) == 1
    attempts = read_frame(store_engine, select(job_attempts).where(job_attempts.c.job_id == "job-merge"))
    assert attempts["attempt"].tolist() == [0]
    assert bool(attempts["is_oom"].iloc[0])
    [merged] = read_frame(store_engine, select(jobs).where(jobs.c.job_id == "job-merge")).to_dict("records")
    assert merged["status"] == "RUNNING"


def test_unreadable_messages_are_kept_with_the_reason(store_engine: Engine) -> None:
    no_created = _docs_event()
    del no_created["detail"]["createdAt"]
    other_kind = _docs_event() | {"detail-type": "ECS Task State Change"}
    messages = [
        {"MessageId": "bad-json", "Body": "{not json"},
        {"MessageId": "no-created", "Body": json.dumps(no_created)},
        {"MessageId": "other-kind", "Body": json.dumps(other_kind)},
        {"MessageId": "good", "Body": json.dumps(_docs_event())},
    ]
    assert _store(store_engine, messages) == 4
    assert _store(store_engine, messages) == 0  # re-delivered: kept once
    rejects = read_frame(store_engine, select(event_rejects)).set_index("message_id")["reason"].to_dict()
    assert rejects["bad-json"].startswith("body: not JSON")
    assert rejects["no-created"] == "detail.createdAt: missing"
    assert rejects["other-kind"] == "detail-type: not an event the intake reads: 'ECS Task State Change'"
    assert count(store_engine, jobs) == 1


def _batch_environment(engine: Engine, subnet: str, profile_arn: str) -> str:
    """A managed EC2 CE as the inventory collector stores it (raw = DescribeComputeEnvironments item)."""
    arn = f"arn:aws:batch:{REGION}:{ACCOUNT}:compute-environment/ec2-od"
    raw = {
        "computeEnvironmentName": "ec2-od",
        "computeEnvironmentArn": arn,
        "type": "MANAGED",
        "ecsClusterArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/AWSBatch-ec2-od",
        "computeResources": {
            "type": "EC2",
            "minvCpus": 0,
            "maxvCpus": 64,
            "instanceTypes": ["m5.large"],
            "subnets": [subnet],
            "instanceRole": profile_arn,
        },
    }
    with engine.begin() as conn:
        conn.execute(
            insert(compute_environments).values(
                arn=arn,
                name="ec2-od",
                account_id=ACCOUNT,
                region=REGION,
                type="MANAGED",
                platform="EC2",
                ecs_cluster_arn=raw["ecsClusterArn"],
                raw=raw,
                first_seen=T,
                last_seen=T,
            )
        )
    return arn


def test_events_source_on_the_emulator(aws_endpoint: str, sqlite_engine: Engine) -> None:
    """Jobs and ten-minute instances between two runs, through SQS and EC2 on the emulator."""
    ec2 = client(aws_endpoint, "ec2")
    iam = client(aws_endpoint, "iam")
    sqs = client(aws_endpoint, "sqs")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    profile = iam.create_instance_profile(InstanceProfileName="ecsInstanceRole")["InstanceProfile"]
    ce_arn = _batch_environment(sqlite_engine, subnet, profile["Arn"])
    launch = dict(ImageId="ami-12c6146b", InstanceType="m5.large", SubnetId=subnet)
    batch_ids = [
        i["InstanceId"]
        for i in ec2.run_instances(
            **launch, IamInstanceProfile={"Arn": profile["Arn"]}, MaxCount=2, MinCount=2
        )["Instances"]
    ]
    other = launch | {"InstanceType": "t3.micro"}  # a type the CE does not launch
    foreign = ec2.run_instances(**other, MinCount=1, MaxCount=1)["Instances"][0][
        "InstanceId"
    ]  # not a Batch CE
    ec2.terminate_instances(InstanceIds=[*batch_ids, foreign])
    url = sqs.create_queue(QueueName="batchopt-events")["QueueUrl"]

    messages = []
    for n, iid in enumerate([*batch_ids, foreign]):
        start = T + timedelta(minutes=5 + n)
        for offset, state in ((0, "pending"), (1, "running"), (10, "shutting-down"), (11, "terminated")):
            messages.append(instance_message(iid, state, start + timedelta(minutes=offset), f"i{n}{state}"))
    records = [job_record(f"job-{n:03d}", T_MS + n * 60_000) for n in range(25)]
    messages += [job_message(r, T + timedelta(minutes=20), f"j{n}") for n, r in enumerate(records)]
    messages.append({"MessageId": "bad", "Body": "[]"})
    long_job = job_record(
        "job-30h",
        T_MS,
        attempts=[
            {"container": {"exitCode": 0}, "startedAt": T_MS + 600_000, "stoppedAt": T_MS + 30 * HOUR_MS}
        ],
        startedAt=T_MS + 600_000,
        stoppedAt=T_MS + 30 * HOUR_MS,
    )
    messages.append(job_message(_state(long_job, "RUNNING", 0), T + timedelta(minutes=10), "long-running"))

    def send(batch: list[dict[str, Any]]) -> None:
        for start in range(0, len(batch), 10):
            entries = [
                {"Id": str(i), "MessageBody": m["Body"]} for i, m in enumerate(batch[start : start + 10])
            ]
            sqs.send_message_batch(QueueUrl=url, Entries=entries)

    send(messages)
    plan = emulator_plan(aws_endpoint)
    now = T + timedelta(hours=1)
    [result] = collect(
        sqlite_engine, [plan], select_sources(["events"]), clock=Clock(now), events_queue_urls=[url]
    )
    assert result.status == "succeeded", result
    assert result.items_read == len(messages)
    assert (
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"][
            "ApproximateNumberOfMessages"
        ]
        == "0"
    )
    assert count(sqlite_engine, jobs) == 26
    assert count(sqlite_engine, event_rejects) == 1
    stored = read_frame(sqlite_engine, select(instances)).set_index("instance_id")
    assert sorted(stored.index) == sorted(batch_ids)  # the foreign instance is not Batch's
    for n, iid in enumerate(batch_ids):
        row = stored.loc[iid]
        assert row["launch_time"] == T + timedelta(minutes=5 + n)
        assert row["terminated_at"] == T + timedelta(minutes=15 + n)  # billing stops at shutting-down
        assert (row["lifetime_source"], row["compute_environment_arn"]) == ("events", ce_arn)
        assert (row["instance_type"], row["capacity_type"]) == ("m5.large", "ON_DEMAND")

    # Re-delivery (the whole batch again): read, stored nothing twice, deleted.
    send(messages)
    [again] = collect(
        sqlite_engine, [plan], select_sources(["events"]), clock=Clock(now), events_queue_urls=[url]
    )
    assert (again.items_read, again.items_written) == (len(messages), 0)
    counts = (
        count(sqlite_engine, jobs),
        count(sqlite_engine, instances),
        count(sqlite_engine, event_rejects),
    )
    assert counts == (26, 2, 1)
    # 30 hours later the long job's final event: however long it ran, it is stored when it ends.
    later = T + timedelta(hours=31)
    send([job_message(long_job, T + timedelta(hours=30), "long-done")])
    [last] = collect(
        sqlite_engine, [plan], select_sources(["events"]), clock=Clock(later), events_queue_urls=[url]
    )
    assert (last.items_read, last.items_written) == (1, 2)  # the job and its attempt
    stored_jobs = read_frame(sqlite_engine, select(jobs)).set_index("job_id")
    assert stored_jobs.loc["job-30h", "status"] == "SUCCEEDED"
    assert stored_jobs.loc["job-30h", "stopped_at"] == T + timedelta(hours=30)
    [cover] = read_frame(sqlite_engine, select(collection_coverage)).to_dict("records")
    assert (cover["source"], cover["scope"], cover["covered_to"]) == ("events", "*", later)
    assert count(sqlite_engine, collection_gaps) == 0  # drained well within the queue's retention


def _stub_reconcile(
    stubber: Stubber,
    listed: dict[str, list[dict[str, Any]]],
    described: list[dict[str, Any]],
    *,
    created_after: datetime | None = None,
) -> None:
    """One reconciliation run: queues, the queue's listing, DescribeJobs of `described`.

    The listing is per final and open state when the run reaches back past what Batch lists (the
    first run, after an outage); else one ListJobs with the AFTER_CREATED_AT filter from
    `created_after`, which Batch answers with every state, newest first."""
    stubber.add_response(
        "describe_job_queues",
        {
            "jobQueues": [
                {
                    "jobQueueName": "genomics",
                    "jobQueueArn": QUEUE_ARN,
                    "state": "ENABLED",
                    "status": "VALID",
                    "priority": 10,
                    "computeEnvironmentOrder": [],
                }
            ]
        },
        {},
    )
    if created_after is None:
        for status in ("SUCCEEDED", "FAILED", *OPEN_STATES):
            page = [summary(r) for r in listed.get(status, [])]
            stubber.add_response(
                "list_jobs",
                {"jobSummaryList": page},
                {"jobQueue": QUEUE_ARN, "jobStatus": status, "maxResults": 1000},
            )
    else:
        start_ms = T_MS + int((created_after - T).total_seconds() * 1000)
        shown = [summary(r) for records in listed.values() for r in records if r["createdAt"] >= start_ms]
        stubber.add_response(
            "list_jobs",
            {"jobSummaryList": sorted(shown, key=lambda s: -s["createdAt"])},
            {
                "jobQueue": QUEUE_ARN,
                "filters": [{"name": "AFTER_CREATED_AT", "values": [str(start_ms - 1)]}],
                "maxResults": 100,
            },
        )
    if described:
        stubber.add_response("describe_jobs", {"jobs": described}, {"jobs": [r["jobId"] for r in described]})


def test_reconciliation_follows_a_30_hour_job_and_reports_an_outage(sqlite_engine: Engine) -> None:
    """Short jobs overtake a 30-hour job; the created-at window has moved past it when it ends."""
    long_job = job_record(
        "job-30h",
        T_MS,
        attempts=[
            {"container": {"exitCode": 0}, "startedAt": T_MS + 600_000, "stoppedAt": T_MS + 30 * HOUR_MS}
        ],
        startedAt=T_MS + 600_000,
        stoppedAt=T_MS + 30 * HOUR_MS,
    )
    short = [job_record(f"short-{h:02d}", T_MS + h * HOUR_MS) for h in range(1, 30)]
    batch = boto3.client("batch", region_name=REGION)
    stubber = Stubber(batch)
    stubber.activate()
    plan = fixed_plan("prod", {"batch": batch})

    # Run 1 at T+27h: 26 short jobs done, the long one RUNNING.
    run1 = T + timedelta(hours=27)
    done1 = short[:26]
    _stub_reconcile(
        stubber,
        {"SUCCEEDED": done1, "RUNNING": [_state(long_job, "RUNNING", 0)]},
        [*done1, _state(long_job, "RUNNING", 0)],
    )
    [r1] = collect(sqlite_engine, [plan], select_sources(["jobs"]), clock=Clock(run1))
    assert r1.status == "succeeded", r1
    status = read_frame(sqlite_engine, select(jobs.c.job_id, jobs.c.status)).set_index("job_id")["status"]
    assert status["job-30h"] == "RUNNING"

    # Run 2 at T+31h: the long job ended; the created-at window (an hour before run 1: T+26h) is
    # past it, so Batch does not list it: only following it as a stored open job finds it.
    run2 = T + timedelta(hours=31)
    _stub_reconcile(
        stubber,
        {"SUCCEEDED": [*short, long_job]},
        [*reversed(short[26:]), long_job],
        created_after=T + timedelta(hours=26),
    )
    [r2] = collect(sqlite_engine, [plan], select_sources(["jobs"]), clock=Clock(run2))
    assert r2.status == "succeeded", r2
    stubber.assert_no_pending_responses()
    stored = read_frame(sqlite_engine, select(jobs)).set_index("job_id")
    assert len(stored) == 30
    assert stored.loc["job-30h", "status"] == "SUCCEEDED"
    assert stored.loc["job-30h", "stopped_at"] == T + timedelta(hours=30)
    assert count(sqlite_engine, job_attempts) == 30

    # Run 3 after an outage of 10 days (Batch lists finished jobs for 7): the hole is a gap.
    run3 = run2 + timedelta(days=10)
    _stub_reconcile(stubber, {}, [])
    [r3] = collect(sqlite_engine, [plan], select_sources(["jobs"]), clock=Clock(run3))
    assert r3.status == "succeeded", r3
    [gap] = read_frame(sqlite_engine, select(collection_gaps)).to_dict("records")
    assert (gap["source"], gap["scope"], gap["reason"]) == ("jobs", QUEUE_ARN, OUTAGE)
    assert (gap["gap_from"], gap["gap_to"]) == (run2, run3 - timedelta(days=7))
    # Without any event queue the `events` source says so as a gap too, growing with each run.
    [e1] = collect(sqlite_engine, [plan], select_sources(["events"]), clock=Clock(run3))
    [e2] = collect(sqlite_engine, [plan], select_sources(["events"]), clock=Clock(run3 + timedelta(hours=1)))
    assert e1.status == e2.status == "succeeded"
    missing = read_frame(sqlite_engine, select(collection_gaps).where(collection_gaps.c.source == "events"))
    assert missing[["reason", "gap_from", "gap_to"]].values.tolist() == [
        [EVENTS_NOT_SET_UP, run3, run3 + timedelta(hours=1)]
    ]


def _trail_event(
    name: str, when: datetime, items: list[dict[str, Any]], request: dict[str, Any]
) -> dict[str, Any]:
    """A LookupEvents `Events[]` item; CloudTrailEvent is the record as CloudTrail logs EC2 calls."""
    record = {
        "eventVersion": "1.08",
        "userIdentity": {"type": "AssumedRole", "invokedBy": "autoscaling.amazonaws.com"},
        "eventTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": "ec2.amazonaws.com",
        "eventName": name,
        "awsRegion": REGION,
        "requestParameters": request,
        "responseElements": {"instancesSet": {"items": items}},
        "recipientAccountId": ACCOUNT,
    }
    return {
        "EventId": f"{name}-{when:%H%M}",
        "EventName": name,
        "ReadOnly": "false",
        "EventTime": when,
        "EventSource": "ec2.amazonaws.com",
        "Username": "AutoScaling",
        "Resources": [{"ResourceType": "AWS::EC2::Instance", "ResourceName": i["instanceId"]} for i in items],
        "CloudTrailEvent": json.dumps(record),
    }


def test_cloudtrail_gives_ten_minute_instances_without_an_intake(sqlite_engine: Engine) -> None:
    subnet = "subnet-0a1b2c3d"
    profile = f"arn:aws:iam::{ACCOUNT}:instance-profile/ecsInstanceRole"
    ce_arn = _batch_environment(sqlite_engine, subnet, profile)
    batch = boto3.client("batch", region_name=REGION)
    trail = boto3.client("cloudtrail", region_name=REGION)
    ecs = boto3.client("ecs", region_name=REGION)  # no CE to list container instances of: never called
    stubs = Stubber(batch), Stubber(trail), Stubber(ecs)
    for stub in stubs:
        stub.activate()
    plan = fixed_plan("prod", {"batch": batch, "cloudtrail": trail, "ecs": ecs})

    def lookups(now: datetime, run: list[dict[str, Any]], terminate: list[dict[str, Any]]) -> None:
        """Sampling finds no CE; LookupEvents over the first lookback (30 days, within CloudTrail's 90)."""
        stubs[0].add_response("describe_compute_environments", {"computeEnvironments": []}, {})
        for name, found in (("RunInstances", run), ("TerminateInstances", terminate)):
            params = {
                "LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": name}],
                "StartTime": now - timedelta(days=30),
                "EndTime": now,
                "MaxResults": 50,
            }
            stubs[1].add_response("lookup_events", {"Events": found}, params)

    # Run 1 at T: nothing yet. Run 2 at T+1h: two instances lived ten minutes in between, one of
    # them on spot; a third was launched by something else (another profile).
    lookups(T, [], [])
    [first] = collect(sqlite_engine, [plan], select_sources(["instances"]), clock=Clock(T))
    assert first.status == "succeeded", first
    launch = T + timedelta(minutes=10)
    item = {"instanceType": "m5.large", "subnetId": subnet, "placement": {"availabilityZone": "us-east-1a"}}
    run = [
        _trail_event(
            "RunInstances",
            launch,
            [{**item, "instanceId": "i-0aaa", "iamInstanceProfile": {"arn": profile}}],
            {"instanceType": "m5.large"},
        ),
        _trail_event(
            "RunInstances",
            launch,
            [{**item, "instanceId": "i-0bbb", "iamInstanceProfile": {"arn": profile}}],
            {"instanceType": "m5.large", "instanceMarketOptions": {"marketType": "spot"}},
        ),
        _trail_event(
            "RunInstances",
            launch,
            [{**item, "instanceId": "i-0ccc", "iamInstanceProfile": {"arn": profile.replace("ecs", "web")}}],
            {},
        ),
    ]
    ended = [
        {"instanceId": i, "currentState": {"code": 32, "name": "shutting-down"}} for i in ("i-0aaa", "i-0bbb")
    ]
    terminate = [_trail_event("TerminateInstances", launch + timedelta(minutes=10), ended, {})]
    lookups(T + timedelta(hours=1), run, terminate)
    [second] = collect(
        sqlite_engine, [plan], select_sources(["instances"]), clock=Clock(T + timedelta(hours=1))
    )
    assert second.status == "succeeded", second
    for stub in stubs:
        stub.assert_no_pending_responses()
    stored = read_frame(sqlite_engine, select(instances)).set_index("instance_id")
    assert sorted(stored.index) == ["i-0aaa", "i-0bbb"]
    assert stored["capacity_type"].to_dict() == {"i-0aaa": "ON_DEMAND", "i-0bbb": "SPOT"}
    assert set(stored["lifetime_source"]) == {"cloudtrail"}
    assert set(stored["compute_environment_arn"]) == {ce_arn}
    assert set(stored["launch_time"]) == {launch}
    assert set(stored["terminated_at"]) == {launch + timedelta(minutes=10)}


def test_a_queue_left_longer_than_its_retention_is_a_gap(sqlite_engine: Engine) -> None:
    """Drains 20 days apart from a queue keeping messages 14 days: the 6 days between are a gap."""
    from optimizer.collectors.events import EXPIRED_UNREAD

    url = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/batchopt-event-intake"
    sqs = boto3.client("sqs", region_name=REGION)
    stub = Stubber(sqs)
    stub.activate()
    created = int((T - timedelta(days=30) - datetime(1970, 1, 1)).total_seconds())

    def drain(now: datetime) -> None:
        stub.add_response(
            "get_queue_attributes",
            {"Attributes": {"CreatedTimestamp": str(created), "MessageRetentionPeriod": str(14 * 86400)}},
            {"QueueUrl": url, "AttributeNames": ["CreatedTimestamp", "MessageRetentionPeriod"]},
        )
        stub.add_response(
            "receive_message",
            {"Messages": []},
            {"QueueUrl": url, "MaxNumberOfMessages": 10, "WaitTimeSeconds": 0, "VisibilityTimeout": 300},
        )
        [result] = collect(
            sqlite_engine,
            [fixed_plan("prod", {"sqs": sqs})],
            select_sources(["events"]),
            clock=Clock(now),
            events_queue_urls=[url],
        )
        assert result.status == "succeeded", result

    drain(T)
    drain(T + timedelta(days=1))  # within retention: extends
    drain(T + timedelta(days=21))
    stub.assert_no_pending_responses()
    [gap] = read_frame(sqlite_engine, select(collection_gaps)).to_dict("records")
    assert (gap["source"], gap["reason"]) == ("events", EXPIRED_UNREAD)
    assert (gap["gap_from"], gap["gap_to"]) == (T + timedelta(days=1), T + timedelta(days=7))
    [cover] = read_frame(sqlite_engine, select(collection_coverage)).to_dict("records")
    assert (cover["covered_from"], cover["covered_to"]) == (T + timedelta(days=7), T + timedelta(days=21))
