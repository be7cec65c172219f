"""The session factory against the local emulator: plain, assumed-role, paginated reads."""

import pytest

from optimizer.aws.paginate import chunks, paginate
from optimizer.aws.session import SessionFactory
from optimizer.config import AwsSettings, Target

pytestmark = pytest.mark.emulator


def test_round_trip_through_the_emulator(aws_endpoint: str) -> None:
    factory = SessionFactory(AwsSettings(endpoint_url=aws_endpoint, regions=["us-east-1"]))
    [pair] = factory.target_regions()
    ec2 = factory.client("ec2", pair.target, pair.region)
    assert ec2.meta.config.retries["mode"] == "adaptive"
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    assert vpc in {v["VpcId"] for v in paginate(ec2, "describe_vpcs", "Vpcs")}
    assert factory.account_id(pair.target, pair.region) == "123456789012"


def test_assume_role_per_target(aws_endpoint: str) -> None:
    target = Target(name="prod", role_arn="arn:aws:iam::210987654321:role/batchopt", regions=["eu-west-1"])
    factory = SessionFactory(AwsSettings(endpoint_url=aws_endpoint, targets=[target]))
    assert factory.account_id(target, "eu-west-1") == "210987654321"
    batch = factory.client("batch", target, "eu-west-1")
    assert list(paginate(batch, "describe_compute_environments", "computeEnvironments")) == []


def test_chunks() -> None:
    assert [len(c) for c in chunks(list(range(250)), 100)] == [100, 100, 50]
