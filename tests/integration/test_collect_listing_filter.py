"""The jobs reconciliation when Batch honours ListJobs' AFTER_CREATED_AT filter (the emulator ignores
filters, so this is botocore's Stubber, which checks every request against the service model): one
listing per queue and run returns only what was created since the watermark, a 30-hour job created
before that window is still followed to its end, and the calls are counted against the per-state
listing the collector made before."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from sqlalchemy import Engine, select

from optimizer.collectors import select_sources
from optimizer.collectors.batch_jobs import FILTERED_PAGE_SIZE, listed_through, queue_watermark
from optimizer.collectors.job_states import OPEN_STATES
from optimizer.collectors.runner import collect
from optimizer.store.read import read_frame
from optimizer.store.schema import collector_watermarks, jobs
from optimizer.store.upsert import bulk_upsert
from tests.collect_helpers import QUEUE_ARN, REGION, Clock, fixed_plan, job_record, summary

pytestmark = pytest.mark.any_date  # dates are fixed and "now" is injected: the same on any date

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
DAY2 = datetime(2026, 1, 2)
FIRST_RUN = datetime(2026, 1, 3)
SECOND_RUN = FIRST_RUN + timedelta(hours=1)


def _ms(value: datetime) -> int:
    return int(value.replace(tzinfo=UTC).timestamp() * 1000)


def _running(job_id: str, created: datetime) -> dict[str, Any]:
    record = job_record(job_id, _ms(created), status="RUNNING", attempts=[])
    del record["stoppedAt"]
    return record


class StubbedBatch:
    """A Stubber-backed Batch client that counts the calls it was told to expect."""

    def __init__(self) -> None:
        self.client = boto3.client("batch", region_name=REGION)
        self.stubber = Stubber(self.client)
        self.stubber.activate()
        self.calls: Counter[str] = Counter()

    def expect(self, operation: str, response: dict[str, Any], params: dict[str, Any]) -> None:
        self.stubber.add_response(operation, response, params)
        self.calls[operation] += 1

    def listing(self, records: list[dict[str, Any]], start: datetime) -> None:
        """One filtered ListJobs of the queue: what Batch returns for jobs created after `start`,
        every state, newest first, 100 a page."""
        shown = sorted(
            (summary(r) for r in records if r["createdAt"] >= _ms(start)), key=lambda s: -s["createdAt"]
        )
        params = {
            "jobQueue": QUEUE_ARN,
            "filters": [{"name": "AFTER_CREATED_AT", "values": [str(_ms(start) - 1)]}],
            "maxResults": FILTERED_PAGE_SIZE,
        }
        self._pages(shown, params, FILTERED_PAGE_SIZE)

    def per_state_listing(self, records: list[dict[str, Any]]) -> None:
        """A first run's listing (its window reaches back past what Batch lists): each collected
        final state, then each open state, 1,000 a page."""
        for status in ("SUCCEEDED", "FAILED", *OPEN_STATES):
            shown = sorted(
                (summary(r) for r in records if r["status"] == status), key=lambda s: -s["createdAt"]
            )
            self._pages(shown, {"jobQueue": QUEUE_ARN, "jobStatus": status, "maxResults": 1000}, 1000)

    def _pages(self, shown: list[dict[str, Any]], params: dict[str, Any], size: int) -> None:
        pages = [shown[i : i + size] for i in range(0, len(shown), size)] or [[]]
        for n, page in enumerate(pages):
            response: dict[str, Any] = {"jobSummaryList": page}
            if n + 1 < len(pages):
                response["nextToken"] = f"page-{n + 2}"
            self.expect("list_jobs", response, params if n == 0 else {**params, "nextToken": f"page-{n + 1}"})

    def describe(self, by_id: dict[str, dict[str, Any]], ids: list[str]) -> None:
        for i in range(0, len(ids), 100):
            chunk = ids[i : i + 100]
            self.expect("describe_jobs", {"jobs": [by_id[j] for j in chunk]}, {"jobs": chunk})


def _per_state_calls_before(records: list[dict[str, Any]]) -> int:
    """ListJobs calls of the listing this replaces: each collected final state (SUCCEEDED, FAILED)
    over everything Batch retains, then each open state, 1,000 a page, at least one call each."""
    per_state = Counter(r["status"] for r in records)
    return sum(max(1, -(-per_state[s] // 1000)) for s in ("SUCCEEDED", "FAILED", *OPEN_STATES))


def test_filtered_listing_follows_a_long_job_created_before_the_window(sqlite_engine: Engine) -> None:
    # 250 jobs finished on day 2 (one every 5 minutes), a 30-hour job running since day 1.
    finished = [job_record(f"job-{n:03d}", _ms(DAY2 + timedelta(minutes=5 * n))) for n in range(250)]
    long_job = _running("long-30h", datetime(2026, 1, 1, 20))
    by_id = {r["jobId"]: r for r in [*finished, long_job]}

    first = StubbedBatch()
    first.expect("describe_job_queues", QUEUES, {})
    first.per_state_listing([*finished, long_job])  # the first lookback: 30 days
    newest_first = [r["jobId"] for r in sorted(finished, key=lambda r: -r["createdAt"])]
    first.describe(by_id, [*newest_first, "long-30h"])  # finished jobs, then the open one
    [run1] = collect(
        sqlite_engine,
        [fixed_plan("prod", {"batch": first.client})],
        select_sources(["jobs"]),
        clock=Clock(FIRST_RUN),
    )
    first.stubber.assert_no_pending_responses()
    assert (run1.status, run1.items_read) == ("succeeded", 251)
    marks = read_frame(sqlite_engine, select(collector_watermarks)).set_index("scope")["value"]
    assert marks[f"{QUEUE_ARN}|created"] == "2026-01-03T00:00:00.000"  # listed through the run's time

    # An hour later: 40 more jobs finished, the 30-hour job ended. Batch lists what was created
    # from an hour before the mark (23:00 on day 2), so the long job is not listed: it is described
    # because it is stored open.
    newer = [job_record(f"new-{n:02d}", _ms(FIRST_RUN + timedelta(minutes=n))) for n in range(40)]
    ended = job_record("long-30h", long_job["createdAt"], status="SUCCEEDED")
    by_id |= {r["jobId"]: r for r in newer} | {"long-30h": ended}
    estate = [*finished, *newer, ended]
    second = StubbedBatch()
    second.expect("describe_job_queues", QUEUES, {})
    second.listing(estate, FIRST_RUN - timedelta(hours=1))
    second.describe(by_id, [*(r["jobId"] for r in reversed(newer)), "long-30h"])
    [run2] = collect(
        sqlite_engine,
        [fixed_plan("prod", {"batch": second.client})],
        select_sources(["jobs"]),
        clock=Clock(SECOND_RUN),
    )
    second.stubber.assert_no_pending_responses()
    assert (run2.status, run2.items_read) == ("succeeded", 40)
    stored = read_frame(sqlite_engine, select(jobs)).set_index("job_id")
    assert len(stored) == 291
    assert stored.loc["long-30h", "status"] == "SUCCEEDED"
    assert (stored["status"] == "SUCCEEDED").all()

    # Calls of the second run: 1 ListJobs (40 summaries) instead of 7 (291 summaries), + 1 DescribeJobs.
    assert second.calls == Counter({"describe_job_queues": 1, "list_jobs": 1, "describe_jobs": 1})
    assert _per_state_calls_before(estate) == 7

    # A third run over an unchanged estate lists the 40 jobs of its window again and describes none.
    third = StubbedBatch()
    third.expect("describe_job_queues", QUEUES, {})
    third.listing(estate, FIRST_RUN)
    [run3] = collect(
        sqlite_engine,
        [fixed_plan("prod", {"batch": third.client})],
        select_sources(["jobs"]),
        clock=Clock(SECOND_RUN + timedelta(hours=1)),
    )
    third.stubber.assert_no_pending_responses()
    assert (run3.status, run3.items_written) == ("succeeded", 0)
    assert third.calls["list_jobs"] == 1 and "describe_jobs" not in third.calls


def test_a_busy_queue_lists_only_the_last_hours(sqlite_engine: Engine) -> None:
    """7 days retained at 1,000 jobs a day: the per-state listing reads all 7,000 summaries in 13
    calls (the first run still does); the filtered one, on the next run, the 2 hours since an hour
    before the first run, in 1 call."""
    retained = [
        job_record(f"job-{n:04d}", _ms(FIRST_RUN - timedelta(days=7) + timedelta(seconds=86.4 * n)))
        for n in range(7000)
    ]
    by_id = {r["jobId"]: r for r in retained}
    assert _per_state_calls_before(retained) == 13

    first = StubbedBatch()
    first.expect("describe_job_queues", QUEUES, {})
    first.per_state_listing(retained)
    first.describe(by_id, [r["jobId"] for r in sorted(retained, key=lambda r: -r["createdAt"])])
    collect(
        sqlite_engine,
        [fixed_plan("prod", {"batch": first.client})],
        select_sources(["jobs"]),
        clock=Clock(FIRST_RUN),
    )
    first.stubber.assert_no_pending_responses()
    assert first.calls["list_jobs"] == 13  # the same as before for a first run

    hour = [job_record(f"next-{n:02d}", _ms(FIRST_RUN + timedelta(seconds=86.4 * n))) for n in range(42)]
    by_id |= {r["jobId"]: r for r in hour}
    second = StubbedBatch()
    second.expect("describe_job_queues", QUEUES, {})
    second.listing([*retained, *hour], FIRST_RUN - timedelta(hours=1))  # an hour before the first run
    second.describe(by_id, [r["jobId"] for r in reversed(hour)])
    [run] = collect(
        sqlite_engine,
        [fixed_plan("prod", {"batch": second.client})],
        select_sources(["jobs"]),
        clock=Clock(SECOND_RUN),
    )
    second.stubber.assert_no_pending_responses()
    assert run.status == "succeeded"
    assert second.calls["list_jobs"] == 1
    assert run.items_read == 41 + 42  # the hour before the first run and the hour since, not 7,042


def test_a_store_from_before_the_filtered_listing_resumes_from_its_oldest_state_mark() -> None:
    legacy = {
        f"{QUEUE_ARN}|SUCCEEDED": "2026-01-02T10:00:00.000",
        f"{QUEUE_ARN}|FAILED": "2026-01-01T08:00:00.000",
    }
    assert queue_watermark(legacy, QUEUE_ARN, ("SUCCEEDED", "FAILED")) == "2026-01-01T08:00:00.000"
    current = {**legacy, f"{QUEUE_ARN}|created": "2026-01-03T00:00:00.000"}
    assert queue_watermark(current, QUEUE_ARN, ("SUCCEEDED", "FAILED")) == "2026-01-03T00:00:00.000"
    assert queue_watermark({}, QUEUE_ARN, ("SUCCEEDED", "FAILED")) is None


def test_a_backlog_of_old_open_jobs_is_listed_by_state_not_described_one_by_one(
    sqlite_engine: Engine,
) -> None:
    """2,000 jobs RUNNABLE since day 1 (before the listing window), one of them started since: 20
    DescribeJobs calls would re-read them all; listing the 5 open states (1,000 a page) costs 6 and
    only the one that changed is described."""
    created = datetime(2026, 1, 1)
    backlog = [
        job_record(f"queued-{n:04d}", _ms(created) + n, status="RUNNABLE", attempts=[]) for n in range(2000)
    ]
    with sqlite_engine.begin() as conn:
        bulk_upsert(
            conn,
            jobs,
            [
                {
                    "job_id": r["jobId"],
                    "dataset": "aws",
                    "account_id": "123456789012",
                    "region": REGION,
                    "job_queue_arn": QUEUE_ARN,
                    "status": "RUNNABLE",
                    "created_at": created,
                }
                for r in backlog
            ],
        )
        bulk_upsert(
            conn,
            collector_watermarks,
            [
                {
                    "target": "prod",
                    "region": REGION,
                    "source": "jobs",
                    "scope": f"{QUEUE_ARN}|created",
                    "value": "2026-01-02T23:00:00.000",
                    "updated_at": FIRST_RUN,
                }
            ],
        )
    started = _running("queued-0007", created)
    still_queued = [r for r in backlog if r["jobId"] != "queued-0007"]
    batch = StubbedBatch()
    batch.expect("describe_job_queues", QUEUES, {})
    batch.listing([], datetime(2026, 1, 2, 22))  # nothing created since an hour before the mark
    for status in OPEN_STATES:
        shown = {"RUNNABLE": still_queued, "RUNNING": [started]}.get(status, [])
        batch._pages(
            [summary(r) for r in shown],
            {"jobQueue": QUEUE_ARN, "jobStatus": status, "maxResults": 1000},
            1000,
        )
    batch.describe({"queued-0007": started}, ["queued-0007"])
    [run] = collect(
        sqlite_engine,
        [fixed_plan("prod", {"batch": batch.client})],
        select_sources(["jobs"]),
        clock=Clock(FIRST_RUN),
    )
    batch.stubber.assert_no_pending_responses()
    assert run.status == "succeeded", run
    assert batch.calls == Counter({"describe_job_queues": 1, "list_jobs": 7, "describe_jobs": 1})
    status = read_frame(sqlite_engine, select(jobs.c.job_id, jobs.c.status)).set_index("job_id")["status"]
    assert status["queued-0007"] == "RUNNING" and (status.drop("queued-0007") == "RUNNABLE").all()


def test_an_idle_queue_is_listed_through_the_run_not_its_last_job() -> None:
    """A queue whose last job is 10 days old keeps a mark at the last run, so the next run lists an
    hour (filtered), not everything retained per state."""
    ten_days_ago = _ms(FIRST_RUN - timedelta(days=10))
    assert listed_through(FIRST_RUN, ten_days_ago, "2026-01-02T00:00:00.000") == "2026-01-03T00:00:00.000"
    assert listed_through(FIRST_RUN, None, None) == "2026-01-03T00:00:00.000"
    ahead = _ms(FIRST_RUN + timedelta(minutes=2))  # Batch's clock ahead of ours
    assert listed_through(FIRST_RUN, ahead, None) == "2026-01-03T00:02:00.000"
    assert (
        listed_through(FIRST_RUN, None, "2026-01-04T00:00:00.000") == "2026-01-04T00:00:00.000"
    )  # never back
