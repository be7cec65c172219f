"""The WSGI layer in front of moto: routes the operations moto lacks to this package's handlers.

Everything else goes to moto's own `DomainDispatcherApplication` untouched. A handler may also return
None to let moto answer (for example ECS calls about a cluster the emulator holds no records for).
The request body is read once and handed back to moto in a fresh stream.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterable
from typing import Any

from optimizer.demo.emulator.protocol import ApiRequest, ApiResponse, parse_request

log = logging.getLogger(__name__)

Handler = Callable[[ApiRequest], ApiResponse | None]
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class GapFillingApp:
    """WSGI app: `(service, operation)` -> handler, falling through to moto's app."""

    def __init__(self, moto_app: WsgiApp, handlers: dict[tuple[str, str], Handler]) -> None:
        self.moto_app = moto_app
        self.handlers = handlers

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        request = parse_request(environ, body)
        handler = self.handlers.get((request.service, request.operation)) if request else None
        if request is not None and handler is not None:
            try:
                response = handler(request)
            except Exception:  # a bug in a handler must show as a 500, like a service fault
                log.exception("emulator handler %s.%s failed", request.service, request.operation)
                start_response("500 Internal Server Error", [("Content-Type", "text/plain")])
                return [b"emulator handler failed"]
            if response is not None:
                start_response(
                    f"{response.status} {'OK' if response.status == 200 else 'Error'}", response.headers
                )
                return [response.body]
        return self.moto_app(environ, start_response)
