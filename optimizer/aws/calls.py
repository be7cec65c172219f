"""Read calls to AWS APIs: pagination with a second, slower retry round for throttling.

Every collector reads through these, and so does the bill export reader (`billing/s3_export.py`).

botocore's adaptive mode already retries each HTTP request; a throttle that outlasts it (a busy
account during a large DescribeJobs sweep) gets a few more tries here, with a longer backoff,
before the error marks the run failed. Pagination is manual (not botocore paginators) so a retry
repeats only the throttled page, never the pages already read.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from typing import Any

from botocore.exceptions import ClientError

log = logging.getLogger(__name__)

THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
        "SlowDown",
    }
)
ACCESS_DENIED_CODES = frozenset(
    {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnrecognizedClientException"}
)

Sleep = Callable[[float], None]


def error_code(exc: BaseException) -> str | None:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "")) or None
    return None


def call(
    client: Any,
    operation: str,
    *,
    retries: int = 4,
    base_delay: float = 2.0,
    sleep: Sleep = time.sleep,
    **params: Any,
) -> dict[str, Any]:
    """`client.<operation>(**params)`, retried with jittered exponential backoff while throttled."""
    method = getattr(client, operation)
    for attempt in range(retries + 1):
        try:
            return dict(method(**params))
        except ClientError as exc:
            if error_code(exc) not in THROTTLING_CODES or attempt == retries:
                raise
            delay = base_delay * (2**attempt) * (0.5 + random.random() / 2)
            log.warning("%s throttled (try %d of %d); waiting %.1fs", operation, attempt + 1, retries, delay)
            sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


def pages(
    client: Any,
    operation: str,
    *,
    token_in: str = "nextToken",
    token_out: str | None = None,
    sleep: Sleep = time.sleep,
    **params: Any,
) -> Iterator[dict[str, Any]]:
    """Every page of `operation`, following `token_out` (default: same name as `token_in`)."""
    token_out = token_out or token_in
    token: str | None = None
    while True:
        page = call(client, operation, sleep=sleep, **params, **({token_in: token} if token else {}))
        yield page
        token = page.get(token_out)
        if not token:
            return


def items(
    client: Any,
    operation: str,
    result_key: str,
    *,
    token_in: str = "nextToken",
    sleep: Sleep = time.sleep,
    **params: Any,
) -> Iterator[Any]:
    """Every item under `result_key` across all pages."""
    for page in pages(client, operation, token_in=token_in, sleep=sleep, **params):
        yield from page.get(result_key, [])
