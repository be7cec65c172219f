"""The wire formats the gap-filling handlers speak: which AWS operation a request is, and replies.

botocore signs every request with SigV4, so the credential scope in the `Authorization` header names
the service and region; JSON-protocol services (ECS, CloudWatch Logs, Pricing) put the operation in
`X-Amz-Target`, Batch's REST-JSON puts it in the path (`/v1/listjobs`), and EC2's query protocol puts
it in the form body (`Action=...`). A handler gets one parsed `ApiRequest` and returns an
`ApiResponse` (or None to let moto answer), so no handler touches WSGI details.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

DEFAULT_REGION = "us-east-1"
_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/([^/]+)/([^/]+)/aws4_request")


@dataclass(frozen=True)
class ApiRequest:
    """One AWS API call as the emulator sees it."""

    service: str
    region: str
    operation: str
    body: bytes
    params: dict[str, Any] = field(default_factory=dict)

    def form(self) -> dict[str, list[str]]:
        """Query-protocol parameters (EC2): `Filter.1.Name=...` kept flat, values as lists."""
        return parse_qs(self.body.decode("utf-8"), keep_blank_values=True)


@dataclass(frozen=True)
class ApiResponse:
    status: int
    body: bytes
    content_type: str

    @property
    def headers(self) -> list[tuple[str, str]]:
        return [("Content-Type", self.content_type), ("Content-Length", str(len(self.body)))]


def parse_request(environ: dict[str, Any], body: bytes) -> ApiRequest | None:
    """The service, region and operation of a signed request; None for anything else (moto-api)."""
    match = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    if match is None:
        return None
    region, service = match.group(1), match.group(2).lower()
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    params: dict[str, Any] = {}
    if target:
        operation = target.rsplit(".", 1)[-1]
        params = _json_body(body)
    elif service == "batch":
        path = environ.get("PATH_INFO", "")
        operation = path.rstrip("/").rsplit("/", 1)[-1].lower()
        params = _json_body(body)
    else:
        action = parse_qs(body.decode("utf-8", "replace")).get("Action", [""])
        operation = action[0]
    return ApiRequest(service=service, region=region, operation=operation, body=body, params=params)


def _json_body(body: bytes) -> dict[str, Any]:
    if not body:
        return {}
    try:
        value = json.loads(body)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def json_reply(payload: dict[str, Any], *, amz_json: bool = False) -> ApiResponse:
    """A success reply; `amz_json` for the JSON 1.1 protocol services, plain JSON for REST-JSON."""
    content_type = "application/x-amz-json-1.1" if amz_json else "application/json"
    return ApiResponse(200, json.dumps(payload, default=str).encode(), content_type)


def json_error(code: str, message: str, *, status: int = 400, amz_json: bool = False) -> ApiResponse:
    """An error botocore parses into `ClientError` with this code and message."""
    content_type = "application/x-amz-json-1.1" if amz_json else "application/json"
    body = json.dumps({"__type": code, "message": message}).encode()
    return ApiResponse(status, body, content_type)


def xml_reply(operation: str, inner_xml: str) -> ApiResponse:
    """An EC2 query-protocol reply: `<OperationResponse>` wrapping already-escaped elements."""
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<{operation}Response xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">'
        f"<requestId>batchopt-demo</requestId>{inner_xml}</{operation}Response>"
    )
    return ApiResponse(200, body.encode(), "text/xml")


def xml_error(code: str, message: str, *, status: int = 400) -> ApiResponse:
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>{escape(code)}</Code>'
        f"<Message>{escape(message)}</Message></Error></Errors><RequestID>batchopt-demo</RequestID></Response>"
    )
    return ApiResponse(status, body.encode(), "text/xml")


def xml_text(tag: str, value: object) -> str:
    return f"<{tag}>{escape(str(value))}</{tag}>"
