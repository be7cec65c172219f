"""On-demand Linux prices from the AWS Price List API, with the bundled snapshot as the fallback.

GetProducts is answered only by the us-east-1 (and ap-south-1) endpoints, whatever region is priced,
so the client is made for us-east-1 and the region goes in the filter; the China regions have their
own Price List endpoint (cn-northwest-1) and price in CNY. The filters pick the one product per
instance type a Batch instance is billed as: Linux, shared tenancy, no pre-installed software,
capacity status "Used" (not reservations), operation RunInstances (no licensed extras), market
option OnDemand (the Price List also carries Capacity Block and other market options of the same
SKU attributes). The price is read in the currency the term states (USD, or CNY in China) and
stored with it.
When the API cannot be reached (no network route, no permission, an emulator without it) the
bundled snapshot is loaded instead and the run row says so.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine

from optimizer.aws.calls import items
from optimizer.aws.permissions import declare
from optimizer.catalog.files import PRICE_SNAPSHOT_REGION, load_price_snapshot
from optimizer.collectors.base import CollectContext, Collected, Source, utc_naive
from optimizer.store.read import SNAPSHOT_SOURCE
from optimizer.store.schema import ondemand_prices
from optimizer.store.upsert import bulk_upsert

declare("collector", "pricing:GetProducts")

PRICING_REGION = "us-east-1"
CHINA_PRICING_REGION = "cn-northwest-1"
CURRENCIES = ("USD", "CNY")
COLUMNS = ["region", "instance_type", "effective_date", "price_per_hour", "source", "currency"]


def pricing_region(region: str) -> str:
    """The Price List endpoint that prices `region` (China's partition has its own)."""
    return CHINA_PRICING_REGION if region.startswith("cn-") else PRICING_REGION


def price_filters(region: str) -> list[dict[str, str]]:
    wanted = {
        "regionCode": region,
        "operatingSystem": "Linux",
        "tenancy": "Shared",
        "preInstalledSw": "NA",
        "capacitystatus": "Used",
        "operation": "RunInstances",
        "marketoption": "OnDemand",
    }
    return [{"Type": "TERM_MATCH", "Field": field, "Value": value} for field, value in wanted.items()]


def get_price_list(ctx: CollectContext) -> list[str]:
    pricing = ctx.client("pricing", pricing_region(ctx.region))
    return list(
        items(
            pricing,
            "get_products",
            "PriceList",
            token_in="NextToken",
            sleep=ctx.sleep,
            ServiceCode="AmazonEC2",
            Filters=price_filters(ctx.region),
            FormatVersion="aws_v1",
        )
    )


def transform_price_list(price_list: Iterable[str | Mapping[str, Any]], region: str) -> pd.DataFrame:
    """One row per (type, effective date): the hourly price of each OnDemand term in the currency
    it is stated in (USD; CNY in China), with that currency; zero prices (the placeholders AWS lists
    for unavailable combinations) are dropped."""
    rows = []
    for entry in price_list:
        product = json.loads(entry) if isinstance(entry, str) else entry
        attributes = product.get("product", {}).get("attributes", {})
        instance_type = attributes.get("instanceType")
        if not instance_type:
            continue
        for term in product.get("terms", {}).get("OnDemand", {}).values():
            for dimension in term.get("priceDimensions", {}).values():
                per_unit = dimension.get("pricePerUnit", {})
                currency = next((c for c in CURRENCIES if c in per_unit), None)
                price = float(per_unit.get(currency, 0) or 0) if currency else 0.0
                if dimension.get("unit") != "Hrs" or price <= 0:
                    continue
                effective = utc_naive(datetime.fromisoformat(term["effectiveDate"].replace("Z", "+00:00")))
                rows.append((region, instance_type, effective, price, "pricing-api", currency))
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame["effective_date"] = pd.to_datetime(frame["effective_date"])
    return frame


def snapshot_prices(region: str) -> pd.DataFrame:
    """The bundled snapshot's prices for `region` (it covers us-east-1 only)."""
    if region != PRICE_SNAPSHOT_REGION:
        raise LookupError(f"the bundled price snapshot covers {PRICE_SNAPSHOT_REGION} only, not {region}")
    snapshot = load_price_snapshot().dropna(subset=["ondemand_price"])
    frame = pd.DataFrame(
        {
            "region": region,
            "instance_type": snapshot["instance_type"].astype(object),
            "effective_date": snapshot["effective_date"],
            "price_per_hour": snapshot["ondemand_price"],
            "source": SNAPSHOT_SOURCE,
            "currency": "USD",
        }
    )
    return frame.reset_index(drop=True)


def _collect(ctx: CollectContext, engine: Engine, watermarks: Mapping[str, str]) -> Collected:
    try:
        price_list = get_price_list(ctx)
        frame = transform_price_list(price_list, ctx.region)
        if frame.empty:
            raise LookupError(f"the Price List API returned no Linux on-demand price for {ctx.region}")
        return Collected(len(price_list), {"ondemand_prices": frame})
    except Exception as exc:  # any failure of the API (network, permission, empty answer) -> snapshot
        try:
            frame = snapshot_prices(ctx.region)
        except LookupError as missing:
            raise RuntimeError(f"Price List API failed ({exc}) and {missing}") from exc
        warning = f"Price List API failed ({type(exc).__name__}: {exc}); loaded the bundled snapshot"
        return Collected(len(frame), {"ondemand_prices": frame}, extra={"warning": warning})


def _load(conn: Connection, ctx: CollectContext, collected: Collected) -> int:
    return bulk_upsert(conn, ondemand_prices, collected.frames["ondemand_prices"])


ONDEMAND_PRICES = Source(
    "ondemand_prices", _collect, _load, "On-demand prices (Price List API, bundled snapshot fallback)"
)
