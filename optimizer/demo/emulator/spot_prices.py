"""EC2 DescribeSpotPriceHistory from real published spot data instead of moto's placeholder.

Gap in moto 5.2.5: `describe_spot_price_history` returns the instance-type offerings of the region
with a fixed made-up price and no time dimension. This handler serves two real sources:

1. Real recorded history: `optimizer/demo/data/DescribeSpotPriceHistory_m5.large_us-east-1_2021-01.json`,
   a real response (m5.large, 5 AZs, 2021-01-08..02-09). Its records are moved in time by one constant
   offset so the last record falls at the emulator's `now` (price values, AZs and the spacing between
   changes are untouched), because the demo's history is "the last 30 days".
2. Every other (instance type, AZ) of the region: the Spot Instance Advisor's published saving for the
   type (`optimizer.catalog.files.load_spot_advisor`, AWS's feed of 2025-06-28) applied to the bundled
   on-demand price, `on_demand * (1 - savings/100)`, as one price in effect since `history_start`; the AZs are
   those where moto's bundled (real) offerings list the type.

Semantics follow EC2: `InstanceType.N`, `ProductDescription.N` (Linux/UNIX only is served; other
platforms return nothing), `AvailabilityZone`, `Filter.N` on instance-type, availability-zone,
product-description and spot-price, `StartTime`/`EndTime` (a record is returned when it is in effect
at some point of the window: the last change at or before `StartTime` and every change inside it),
newest first, `MaxResults` (default and max 1000) and `NextToken`.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path

from moto.ec2.models.instance_types import INSTANCE_TYPE_OFFERINGS

from optimizer.catalog.files import PRICE_SNAPSHOT_REGION, load_price_snapshot, load_spot_advisor
from optimizer.demo.emulator.batch_jobs import decode_token, encode_token
from optimizer.demo.emulator.protocol import ApiRequest, ApiResponse, xml_error, xml_reply, xml_text

RECORDED_HISTORY = (
    Path(__file__).resolve().parents[1] / "data" / "DescribeSpotPriceHistory_m5.large_us-east-1_2021-01.json"
)
RECORDED_REGION = "us-east-1"
LINUX = "Linux/UNIX"
MAX_PAGE = 1000
_INDEXED = re.compile(r"^(InstanceType|ProductDescription)\.\d+$")
_FILTER = re.compile(r"^Filter\.(\d+)\.(Name|Value\.\d+)$")


@dataclass(frozen=True)
class SpotRecord:
    instance_type: str
    availability_zone: str
    price: float
    timestamp: datetime


def _parse_time(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class SpotPriceHistory:
    """Handler for `ec2:DescribeSpotPriceHistory`; `now` and `history_start` anchor the data in time."""

    def __init__(self, now: datetime, history_start: datetime) -> None:
        self.now = now
        self.history_start = history_start
        self._derived_cache: dict[str, list[SpotRecord]] = {}

    @cached_property
    def _recorded(self) -> list[SpotRecord]:
        raw = json.loads(RECORDED_HISTORY.read_text())["SpotPriceHistory"]
        records = [
            SpotRecord(
                r["InstanceType"], r["AvailabilityZone"], float(r["SpotPrice"]), _parse_time(r["Timestamp"])
            )
            for r in raw
            if r.get("ProductDescription") == LINUX
        ]
        shift = self.now - max(r.timestamp for r in records)
        return [
            SpotRecord(r.instance_type, r.availability_zone, r.price, r.timestamp + shift) for r in records
        ]

    def _derived(self, region: str) -> list[SpotRecord]:
        if region not in self._derived_cache:
            self._derived_cache[region] = self._build_derived(region)
        return self._derived_cache[region]

    def _build_derived(self, region: str) -> list[SpotRecord]:
        """Advisor saving x on-demand price; only where the on-demand price is known (us-east-1)."""
        records: list[SpotRecord] = []
        if region == PRICE_SNAPSHOT_REGION:
            prices = load_price_snapshot().dropna(subset=["ondemand_price"])
            on_demand = dict(zip(prices["instance_type"], prices["ondemand_price"], strict=True))
            advisor = load_spot_advisor(region)
            azs_by_type: dict[str, list[str]] = defaultdict(list)
            for offering in INSTANCE_TYPE_OFFERINGS["availability-zone"].get(region, []):
                azs_by_type[offering["InstanceType"]].append(offering["Location"])
            recorded_types = {(r.instance_type, r.availability_zone) for r in self._recorded}
            for row in advisor.itertuples(index=False):
                price = on_demand.get(str(row.instance_type))
                if price is None or row.savings_pct is None:
                    continue
                spot = round(float(price) * (1.0 - float(row.savings_pct) / 100.0), 6)
                for az in sorted(azs_by_type.get(str(row.instance_type), [])):
                    if (row.instance_type, az) not in recorded_types:
                        records.append(SpotRecord(str(row.instance_type), az, spot, self.history_start))
        return records

    def records(self, region: str) -> list[SpotRecord]:
        recorded = self._recorded if region == RECORDED_REGION else []
        return recorded + self._derived(region)

    def handle(self, request: ApiRequest) -> ApiResponse:
        form = request.form()
        types = {
            v for k, vs in form.items() if _INDEXED.match(k) and k.startswith("InstanceType") for v in vs
        }
        products = {v for k, vs in form.items() if _INDEXED.match(k) and k.startswith("Product") for v in vs}
        filters: dict[str, set[str]] = defaultdict(set)
        names: dict[str, str] = {}
        for key, values in form.items():
            match = _FILTER.match(key)
            if match and match.group(2) == "Name":
                names[match.group(1)] = values[0]
        for key, values in form.items():
            match = _FILTER.match(key)
            if match and match.group(2) != "Name" and match.group(1) in names:
                filters[names[match.group(1)]].update(values)
        try:
            start = _parse_time(form["StartTime"][0]) if "StartTime" in form else None
            end = _parse_time(form["EndTime"][0]) if "EndTime" in form else None
            max_results = int(form.get("MaxResults", [str(MAX_PAGE)])[0])
        except ValueError as exc:
            return xml_error("InvalidParameterValue", f"malformed parameter: {exc}")
        if not 1 <= max_results <= MAX_PAGE:
            return xml_error("InvalidParameterValue", f"MaxResults must be 1..{MAX_PAGE}")
        if "AvailabilityZone" in form:
            filters["availability-zone"].update(form["AvailabilityZone"])
        if types:
            filters["instance-type"].update(types)
        if products:
            filters["product-description"].update(products)
        selected = self._select(request.region, filters, start, end)
        offset = 0
        if "NextToken" in form:
            decoded = decode_token(form["NextToken"][0])
            if decoded is None:
                return xml_error("InvalidNextToken", "The token is not valid")
            offset = decoded
        page = selected[offset : offset + max_results]
        items = "".join(
            "<item>"
            + xml_text("instanceType", r.instance_type)
            + xml_text("productDescription", LINUX)
            + xml_text("spotPrice", f"{r.price:.6f}")
            + xml_text("timestamp", r.timestamp.strftime("%Y-%m-%dT%H:%M:%S.000Z"))
            + xml_text("availabilityZone", r.availability_zone)
            + "</item>"
            for r in page
        )
        token = (
            xml_text("nextToken", encode_token(offset + max_results))
            if offset + max_results < len(selected)
            else ""
        )
        return xml_reply(
            "DescribeSpotPriceHistory", f"<spotPriceHistorySet>{items}</spotPriceHistorySet>{token}"
        )

    def _select(
        self, region: str, filters: dict[str, set[str]], start: datetime | None, end: datetime | None
    ) -> list[SpotRecord]:
        products = filters.get("product-description")
        if products and not any(p.startswith(LINUX) for p in products):
            return []
        candidates = [
            r
            for r in self.records(region)
            if (not filters.get("instance-type") or r.instance_type in filters["instance-type"])
            and (not filters.get("availability-zone") or r.availability_zone in filters["availability-zone"])
            and (not filters.get("spot-price") or f"{r.price:.6f}" in filters["spot-price"])
        ]
        end = end or self.now
        start = start or end - timedelta(days=90)
        in_window = [r for r in candidates if start <= r.timestamp <= end]
        # Plus the price in effect at `start` for each pool: its last change at or before `start`.
        before: dict[tuple[str, str], SpotRecord] = {}
        for r in candidates:
            if r.timestamp < start:
                key = (r.instance_type, r.availability_zone)
                if key not in before or r.timestamp > before[key].timestamp:
                    before[key] = r
        chosen = in_window + list(before.values())
        chosen.sort(key=lambda r: (r.timestamp, r.instance_type, r.availability_zone), reverse=True)
        return chosen
