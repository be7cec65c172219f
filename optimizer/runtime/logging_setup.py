"""Logging: quiet by default (warnings only), structured key=value lines with -v.

Secrets never reach the logs: the formatter masks values of keys that look like credentials.
"""

from __future__ import annotations

import json
import logging
import re
import sys

_SECRET_KEY = re.compile(r"(secret|password|token|credential|session_key|access_key)", re.IGNORECASE)
_SECRET_INLINE = re.compile(
    r"((?:aws_)?(?:secret_access_key|session_token|password|token)\s*[=:]\s*)(\S+)", re.IGNORECASE
)


#: The password of a URL's user information (`scheme://user:password@host`).
_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^/\s:@]*:)([^/\s@]+)(@)", re.IGNORECASE)


def redact(text: str) -> str:
    """Mask `key=value` pairs whose key names a secret, a URL's password (an endpoint given as
    `http://user:password@host` came back in botocore's connection errors) and any AWS access key id."""
    text = _SECRET_INLINE.sub(r"\1***", text)
    text = _URL_PASSWORD.sub(r"\1***\3", text)
    return re.sub(r"\b(AKIA|ASIA)[A-Z0-9]{16}\b", r"\1****************", text)


class StructuredFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and any `extra` fields."""

    _standard = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, object] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        for key, value in record.__dict__.items():
            if key in self._standard or key.startswith("_"):
                continue
            payload[key] = "***" if _SECRET_KEY.search(key) else value
        if record.exc_info:
            payload["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(payload, default=str)


class PlainFormatter(logging.Formatter):
    """`LEVEL logger: message` (the default, warnings only), secrets masked as in the JSON lines."""

    def __init__(self) -> None:
        super().__init__("%(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def configure_logging(verbosity: int) -> None:
    """0: warnings in plain text; 1: info as JSON lines; 2+: debug as JSON lines."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    if verbosity <= 0:
        handler.setFormatter(PlainFormatter())
        root.setLevel(logging.WARNING)
    else:
        handler.setFormatter(StructuredFormatter())
        root.setLevel(logging.INFO if verbosity == 1 else logging.DEBUG)
    root.addHandler(handler)
    for noisy in ("botocore", "boto3", "urllib3", "s3transfer"):
        logging.getLogger(noisy).setLevel(max(root.level, logging.WARNING))
