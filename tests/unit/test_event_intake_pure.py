"""The event intake's pure parts: which queue a target drains, the order of job states, event
parsing with the field a bad event names, and which compute environment launched an instance."""

from __future__ import annotations

import json

import pytest

from optimizer.collectors.event_messages import BadEvent, InstanceEvent, JobEvent, parse_event
from optimizer.collectors.events import queue_matches
from optimizer.collectors.instance_lifetimes import LaunchFacts, match_environment
from optimizer.collectors.job_states import furthest, moves_forward, rank


@pytest.mark.parametrize(
    ("url", "account", "region", "expected"),
    [
        ("https://sqs.us-east-1.amazonaws.com/123456789012/intake", "123456789012", "us-east-1", True),
        ("https://sqs.eu-west-1.amazonaws.com/123456789012/intake", "123456789012", "us-east-1", False),
        ("https://sqs.us-east-1.amazonaws.com/210987654321/intake", "123456789012", "us-east-1", False),
        ("http://127.0.0.1:4566/123456789012/intake", "123456789012", "eu-west-1", True),  # emulator
        ("https://sqs.us-east-1.amazonaws.com/intake", "123456789012", "us-east-1", False),
    ],
)
def test_queue_matches(url: str, account: str, region: str, expected: bool) -> None:
    assert queue_matches(url, account, region) is expected


def test_states_only_move_forward() -> None:
    assert rank("SUBMITTED") < rank("RUNNABLE") < rank("RUNNING") < rank("SUCCEEDED") == rank("FAILED")
    assert rank("SOMETHING_NEW") == -1
    assert moves_forward("RUNNING", None)
    assert moves_forward("SUCCEEDED", "RUNNING")
    assert not moves_forward("RUNNABLE", "RUNNING")  # a retry's RUNNABLE after RUNNING
    assert not moves_forward("SOMETHING_NEW", "SUBMITTED")
    a = {"jobId": "j", "status": "RUNNING"}
    b = {"jobId": "j", "status": "SUCCEEDED"}
    c = {"jobId": "j", "status": "SUCCEEDED", "statusReason": "later"}
    assert furthest([(b, 1), (a, 2)])["j"][0] is b
    assert furthest([(c, 3), (b, 1)])["j"][0] is c  # same state: the later event


def _event(**changes: object) -> str:
    event = {
        "detail-type": "Batch Job State Change",
        "time": "2026-01-01T00:00:00Z",
        "account": "123456789012",
        "region": "us-east-1",
        "detail": {"jobId": "j", "jobQueue": "q", "status": "RUNNING", "createdAt": 1, "attempts": []},
    }
    event.update(changes)
    return json.dumps(event)


def test_parse_event_names_the_bad_field() -> None:
    assert isinstance(parse_event(_event(), 0), JobEvent)
    ec2 = _event(
        **{"detail-type": "EC2 Instance State-change Notification"},
        detail={"instance-id": "i-1", "state": "running"},
    )
    assert isinstance(parse_event(ec2, 0), InstanceEvent)
    cases = {
        _event(detail={"jobId": "j", "jobQueue": "q", "status": "RUNNING", "createdAt": "1"}): (
            "detail.createdAt: expected int, got str"
        ),
        _event(detail={"jobId": "j", "jobQueue": "q", "createdAt": 1}): "detail.status: missing",
        _event(time="yesterday"): "time: not an ISO 8601 time: 'yesterday'",
        _event(
            **{"detail-type": "EC2 Instance State-change Notification"},
            detail={"instance-id": "i-1", "state": "gone"},
        ): ("detail.state: unknown EC2 state 'gone'"),
        "[1]": "body: not a JSON object",
    }
    for body, reason in cases.items():
        with pytest.raises(BadEvent) as caught:
            parse_event(body, 0)
        assert str(caught.value) == reason


def _ce(name: str, role: str, subnets: list[str], types: list[str]) -> dict:
    return {
        "arn": f"arn:aws:batch:us-east-1:123456789012:compute-environment/{name}",
        "computeResources": {"instanceRole": role, "subnets": subnets, "instanceTypes": types},
    }


def test_match_environment() -> None:
    od = _ce("od", "ecsInstanceRole", ["subnet-a"], ["m5"])
    gpu = _ce("gpu", "arn:aws:iam::123456789012:instance-profile/gpuRole", ["subnet-a"], ["g5.xlarge"])
    ces = [od, gpu]
    facts = LaunchFacts(
        "m5.large",
        "us-east-1a",
        "subnet-a",
        "arn:aws:iam::123456789012:instance-profile/ecsInstanceRole",
        False,
    )
    assert match_environment(facts, ces) is od  # role given as a name or an ARN
    assert (
        match_environment(LaunchFacts("m5.large", None, "subnet-b", facts.instance_profile, False), ces)
        is None
    )
    # No profile (EC2 drops it on termination): subnet + an allowed type decide.
    assert match_environment(LaunchFacts("g5.xlarge", None, "subnet-a", None, False), ces) is gpu
    assert match_environment(LaunchFacts("t3.micro", None, "subnet-a", None, False), ces) is None
    assert match_environment(LaunchFacts("m5.large", None, None, None, False), ces) is None


def test_default_instance_bundles_match_their_families() -> None:
    """`default_x86_64` / `default_arm64` are Batch's bundles (m6i, c6i, r6i, c7i / their Graviton
    twins); their instances matched no CE, so their spend was not counted as Batch's."""
    x86 = _ce("x86", "ecsInstanceRole", ["subnet-a"], ["default_x86_64"])
    arm = _ce("arm", "ecsInstanceRole", ["subnet-a"], ["default_arm64"])
    ces = [x86, arm]
    assert match_environment(LaunchFacts("m6i.large", None, "subnet-a", None, False), ces) is x86
    assert match_environment(LaunchFacts("c6g.xlarge", None, "subnet-a", None, False), ces) is arm
    profile = "arn:aws:iam::123456789012:instance-profile/ecsInstanceRole"  # (both CEs share the role)
    assert match_environment(LaunchFacts("r6g.large", None, "subnet-a", profile, False), ces) is arm
    assert match_environment(LaunchFacts("m5.large", None, "subnet-a", None, False), ces) is None
