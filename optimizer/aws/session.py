"""Sessions and clients per target: profile or the default chain, STS AssumeRole, emulator endpoint.

Every client gets botocore's adaptive retry mode (client-side rate limiting plus exponential backoff),
which is what keeps large DescribeJobs sweeps inside Batch's API throttles.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.config import Config
from botocore.credentials import RefreshableCredentials
from botocore.session import get_session

from optimizer.config import AwsSettings, Target


@dataclass(frozen=True)
class TargetRegion:
    """One (account target, region) pair: the unit a collector run works on."""

    target: Target
    region: str

    @property
    def label(self) -> str:
        return f"{self.target.name}/{self.region}"


class SessionFactory:
    """Builds boto3 sessions and clients; caches one session per (target, region)."""

    def __init__(self, settings: AwsSettings) -> None:
        self.settings = settings
        self._sessions: dict[tuple[str, str], boto3.Session] = {}
        self._lock = threading.Lock()
        self._client_config = Config(
            retries={"mode": "adaptive", "max_attempts": settings.max_attempts},
            user_agent_extra="batchopt",
        )

    def target_regions(self) -> list[TargetRegion]:
        return [TargetRegion(t, r) for t in self.settings.effective_targets() for r in t.regions]

    def session(self, target: Target, region: str) -> boto3.Session:
        key = (target.name, region)
        with self._lock:
            if key not in self._sessions:
                self._sessions[key] = self._make_session(target, region)
            return self._sessions[key]

    def client(self, service: str, target: Target, region: str, **kwargs: Any) -> Any:
        """A client for `service`, sent to its endpoint: `aws.endpoint_urls[service]`, else the
        global `aws.endpoint_url` (an emulator), else AWS's own (`AwsSettings.endpoint_for`)."""
        return self.session(target, region).client(
            service,
            region_name=region,
            endpoint_url=kwargs.pop("endpoint_url", self.settings.endpoint_for(service)),
            config=kwargs.pop("config", self._client_config),
            **kwargs,
        )

    def account_id(self, target: Target, region: str) -> str:
        return str(self.client("sts", target, region).get_caller_identity()["Account"])

    def _make_session(self, target: Target, region: str) -> boto3.Session:
        base = boto3.Session(profile_name=target.profile or self.settings.profile, region_name=region)
        if not target.role_arn:
            return base
        sts = base.client(
            "sts",
            region_name=region,
            endpoint_url=self.settings.endpoint_for("sts"),
            config=self._client_config,
        )
        role_arn = target.role_arn
        external_id = target.external_id
        session_name = self.settings.assume_role_session_name

        def refresh() -> dict[str, str]:
            params: dict[str, Any] = {"RoleArn": role_arn, "RoleSessionName": session_name}
            if external_id:
                params["ExternalId"] = external_id
            creds = sts.assume_role(**params)["Credentials"]
            expiry = creds["Expiration"]
            if isinstance(expiry, datetime) and expiry.tzinfo is None:
                expiry = expiry.replace(tzinfo=UTC)
            return {
                "access_key": creds["AccessKeyId"],
                "secret_key": creds["SecretAccessKey"],
                "token": creds["SessionToken"],
                "expiry_time": expiry.isoformat() if isinstance(expiry, datetime) else str(expiry),
            }

        botocore_session = get_session()
        botocore_session._credentials = RefreshableCredentials.create_from_metadata(
            metadata=refresh(), refresh_using=refresh, method="sts-assume-role"
        )
        return boto3.Session(botocore_session=botocore_session, region_name=region)
