"""Settings: one pydantic-settings model with sections, from the environment and an optional TOML file.

Precedence, highest first: environment variables (`BATCHOPT_<SECTION>__<FIELD>`, plus the three fixed
names below), the TOML file (`--config FILE` or `$BATCHOPT_CONFIG`), then defaults. The fixed names
are kept flat because deployments and scripts already rely on them:

- `BATCHOPT_DATABASE_URL` -> `store.database_url`
- `BATCHOPT_AWS_ENDPOINT_URL` -> `aws.endpoint_url`
- `BATCHOPT_REGIONS` (comma-separated) -> `aws.regions`

Settings are loaded once by the CLI (or the scheduler / dashboard) and passed down; nothing reads a
global settings object.
"""

from __future__ import annotations

import os
import re
import tomllib
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

from optimizer.domain import INSTANCE_CATEGORIES
from optimizer.errors import ConfigError

DEFAULT_DATABASE_URL = "sqlite:///var/batchopt.db"
"""Relative to the working directory: `./var/batchopt.db` (created on first use)."""

_FIXED_ENV = {
    "BATCHOPT_DATABASE_URL": ("store", "database_url"),
    "BATCHOPT_AWS_ENDPOINT_URL": ("aws", "endpoint_url"),
    "BATCHOPT_REGIONS": ("aws", "regions"),
}


