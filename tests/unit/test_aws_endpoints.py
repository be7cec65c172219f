"""Endpoints per service: a per-service URL wins over the global one, `default` means AWS's own,
and STS follows the global endpoint only when it is a local emulator or when named."""

from __future__ import annotations

import pytest

from optimizer.aws.session import SessionFactory
from optimizer.config import AwsSettings, load_settings
from optimizer.errors import ConfigError

VPCE = "https://vpce-0abc-batch.batch.us-east-1.vpce.amazonaws.com"


def _endpoint(settings: AwsSettings, service: str) -> str:
    factory = SessionFactory(settings)
    [pair] = factory.target_regions()
    return str(factory.client(service, pair.target, pair.region).meta.endpoint_url)


def test_per_service_endpoints_win_and_sts_stays_on_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    only_batch = AwsSettings(regions=["us-east-1"], endpoint_urls={"batch": VPCE})
    assert _endpoint(only_batch, "batch") == VPCE
    assert _endpoint(only_batch, "sts") == "https://sts.us-east-1.amazonaws.com"
    assert _endpoint(only_batch, "ec2") == "https://ec2.us-east-1.amazonaws.com"
    proxy = AwsSettings(
        regions=["us-east-1"], endpoint_url="http://127.0.0.1:5000", endpoint_urls={"sts": "default"}
    )
    assert _endpoint(proxy, "batch") == "http://127.0.0.1:5000"
    assert _endpoint(proxy, "sts") == "https://sts.us-east-1.amazonaws.com"
    emulator = AwsSettings(regions=["us-east-1"], endpoint_url="http://127.0.0.1:5000")
    assert _endpoint(emulator, "sts") == "http://127.0.0.1:5000"  # the emulator serves STS too
    assert _endpoint(AwsSettings(regions=["us-east-1"], endpoint_url="http://localhost:4566"), "sts") == (
        "http://localhost:4566"
    )


def test_a_global_endpoint_that_is_not_local_leaves_sts_on_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    proxy = "https://aws-proxy.corp.example:8443"
    settings = AwsSettings(regions=["eu-west-1"], endpoint_url=proxy)
    assert _endpoint(settings, "batch") == proxy
    assert _endpoint(settings, "ec2") == proxy
    assert _endpoint(settings, "sts") == "https://sts.eu-west-1.amazonaws.com"
    # "localhost" inside another host name is not local
    assert AwsSettings(endpoint_url="https://localhost.corp.example").endpoint_for("sts") is None
    # named for STS, the proxy is used for it too
    named = AwsSettings(regions=["eu-west-1"], endpoint_url=proxy, endpoint_urls={"sts": proxy})
    assert _endpoint(named, "sts") == proxy


def test_endpoint_urls_from_the_environment_and_bad_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BATCHOPT_REGIONS", "us-east-1")
    monkeypatch.setenv("BATCHOPT_AWS__ENDPOINT_URLS", f'{{"batch": "{VPCE}", "sts": "default"}}')
    settings = load_settings(None)
    assert settings.aws.endpoint_for("batch") == VPCE and settings.aws.endpoint_for("sts") is None
    monkeypatch.setenv("BATCHOPT_AWS__ENDPOINT_URLS", '{"batch": "vpce-0abc"}')
    with pytest.raises(ConfigError, match="endpoint_urls"):
        load_settings(None)
