"""`batch:DescribeJobDefinitions` with the multi-node parallel definitions' `nodeProperties`.

moto 5.2.5 keeps a multinode definition's `nodeProperties` (it launches its nodes from them) but
leaves them out of DescribeJobDefinitions, so a collector reading the demo estate would see an MNP
definition without its node ranges. The handler answers from moto's own backend, as moto would,
and adds the field; everything else about the answer is moto's.
"""

from __future__ import annotations

from typing import Any

from moto.batch.models import batch_backends

from optimizer.demo.emulator.protocol import ApiRequest, ApiResponse, json_reply


class JobDefinitions:
    """Handler for `batch:DescribeJobDefinitions`."""

    def __init__(self, account_id: str) -> None:
        self.account_id = account_id

    def describe_job_definitions(self, request: ApiRequest) -> ApiResponse:
        params = request.params
        backend = batch_backends[self.account_id][request.region]
        found = backend.describe_job_definitions(
            params.get("jobDefinitionName"), params.get("jobDefinitions"), params.get("status")
        )
        items: list[dict[str, Any]] = []
        for definition in found:
            item = definition.describe()
            if getattr(definition, "node_properties", None):
                item["nodeProperties"] = definition.node_properties
            items.append(item)
        return json_reply({"jobDefinitions": items})
