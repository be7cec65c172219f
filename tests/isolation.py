"""The environment every test runs in: never a real AWS account, never the caller's batchopt settings.

One function so the per-test autouse fixture (`tests/conftest.py`) and session-scoped fixtures that
run product code before any per-test fixture exists (the shared demo run, `tests/e2e/conftest.py`)
isolate the same way.
"""

from __future__ import annotations

import os

import pytest


def isolate_from_real_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials, no profiles, a fixed region, and no `BATCHOPT_*` setting from the caller's
    shell (except where the shared data lives and the test-only knobs)."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    for name in list(os.environ):
        if (
            name.startswith("BATCHOPT_")
            and name != "BATCHOPT_SHARED_DATA"
            and not name.startswith("BATCHOPT_TEST_")
        ):
            monkeypatch.delenv(name, raising=False)
