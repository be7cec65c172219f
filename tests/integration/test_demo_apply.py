"""Applying a demo recommendation through the apply service changes the emulated estate (boto3 sees it)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from sqlalchemy import Engine

from optimizer.apply.service import ApplyService, TargetClients
from optimizer.aws.session import SessionFactory
from optimizer.config import ApplySettings, AwsSettings
from optimizer.demo.emulator import Emulator
from optimizer.demo.estate import build_estate
from optimizer.domain import UpdateKind
from optimizer.recommend.base import make_recommendation
from optimizer.recommend.repository import get_recommendation, save_recommendations
from tests.demo_helpers import NOW

pytestmark = [pytest.mark.emulator, pytest.mark.xdist_group("demo")]
REGION = "us-east-1"


@pytest.fixture
def emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with Emulator(NOW) as running:
        yield running


def test_applied_instance_mix_recommendation_is_visible_through_boto3(
    emulator: Emulator, sqlite_engine: Engine
) -> None:
    sessions = SessionFactory(AwsSettings(endpoint_url=emulator.endpoint_url, regions=[REGION]))
    estate = build_estate(sessions, sessions.target_regions()[0])
    batch = boto3.client("batch", region_name=REGION, endpoint_url=emulator.endpoint_url)
    [environment] = batch.describe_compute_environments(computeEnvironments=["cpu-batch-ondemand"])[
        "computeEnvironments"
    ]
    new_types = ["c6i.4xlarge", "m6a.2xlarge", "m6i.2xlarge"]
    # What the instance-mix strategy proposes for an on-demand BEST_FIT CE: Batch cannot update
    # BEST_FIT in place, so the planner builds a blue/green replacement.
    rec = make_recommendation(
        strategy="instance-mix",
        target_arn=environment["computeEnvironmentArn"],
        target_kind="compute-environment",
        target_name="cpu-batch-ondemand",
        title="cpu-batch-ondemand: newer instance types with BEST_FIT_PROGRESSIVE",
        current={
            "instance_types": environment["computeResources"]["instanceTypes"],
            "allocation_strategy": environment["computeResources"]["allocationStrategy"],
        },
        proposed={"instance_types": new_types, "allocation_strategy": "BEST_FIT_PROGRESSIVE"},
        monthly_savings_usd=600.0,
        risk={"rollout": "blue/green"},
        risk_scores={"queue_wait": 0.0},
        confidence=0.7,
        effort="medium",
        update_kind=UpdateKind.BLUE_GREEN,
        evidence={},
        account_id=estate.account_id,
        region=REGION,
    )
    assert rec.applicable
    save_recommendations(sqlite_engine, [rec])
    service = ApplyService(
        sqlite_engine,
        ApplySettings(
            enabled=True, wait_for_valid_seconds=30, allow_list=["cpu-batch", "cpu-batch-ondemand"]
        ),
        TargetClients(sessions),
    )
    report = service.apply(rec.id, execute=True, actor="test")
    assert (report.dry_run, report.result) == (False, "succeeded"), report.message
    environments = {
        e["computeEnvironmentName"]: e for e in batch.describe_compute_environments()["computeEnvironments"]
    }
    created = [e for name, e in environments.items() if name not in estate.compute_environments]
    assert len(created) == 1
    resources = created[0]["computeResources"]
    assert resources["type"] == "EC2" and resources["allocationStrategy"] == "BEST_FIT_PROGRESSIVE"
    assert sorted(resources["instanceTypes"]) == new_types
    [queue] = batch.describe_job_queues(jobQueues=["cpu-batch"])["jobQueues"]
    assert [o["computeEnvironment"] for o in queue["computeEnvironmentOrder"]] == [
        created[0]["computeEnvironmentArn"]
    ]
    assert get_recommendation(sqlite_engine, rec.id).status == "applied"


def test_demo_refuses_a_store_with_collected_history(sqlite_engine: Engine) -> None:
    from sqlalchemy import insert

    from optimizer.demo.pipeline import require_empty_history
    from optimizer.errors import UserError
    from optimizer.store.schema import jobs

    require_empty_history(sqlite_engine, "sqlite:///empty")  # an empty store is fine
    with sqlite_engine.begin() as conn:
        conn.execute(
            insert(jobs).values(
                job_id="j1", dataset="aws", status="SUCCEEDED", created_at=NOW.replace(tzinfo=None)
            )
        )
    with pytest.raises(UserError, match="already holds 1 collected jobs"):
        require_empty_history(sqlite_engine, "sqlite:///busy")


def test_the_demo_refuses_a_store_with_history_before_starting_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """It was refused at the store stage, after the emulator, the estate and the history."""
    from sqlalchemy import insert

    from optimizer.cli.main import main
    from optimizer.demo import pipeline
    from optimizer.store.engine import create_store_engine, upgrade
    from optimizer.store.schema import jobs

    url = f"sqlite:///{tmp_path / 'busy.db'}"
    engine = create_store_engine(url)
    upgrade(engine)
    with engine.begin() as conn:
        conn.execute(
            insert(jobs).values(
                job_id="j1", dataset="aws", status="SUCCEEDED", created_at=NOW.replace(tzinfo=None)
            )
        )
    engine.dispose()

    def no_emulator(*args: object, **kwargs: object) -> None:
        raise AssertionError("the emulator started")

    monkeypatch.setattr(pipeline.Emulator, "start", no_emulator)
    args = ["demo", "--headless", "--workdir", str(tmp_path / "w"), "--database-url", url]
    assert main(args) == 2
    assert "already holds 1 collected jobs" in capsys.readouterr().err
    # A store file that does not exist is not made by the check.
    pipeline.refuse_held_history(f"sqlite:///{tmp_path / 'none.db'}")
    assert not (tmp_path / "none.db").exists()
