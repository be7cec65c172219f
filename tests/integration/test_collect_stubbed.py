"""What the emulator lacks, through botocore's Stubber with real response shapes: multi-page ListJobs
with array children and a throttle, multi-page spot price history, a Price List product, one target
denied while another succeeds; and an emulator killed in the middle of a run."""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from sqlalchemy import Engine, select

from optimizer.collectors import select_sources
from optimizer.collectors.job_states import OPEN_STATES
from optimizer.collectors.runner import TargetPlan, collect
from optimizer.store.read import read_frame
from optimizer.store.schema import (
    collector_runs,
    collector_watermarks,
    instances,
    jobs,
    ondemand_prices,
    spot_prices,
)
from optimizer.store.upsert import bulk_upsert
from tests.collect_helpers import (
    QUEUE_ARN,
    REGION,
    Clock,
    build_batch_estate,
    count,
    emulator_plan,
    fixed_plan,
    job_record,
    submit_and_wait,
    summary,
)
from tests.data_paths import AWS_FIXTURES, shared

pytestmark = pytest.mark.any_date  # dates are fixed and "now" is injected: the same on any date

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
NOW = datetime(2026, 1, 3)


def _stubbed(service: str, region: str = REGION) -> tuple[Any, Stubber]:
    client = boto3.client(service, region_name=region)
    stubber = Stubber(client)
    stubber.activate()
    return client, stubber


QUEUES = {
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
}


def _after(start: datetime) -> list[dict[str, Any]]:
    """ListJobs' AFTER_CREATED_AT filter from `start` (epoch ms as a string), as Batch takes it."""
    ms = int(start.replace(tzinfo=UTC).timestamp() * 1000)
    return [{"name": "AFTER_CREATED_AT", "values": [str(ms - 1)]}]


def _stub_listing(
    stubber: Stubber, records: list[dict[str, Any]], *, start: datetime, throttle_first: bool
) -> None:
    """describe_job_queues, then the queue's listing, then the new array parent's children by state.

    The first run (throttled once) reaches back further than Batch lists, so it lists per state:
    SUCCEEDED in two pages, FAILED, each open state, 1,000 a page. Later runs list once with the
    AFTER_CREATED_AT filter: every state, newest first as Batch sorts it, 100 a page."""
    plain = sorted((r for r in records if ":" not in r["jobId"]), key=lambda r: -r["createdAt"])
    children = [summary(r) for r in records if ":" in r["jobId"]]
    stubber.add_response("describe_job_queues", QUEUES, {})
    if throttle_first:
        succeeded = [summary(r) for r in plain if r["status"] == "SUCCEEDED"]
        failed = [summary(r) for r in plain if r["status"] == "FAILED"]
        first = {"jobQueue": QUEUE_ARN, "jobStatus": "SUCCEEDED", "maxResults": 1000}
        stubber.add_client_error(
            "list_jobs", "ThrottlingException", "Rate exceeded", 400, expected_params=first
        )
        stubber.add_response("list_jobs", {"jobSummaryList": succeeded[:120], "nextToken": "page-2"}, first)
        stubber.add_response(
            "list_jobs", {"jobSummaryList": succeeded[120:]}, {**first, "nextToken": "page-2"}
        )
        for status, listed in (("FAILED", failed), *((state, []) for state in OPEN_STATES)):
            stubber.add_response(
                "list_jobs",
                {"jobSummaryList": listed},
                {"jobQueue": QUEUE_ARN, "jobStatus": status, "maxResults": 1000},
            )
        for status in ("SUCCEEDED", "FAILED"):  # only the first run describes the (new) array parent
            stubber.add_response(
                "list_jobs",
                {"jobSummaryList": children if status == "SUCCEEDED" else []},
                {"arrayJobId": "array-parent", "jobStatus": status, "maxResults": 1000},
            )
        return
    ms = int(start.replace(tzinfo=UTC).timestamp() * 1000)
    params = {
        "jobQueue": QUEUE_ARN,
        "filters": [{"name": "AFTER_CREATED_AT", "values": [str(ms - 1)]}],
        "maxResults": 100,
    }
    listed = [summary(r) for r in plain if r["createdAt"] >= ms]
    pages = [listed[i : i + 100] for i in range(0, len(listed), 100)] or [[]]
    for n, page in enumerate(pages):
        response: dict[str, Any] = {"jobSummaryList": page}
        if n + 1 < len(pages):
            response["nextToken"] = f"page-{n + 2}"
        stubber.add_response(
            "list_jobs", response, params if n == 0 else {**params, "nextToken": f"page-{n + 1}"}
        )


