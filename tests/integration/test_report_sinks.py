"""Report sinks against real local servers: aiosmtpd for SMTP, the moto server for S3, a small HTTP
server for the Slack webhook. A failing sink is reported and the others still deliver."""

from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
from collections.abc import Iterator
from datetime import datetime
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from pydantic import SecretStr

from optimizer.aws.session import SessionFactory
from optimizer.config import AwsSettings, Settings
from optimizer.errors import ConfigError
from optimizer.report.build import build_weekly_report
from optimizer.report.load import load_report_inputs
from optimizer.report.render import RenderedReport, render_all
from optimizer.report.run import configured_sinks, make_sinks
from optimizer.report.sink_email import SmtpSink
from optimizer.report.sink_s3 import S3Sink
from optimizer.report.sink_slack import SlackSink
from optimizer.report.sinks import DirectorySink, deliver_all
from optimizer.report.weeks import parse_week
from optimizer.store.engine import create_store_engine, upgrade
from tests.report_helpers import seed_estate


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> RenderedReport:
    db = tmp_path_factory.mktemp("report-sinks") / "store.db"
    engine = create_store_engine(f"sqlite:///{db}")
    upgrade(engine)
    seed_estate(engine)
    week = parse_week("2026-W47")
    report = build_weekly_report(
        load_report_inputs(engine, week), week, generated_at=datetime(2026, 11, 23, 8)
    )
    engine.dispose()
    return render_all(report)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


def _authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"reporter", b"s3cret")
    return AuthResult(success=ok)


@pytest.fixture
def smtp_server() -> Iterator[tuple[int, _Inbox]]:
    inbox = _Inbox()
    port = _free_port()
    controller = Controller(
        inbox, hostname="127.0.0.1", port=port, authenticator=_authenticator, auth_require_tls=False
    )
    controller.start()
    yield port, inbox
    controller.stop()


def test_smtp_sink_sends_html_with_inline_charts_and_csv_attachments(
    rendered: RenderedReport, smtp_server: tuple[int, _Inbox]
) -> None:
    port, inbox = smtp_server
    sink = SmtpSink(
        host="127.0.0.1",
        port=port,
        sender="batchopt@example.com",
        recipients=["finops@example.com", "platform@example.com"],
        starttls=False,
        user="reporter",
        password=SecretStr("s3cret"),
    )
    assert "s3cret" not in repr(sink)
    [result] = deliver_all([sink], rendered)
    assert result.ok, result.detail
    [(sender, recipients, raw)] = inbox.messages
    assert sender == "batchopt@example.com"
    assert recipients == ["finops@example.com", "platform@example.com"]
    msg = email.message_from_bytes(raw, _class=EmailMessage, policy=email.policy.default)
    assert "2026-W47" in msg["Subject"]
    html_part = msg.get_body(("html",))
    text_part = msg.get_body(("plain",))
    assert html_part is not None and text_part is not None
    html = html_part.get_content()
    assert "data:image/png" not in html  # clients that block data URIs still show the charts
    images = {p["Content-ID"].strip("<>"): p for p in msg.walk() if p.get_content_type() == "image/png"}
    assert len(images) == len(rendered.charts) >= 3
    for cid, part in images.items():
        assert f'src="cid:{cid}"' in html
        assert part.get_content()[:8] == b"\x89PNG\r\n\x1a\n"
    csvs = [p.get_filename() for p in msg.iter_attachments() if p.get_content_type() == "text/csv"]
    assert len(csvs) == 9
    assert "# AWS Batch cost report, week 2026-W47" in text_part.get_content()


def test_a_failing_sink_does_not_stop_the_others(
    rendered: RenderedReport, smtp_server: tuple[int, _Inbox], tmp_path: Path
) -> None:
    port, inbox = smtp_server
    nobody_listens = SmtpSink(
        "127.0.0.1",
        _free_port(),
        "a@example.com",
        ["b@example.com"],
        starttls=False,
        user="reporter",
        password=SecretStr("s3cret"),
        timeout=5,
    )
    no_starttls = SmtpSink("127.0.0.1", port, "a@example.com", ["b@example.com"], starttls=True)
    folder = DirectorySink(tmp_path / "out")
    results = deliver_all([nobody_listens, no_starttls, folder], rendered)
    assert [r.ok for r in results] == [False, False, True]
    assert "refused" in results[0].detail.lower() and "s3cret" not in results[0].detail
    assert "STARTTLS" in results[1].detail or "starttls" in results[1].detail.lower()
    assert (tmp_path / "out" / "batchopt-report-2026-W47.html").is_file()
    assert inbox.messages == []