def _split_csv(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


# A list setting written in the environment as "a,b,c" (NoDecode: not parsed as JSON first).
CsvList = Annotated[list[str], NoDecode]


def _known_timezone(value: str) -> str:
    """An IANA time zone name (`Europe/Zurich`): an unknown one stopped the scheduler with a traceback."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is not a known IANA time zone (e.g. UTC, Europe/Zurich)") from None
    return value


class _Section(BaseModel):
    """A settings section or entry: a key it does not have is refused, naming it (a mistyped
    `max_spot_shar` once left the spot-share cap unset without a word)."""

    model_config = {"extra": "forbid"}


class Target(_Section):
    """One AWS account to read (and, if allowed, tune): a role to assume and the regions it covers."""

    name: str = Field(min_length=1)
    role_arn: str | None = Field(default=None, pattern=r"^arn:aws[a-z-]*:iam::\d{12}:role/.+$")
    external_id: str | None = None
    profile: str | None = None
    regions: CsvList = Field(default_factory=list)

    _regions = field_validator("regions", mode="before")(_split_csv)


LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
"""Hosts of a local emulator, which serves every service, STS included."""
LOCAL_ONLY_SERVICES = frozenset({"sts"})
"""Services the global `endpoint_url` reaches only when it is a local emulator: a proxy or VPC
endpoint set globally for the services collected does not serve STS, whose credentials and
identity must come from AWS (or from an `endpoint_urls` entry naming it)."""


def is_local(url: str) -> bool:
    return urlsplit(url).hostname in LOCAL_HOSTS


class AwsSettings(_Section):
    targets: list[Target] = Field(default_factory=list)
    regions: CsvList = Field(default_factory=list)
    endpoint_url: str | None = Field(default=None, pattern=r"^https?://")
    """One endpoint for every service (a local emulator serving them all); STS uses it only when it
    is local (127.0.0.1, localhost, ::1), else AWS's own unless `endpoint_urls` names one."""
    endpoint_urls: dict[str, str] = Field(default_factory=dict)
    """Per-service endpoints (`batch = "https://vpce-..."`), winning over `endpoint_url`; the value
    `default` sends that service to AWS's own endpoint (e.g. `sts = "default"` beside a global
    endpoint that serves only some services). Only the services named here are redirected."""
    profile: str | None = None
    max_attempts: int = Field(default=8, ge=1, le=50)
    assume_role_session_name: str = "batchopt"

    _regions = field_validator("regions", mode="before")(_split_csv)

    @field_validator("endpoint_urls")
    @classmethod
    def _endpoint_urls(cls, value: dict[str, str]) -> dict[str, str]:
        for service, url in value.items():
            if url != "default" and not url.startswith(("http://", "https://")):
                raise ValueError(f"{service}: {url!r} is not an http(s) URL or 'default'")
        return value

    def endpoint_for(self, service: str) -> str | None:
        """The endpoint a client of `service` is sent to (None: AWS's own)."""
        url = self.endpoint_urls.get(service)
        if url is None and self.endpoint_url:
            global_reaches = service not in LOCAL_ONLY_SERVICES or is_local(self.endpoint_url)
            url = self.endpoint_url if global_reaches else None
        return None if url == "default" else url

    def effective_targets(self) -> list[Target]:
        """Configured targets; with none, one `default` target on the default credential chain."""
        fallback = self.regions or _split_csv(os.environ.get("AWS_DEFAULT_REGION", ""))
        if not self.targets:
            if not fallback:
                raise ConfigError(
                    "aws.regions: no region configured (set BATCHOPT_REGIONS or AWS_DEFAULT_REGION)"
                )
            return [Target(name="default", profile=self.profile, regions=list(fallback))]
        resolved = []
        for target in self.targets:
            regions = target.regions or fallback
            if not regions:
                raise ConfigError(f"aws.targets[{target.name}].regions: no region configured")
            resolved.append(target.model_copy(update={"regions": list(regions)}))
        return resolved


class StoreSettings(_Section):
    database_url: str = DEFAULT_DATABASE_URL


class CollectionSettings(_Section):
    #: How often the scheduler collects (`optimizer.collectors.scheduled`).
    interval_minutes: int = Field(default=60, ge=1, le=24 * 60)
    initial_lookback_days: int = Field(default=30, ge=1, le=400)
    # Each incremental job read lists (every state, ListJobs' AFTER_CREATED_AT filter) from this far
    # before the queue's previous listing, for jobs that become listable late and clock skew; a job
    # created earlier and still open is followed by DescribeJobs until it ends.
    reconcile_window_hours: float = Field(default=1.0, ge=0, le=24 * 14)
    job_statuses: CsvList = Field(default_factory=lambda: ["SUCCEEDED", "FAILED"])
    describe_jobs_chunk: int = Field(default=100, ge=1, le=100)
    usage_metrics: bool = True
    # Usage reads (Container Insights events, EC2 CPU averages) start this far before the newest
    # sample seen: events ingested late and 5-minute averages completed later are still stored.
    usage_late_window_minutes: int = Field(default=30, ge=0, le=24 * 60)
    # The event intake's SQS queue(s) (`batchopt setup events` prints the URL); comma-separated when
    # several targets or regions have one. Each (target, region) drains the queue of its account
    # and region. Unset: job history comes from ListJobs only, and that is recorded as a gap.
    events_queue_url: CsvList = Field(default_factory=list)
    # How long Batch keeps finished jobs listable (at least 7 days, AWS Batch User Guide, "Job
    # states"): a ListJobs outage longer than this is a gap unless the event intake covered it.
    listing_retention_days: float = Field(default=7.0, gt=0, le=400)
    # Without an event intake, instance lifetimes come from CloudTrail's 90-day event history
    # (cloudtrail:LookupEvents); off: from sampling only (instances shorter than a run are missed).
    cloudtrail_lifetimes: bool = True

    _statuses = field_validator("job_statuses", mode="before")(_split_csv)
    _queues = field_validator("events_queue_url", mode="before")(_split_csv)


class InstanceRequirementsSettings(_Section):
    """`[optimization.instance_requirements]`: which instance types plans and advice may choose
    (meanings and defaults: `optimizer.catalog.requirements`)."""

    allowed_categories: CsvList = Field(default_factory=list)
    excluded_categories: CsvList = Field(default_factory=list)
    allowed_families: CsvList = Field(default_factory=list)
    excluded_families: CsvList = Field(default_factory=list)
    generations: Literal["current", "any"] = "current"
    min_generation: int | None = Field(default=None, ge=1)
    burstable: bool = False
    bare_metal: bool = False
    accelerators: Literal["when_requested", "any", "none"] = "when_requested"
    # Network needs of every gang (multi-node parallel job node): EFA, and a bandwidth floor in Gbit/s.
    gang_efa: bool = False
    gang_min_network_gbps: float = Field(default=0.0, ge=0.0, allow_inf_nan=False)

    _lists = field_validator(
        "allowed_categories", "excluded_categories", "allowed_families", "excluded_families", mode="before"
    )(_split_csv)

    @field_validator("allowed_categories", "excluded_categories")
    @classmethod
    def _known_categories(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if v not in INSTANCE_CATEGORIES]
        if bad:
            raise ValueError(f"{bad[0]!r} is not one of {', '.join(INSTANCE_CATEGORIES)}")
        return value


class OptimizationSettings(_Section):
    """`[optimization]`: the fleet policy every plan, strategy, page and auto-tune run uses; turned
    into the solver's `Policy` in one place (`optimizer.solver.policy.policy_from_settings`)."""

    #: The longest time bucket of a queue's fleet problem; `min_bucket_seconds` the shortest a
    #: queue of short jobs gets (`optimizer.analysis.bucket_length`; equal: always the longest).
    bucket_seconds: int = Field(default=3600, ge=60)
    min_bucket_seconds: int = Field(default=300, ge=60)
    history_days: int = Field(default=28, ge=1)
    max_instance_types: int | None = Field(default=None, ge=1)
    min_spot_instance_types: int = Field(default=0, ge=0)
    max_spot_share: float = Field(default=1.0, ge=0.0, le=1.0)
    interruption_cost_factor: float = Field(default=1.0, ge=0.0)
    time_limit_seconds: float = Field(default=30.0, gt=0)
    gap_target: float = Field(default=0.005, ge=0.0, le=1.0)
    instance_requirements: InstanceRequirementsSettings = Field(default_factory=InstanceRequirementsSettings)


class CommitmentSettings(_Section):
    """One `[[commitments]]` entry: a Savings Plan or Reserved Instances the fleet decisions must
    price in (until, or besides, what the store's bill shows; `optimizer.fleet.commitments` merges
    both). Rates are per instance type (`rates`) or one `discount` off the on-demand price for every
    type the plan covers."""

    id: str = Field(min_length=1)
    type: Literal["COMPUTE_SAVINGS_PLAN", "EC2_INSTANCE_SAVINGS_PLAN", "RESERVED_INSTANCE"]
    region: str | None = None  # None: in force in every region
    usd_per_hour: float | None = Field(default=None, gt=0)
    rates: dict[str, float] = Field(default_factory=dict)
    discount: float | None = Field(default=None, gt=0, lt=1)
    family: str | None = None
    instance_type: str | None = None
    count: int | None = Field(default=None, ge=1)
    starts_at: datetime | None = None
    ends_at: datetime | None = None

    @model_validator(mode="after")
    def _fields_of_its_type(self) -> CommitmentSettings:
        if self.type == "RESERVED_INSTANCE":
            if self.instance_type is None or self.count is None:
                raise ValueError("a RESERVED_INSTANCE needs instance_type and count")
            return self
        if self.usd_per_hour is None:
            raise ValueError(f"a {self.type} needs usd_per_hour")
        if not self.rates and self.discount is None:
            raise ValueError("a Savings Plan needs rates or discount")
        if (self.type == "EC2_INSTANCE_SAVINGS_PLAN") != (self.family is not None):
            raise ValueError("family is required for, and only for, an EC2_INSTANCE_SAVINGS_PLAN")
        return self


class ApplySettings(_Section):
    enabled: bool = False
    allow_list: CsvList = Field(default_factory=list)
    max_changes_per_run: int = Field(default=1, ge=0)
    cooldown_hours: float = Field(default=24.0, ge=0)
    min_monthly_saving_usd: float = Field(default=50.0, ge=0)
    max_queue_wait_p95_regression: float = Field(default=0.25, ge=0)
    max_failure_rate_regression: float = Field(default=0.02, ge=0)
    wait_for_valid_seconds: float = Field(default=600.0, gt=0)
    shared_secret: SecretStr | None = None

    _allow = field_validator("allow_list", mode="before")(_split_csv)


class ReportSettings(_Section):
    out_dir: str = "var/reports"
    timezone: str = "UTC"
    anomaly_threshold: float = Field(default=0.25, ge=0)
    top_n: int = Field(default=10, ge=1)
    s3_uri: str | None = Field(default=None, pattern=r"^s3://[^/]+(/.*)?$")
    s3_kms_key_arn: str | None = Field(default=None, pattern=r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/.+$")
    """The KMS key the report bucket encrypts with: uploads ask for SSE-KMS with it and the `report`
    role's policy grants kms:GenerateDataKey / kms:Decrypt on exactly this key."""
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_starttls: bool = True
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    email_from: str | None = None
    email_to: CsvList = Field(default_factory=list)
    slack_webhook_url: SecretStr | None = None

    _to = field_validator("email_to", mode="before")(_split_csv)
    _timezone = field_validator("timezone")(_known_timezone)


class BillingSettings(_Section):
    """Where the bill's line items live (Parquet, one file per month) and which engine queries them."""

    data_dir: str = "var/bill"
    engine: Literal["duckdb", "athena"] = "duckdb"
    athena_database: str | None = None
    athena_workgroup: str | None = None
    athena_output_s3_uri: str | None = Field(default=None, pattern=r"^s3://[^/]+(/.*)?$")
    cur_s3_uri: str | None = Field(default=None, pattern=r"^s3://[^/]+(/.*)?$")
    """Where an AWS Data Exports CUR 2.0 export is delivered (`<prefix>/<export>/data|metadata/...`);
    `batchopt collect` imports each month whose manifest is new (`optimizer.billing.s3_export`)."""


class ScheduleSettings(_Section):
    timezone: str = "UTC"
    train_hour: int = Field(default=3, ge=0, le=23)
    report_weekday: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = "mon"
    report_hour: int = Field(default=8, ge=0, le=23)
    autotune_enabled: bool = False
    autotune_interval_hours: int = Field(default=24, ge=1)
    misfire_grace_seconds: int = Field(default=900, ge=1)

    _timezone = field_validator("timezone")(_known_timezone)


class DashboardSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8501, ge=1, le=65535)
    oidc_provider: str | None = None


class Settings(BaseSettings):
    """All settings; see the module docstring for where values come from."""

    model_config = SettingsConfigDict(
        env_prefix="BATCHOPT_", env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    aws: AwsSettings = Field(default_factory=AwsSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    collection: CollectionSettings = Field(default_factory=CollectionSettings)
    optimization: OptimizationSettings = Field(default_factory=OptimizationSettings)
    apply: ApplySettings = Field(default_factory=ApplySettings)
    report: ReportSettings = Field(default_factory=ReportSettings)
    billing: BillingSettings = Field(default_factory=BillingSettings)
    schedule: ScheduleSettings = Field(default_factory=ScheduleSettings)
    dashboard: DashboardSettings = Field(default_factory=DashboardSettings)
    commitments: list[CommitmentSettings] = Field(default_factory=list)
    recommend: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """`[recommend.<strategy>]` sections: each strategy's typed settings, checked by the recommend
    layer when it builds the strategies (`optimizer.recommend.strategy_settings`), before any work."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [
            init_settings,
            _FixedNameEnvSource(settings_cls),
            env_settings,
        ]
        if settings_cls.model_config.get("toml_file"):
            sources.append(TomlConfigSettingsSource(settings_cls))
        return tuple(sources)


class _FixedNameEnvSource(PydanticBaseSettingsSource):
    """Maps the flat, fixed environment names onto their sections."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        data: dict[str, dict[str, Any]] = {}
        for env_name, (section, key) in _FIXED_ENV.items():
            value = os.environ.get(env_name)
            if value is not None and value != "":
                data.setdefault(section, {})[key] = value
        return data


def _field_label(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc]
    label = ".".join(parts)
    for env_name, path in _FIXED_ENV.items():
        if tuple(parts[:2]) == path:
            return f"{label} ({env_name})"
    if len(parts) >= 2:
        # The one nested section nests in the variable's name too.
        depth = 3 if parts[:2] == ["optimization", "instance_requirements"] and len(parts) > 2 else 2
        return f"{label} (BATCHOPT_{'__'.join(p.upper() for p in parts[:depth])})"
    return label


def _message(err: Any) -> str:
    """pydantic's message, except for a key no setting has: "unknown setting" says what happened."""
    return "unknown setting (a typo?)" if err["type"] == "extra_forbidden" else str(err["msg"])


def load_settings(config_file: str | os.PathLike[str] | None = None) -> Settings:
    """Load settings or raise ConfigError with one line per bad field (the CLI exits 2 on it)."""
    path = config_file or os.environ.get("BATCHOPT_CONFIG") or None
    settings_cls: type[Settings] = Settings
    if path:
        file = Path(path)
        if not file.is_file():
            raise ConfigError(f"config file {file}: not found")
        try:
            tomllib.loads(file.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {file}: {exc}") from None
        except UnicodeDecodeError as exc:
            raise ConfigError(f"config file {file}: not UTF-8 text (byte {exc.start + 1})") from None
        settings_cls = type(
            "FileSettings", (Settings,), {"model_config": {**Settings.model_config, "toml_file": file}}
        )
    try:
        return settings_cls()
    except SettingsError as exc:
        # (a variable whose value is not the JSON its setting needs: a list or a map)
        field = re.search(r'field "([^"]+)"', str(exc))
        where = f"BATCHOPT_{field.group(1).upper()}__*" if field else "BATCHOPT_*"
        raise ConfigError(f"{where}: {exc}; a list or a map in a variable is JSON") from None
    except ValidationError as exc:
        lines = [f"{_field_label(err['loc'])}: {_message(err)}" for err in exc.errors()]
        raise ConfigError("\n".join(lines)) from None
