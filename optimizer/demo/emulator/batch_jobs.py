"""Batch ListJobs and DescribeJobs over job history, with the pagination and filters moto lacks.

Gap in moto 5.2.5: jobs are live threads created by SubmitJob, so a job that ran last week with its
real created/started/stopped times and several attempts cannot exist; `list_jobs` ignores
`maxResults`/`nextToken` and honours only some filters. This handler answers both operations from
the seeded history (`EmulatorState`) merged with moto's own live jobs, implementing Batch's documented
semantics:

- the job set is one of `jobQueue` (name or ARN), `arrayJobId` or `multiNodeJobId`;
- without `filters`, `jobStatus` selects one status (default RUNNING); with `filters`, `jobStatus`
  is ignored and every status is listed (as in Batch);
- filters: `JOB_NAME` (exact, or a prefix with a trailing `*`), `JOB_DEFINITION` (name, name:revision
  or ARN, a trailing `*` allowed), `AFTER_CREATED_AT` / `BEFORE_CREATED_AT` (epoch milliseconds);
- newest first, `maxResults` 1..1000 (default 100), an opaque `nextToken`.

DescribeJobs takes at most 100 ids and returns history items as seeded, live jobs as moto describes
them, unknown ids omitted (Batch does the same).
"""

from __future__ import annotations

import base64
import json
from typing import Any

from moto.batch.models import batch_backends

from optimizer.demo.emulator.protocol import ApiRequest, ApiResponse, json_error, json_reply
from optimizer.demo.emulator.state import EmulatorState

DEFAULT_PAGE = 100
MAX_PAGE = 1000
SUMMARY_KEYS = (
    "jobArn",
    "jobId",
    "jobName",
    "createdAt",
    "status",
    "statusReason",
    "startedAt",
    "stoppedAt",
    "arrayProperties",
    "nodeProperties",
    "jobDefinition",
)


def encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def decode_token(token: str) -> int | None:
    try:
        offset = json.loads(base64.urlsafe_b64decode(token.encode()))["offset"]
    except (ValueError, KeyError, TypeError):
        return None
    return offset if isinstance(offset, int) and offset >= 0 else None


def read_page(params: dict[str, Any], default: int, most: int) -> tuple[int, int] | ApiResponse:
    """(offset, maxResults) of a Batch list/describe request that pages with an opaque
    `nextToken` and `maxResults` in 1..`most` (`default` when absent), or the ClientException
    Batch answers a bad value with."""
    max_results = params.get("maxResults", default)
    if isinstance(max_results, bool) or not isinstance(max_results, int) or not 1 <= max_results <= most:
        return json_error("ClientException", f"maxResults must be between 1 and {most}")
    offset = 0
    if params.get("nextToken"):
        decoded = decode_token(str(params["nextToken"]))
        if decoded is None:
            return json_error("ClientException", "Invalid nextToken")
        offset = decoded
    return offset, max_results


def summary(item: dict[str, Any]) -> dict[str, Any]:
    """A ListJobs summary from a DescribeJobs item (Batch's summary is a subset plus exit info)."""
    out = {k: item[k] for k in SUMMARY_KEYS if k in item}
    container = item.get("container") or {}
    brief = {k: container[k] for k in ("exitCode", "reason") if k in container}
    if brief:
        out["container"] = brief
    return out


def _definition_matches(pattern: str, arn: str) -> bool:
    name_revision = arn.rsplit("/", 1)[-1]
    name = name_revision.split(":", 1)[0]
    for candidate in (arn, name_revision, name):
        if pattern.endswith("*") and candidate.startswith(pattern[:-1]):
            return True
        if candidate == pattern:
            return True
    return False


def _passes(item: dict[str, Any], filters: list[dict[str, Any]]) -> bool:
    for flt in filters:
        name, values = flt.get("name"), [str(v) for v in flt.get("values") or []]
        if not values:
            continue
        if name == "JOB_NAME":
            job_name = str(item.get("jobName", ""))
            if not any(job_name.startswith(v[:-1]) if v.endswith("*") else job_name == v for v in values):
                return False
        elif name == "JOB_DEFINITION":
            if not any(_definition_matches(v, str(item.get("jobDefinition", ""))) for v in values):
                return False
        elif name in ("AFTER_CREATED_AT", "BEFORE_CREATED_AT"):
            bound = int(values[0])
            created = int(item.get("createdAt", 0))
            if name == "AFTER_CREATED_AT" and created <= bound:
                return False
            if name == "BEFORE_CREATED_AT" and created >= bound:
                return False
    return True


class BatchJobs:
    """Handlers for `batch:ListJobs` and `batch:DescribeJobs`."""

    def __init__(self, state: EmulatorState, account_id: str) -> None:
        self.state = state
        self.account_id = account_id

    def _backend(self, region: str) -> Any:
        return batch_backends[self.account_id][region]

    def _live_items(self, region: str, queue_arn: str | None, parent_id: str | None) -> list[dict[str, Any]]:
        backend = self._backend(region)
        if parent_id is not None:
            parent = backend.get_job_by_id(parent_id)
            return [child.describe() for child in (parent._child_jobs or [])] if parent else []
        queue = backend.get_job_queue(queue_arn) if queue_arn else None
        return [
            job.describe()
            for job in list(backend._jobs.values())
            if queue is not None and job.job_queue.arn == queue.arn
        ]

    def list_jobs(self, request: ApiRequest) -> ApiResponse:
        params = request.params
        queue_ref = params.get("jobQueue")
        parent = params.get("arrayJobId") or params.get("multiNodeJobId")
        if not queue_ref and not parent:
            return json_error("ClientException", "A job queue, array job ID or multi-node job ID is required")
        page = read_page(params, DEFAULT_PAGE, MAX_PAGE)
        if not isinstance(page, tuple):
            return page
        offset, max_results = page
        items: list[dict[str, Any]]
        if queue_ref:
            queue = self._backend(request.region).get_job_queue(queue_ref)
            if queue is None:
                return json_error("ClientException", f"Job queue {queue_ref} does not exist")
            items = self.state.queue_jobs(self.account_id, request.region, queue.arn)
            items += self._live_items(request.region, queue.arn, None)
        else:
            items = [
                i
                for i in self.state.all_jobs(self.account_id, request.region)
                if parent in (i.get("arrayParentId"), i.get("multiNodeParentId"))
            ]
            items += self._live_items(request.region, None, parent)
        filters = params.get("filters") or []
        if filters:
            selected = [i for i in items if _passes(i, filters)]
        else:
            status = params.get("jobStatus") or "RUNNING"
            selected = [i for i in items if i.get("status") == status]
        selected.sort(key=lambda i: (-int(i.get("createdAt", 0)), str(i.get("jobId"))))
        page = selected[offset : offset + max_results]
        reply: dict[str, Any] = {"jobSummaryList": [summary(i) for i in page]}
        if offset + max_results < len(selected):
            reply["nextToken"] = encode_token(offset + max_results)
        return json_reply(reply)

    def describe_jobs(self, request: ApiRequest) -> ApiResponse:
        ids = [str(j) for j in request.params.get("jobs") or []]
        if len(ids) > 100:
            return json_error("ClientException", "A maximum of 100 job IDs can be described at once")
        known = self.state.jobs(self.account_id, request.region, ids)
        rest = [j for j in ids if j not in known]
        live = {}
        if rest:
            backend = self._backend(request.region)
            live = {j.job_id: j.describe() for j in list(backend._jobs.values()) if j.job_id in rest}
        found = [known.get(j) or live.get(j) for j in dict.fromkeys(ids)]
        return json_reply({"jobs": [f for f in found if f is not None]})
