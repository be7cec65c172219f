"""One report run: pick the week, read the store, build, render, deliver. Used by the CLI and the
scheduled weekly job, so both produce exactly the same files.

Sink configuration is checked before anything is read or written: a missing SMTP host is a config
error up front, not a half-delivered report.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from optimizer.config import Target
from optimizer.errors import ConfigError
from optimizer.report.build import build_weekly_report
from optimizer.report.load import load_report_inputs
from optimizer.report.render import RenderedReport, render_all
from optimizer.report.sinks import DirectorySink, Sink, SinkResult, deliver_all
from optimizer.report.weeks import IsoWeek, last_complete_week
from optimizer.runtime.clock import utc_now_aware
from optimizer.store.schema import COLLECTED_DATASET

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from optimizer.aws.session import SessionFactory
    from optimizer.config import Settings

log = logging.getLogger(__name__)

SINK_NAMES = ("dir", "s3", "email", "slack")


def _required(field: str, sink: str) -> ConfigError:
    return ConfigError(f"report.{field} (BATCHOPT_REPORT__{field.upper()}): required by the {sink} sink")


def configured_sinks(settings: Settings) -> list[str]:
    """The sinks the scheduled job uses: the directory, plus every sink that has its settings."""
    r = settings.report
    names = ["dir"]
    if r.s3_uri:
        names.append("s3")
    if r.smtp_host and r.email_to and r.email_from:
        names.append("email")
    if r.slack_webhook_url:
        names.append("slack")
    return names


def home_target(settings: Settings) -> tuple[Target, str]:
    """The account the tool runs in (default credential chain or `aws.profile`, no assumed role):
    the report bucket belongs to the operator, not to the Batch accounts the collectors read."""
    regions = settings.aws.regions or [r for r in [os.environ.get("AWS_DEFAULT_REGION")] if r]
    if not regions:
        raise ConfigError("aws.regions (BATCHOPT_REGIONS): the s3 sink needs a region for the report bucket")
    return Target(name="report", profile=settings.aws.profile, regions=regions[:1]), regions[0]


def make_sinks(
    names: Sequence[str],
    settings: Settings,
    *,
    out_dir: Path | None = None,
    sessions: SessionFactory | None = None,
) -> list[Sink]:
    """Sinks by name, each checked for the settings it needs (ConfigError naming the field)."""
    r = settings.report
    sinks: list[Sink] = []
    for name in dict.fromkeys(names):  # keep order, drop repeats
        if name == "dir":
            sinks.append(DirectorySink(out_dir or Path(r.out_dir)))
        elif name == "s3":
            if not r.s3_uri:
                raise _required("s3_uri", "s3")
            if sessions is None:
                raise ConfigError("the s3 sink needs AWS settings (aws.regions or aws.targets)")
            from optimizer.report.sink_s3 import S3Sink

            target, region = home_target(settings)
            sinks.append(S3Sink(sessions, target, region, r.s3_uri, kms_key_arn=r.s3_kms_key_arn))
        elif name == "email":
            for field, value in (
                ("smtp_host", r.smtp_host),
                ("email_from", r.email_from),
                ("email_to", r.email_to),
            ):
                if not value:
                    raise ConfigError(
                        f"report.{field} (BATCHOPT_REPORT__{field.upper()}): required by the email sink"
                    )
            from optimizer.report.sink_email import SmtpSink

            sinks.append(
                SmtpSink(
                    host=str(r.smtp_host),
                    port=r.smtp_port,
                    sender=str(r.email_from),
                    recipients=list(r.email_to),
                    starttls=r.smtp_starttls,
                    user=r.smtp_user,
                    password=r.smtp_password,
                )
            )
        elif name == "slack":
            if r.slack_webhook_url is None:
                raise _required("slack_webhook_url", "slack")
            from optimizer.report.sink_slack import SlackSink

            sinks.append(SlackSink(r.slack_webhook_url))
        else:
            raise ConfigError(f"--sink {name!r}: expected one of {', '.join(SINK_NAMES)}")
    return sinks


@dataclass(frozen=True)
class ReportRun:
    rendered: RenderedReport
    results: list[SinkResult]

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)


def run_report(
    engine: Engine,
    settings: Settings,
    sinks: Sequence[Sink],
    *,
    now: datetime,
    week: IsoWeek | None = None,
    dataset: str = COLLECTED_DATASET,
    pdf: bool = False,
) -> ReportRun:
    """Build the report for `week` (default: the last complete week at `now`) and deliver it.

    `now` is timezone-aware; the caller reads the clock so tests can fix it.
    """
    r = settings.report
    week = week or last_complete_week(now, r.timezone)
    inputs = load_report_inputs(engine, week, dataset=dataset, top_n=r.top_n)
    report = build_weekly_report(
        inputs,
        week,
        generated_at=now.astimezone(UTC).replace(tzinfo=None),
        anomaly_threshold=r.anomaly_threshold,
        top_n=r.top_n,
    )
    rendered = render_all(report, r.top_n, pdf=pdf)
    results = deliver_all(sinks, rendered)
    return ReportRun(rendered, results)


def scheduled_weekly_report(settings: Settings, *, now: datetime | None = None) -> ReportRun:
    """The weekly job's body: last complete week, every configured sink; failures are logged."""
    from optimizer.aws.session import SessionFactory
    from optimizer.store.engine import create_store_engine, require_current_schema

    names = configured_sinks(settings)
    sessions = SessionFactory(settings.aws) if "s3" in names else None
    sinks = make_sinks(names, settings, sessions=sessions)
    engine = create_store_engine(settings.store.database_url)
    try:
        require_current_schema(engine)
        run = run_report(engine, settings, sinks, now=now or utc_now_aware())
    finally:
        engine.dispose()
    for result in run.results:
        level = logging.INFO if result.ok else logging.ERROR
        log.log(
            level, "weekly report %s -> %s: %s", run.rendered.report.week.label, result.sink, result.detail
        )
    return run
