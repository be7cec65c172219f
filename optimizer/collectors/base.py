"""What every collector shares: the per-(target, region) context, the collected batch, the source
registry and time conversions.

A source is two functions: `collect` (get_* API calls, then the pure transform_*) returns a
`Collected` without touching the store's data tables, and `load` writes it inside the transaction
the runner opens, the same one that advances the watermarks and finishes the run row. So a failure
anywhere before the commit leaves the data and the watermark exactly as they were.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine

from optimizer.aws.calls import Sleep

ClientFactory = Callable[[str, str], Any]
"""(service, region) -> a boto3 client for the context's target."""

TERMINAL_JOB_STATUSES = ("SUCCEEDED", "FAILED")


@dataclass
class CollectContext:
    """One target account in one region, plus the knobs every source reads."""

    target: str
    region: str
    account_id: str | None
    client_factory: ClientFactory
    now: datetime  # naive UTC; fixed for the whole run so every row of a run agrees
    since: datetime | None = None  # explicit start (--since) overriding watermarks
    initial_lookback: timedelta = timedelta(days=30)
    reconcile_window: timedelta = timedelta(hours=1)  # listed before each queue's job watermark
    job_statuses: tuple[str, ...] = TERMINAL_JOB_STATUSES
    describe_jobs_chunk: int = 100
    # Batch lists finished jobs for at least 7 days (AWS Batch User Guide, "Job states").
    listing_retention: timedelta = timedelta(days=7)
    events_queue_urls: tuple[str, ...] = ()  # the event intake's queues (collection.events_queue_url)
    events_batch_messages: int = 1000  # messages per transaction
    events_max_messages: int = 1_000_000  # per run, so one run cannot drain for ever
    events_wait_seconds: int = 0  # ReceiveMessage long-poll; 0 = stop as soon as the queue is empty
    events_visibility_timeout: int = 300  # longer than a batch takes to store, so no one else gets it
    cloudtrail_lifetimes: bool = True  # instance lifetimes from CloudTrail when there is no intake
    usage_late_window: timedelta = timedelta(minutes=30)  # usage re-read before its watermark
    sleep: Sleep = time.sleep
    _clients: dict[tuple[str, str], Any] = field(default_factory=dict, repr=False)

    def client(self, service: str, region: str | None = None) -> Any:
        key = (service, region or self.region)
        if key not in self._clients:
            self._clients[key] = self.client_factory(service, key[1])
        return self._clients[key]

    def start_from(self, watermark: str | None) -> datetime:
        """Where an incremental read starts: --since, else the watermark, else the lookback."""
        if self.since is not None:
            return self.since
        if watermark:
            return parse_watermark(watermark)
        return self.now - self.initial_lookback


@dataclass
class Collected:
    """What a source read and transformed, ready to load in one transaction."""

    items_read: int
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)
    watermarks: dict[str, str] = field(default_factory=dict)  # scope -> new value
    extra: dict[str, Any] = field(default_factory=dict)


CollectFn = Callable[[CollectContext, Engine, Mapping[str, str]], Collected]
LoadFn = Callable[[Connection, CollectContext, Collected], int]


@dataclass(frozen=True)
class Source:
    name: str
    collect: CollectFn
    load: LoadFn
    description: str


def utc_naive(value: datetime) -> datetime:
    """Datetimes in the store are naive UTC."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def format_watermark(value: datetime) -> str:
    return utc_naive(value).isoformat(timespec="milliseconds")


def parse_watermark(value: str) -> datetime:
    return utc_naive(datetime.fromisoformat(value))


def to_epoch_ms(value: datetime) -> int:
    return int(utc_naive(value).replace(tzinfo=UTC).timestamp() * 1000)


def from_epoch_ms(value: int | float) -> datetime:
    return datetime.fromtimestamp(value / 1000, tz=UTC).replace(tzinfo=None)
