"""`batchopt setup events` on the emulator: the dry run prints the exact requests, --execute creates
the rule, the queues and the policy, a second run changes nothing; the requests are valid for
botocore's model (the emulator would accept less); every run is in the audit log; the setup role's
policy covers every call."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from sqlalchemy import select

from optimizer.apply.event_intake import EVENT_PATTERN, RETENTION_SECONDS, TARGET_ID, IntakeNames
from optimizer.cli.main import main
from optimizer.store.engine import create_store_engine
from optimizer.store.read import read_frame
from optimizer.store.schema import audit_log
from tests.collect_helpers import ACCOUNT, REGION

NAMES = IntakeNames()


@pytest.fixture
def cli_env(tmp_path: Path, aws_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    monkeypatch.setenv("BATCHOPT_DATABASE_URL", url)
    monkeypatch.setenv("BATCHOPT_AWS_ENDPOINT_URL", aws_endpoint)
    monkeypatch.setenv("BATCHOPT_REGIONS", REGION)
    monkeypatch.setenv("BATCHOPT_AWS__MAX_ATTEMPTS", "2")
    assert main(["db", "upgrade"]) == 0
    return url


def _calls(out: str) -> list[tuple[str, dict]]:
    """The printed requests: `service.operation {json}` lines."""
    found = []
    for line in out.splitlines():
        line = line.strip()
        if line.startswith(("sqs.", "events.")):
            name, _, params = line.partition(" ")
            found.append((name, json.loads(params)))
    return found


def test_dry_run_execute_and_idempotent(
    cli_env: str, aws_endpoint: str, capsys: pytest.CaptureFixture
) -> None:
    capsys.readouterr()
    assert main(["setup", "events"]) == 0
    dry = _calls(capsys.readouterr().out)
    assert [name for name, _ in dry] == [
        "sqs.create_queue",
        "sqs.create_queue",
        "events.put_rule",
        "events.put_targets",
    ]
    queue_arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{NAMES.queue}"
    rule_arn = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{NAMES.rule}"
    attributes = dry[1][1]["Attributes"]
    assert json.loads(attributes["RedrivePolicy"]) == {
        "deadLetterTargetArn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{NAMES.dead_letter}",
        "maxReceiveCount": 5,
    }
    [statement] = json.loads(attributes["Policy"])["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert (statement["Action"], statement["Resource"]) == ("sqs:SendMessage", queue_arn)
    assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": rule_arn}}
    assert attributes["MessageRetentionPeriod"] == str(RETENTION_SECONDS)
    assert json.loads(dry[2][1]["EventPattern"]) == EVENT_PATTERN
    assert dry[3][1]["Targets"] == [{"Id": TARGET_ID, "Arn": queue_arn}]
    # Every printed request is valid for botocore's model (Stubber validates parameters).
    from botocore.stub import Stubber

    for name, params in dry:
        service, operation = name.split(".")
        stub_client = boto3.client(service, region_name=REGION)
        with Stubber(stub_client) as stubber:
            stubber.add_response(operation, {}, params)
            getattr(stub_client, operation)(**params)
    sqs = boto3.client("sqs", region_name=REGION, endpoint_url=aws_endpoint)
    assert sqs.list_queues().get("QueueUrls") is None  # the dry run created nothing

    assert main(["setup", "events", "--execute"]) == 0
    out = capsys.readouterr().out
    assert [name for name, _ in _calls(out)] == [name for name, _ in dry]
    url = sqs.get_queue_url(QueueName=NAMES.queue)["QueueUrl"]
    assert f"to {url}" in out
    events = boto3.client("events", region_name=REGION, endpoint_url=aws_endpoint)
    rule = events.describe_rule(Name=NAMES.rule)
    assert (rule["State"], json.loads(rule["EventPattern"])) == ("ENABLED", EVENT_PATTERN)
    assert events.list_targets_by_rule(Rule=NAMES.rule)["Targets"] == [{"Id": TARGET_ID, "Arn": queue_arn}]
    stored = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert json.loads(stored["Policy"])["Statement"][0]["Condition"] == statement["Condition"]

    # Second run: nothing to change, dry run or not.
    for argv in (["setup", "events"], ["setup", "events", "--execute"]):
        assert main(argv) == 0
        out = capsys.readouterr().out
        assert _calls(out) == []
        assert "nothing to change" in out

    # A policy changed by hand is put back, and only it.
    sqs.set_queue_attributes(
        QueueUrl=url, Attributes={"Policy": json.dumps({"Version": "2012-10-17", "Statement": []})}
    )
    assert main(["setup", "events", "--execute"]) == 0
    [(name, params)] = _calls(capsys.readouterr().out)
    assert name == "sqs.set_queue_attributes" and list(params["Attributes"]) == ["Policy"]

    engine = create_store_engine(cli_env)
    audit = read_frame(engine, select(audit_log).order_by(audit_log.c.id))
    assert audit["action"].unique().tolist() == ["setup-events"]
    assert audit["result"].tolist() == ["dry-run", "succeeded", "dry-run", "succeeded", "succeeded"]
    assert audit["dry_run"].astype(bool).tolist() == [True, False, True, False, False]
    engine.dispose()


def test_setup_role_policy_covers_every_call(capsys: pytest.CaptureFixture) -> None:
    assert main(["iam-policy", "--role", "setup"]) == 0
    policy = json.loads(capsys.readouterr().out)
    actions = {a for statement in policy["Statement"] for a in statement["Action"]}
    assert {
        "sqs:CreateQueue",
        "sqs:SetQueueAttributes",
        "sqs:GetQueueUrl",
        "sqs:GetQueueAttributes",
        "events:PutRule",
        "events:PutTargets",
        "events:DescribeRule",
        "events:ListTargetsByRule",
    } == actions
