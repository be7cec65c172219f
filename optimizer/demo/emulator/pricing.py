"""The AWS Price List query API (`pricing:GetProducts`) served from the bundled on-demand snapshot.

Gap in moto 5.2.5: there is no Pricing service at all. This handler answers `GetProducts` for
`ServiceCode=AmazonEC2` with one product per instance type of the bundled snapshot
(`optimizer.catalog.files.load_price_snapshot`: AWS Price List, us-east-1, Linux, shared tenancy, on-demand),
each a JSON string in the Price List's own `aws_v1` shape (product attributes + OnDemand terms with
`pricePerUnit.USD`), like the recorded real response `GetProducts_m5_large.json`.

`Filters` of type TERM_MATCH are honoured on the attributes the product carries (instanceType,
regionCode, location, operatingSystem, tenancy, preInstalledSw, capacitystatus, licenseModel,
marketoption, vcpu, memory, ...); a filter on an attribute the product lacks matches nothing, as in
the real API. `MaxResults` 1..100 (default 100) and `NextToken` page the list.
`DescribeServices` lists AmazonEC2 so clients that probe the service first work.
"""

from __future__ import annotations

import hashlib
import json
from functools import cached_property
from typing import Any

import pandas as pd

from optimizer.catalog.files import load_price_snapshot
from optimizer.demo.emulator.batch_jobs import decode_token, encode_token
from optimizer.demo.emulator.protocol import ApiRequest, ApiResponse, json_error, json_reply

LOCATIONS = {"us-east-1": "US East (N. Virginia)"}
MAX_PAGE = 100
ON_DEMAND_TERM = "JRTCKXETXF"
RATE_CODE = "6YS6EN2CT7"


def _sku(instance_type: str, region: str) -> str:
    return hashlib.sha1(f"{region}/{instance_type}/linux".encode()).hexdigest()[:16].upper()


def _memory_label(memory_mib: int) -> str:
    gib = memory_mib / 1024
    return f"{gib:g} GiB"


class Pricing:
    """Handler for `pricing:GetProducts` and `pricing:DescribeServices`."""

    @cached_property
    def _products(self) -> list[dict[str, Any]]:
        snapshot = load_price_snapshot().dropna(subset=["ondemand_price"])
        products = []
        for row in snapshot.itertuples(index=False):
            region = str(row.region)
            sku = _sku(str(row.instance_type), region)
            effective = row.effective_date.strftime("%Y-%m-%dT00:00:00Z")
            price = float(row.ondemand_price)
            attributes = {
                "servicecode": "AmazonEC2",
                "servicename": "Amazon Elastic Compute Cloud",
                "instanceType": str(row.instance_type),
                "instanceFamily": str(row.family) if isinstance(row.family, str) else "",
                "regionCode": region,
                "location": LOCATIONS.get(region, region),
                "locationType": "AWS Region",
                "operatingSystem": "Linux",
                "tenancy": "Shared",
                "preInstalledSw": "NA",
                "licenseModel": "No License required",
                "capacitystatus": "Used",
                "marketoption": "OnDemand",
                "operation": "RunInstances",
                "usagetype": f"BoxUsage:{row.instance_type}",
                "processorArchitecture": "64-bit",
            }
            if not pd.isna(row.vcpus):
                attributes["vcpu"] = str(int(row.vcpus))
            if not pd.isna(row.memory_mib):
                attributes["memory"] = _memory_label(int(row.memory_mib))
            if not pd.isna(row.gpus) and int(row.gpus):
                attributes["gpu"] = str(int(row.gpus))
            term_key = f"{sku}.{ON_DEMAND_TERM}"
            products.append(
                {
                    "product": {"productFamily": "Compute Instance", "attributes": attributes, "sku": sku},
                    "serviceCode": "AmazonEC2",
                    "terms": {
                        "OnDemand": {
                            term_key: {
                                "priceDimensions": {
                                    f"{term_key}.{RATE_CODE}": {
                                        "unit": "Hrs",
                                        "endRange": "Inf",
                                        "description": f"${price} per On Demand Linux {row.instance_type} "
                                        "Instance Hour",
                                        "appliesTo": [],
                                        "rateCode": f"{term_key}.{RATE_CODE}",
                                        "beginRange": "0",
                                        "pricePerUnit": {"USD": f"{price:.10f}"},
                                    }
                                },
                                "sku": sku,
                                "effectiveDate": effective,
                                "offerTermCode": ON_DEMAND_TERM,
                                "termAttributes": {},
                            }
                        }
                    },
                    "version": effective[:10].replace("-", "") + "000000",
                    "publicationDate": effective,
                }
            )
        return products

    def get_products(self, request: ApiRequest) -> ApiResponse:
        params = request.params
        if params.get("ServiceCode") != "AmazonEC2":
            return json_error(
                "InvalidParameterException", "Only ServiceCode AmazonEC2 is served", amz_json=True
            )
        max_results = params.get("MaxResults", MAX_PAGE)
        if not isinstance(max_results, int) or not 1 <= max_results <= MAX_PAGE:
            return json_error("InvalidParameterException", f"MaxResults must be 1..{MAX_PAGE}", amz_json=True)
        filters = []
        for flt in params.get("Filters") or []:
            if flt.get("Type", "TERM_MATCH") != "TERM_MATCH":
                return json_error("InvalidParameterException", "Only TERM_MATCH filters", amz_json=True)
            filters.append((str(flt.get("Field")), str(flt.get("Value"))))
        selected = [
            p
            for p in self._products
            if all(p["product"]["attributes"].get(field) == value for field, value in filters)
        ]
        offset = 0
        if params.get("NextToken"):
            decoded = decode_token(str(params["NextToken"]))
            if decoded is None:
                return json_error("InvalidNextTokenException", "Invalid NextToken", amz_json=True)
            offset = decoded
        page = selected[offset : offset + max_results]
        reply: dict[str, Any] = {"FormatVersion": "aws_v1", "PriceList": [json.dumps(p) for p in page]}
        if offset + max_results < len(selected):
            reply["NextToken"] = encode_token(offset + max_results)
        return json_reply(reply, amz_json=True)

    def describe_services(self, request: ApiRequest) -> ApiResponse:
        return json_reply(
            {
                "Services": [
                    {
                        "ServiceCode": "AmazonEC2",
                        "AttributeNames": sorted(self._products[0]["product"]["attributes"]),
                    }
                ],
                "FormatVersion": "aws_v1",
            },
            amz_json=True,
        )
