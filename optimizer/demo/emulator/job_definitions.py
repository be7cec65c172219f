"""`batch:DescribeJobDefinitions` with the multi-node parallel definitions' `nodeProperties`, paged.

moto 5.2.5 keeps a multinode definition's `nodeProperties` (it launches its nodes from them) but
leaves them out of DescribeJobDefinitions, so a collector reading the demo estate would see an MNP
definition without its node ranges; and it answers every definition in one page, ignoring
`maxResults` and `nextToken`, so a collector's paging was never exercised. The handler answers
from moto's own backend, adds the field, and pages as botocore's model documents: `maxResults`
"can be between 1 and 100"; without it "up to 100 results and a nextToken value if applicable";
`nextToken` is opaque and continues "from the end of the previous results"; `jobDefinitions` (up
to 100 names or ARNs) "can't be used with other parameters". Everything else is moto's.
"""

from __future__ import annotations

from typing import Any

from moto.batch.models import batch_backends

from optimizer.demo.emulator.batch_jobs import encode_token, read_page
from optimizer.demo.emulator.protocol import ApiRequest, ApiResponse, json_error, json_reply

MAX_PAGE = 100
"""DescribeJobDefinitions' `maxResults` upper bound and default page size (botocore's model)."""


class JobDefinitions:
    """Handler for `batch:DescribeJobDefinitions`."""

    def __init__(self, account_id: str) -> None:
        self.account_id = account_id

    def describe_job_definitions(self, request: ApiRequest) -> ApiResponse:
        params = request.params
        names = params.get("jobDefinitions")
        if names is not None:
            if len(names) > MAX_PAGE:
                return json_error(
                    "ClientException", f"A maximum of {MAX_PAGE} job definitions can be described"
                )
            if any(
                params.get(k) is not None for k in ("jobDefinitionName", "status", "maxResults", "nextToken")
            ):
                return json_error("ClientException", "jobDefinitions can't be used with other parameters")
        page = read_page(params, MAX_PAGE, MAX_PAGE)
        if not isinstance(page, tuple):
            return page
        offset, max_results = page
        backend = batch_backends[self.account_id][request.region]
        found = list(
            backend.describe_job_definitions(params.get("jobDefinitionName"), names, params.get("status"))
        )
        items: list[dict[str, Any]] = []
        for definition in found[offset : offset + max_results]:
            item = definition.describe()
            if getattr(definition, "node_properties", None):
                item["nodeProperties"] = definition.node_properties
            items.append(item)
        reply: dict[str, Any] = {"jobDefinitions": items}
        if offset + max_results < len(found):
            reply["nextToken"] = encode_token(offset + max_results)
        return json_reply(reply)