def _estate_records() -> list[dict[str, Any]]:
    records = [job_record(f"job-{n:04d}", T0 + n * 1000) for n in range(200)]
    records.append(
        job_record(
            "array-parent", T0 + 500_000, attempts=[], arrayProperties={"size": 2, "statusSummary": {}}
        )
    )
    records += [job_record(f"array-parent:{i}", T0 + 500_000, arrayProperties={"index": i}) for i in range(2)]
    records.append(job_record("job-failed", T0 + 600_000, status="FAILED"))
    return records


def test_multi_page_listing_children_throttle_then_success(sqlite_engine: Engine) -> None:
    records = _estate_records()
    by_id = {r["jobId"]: r for r in records}
    batch, stubber = _stubbed("batch")
    _stub_listing(stubber, records, start=NOW - timedelta(days=30), throttle_first=True)
    newest_first = sorted((r for r in records if ":" not in r["jobId"]), key=lambda r: -r["createdAt"])
    order = [r["jobId"] for r in newest_first if r["status"] == "SUCCEEDED"]
    order.insert(order.index("array-parent") + 1, "array-parent:0")
    order.insert(order.index("array-parent") + 2, "array-parent:1")
    order.append("job-failed")
    for start in range(0, len(order), 100):
        ids = order[start : start + 100]
        stubber.add_response("describe_jobs", {"jobs": [by_id[i] for i in ids]}, {"jobs": ids})
    slept: list[float] = []
    plan = fixed_plan("prod", {"batch": batch})

    [result] = collect(sqlite_engine, [plan], select_sources(["jobs"]), clock=Clock(NOW), sleep=slept.append)

    stubber.assert_no_pending_responses()
    assert result.status == "succeeded", result
    assert len(slept) == 1  # one throttle, retried after a backoff
    stored = read_frame(sqlite_engine, select(jobs)).set_index("job_id")
    assert len(stored) == len(records)
    assert stored.loc["array-parent:1", "array_parent_id"] == "array-parent"
    assert stored.loc["array-parent", "array_size"] == 2
    assert stored.loc["job-failed", "status"] == "FAILED"
    marks = read_frame(sqlite_engine, select(collector_watermarks)).set_index("scope")["value"]
    assert marks[f"{QUEUE_ARN}|created"] == "2026-01-03T00:00:00.000"  # listed through the run's time

    # A second run lists what was created from an hour before that (nothing) and describes nothing.
    batch2, stubber2 = _stubbed("batch")
    _stub_listing(stubber2, records, start=NOW - timedelta(hours=1), throttle_first=False)
    [again] = collect(
        sqlite_engine,
        [fixed_plan("prod", {"batch": batch2})],
        select_sources(["jobs"]),
        clock=Clock(NOW + timedelta(hours=1)),
    )
    stubber2.assert_no_pending_responses()
    assert (again.status, again.items_written) == ("succeeded", 0)


