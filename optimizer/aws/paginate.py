"""Paginated reads that work the same whether or not botocore ships a paginator for the operation."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def paginate(client: Any, operation: str, result_key: str, **params: Any) -> Iterator[dict[str, Any]]:
    """Yield every item of `result_key` across pages of `operation`."""
    if client.can_paginate(operation):
        for page in client.get_paginator(operation).paginate(**params):
            yield from page.get(result_key, [])
        return
    method = getattr(client, operation)
    token: str | None = None
    while True:
        page = method(**params, **({"nextToken": token} if token else {}))
        yield from page.get(result_key, [])
        token = page.get("nextToken") or page.get("NextToken")
        if not token:
            return


def chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    """Consecutive slices of at most `size` items (DescribeJobs takes 100 ids per call)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
