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
