"""Queue-wide architecture checks (instance names, AMIs read through a Stubber on EC2's model), the
scoped iam:PassRole grant and KMS for an encrypted report bucket."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from optimizer.apply.images import pinned_images
from optimizer.apply.planner import CurrentState, plan_change
from optimizer.aws.permissions import actions_for, policy_document
from optimizer.aws.s3 import upload_files
from optimizer.aws.session import SessionFactory
from optimizer.catalog.batch_rules import entry_architectures
from optimizer.catalog.instance_kinds import architecture
from optimizer.cli.cmd_iam_policy import load_declarations
from optimizer.cli.main import main
from optimizer.config import AwsSettings
from optimizer.errors import InputError
from tests.apply_helpers import ACCOUNT, CE_ARN, ce, make_recommendation, queue
from tests.data_paths import REPO_ROOT

pytestmark = pytest.mark.any_date

OTHER_ARN = f"{ACCOUNT}:compute-environment/other"
KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def _other(types: list[str]) -> dict[str, Any]:
    item = ce(instanceTypes=types)
    item.update(computeEnvironmentName="other", computeEnvironmentArn=OTHER_ARN)
    return item


def _graviton(state: CurrentState) -> Any:
    rec = make_recommendation("graviton", CE_ARN, "compute-environment", {"instance_types": ["m6g.large"]})
    return plan_change(rec, state)


@pytest.mark.parametrize(
    "name",
    [
        "DescribeInstanceTypes_25_instances.json",
        "DescribeInstanceTypes_g2_2xlarge_group.json",
        "DescribeInstanceTypes_t3_micro_and_p3_16xl.json",
    ],
)
def test_architecture_from_the_name_agrees_with_recorded_describe_instance_types(name: str) -> None:
    path = REPO_ROOT / "tests" / "fixtures" / "aws" / "ec2-instance-selector" / name
    for item in json.loads(path.read_text())["InstanceTypes"]:
        supported = item["ProcessorInfo"]["SupportedArchitectures"]
        assert architecture(item["InstanceType"]) in supported, item["InstanceType"]


def test_graviton_and_x86_names_and_aliases() -> None:
    arm = [
        "m6g.large",
        "c7gn.16xlarge",
        "x2gd.xlarge",
        "im4gn.large",
        "is4gen.large",
        "g5g.xlarge",
        "r8g.large",
        "p6e-gb200.36xlarge",  # NVIDIA Grace
        "mac-m4.metal",  # Apple M4
    ]
    x86 = [
        "m6i.large",
        "g6e.xlarge",
        "inf2.xlarge",
        "trn1.2xlarge",
        "m7i-flex.large",
        "u-6tb1.metal",
        "c6in.large",
        "p6-b200.48xlarge",
    ]
    assert {architecture(t) for t in arm} == {"arm64"} and {architecture(t) for t in x86} == {"x86_64"}
    assert entry_architectures(["default_arm64", "m7g"]) == {"arm64"}
    assert entry_architectures(["optimal"]) == entry_architectures(["default_x86_64"]) == {"x86_64"}


def test_no_graviton_move_next_to_an_x86_ce_in_the_same_queue() -> None:
    state = CurrentState(ce(), (queue(CE_ARN, OTHER_ARN, name="etl"),), (_other(["c5.large"]),))
    with pytest.raises(InputError, match=r"queue etl would hold ce on arm64 next to other on x86_64"):
        _graviton(state)
    # The same move is planned when the queue's other CE is Graviton already.
    arm_state = CurrentState(ce(), (queue(CE_ARN, OTHER_ARN, name="etl"),), (_other(["c7g.large"]),))
    assert _graviton(arm_state).calls[0].params["computeResources"] == {"instanceTypes": ["m6g.large"]}
    mixed = make_recommendation(
        "mix", CE_ARN, "compute-environment", {"instance_types": ["m6g.large", "m6i.large"]}
    )
    with pytest.raises(InputError, match="would mix arm64 and x86_64 instance types"):
        plan_change(mixed, CurrentState(ce()))


def test_a_queue_order_that_brings_in_a_ce_of_another_architecture_is_refused() -> None:
    target = queue(CE_ARN, name="etl")
    rec = make_recommendation(
        "order", target["jobQueueArn"], "job-queue", {"compute_environment_order": ["other", "ce"]}
    )
    with pytest.raises(InputError, match=r"queue etl would mix arm64 \(other\) and x86_64 \(ce\)"):
        plan_change(rec, CurrentState(target, (), (ce(), _other(["m6g.large"]))))


def _ec2_with_template(image_arch: str) -> tuple[Any, Stubber]:
    ec2 = boto3.client("ec2", region_name="us-east-1")
    stubber = Stubber(ec2)
    stubber.add_response(
        "describe_launch_template_versions",
        {
            "LaunchTemplateVersions": [
                {
                    "LaunchTemplateId": "lt-0abc",
                    "VersionNumber": 3,
                    "LaunchTemplateData": {"ImageId": "ami-0x86"},
                }
            ]
        },
        {"LaunchTemplateId": "lt-0abc", "Versions": ["$Latest"]},
    )
    stubber.add_response(
        "describe_images",
        {"Images": [{"ImageId": "ami-0x86", "Architecture": image_arch}]},
        {"ImageIds": ["ami-0x86"]},
    )
    return ec2, stubber


def test_a_launch_template_ami_of_the_old_architecture_refuses_the_move() -> None:
    item = ce(launchTemplate={"launchTemplateId": "lt-0abc", "version": "$Latest"})
    ec2, stubber = _ec2_with_template("x86_64")
    with stubber:
        images = pinned_images(ec2, item)
        stubber.assert_no_pending_responses()
    assert images == {"launch template lt-0abc ($Latest): ami-0x86": "x86_64"}
    with pytest.raises(InputError, match=r"pins launch template lt-0abc \(\$Latest\): ami-0x86 \(x86_64\)"):
        _graviton(CurrentState(item, pinned_images=images))
    ec2, stubber = _ec2_with_template("arm64")
    with stubber:
        images = pinned_images(ec2, item)
    assert _graviton(CurrentState(item, pinned_images=images)).calls
    assert pinned_images(ec2, ce()) == {}  # nothing pinned: Batch picks the AMI per architecture


def test_pass_role_is_scoped_to_roles_and_the_services_they_are_passed_to(
    capsys: pytest.CaptureFixture[str],
) -> None:
    load_declarations()
    assert "iam:PassRole" in actions_for("apply")
    assert main(["iam-policy", "--role", "apply"]) == 0
    statements = json.loads(capsys.readouterr().out)["Statement"]
    [pass_role] = [s for s in statements if "iam:PassRole" in s["Action"]]
    assert pass_role["Action"] == ["iam:PassRole"]
    assert pass_role["Resource"] == "arn:aws:iam::*:role/*"
    assert pass_role["Condition"] == {
        "StringEquals": {
            "iam:PassedToService": [
                "batch.amazonaws.com",
                "ec2.amazonaws.com",
                "ecs-tasks.amazonaws.com",
                "spotfleet.amazonaws.com",
            ]
        }
    }
    unscoped = {a for s in statements if s["Resource"] == "*" for a in s["Action"]}
    assert "iam:PassRole" not in unscoped
    assert {
        "ec2:DescribeImages",
        "ec2:DescribeLaunchTemplateVersions",
        "batch:CreateComputeEnvironment",
    } <= unscoped


def test_report_role_gets_kms_on_the_configured_key_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    load_declarations()
    without = json.loads(policy_document("report"))["Statement"]
    assert not [s for s in without if any(a.startswith("kms:") for a in s["Action"])]
    monkeypatch.setenv("BATCHOPT_REPORT__S3_KMS_KEY_ARN", KEY)
    assert main(["iam-policy", "--role", "report"]) == 0
    statements = json.loads(capsys.readouterr().out)["Statement"]
    kms = {a: s["Resource"] for s in statements for a in s["Action"] if a.startswith("kms:")}
    assert kms == {"kms:Decrypt": KEY, "kms:GenerateDataKey": KEY}


def test_report_upload_asks_for_sse_kms_with_the_configured_key(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text("<h1>week</h1>")
    s3 = boto3.client("s3", region_name="us-east-1")

    class Factory(SessionFactory):
        def client(self, service: str, target: Any, region: str) -> Any:
            return s3

    factory = Factory(AwsSettings(regions=["us-east-1"]))
    [pair] = factory.target_regions()
    with Stubber(s3) as stubber:
        stubber.add_response(
            "put_object",
            {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": KEY},
            {
                "Bucket": "reports",
                "Key": "weekly/report.html",
                "Body": _any(),
                "ContentType": "text/html; charset=utf-8",
                "ServerSideEncryption": "aws:kms",
                "SSEKMSKeyId": KEY,
                "ChecksumAlgorithm": _any(),
            },
        )
        uris = upload_files(factory, pair.target, "us-east-1", "s3://reports/weekly", [page], kms_key_arn=KEY)
        stubber.assert_no_pending_responses()
    assert uris == ["s3://reports/weekly/report.html"]


def _any() -> Any:
    from botocore.stub import ANY

    return ANY