def test_spot_price_history_pages_are_incremental(sqlite_engine: Engine) -> None:
    history = json.loads(
        shared("spot-price-history", "DescribeSpotPriceHistory_m5.large_us-east-1_2021-01.json").read_text()
    )["SpotPriceHistory"]
    for record in history:
        record["Timestamp"] = datetime.fromisoformat(record["Timestamp"])
    now = datetime(2021, 2, 10)
    with sqlite_engine.begin() as conn:
        bulk_upsert(
            conn,
            instances,
            [
                {
                    "instance_id": "i-0abc",
                    "instance_type": "m5.large",
                    "region": REGION,
                    "capacity_type": "SPOT",
                    "first_seen": now,
                    "last_seen": now,
                }
            ],
        )

    def run(at: datetime) -> Any:
        ec2, stubber = _stubbed("ec2")
        params = {
            "InstanceTypes": ["m5.large"],
            "ProductDescriptions": ["Linux/UNIX", "Linux/UNIX (Amazon VPC)"],
            "StartTime": ANY,
            "EndTime": ANY,
        }
        stubber.add_response(
            "describe_spot_price_history", {"SpotPriceHistory": history[:100], "NextToken": "2"}, params
        )
        stubber.add_response(
            "describe_spot_price_history",
            {"SpotPriceHistory": history[100:200], "NextToken": "3"},
            {**params, "NextToken": "2"},
        )
        stubber.add_response(
            "describe_spot_price_history", {"SpotPriceHistory": history[200:]}, {**params, "NextToken": "3"}
        )
        [result] = collect(
            sqlite_engine,
            [fixed_plan("prod", {"ec2": ec2})],
            select_sources(["spot_prices"]),
            clock=Clock(at),
        )
        stubber.assert_no_pending_responses()
        return result

    first = run(now)
    assert (first.status, first.items_read, first.items_written) == ("succeeded", 250, 250)
    stored = read_frame(sqlite_engine, select(spot_prices))
    assert len(stored) == 250 and stored["price"].between(0.03, 0.1).all()
    marks = read_frame(sqlite_engine, select(collector_watermarks))
    assert set(marks["scope"]) == {f"m5.large|{r['AvailabilityZone']}" for r in history}
    assert run(now + timedelta(hours=1)).items_written == 0


def test_price_list_product_is_stored(sqlite_engine: Engine) -> None:
    product = json.loads((AWS_FIXTURES / "ec2-instance-selector" / "GetProducts_m5_large.json").read_text())
    pricing, stubber = _stubbed("pricing", "us-east-1")
    stubber.add_response(
        "get_products",
        {"PriceList": [json.dumps(product)], "FormatVersion": "aws_v1"},
        {"ServiceCode": "AmazonEC2", "Filters": ANY, "FormatVersion": "aws_v1"},
    )
    [result] = collect(
        sqlite_engine, [fixed_plan("prod", {"pricing": pricing})], select_sources(["ondemand_prices"])
    )
    assert result.status == "succeeded"
    row = read_frame(sqlite_engine, select(ondemand_prices)).iloc[0]
    assert (row["instance_type"], row["price_per_hour"], row["source"]) == ("m5.large", 0.096, "pricing-api")


def _ce(name: str, account: str) -> dict[str, Any]:
    return {
        "computeEnvironmentName": name,
        "computeEnvironmentArn": f"arn:aws:batch:{REGION}:{account}:compute-environment/{name}",
        "ecsClusterArn": f"arn:aws:ecs:{REGION}:{account}:cluster/{name}",
        "type": "MANAGED",
        "state": "ENABLED",
        "status": "VALID",
        "computeResources": {
            "type": "SPOT",
            "maxvCpus": 256,
            "subnets": [],
            "instanceRole": "ecsInstanceRole",
        },
    }


