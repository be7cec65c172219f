"""Instance lifetimes from CloudTrail when there is no event intake: RunInstances and
TerminateInstances from `cloudtrail:LookupEvents` (the 90-day event history every account has,
no setup needed).

RunInstances' record says how each instance was launched (type, subnet, instance profile, spot
market, launch time), which matches it to a Batch compute environment
(`instance_lifetimes.match_environment`); TerminateInstances says when it entered shutting-down.
An instance that lived ten minutes between two runs is thus still stored, with exact times and
`lifetime_source = cloudtrail`. Instances EC2 ends itself (a spot reclaim) leave no
TerminateInstances; their end comes from sampling (or the job attempt that names the reclaim).

The read is incremental: a watermark at the newest event time read, re-reading `TRAIL_OVERLAP`
before it because CloudTrail delivers events to LookupEvents up to ~15 minutes late.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

from optimizer.aws.calls import pages
from optimizer.aws.permissions import declare
from optimizer.collectors.base import CollectContext, from_epoch_ms, utc_naive
from optimizer.collectors.instance_lifetimes import LaunchFacts

declare("collector", "cloudtrail:LookupEvents")

HISTORY = timedelta(days=90)  # what LookupEvents serves
TRAIL_OVERLAP = timedelta(minutes=30)
WATERMARK_SCOPE = "cloudtrail"
PAGE_SIZE = 50  # LookupEvents' maximum

Change = tuple[str, str, str | None, str | None, datetime]


def trail_window(ctx: CollectContext, watermark: str | None) -> tuple[datetime, datetime]:
    start = ctx.start_from(watermark)
    if watermark and ctx.since is None:
        start -= TRAIL_OVERLAP
    return max(start, ctx.now - HISTORY), ctx.now


def lookup(ctx: CollectContext, event_name: str, start: datetime, end: datetime) -> Iterator[dict[str, Any]]:
    trail = ctx.client("cloudtrail")
    for page in pages(
        trail,
        "lookup_events",
        sleep=ctx.sleep,
        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": event_name}],
        StartTime=start,
        EndTime=end,
        MaxResults=PAGE_SIZE,
    ):
        yield from page.get("Events", [])


def _record(event: Mapping[str, Any]) -> dict[str, Any] | None:
    try:
        record = json.loads(event.get("CloudTrailEvent") or "")
    except ValueError:
        return None
    return record if isinstance(record, dict) and not record.get("errorCode") else None


def _items(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    response = record.get("responseElements") or {}
    return list(((response.get("instancesSet") or {}).get("items")) or [])


def parse_trail(
    events: list[Mapping[str, Any]], account_id: str | None, region: str
) -> tuple[list[Change], dict[str, LaunchFacts]]:
    """(state changes, launch facts by instance id) from RunInstances / TerminateInstances events."""
    changes: list[Change] = []
    facts: dict[str, LaunchFacts] = {}
    for event in events:
        record = _record(event)
        if record is None:
            continue
        when = utc_naive(event["EventTime"])
        account = record.get("recipientAccountId") or account_id
        place = record.get("awsRegion") or region
        request = record.get("requestParameters") or {}
        if event.get("EventName") == "RunInstances":
            spot = ((request.get("instanceMarketOptions") or {}).get("marketType")) == "spot"
            for item in _items(record):
                iid = item.get("instanceId")
                if not iid:
                    continue
                launched = item.get("launchTime")
                start = from_epoch_ms(launched) if isinstance(launched, int | float) else when
                changes.append((iid, "pending", account, place, start))
                profile = (item.get("iamInstanceProfile") or request.get("iamInstanceProfile") or {}).get(
                    "arn"
                )
                facts[iid] = LaunchFacts(
                    instance_type=item.get("instanceType") or request.get("instanceType") or "unknown",
                    availability_zone=(item.get("placement") or {}).get("availabilityZone"),
                    subnet_id=item.get("subnetId") or request.get("subnetId"),
                    instance_profile=profile,
                    spot=spot or item.get("instanceLifecycle") == "spot",
                )
        elif event.get("EventName") == "TerminateInstances":
            for item in _items(record):
                if item.get("instanceId"):
                    changes.append((item["instanceId"], "shutting-down", account, place, when))
    return changes, facts


def get_trail(ctx: CollectContext, watermark: str | None) -> tuple[list[dict[str, Any]], datetime | None]:
    """The RunInstances and TerminateInstances events of the window; the newest event time."""
    start, end = trail_window(ctx, watermark)
    events = [*lookup(ctx, "RunInstances", start, end), *lookup(ctx, "TerminateInstances", start, end)]
    newest = max((utc_naive(e["EventTime"]) for e in events), default=None)
    return events, newest
