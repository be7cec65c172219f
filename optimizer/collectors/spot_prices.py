"""Spot prices from DescribeSpotPriceHistory, incremental per (instance type, AZ).

Which types: the ones this estate can use, so the read stays small: every type seen running in the
region, the explicit types of the region's compute environments, and every catalog type of the
families they name ("m5", or an alias: `optimizer.catalog.batch_rules.INSTANCE_ALIASES`). The request
starts at the oldest watermark of those types (or the lookback on a first run), never more than
the 90 days DescribeSpotPriceHistory serves; records at or before a pair's own watermark are
skipped, so each price point is stored once.

Product descriptions: Batch instances are Linux in a VPC. Accounts list them as `Linux/UNIX`, and
some (recorded responses show it) as `Linux/UNIX (Amazon VPC)`; both are asked for, and where one
(type, AZ, time) carries both the VPC price is kept.

Checks: EC2 answers a window with the change in effect at its start and every change inside it, so
the newest record of each (type, AZ) in the answer is the price in effect at the request's end.
Each collection stores it with the request's end (`spot_price_checks`): the history itself lists
changes only, and a price that held for a month has nothing newer than its month-old point.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, select

from optimizer.aws.calls import items
from optimizer.aws.paginate import chunks
from optimizer.aws.permissions import declare
from optimizer.catalog.batch_rules import expand_instance_types as expand_batch_entries
from optimizer.collectors.base import CollectContext, Collected, Source, format_watermark, utc_naive
from optimizer.store.schema import compute_environments, instance_types, instances, spot_prices
from optimizer.store.tables.catalog import spot_price_checks
from optimizer.store.upsert import bulk_upsert

declare("collector", "ec2:DescribeSpotPriceHistory")

PRODUCT = "Linux/UNIX"
VPC_PRODUCT = "Linux/UNIX (Amazon VPC)"
PRODUCTS = (PRODUCT, VPC_PRODUCT)
TYPES_PER_REQUEST = 50
#: DescribeSpotPriceHistory returns at most the last 90 days (EC2 API reference).
MAX_LOOKBACK = timedelta(days=90)


def scope_key(instance_type: str, availability_zone: str) -> str:
    return f"{instance_type}|{availability_zone}"


def expand_instance_types(requested: Iterable[str], catalog: Iterable[str]) -> set[str]:
    """CE `instanceTypes` entries (types, families, Batch aliases) -> concrete types: the catalogue's
    expansion (`optimizer.catalog.batch_rules`), plus explicit types the catalogue does not list yet."""
    requested = list(requested)
    return set(expand_batch_entries(requested, catalog)) | {e for e in requested if "." in e}


def types_of_interest(engine: Engine, region: str) -> list[str]:
    with engine.connect() as conn:
        seen = {
            r[0] for r in conn.execute(select(instances.c.instance_type).where(instances.c.region == region))
        }
        ce_types = conn.execute(
            select(compute_environments.c.instance_types).where(
                compute_environments.c.region == region, compute_environments.c.deleted_at.is_(None)
            )
        )
        requested = {t for (types,) in ce_types for t in (types or ())}
        catalog = [
            r[0]
            for r in conn.execute(
                select(instance_types.c.instance_type).where(instance_types.c.region == region)
            )
        ]
    return sorted((seen - {"unknown"}) | expand_instance_types(requested, catalog))


def get_spot_price_history(ctx: CollectContext, types: list[str], start: Any) -> list[dict[str, Any]]:
    ec2 = ctx.client("ec2")
    records: list[dict[str, Any]] = []
    for chunk in chunks(types, TYPES_PER_REQUEST):
        pages = items(
            ec2,
            "describe_spot_price_history",
            "SpotPriceHistory",
            token_in="NextToken",
            sleep=ctx.sleep,
            InstanceTypes=chunk,
            ProductDescriptions=list(PRODUCTS),
            StartTime=start,
            EndTime=ctx.now,
        )
        records.extend(pages)
    return records


def _linux_points(records: Iterable[Mapping[str, Any]]) -> Iterator[tuple[str, str, Any, bool, float]]:
    """(AZ, type, time, is the VPC product, price) of each record of a Linux product."""
    for record in records:
        product = str(record.get("ProductDescription", PRODUCT))
        if product in PRODUCTS:
            yield (
                record["AvailabilityZone"],
                record["InstanceType"],
                utc_naive(record["Timestamp"]),
                product == VPC_PRODUCT,
                float(record["SpotPrice"]),
            )


def transform_spot_prices(
    records: Iterable[Mapping[str, Any]], region: str, watermarks: Mapping[str, str]
) -> tuple[pd.DataFrame, dict[str, str]]:
    """New price points (after each pair's watermark) and the advanced watermarks."""
    points: dict[tuple[str, str, Any], tuple[bool, float]] = {}
    newest: dict[str, str] = {}
    for az, itype, stamp, vpc, price in _linux_points(records):
        scope = scope_key(itype, az)
        mark = format_watermark(stamp)
        if scope in watermarks and mark <= watermarks[scope]:
            continue
        key = (az, itype, stamp)
        if key not in points or (vpc and not points[key][0]):
            points[key] = (vpc, price)
        newest[scope] = max(mark, newest.get(scope, mark))
    rows = [(region, az, itype, stamp, price) for (az, itype, stamp), (_, price) in points.items()]
    frame = pd.DataFrame(rows, columns=["region", "availability_zone", "instance_type", "timestamp", "price"])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"])
    return frame, newest


def price_checks(records: Iterable[Mapping[str, Any]], region: str, checked_at: Any) -> pd.DataFrame:
    """Per (AZ, type): the price of its newest record in the answer, in effect at `checked_at` (the
    request's end); the VPC product's where one time carries both (as `transform_spot_prices`)."""
    newest: dict[tuple[str, str], tuple[Any, bool, float]] = {}
    for az, itype, stamp, vpc, price in _linux_points(records):
        if (az, itype) not in newest or (stamp, vpc) > newest[(az, itype)][:2]:
            newest[(az, itype)] = (stamp, vpc, price)
    rows = [
        (region, az, itype, utc_naive(checked_at), price) for (az, itype), (_, _, price) in newest.items()
    ]
    frame = pd.DataFrame(
        rows, columns=["region", "availability_zone", "instance_type", "checked_at", "price"]
    )
    frame["checked_at"] = pd.to_datetime(frame["checked_at"])
    return frame


def _collect(ctx: CollectContext, engine: Engine, watermarks: Mapping[str, str]) -> Collected:
    types = types_of_interest(engine, ctx.region)
    if not types:
        empty = transform_spot_prices([], ctx.region, watermarks)[0]
        return Collected(
            0, {"spot_prices": empty, "spot_price_checks": price_checks([], ctx.region, ctx.now)}
        )
    type_marks = [v for k, v in watermarks.items() if k.split("|", 1)[0] in types]
    # A type never read (no watermark yet) needs the full lookback; otherwise the oldest mark.
    known_types = {k.split("|", 1)[0] for k in watermarks}
    oldest = None if (set(types) - known_types) or not type_marks else min(type_marks)
    start = max(ctx.start_from(oldest), ctx.now - MAX_LOOKBACK)
    records = get_spot_price_history(ctx, types, start)
    frame, newest = transform_spot_prices(records, ctx.region, watermarks if ctx.since is None else {})
    checks = price_checks(records, ctx.region, ctx.now)
    return Collected(len(records), {"spot_prices": frame, "spot_price_checks": checks}, newest)


def _load(conn: Connection, ctx: CollectContext, collected: Collected) -> int:
    bulk_upsert(conn, spot_price_checks, collected.frames["spot_price_checks"])
    return bulk_upsert(conn, spot_prices, collected.frames["spot_prices"])


SPOT_PRICES = Source("spot_prices", _collect, _load, "Spot price history per instance type and AZ")