@pytest.mark.emulator
def test_s3_sink_uploads_every_file_under_the_week(rendered: RenderedReport, aws_endpoint: str) -> None:
    factory = SessionFactory(AwsSettings(endpoint_url=aws_endpoint, regions=["us-east-1"]))
    [pair] = factory.target_regions()
    s3 = factory.client("s3", pair.target, pair.region)
    s3.create_bucket(Bucket="cost-reports")
    sink = S3Sink(factory, pair.target, pair.region, "s3://cost-reports/batch/")
    [result] = deliver_all([sink], rendered)
    assert result.ok, result.detail
    listed = s3.list_objects_v2(Bucket="cost-reports", Prefix="batch/2026-W47/")
    keys = {o["Key"].rsplit("/", 1)[-1] for o in listed["Contents"]}
    assert keys == set(rendered.files)
    html = s3.get_object(Bucket="cost-reports", Key="batch/2026-W47/batchopt-report-2026-W47.html")
    assert html["ContentType"].startswith("text/html")
    assert html["Body"].read() == rendered.files["batchopt-report-2026-W47.html"]

    missing_bucket = S3Sink(factory, pair.target, pair.region, "s3://no-such-bucket")
    [failed] = deliver_all([missing_bucket], rendered)
    assert not failed.ok and "NoSuchBucket" in failed.detail


class _Webhook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []
    status = 200

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append({"path": self.path, "json": json.loads(body)})
        self.send_response(type(self).status)
        self.end_headers()
        self.wfile.write(b"ok" if type(self).status == 200 else b"invalid_token")

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture
def webhook() -> Iterator[tuple[str, type[_Webhook]]]:
    handler = type("Hook", (_Webhook,), {"received": [], "status": 200})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()


def test_slack_sink_posts_a_summary_and_keeps_the_url_secret(
    rendered: RenderedReport, webhook: tuple[str, type[_Webhook]]
) -> None:
    base, handler = webhook
    secret_path = "/services/T000/B000/XXXXSECRET"
    [result] = deliver_all([SlackSink(SecretStr(base + secret_path))], rendered)
    assert result.ok, result.detail
    [call] = handler.received
    assert call["path"] == secret_path
    text = call["json"]["blocks"][0]["text"]["text"]
    assert call["json"]["text"] == rendered.headline and "2026-W47" in text
    assert "new job definition" in text and "Cheaper instance mix for ce-spot" in text

    handler.status = 403
    [failed] = deliver_all([SlackSink(SecretStr(base + secret_path))], rendered)
    assert not failed.ok and "HTTP 403" in failed.detail
    assert "XXXXSECRET" not in failed.detail and "XXXXSECRET" not in repr(SlackSink(SecretStr(secret_path)))


def test_sinks_are_checked_against_their_settings_before_anything_runs(tmp_path: Path) -> None:
    settings = Settings()
    assert configured_sinks(settings) == ["dir"]
    with pytest.raises(ConfigError, match=r"report\.smtp_host"):
        make_sinks(["dir", "email"], settings)
    with pytest.raises(ConfigError, match=r"report\.s3_uri"):
        make_sinks(["s3"], settings)
    configured = Settings(
        report={
            "smtp_host": "mail.example.com",
            "email_from": "a@example.com",
            "email_to": "b@example.com,c@example.com",
            "slack_webhook_url": "https://hooks.slack.com/services/x",
            "out_dir": str(tmp_path),
        }
    )
    assert configured_sinks(configured) == ["dir", "email", "slack"]
    sinks = make_sinks(configured_sinks(configured), configured)
    assert [s.name for s in sinks] == ["dir", "email", "slack"]
    assert sinks[1].recipients == ["b@example.com", "c@example.com"]  # type: ignore[attr-defined]


@pytest.mark.emulator
def test_cli_delivers_to_s3_and_reports_a_failing_slack_with_exit_1(
    aws_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from optimizer.cli.main import main

    db = tmp_path / "store.db"
    engine = create_store_engine(f"sqlite:///{db}")
    upgrade(engine)
    seed_estate(engine)
    engine.dispose()
    factory = SessionFactory(AwsSettings(endpoint_url=aws_endpoint, regions=["us-east-1"]))
    [pair] = factory.target_regions()
    s3 = factory.client("s3", pair.target, pair.region)
    s3.create_bucket(Bucket="reports")
    monkeypatch.setenv("BATCHOPT_DATABASE_URL", f"sqlite:///{db}")
    monkeypatch.setenv("BATCHOPT_AWS_ENDPOINT_URL", aws_endpoint)
    monkeypatch.setenv("BATCHOPT_REGIONS", "us-east-1")
    monkeypatch.setenv("BATCHOPT_REPORT__S3_URI", "s3://reports/weekly")
    secret = f"http://127.0.0.1:{_free_port()}/services/T0/B0/SECRETTOKEN"
    monkeypatch.setenv("BATCHOPT_REPORT__SLACK_WEBHOOK_URL", secret)
    out = tmp_path / "out"
    argv = ["report", "--week", "2026-W47", "--out", str(out), "--sink", "slack", "--sink", "s3"]
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert "slack: FAILED" in captured.err and "SECRETTOKEN" not in captured.err + captured.out
    assert "s3: ok" in captured.out and "dir: ok" in captured.out
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="reports", Prefix="weekly/2026-W47/")["Contents"]]
    assert len(keys) == 11  # HTML, Markdown and nine CSVs
    assert (out / "batchopt-report-2026-W47.md").is_file()
