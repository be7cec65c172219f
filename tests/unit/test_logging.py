import json
import logging

import pytest

from optimizer.runtime.logging_setup import StructuredFormatter, configure_logging, redact


def test_redact_masks_secrets_and_access_keys() -> None:
    text = "aws_secret_access_key=abc123 token: xyz key AKIAABCDEFGHIJKLMNOP ok"
    masked = redact(text)
    assert "abc123" not in masked and "xyz" not in masked and "ABCDEFGHIJKLMNOP" not in masked
    assert masked.endswith("ok")


def test_structured_lines_mask_secret_extras() -> None:
    record = logging.LogRecord("batchopt.collect", logging.INFO, __file__, 1, "read %d jobs", (3,), None)
    record.target = "prod"
    record.session_token = "s3cr3t"
    payload = json.loads(StructuredFormatter().format(record))
    assert payload["msg"] == "read 3 jobs" and payload["target"] == "prod"
    assert payload["session_token"] == "***"


@pytest.mark.parametrize(
    ("verbosity", "level"), [(0, logging.WARNING), (1, logging.INFO), (2, logging.DEBUG)]
)
def test_quiet_by_default(verbosity: int, level: int) -> None:
    configure_logging(verbosity)
    assert logging.getLogger().level == level
    assert logging.getLogger("botocore").level >= logging.WARNING
    configure_logging(0)


def test_a_urls_password_is_masked_in_messages_logs_and_stored_collector_errors() -> None:
    # An endpoint given as http://user:password@host came back verbatim in botocore's errors,
    # which `collect` printed and stored in collector_runs.error.
    from botocore.exceptions import EndpointConnectionError

    from optimizer.collectors.runner import describe_error
    from optimizer.runtime.logging_setup import PlainFormatter

    error = EndpointConnectionError(endpoint_url="http://admin:hunter2pw@127.0.0.1:1/")
    assert describe_error(error) == (
        'EndpointConnectionError: Could not connect to the endpoint URL: "http://admin:***@127.0.0.1:1/"'
    )
    record = logging.LogRecord(
        "x", logging.WARNING, __file__, 1, "store postgresql://u:pw@h/db down", (), None
    )
    assert PlainFormatter().format(record) == "WARNING x: store postgresql://u:***@h/db down"
    assert redact("mail user@example.com and a:b@c stay") == "mail user@example.com and a:b@c stay"