def test_access_denied_on_one_target_never_stops_the_other(sqlite_engine: Engine) -> None:
    denied, denied_stub = _stubbed("batch")
    denied_stub.add_client_error(
        "describe_compute_environments",
        "AccessDeniedException",
        "not authorized to perform batch:Describe*",
        403,
    )
    allowed, allowed_stub = _stubbed("batch")
    allowed_stub.add_response(
        "describe_compute_environments", {"computeEnvironments": [_ce("spot", "210987654321")]}
    )

    def unreachable() -> str:
        raise ConnectionError("sts.us-east-1.amazonaws.com unreachable")

    plans = [
        fixed_plan("prod", {"batch": denied}, account_id="111111111111"),
        TargetPlan("lost", REGION, client_factory=lambda s, r: None, account_id=unreachable),
        fixed_plan("dev", {"batch": allowed}, account_id="210987654321"),
    ]
    results = {r.target: r for r in collect(sqlite_engine, plans, select_sources(["compute_environments"]))}
    assert results["prod"].status == "failed" and "AccessDenied" in (results["prod"].error or "")
    assert results["lost"].status == "failed" and "unreachable" in (results["lost"].error or "")
    assert (results["dev"].status, results["dev"].items_written) == ("succeeded", 1)
    runs = read_frame(sqlite_engine, select(collector_runs)).set_index("target")
    assert runs.loc["prod", "status"] == "failed" and runs.loc["dev", "status"] == "succeeded"
    assert runs["finished_at"].notna().all()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def doomed_server(aws_endpoint: str) -> Iterator[Any]:
    """A second emulator endpoint over the same in-process state, which a test may stop."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=_free_port(), verbose=False)
    server.start()
    yield server
    with contextlib.suppress(Exception):  # already stopped by the test
        server.stop()


@pytest.mark.emulator
def test_emulator_killed_mid_run_leaves_no_partial_rows(
    aws_endpoint: str, doomed_server: Any, store_engine: Engine
) -> None:
    estate = build_batch_estate(aws_endpoint)
    submit_and_wait(estate["batch"], estate["queue"], estate["rev1"], ["a", "b"])
    host, port = doomed_server._server.server_address[:2]
    base = emulator_plan(f"http://{host}:{port}")

    def factory(service: str, region: str) -> Any:
        made = base.client_factory(service, region)
        made.meta.events.register("after-call.batch.ListJobs", lambda **_: doomed_server.stop())
        return made

    plan = TargetPlan(base.target, base.region, factory, base.account_id)
    [failed] = collect(store_engine, [plan], select_sources(["jobs"]))

    assert failed.status == "failed"
    assert count(store_engine, jobs) == 0
    assert count(store_engine, collector_watermarks) == 0
    run = read_frame(store_engine, select(collector_runs)).iloc[0]
    assert run["status"] == "failed" and run["error"] and run["finished_at"] is not None

    [recovered] = collect(store_engine, [emulator_plan(aws_endpoint)], select_sources(["jobs"]))
    assert recovered.status == "succeeded"
    assert count(store_engine, jobs) == 2


def _drop_nulls(value: Any) -> Any:
    """The recordings come from the Go SDK, which writes absent members as null; the wire omits them."""
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


def test_catalog_from_recorded_pages_is_idempotent(sqlite_engine: Engine) -> None:
    pages = [
        _drop_nulls(json.loads((AWS_FIXTURES / "ec2-instance-selector" / name).read_text()))
        for name in (
            "DescribeInstanceTypes_t3_micro_and_p3_16xl.json",
            "DescribeInstanceTypes_25_instances.json",
        )
    ]
    offerings = _drop_nulls(
        json.loads(
            (
                AWS_FIXTURES / "ec2-instance-selector" / "DescribeInstanceTypeOfferings_us-east-2a.json"
            ).read_text()
        )
    )

    def run() -> Any:
        ec2, stubber = _stubbed("ec2")
        stubber.add_response(
            "describe_instance_types", {"InstanceTypes": pages[0]["InstanceTypes"], "NextToken": "n"}
        )
        stubber.add_response(
            "describe_instance_types", {"InstanceTypes": pages[1]["InstanceTypes"]}, {"NextToken": "n"}
        )
        stubber.add_response(
            "describe_instance_type_offerings",
            {"InstanceTypeOfferings": offerings["InstanceTypeOfferings"]},
            {"LocationType": "availability-zone"},
        )
        [result] = collect(sqlite_engine, [fixed_plan("prod", {"ec2": ec2})], select_sources(["catalog"]))
        stubber.assert_no_pending_responses()
        return result

    first = run()
    types = len(pages[0]["InstanceTypes"]) + len(pages[1]["InstanceTypes"])
    assert (first.status, first.items_written) == (
        "succeeded",
        types + len(offerings["InstanceTypeOfferings"]),
    )
    assert run().items_written == 0


def test_an_array_parent_that_ends_after_its_listing_window_still_brings_its_children(
    sqlite_engine: Engine,
) -> None:
    """Children are listed only by parent id, and a parent that ends hours after it was created is
    found by following it (it is out of the AFTER_CREATED_AT window by then): its children were
    once never collected, and no later run asked for them."""
    created = T0 + 1_000
    running = job_record(
        "array-parent", created, status="RUNNING", attempts=[],
        arrayProperties={"size": 2, "statusSummary": {"RUNNING": 2}},
    )  # fmt: skip
    ended = {
        **running,
        "status": "SUCCEEDED",
        "arrayProperties": {"size": 2, "statusSummary": {"SUCCEEDED": 2}},
    }
    children = [job_record(f"array-parent:{i}", created, arrayProperties={"index": i}) for i in range(2)]

    # Run 1: the first listing (per state) shows the parent RUNNING; it is described and stored open.
    # (a SageMaker service-job queue beside it is not listed: ListJobs lists no service jobs)
    service = {
        **QUEUES["jobQueues"][0],
        "jobQueueName": "training",
        "jobQueueArn": QUEUE_ARN.replace("genomics", "training"),
        "jobQueueType": "SAGEMAKER_TRAINING",
    }
    batch, stubber = _stubbed("batch")
    stubber.add_response("describe_job_queues", {"jobQueues": [*QUEUES["jobQueues"], service]}, {})
    for status in ("SUCCEEDED", "FAILED", *OPEN_STATES):
        listed = [summary(running)] if status == "RUNNING" else []
        stubber.add_response(
            "list_jobs",
            {"jobSummaryList": listed},
            {"jobQueue": QUEUE_ARN, "jobStatus": status, "maxResults": 1000},
        )
    stubber.add_response("describe_jobs", {"jobs": [running]}, {"jobs": ["array-parent"]})
    [first] = collect(
        sqlite_engine, [fixed_plan("prod", {"batch": batch})], select_sources(["jobs"]), clock=Clock(NOW)
    )
    stubber.assert_no_pending_responses()
    assert first.status == "succeeded"

    # Run 2, three hours on: the window (from an hour before the last run) lists nothing; the stored
    # open parent is followed, has ended, and its children are listed by parent id and described.
    later = NOW + timedelta(hours=3)
    batch2, stubber2 = _stubbed("batch")
    stubber2.add_response("describe_job_queues", QUEUES, {})
    stubber2.add_response(
        "list_jobs", {"jobSummaryList": []},
        {"jobQueue": QUEUE_ARN, "filters": _after(NOW - timedelta(hours=1)), "maxResults": 100},
    )  # fmt: skip
    stubber2.add_response("describe_jobs", {"jobs": [ended]}, {"jobs": ["array-parent"]})
    for status in ("SUCCEEDED", "FAILED"):
        stubber2.add_response(
            "list_jobs",
            {"jobSummaryList": [summary(c) for c in children] if status == "SUCCEEDED" else []},
            {"arrayJobId": "array-parent", "jobStatus": status, "maxResults": 1000},
        )
    ids = [c["jobId"] for c in children]
    stubber2.add_response("describe_jobs", {"jobs": children}, {"jobs": ids})
    [second] = collect(
        sqlite_engine, [fixed_plan("prod", {"batch": batch2})], select_sources(["jobs"]), clock=Clock(later)
    )
    stubber2.assert_no_pending_responses()
    assert second.status == "succeeded", second
    stored = read_frame(sqlite_engine, select(jobs)).set_index("job_id")
    assert stored.loc["array-parent", "status"] == "SUCCEEDED"
    assert sorted(stored.index[stored["array_parent_id"] == "array-parent"]) == ids
