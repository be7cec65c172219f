"""The recommendation engine on a seeded SQLite store: generate, save idempotently, plan every
applicable recommendation, and reproduce each savings figure with `batchopt simulate`."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import Engine

from optimizer.apply.planner import CurrentState, plan_change
from optimizer.cli.main import main
from optimizer.domain import Recommendation, UpdateKind
from optimizer.errors import RefusedError
from optimizer.recommend.generate import default_strategies, generate_recommendations
from optimizer.recommend.repository import list_recommendations, set_status
from optimizer.recommend.strategies import InstanceMixSettings
from optimizer.recommend.strategies.rightsizing import definition_key
from optimizer.store.engine import create_store_engine, upgrade
from tests.recommend_helpers import standard_estate, store_estate


@pytest.fixture(scope="module")
def estate() -> dict[str, Any]:
    return standard_estate()


def _strategies() -> list[Any]:
    return default_strategies(overrides={"instance-mix": InstanceMixSettings(time_limit_seconds=3)})


@pytest.fixture(scope="module")
def seeded(
    tmp_path_factory: pytest.TempPathFactory, estate: dict[str, Any]
) -> Iterator[tuple[Engine, list[Recommendation]]]:
    """One store for the module (generating replays and solves, a few seconds)."""
    engine = create_store_engine(f"sqlite:///{tmp_path_factory.mktemp('recommend') / 'store.db'}")
    upgrade(engine)
    store_estate(engine, estate)
    recs = generate_recommendations(engine, strategies=_strategies(), seed=3, clock=time.monotonic)
    yield engine, recs
    engine.dispose()


def test_every_strategy_contributes_and_all_are_saved(seeded: tuple[Engine, list[Recommendation]]) -> None:
    engine, recs = seeded
    assert {r.strategy for r in recs} == {
        "instance-mix",
        "spot-adoption",
        "ce-scaling",
        "job-definition-rightsizing",
        "graviton",
        "fargate",
    }
    stored = list_recommendations(engine)
    assert sorted(s.id for s in stored) == sorted(r.id for r in recs)
    assert [r.monthly_savings_usd for r in recs] == sorted(
        (r.monthly_savings_usd for r in recs), reverse=True
    )
    unmanaged = [r for r in recs if r.target_name == "onprem"]
    assert unmanaged and all(not r.applicable and r.update_kind == UpdateKind.ADVICE for r in unmanaged)


def test_refresh_is_idempotent_and_keeps_status(seeded: tuple[Engine, list[Recommendation]]) -> None:
    engine, recs = seeded
    victim = next(r for r in recs if r.strategy == "ce-scaling")
    with engine.begin() as conn:  # as ApplyService.dismiss does, behind its gate
        set_status(conn, victim.id, "dismissed", "we keep a warm pool on purpose")
    again = generate_recommendations(engine, strategies=_strategies(), seed=3, clock=time.monotonic)
    assert {r.id for r in again} >= {r.id for r in recs if r.strategy != "instance-mix"}
    status = {s.id: s.status for s in list_recommendations(engine)}
    assert status[victim.id] == "dismissed"


def _state(rec: Recommendation, estate: dict[str, Any]) -> CurrentState:
    if rec.target_kind == "compute-environment":
        target = next(ce for ce in estate["ces"] if ce["computeEnvironmentArn"] == rec.target_arn)
        queues = tuple(
            q
            for q in estate["queues"]
            if rec.target_arn in [e["computeEnvironment"] for e in q["computeEnvironmentOrder"]]
        )
        return CurrentState(target, queues, tuple(estate["ces"]))
    if rec.target_kind == "job-queue":
        target = next(q for q in estate["queues"] if q["jobQueueArn"] == rec.target_arn)
        return CurrentState(target, (), tuple(estate["ces"]))
    target = next(d for d in estate["defs"] if definition_key(d["jobDefinitionArn"]) == rec.target_arn)
    return CurrentState(target)


def test_every_applicable_recommendation_plans(
    seeded: tuple[Engine, list[Recommendation]], estate: dict[str, Any]
) -> None:
    _, recs = seeded
    applicable = [r for r in recs if r.applicable]
    assert {r.update_kind for r in applicable} >= {
        UpdateKind.SCALING,
        UpdateKind.QUEUE_ORDER,
        UpdateKind.NEW_REVISION,
        UpdateKind.INFRASTRUCTURE,
    }
    for rec in applicable:
        plan = plan_change(rec, _state(rec, estate))
        assert plan.calls, rec.title
        assert plan.recommendation_id == rec.id
        if rec.strategy == "spot-adoption":
            create, update = plan.calls
            assert create.params["computeResources"]["type"] == "SPOT"
            assert create.params["computeResources"]["instanceRole"].endswith("ecsInstanceRole")
            order = [
                e["computeEnvironment"].rsplit("/", 1)[-1] for e in update.params["computeEnvironmentOrder"]
            ]
            assert order == rec.proposed["compute_environment_order"]
        if rec.strategy == "job-definition-rightsizing":
            [call] = plan.calls
            reqs = {r["type"]: r["value"] for r in call.params["containerProperties"]["resourceRequirements"]}
            assert reqs["MEMORY"] == str(rec.proposed["memory_mib"])
            assert call.params["retryStrategy"] == {"attempts": 3}
    for rec in recs:
        if not rec.applicable:
            with pytest.raises(RefusedError):
                plan_change(rec, _state(rec, estate))


def test_a_changed_resource_makes_the_recommendation_stale(
    seeded: tuple[Engine, list[Recommendation]], estate: dict[str, Any]
) -> None:
    _, recs = seeded
    rec = next(r for r in recs if r.strategy == "ce-scaling")
    state = _state(rec, estate)
    changed = json.loads(json.dumps(state.target))
    changed["computeResources"]["minvCpus"] = 8
    with pytest.raises(RefusedError, match="stale"):
        plan_change(rec, CurrentState(changed, state.queues, state.compute_environments))


def test_savings_reproduce_with_batchopt_simulate(
    seeded: tuple[Engine, list[Recommendation]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    engine, recs = seeded
    monkeypatch.setenv("BATCHOPT_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    checked = 0
    for rec in recs:
        replay = rec.evidence.get("replay")
        if not replay or not replay["command"]:
            continue  # unmanaged advice has no replay; right-sizing edits jobs (checked below)
        current, proposed, out = tmp_path / "current.json", tmp_path / "proposed.json", tmp_path / "out.json"
        current.write_text(json.dumps(replay["current_config"]))
        proposed.write_text(json.dumps(replay["proposed_config"]))
        args = replay["command"].split()[1:]
        args = [
            str(current) if a == "current.json" else str(proposed) if a == "proposed.json" else a
            for a in args
        ]
        assert main([*args, "--out", str(out)]) == 0
        runs = json.loads(out.read_text())["runs"]
        assert runs[0]["total_cost_usd"] == pytest.approx(replay["current_cost_usd"], abs=1e-6)
        assert runs[1]["total_cost_usd"] == pytest.approx(replay["proposed_cost_usd"], abs=1e-6)
        monthly = (runs[0]["total_cost_usd"] - runs[1]["total_cost_usd"]) * 30 / replay["window_days"]
        assert rec.monthly_savings_usd == pytest.approx(monthly, abs=0.01)
        printed = capsys.readouterr().out
        assert f"${replay['proposed_cost_usd']:,.2f}" in printed
        checked += 1
    assert checked >= 5


def test_recommend_refresh_cli(
    sqlite_engine: Engine,
    estate: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    store_estate(sqlite_engine, estate)
    monkeypatch.setenv("BATCHOPT_DATABASE_URL", sqlite_engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("BATCHOPT_OPTIMIZATION__TIME_LIMIT_SECONDS", "2")
    assert main(["recommend", "--refresh", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    listed = shown["recommendations"]
    assert listed and all(item["id"].startswith("rec-") for item in listed)
    counted = [i for i in listed if i["headline"]["verdict"] == "counted"]
    assert shown["identified_savings_usd_per_month"] == pytest.approx(
        sum(i["headline"]["monthly_savings_usd"] for i in counted), abs=0.02
    )
    assert {item["strategy"] for item in listed} >= {"spot-adoption", "ce-scaling"}


def test_rightsizing_savings_reproduce_with_batchopt_simulate_resize(
    seeded: tuple[Engine, list[Recommendation]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Right-sizing changes the jobs, not the configuration: its evidence names two `batchopt
    simulate` runs (as is, and `--resize` with the new requests) whose totals are the recorded costs."""
    engine, recs = seeded
    monkeypatch.setenv("BATCHOPT_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    rec = next(r for r in recs if r.strategy == "job-definition-rightsizing")
    evidence = rec.evidence["replay"]
    assert evidence["command"] is None and len(evidence["commands"]) == 2
    current = tmp_path / "current.json"
    current.write_text(json.dumps(evidence["current_config"]))
    totals = []
    for n, command in enumerate(evidence["commands"]):
        out = tmp_path / f"out{n}.json"
        args = [str(current) if a == "current.json" else a for a in command.split()[1:]]
        assert main([*args, "--out", str(out)]) == 0
        totals.append(json.loads(out.read_text())["total_cost_usd"])
    assert totals[0] == pytest.approx(evidence["current_cost_usd"], abs=1e-6)
    assert totals[1] == pytest.approx(evidence["proposed_cost_usd"], abs=1e-6)
    monthly = (totals[0] - totals[1]) * 30 / evidence["window_days"]
    assert rec.monthly_savings_usd == pytest.approx(monthly, abs=0.01)


@pytest.mark.postgres
def test_generated_recommendations_round_trip_through_postgresql(
    seeded: tuple[Engine, list[Recommendation]], pg_engine: Engine
) -> None:
    """Evidence (replay summaries, chart data, configuration documents) is strict JSON PostgreSQL takes."""
    from optimizer.recommend.repository import get_recommendation, save_recommendations

    _, recs = seeded
    assert save_recommendations(pg_engine, recs) == len(recs)
    for rec in recs:
        assert get_recommendation(pg_engine, rec.id).recommendation == rec
    assert save_recommendations(pg_engine, recs) == 0  # identical re-run writes nothing


def test_daily_job_is_registered_and_refreshes_the_store(
    sqlite_engine: Engine, estate: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from apscheduler.triggers.cron import CronTrigger

    from optimizer.config import load_settings
    from optimizer.recommend.scheduled import recommendations_job
    from optimizer.scheduler.registry import discover_jobs

    jobs = {job.id: job for job in discover_jobs()}
    assert isinstance(jobs["recommendations"].trigger(load_settings()), CronTrigger)
    store_estate(sqlite_engine, estate)
    monkeypatch.setenv("BATCHOPT_DATABASE_URL", sqlite_engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("BATCHOPT_OPTIMIZATION__TIME_LIMIT_SECONDS", "2")
    recommendations_job()
    assert {s.recommendation.strategy for s in list_recommendations(sqlite_engine)} >= {
        "ce-scaling",
        "spot-adoption",
    }


def test_advice_the_data_no_longer_supports_is_superseded_then_reopened(
    sqlite_engine: Engine, estate: dict[str, Any]
) -> None:
    from dataclasses import replace

    from sqlalchemy import update

    from optimizer.recommend.generate import SUPERSEDED
    from optimizer.recommend.repository import save_recommendations
    from optimizer.recommend.strategies import ScalingStrategy
    from optimizer.store.schema import compute_environments

    def refresh() -> dict[str, Recommendation]:
        return {
            r.target_name or "": r
            for r in generate_recommendations(sqlite_engine, strategies=[ScalingStrategy()])
        }

    def set_raw(raw: dict[str, Any]) -> None:
        table = compute_environments
        with sqlite_engine.begin() as conn:
            conn.execute(update(table).where(table.c.arn == raw["computeEnvironmentArn"]).values(raw=raw))

    store_estate(sqlite_engine, estate)
    rec = refresh()["od-ce"]
    save_recommendations(sqlite_engine, [replace(rec, id="rec-other", region="eu-west-1")])
    # The CE now keeps no idle floor and a tight cap: the scaling advice no longer holds.
    changed = json.loads(json.dumps(estate["ces"][0]))
    changed["computeResources"].update(minvCpus=0, desiredvCpus=0, maxvCpus=16)
    set_raw(changed)
    assert "od-ce" not in refresh()
    status = {s.id: (s.status, s.status_reason) for s in list_recommendations(sqlite_engine)}
    assert status[rec.id] == ("dismissed", SUPERSEDED)
    assert status["rec-other"] == ("open", None)  # another region: not refreshed, not touched
    set_raw(estate["ces"][0])
    assert refresh()["od-ce"].id == rec.id
    assert {s.id: s.status for s in list_recommendations(sqlite_engine)}[rec.id] == "open"


def test_evidence_reproduces_with_collected_spot_prices_in_two_regions_and_accounts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each (account, region) replays only its own jobs on its own catalogue, and every evidence
    command (`simulate --region R --account A`) prints the recommendation's figures, when spot prices
    were collected (the real recorded DescribeSpotPriceHistory response for m5.large)."""
    import copy as copy_module
    from datetime import datetime

    from optimizer.catalog.files import load_price_snapshot, price_table_to_store
    from optimizer.catalog.from_store import catalog_for_region
    from optimizer.collectors.spot_prices import transform_spot_prices
    from optimizer.store.schema import instance_types, ondemand_prices, spot_prices
    from optimizer.store.upsert import bulk_upsert
    from tests.data_paths import shared
    from tests.recommend_helpers import ce_item, history, relocated

    base = standard_estate()
    # The `sim` queue on m5.large (what the recorded spot prices are for): 1 vCPU / 6 GiB jobs.
    base["ces"][1] = ce_item("sim-ce", types=("m5.large",), max_vcpus=128)
    sim_jobs, sim_attempts = history(
        "sim", "sim", n=300, vcpus=1, memory_mib=6144, retry={"attempts": 3}, seed=2
    )
    keep = base["jobs"]["queue"] != "sim"
    base["jobs"] = pd.concat([base["jobs"][keep], sim_jobs], ignore_index=True)
    base["attempts"] = pd.concat(
        [base["attempts"][base["attempts"]["job_id"].isin(base["jobs"]["job_id"])], sim_attempts],
        ignore_index=True,
    )
    east = copy_module.deepcopy(base)
    west = relocated(base, "us-west-2", "210987654321", "w-")
    west["jobs"] = west["jobs"].iloc[: len(west["jobs"]) // 2]  # a different history: half the jobs
    west["attempts"] = west["attempts"][west["attempts"]["job_id"].isin(west["jobs"]["job_id"])]

    engine = create_store_engine(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(engine)
    store_estate(engine, east)
    store_estate(engine, west)
    recorded = json.loads(
        shared("spot-price-history", "DescribeSpotPriceHistory_m5.large_us-east-1_2021-01.json").read_text()
    )["SpotPriceHistory"]
    # boto3 hands the collector datetimes, not the wire's ISO strings.
    records = [{**r, "Timestamp": datetime.fromisoformat(r["Timestamp"])} for r in recorded]
    points, _marks = transform_spot_prices(records, "us-east-1", {})
    # us-west-2 has no bundled on-demand prices: stand-ins (the us-east-1 list x 1.08) play the
    # collected ones, so the two regions' figures differ and a mix-up would show.
    west_types, west_prices = price_table_to_store(load_price_snapshot(), "us-west-2", "2026-07-20", "test")
    west_prices["price_per_hour"] *= 1.08
    with engine.begin() as conn:
        bulk_upsert(conn, spot_prices, points)
        bulk_upsert(conn, instance_types, west_types)
        bulk_upsert(conn, ondemand_prices, west_prices)
    east_catalog = catalog_for_region(engine, "us-east-1")
    assert east_catalog.row("m5.large")["spot_price_source"] == "collected"
    assert east_catalog.row("c5.large")["spot_price_source"] == "estimate"

    recs = generate_recommendations(engine, strategies=_strategies(), seed=3, clock=time.monotonic)
    assert {r.region for r in recs} == {"us-east-1", "us-west-2"}
    monkeypatch.setenv("BATCHOPT_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    jobs_in = {"us-east-1": len(east["jobs"]), "us-west-2": len(west["jobs"])}
    checked: dict[str, int] = {"us-east-1": 0, "us-west-2": 0}
    spot_on_collected = 0
    for rec in recs:
        replay = rec.evidence.get("replay")
        if not replay or not replay["command"]:
            continue
        assert (
            f"--region {rec.region}" in replay["command"]
            and f"--account {rec.account_id}" in replay["command"]
        )
        finished = replay["current_summary"]["jobs"]
        assert finished == jobs_in[rec.region], "a replay saw another scope's jobs"
        current, proposed, out = tmp_path / "current.json", tmp_path / "proposed.json", tmp_path / "out.json"
        current.write_text(json.dumps(replay["current_config"]))
        proposed.write_text(json.dumps(replay["proposed_config"]))
        args = [
            str(current) if a == "current.json" else str(proposed) if a == "proposed.json" else a
            for a in replay["command"].split()[1:]
        ]
        assert main([*args, "--out", str(out)]) == 0
        runs = json.loads(out.read_text())["runs"]
        assert runs[0]["total_cost_usd"] == pytest.approx(replay["current_cost_usd"], abs=1e-6)
        assert runs[1]["total_cost_usd"] == pytest.approx(replay["proposed_cost_usd"], abs=1e-6)
        printed = capsys.readouterr().out
        assert f"${replay['proposed_cost_usd']:,.2f}" in printed
        if rec.region == "us-east-1" and "m5.large" in runs[1]["cost_by_instance_type"]:
            spot_on_collected += int(runs[1]["cost_by_capacity_type"].get("SPOT", 0.0) > 0)
        checked[rec.region] += 1
    assert checked["us-east-1"] >= 2 and checked["us-west-2"] >= 2, checked
    assert spot_on_collected >= 1, "no replay priced spot from the collected m5.large history"
    engine.dispose()
