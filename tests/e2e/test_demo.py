"""`batchopt demo --headless` end to end: the summary's figures are the store's figures.

The run is the e2e tests' shared one (`tests/e2e/conftest.py`): the default 30 days of history."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from optimizer.demo.estate import ESTATE
from optimizer.recommend.headline import stored_headline
from optimizer.recommend.repository import list_recommendations
from optimizer.recommend.savings import DAYS_PER_MONTH
from optimizer.store.engine import create_store_engine
from optimizer.store.schema import fleet_plans, instances, job_attempts, jobs
from optimizer.store.tables.analysis import cost_daily
from optimizer.store.tables.billing import bill_commitments
from tests.demo_helpers import HeadlessDemo

pytestmark = [pytest.mark.xdist_group("demo"), pytest.mark.slow, pytest.mark.emulator]


def test_headless_demo_summary_matches_store(headless_demo: HeadlessDemo) -> None:
    url = headless_demo.database_url
    out = headless_demo.out
    assert headless_demo.exit_code == 0, out
    summary_file = headless_demo.summary_file
    summary = json.loads(summary_file.read_text())
    assert summary["database_url"] == url  # the configured store, not a fresh default file
    assert {s["stage"]: s["status"] for s in summary["stages"]} == {
        "emulator": "done",
        "estate": "done",
        "history": "done",
        "db": "done",
        "collect": "done",
        "analyze": "done",
        "train": "done",
        "optimize": "done",
        "replay": "done",
        "recommend": "done",
        "report": "done",
    }
    engine = create_store_engine(url)
    try:
        with engine.connect() as conn:
            spend, idle = conn.execute(
                select(func.sum(cost_daily.c.total_usd), func.sum(cost_daily.c.idle_usd)).where(
                    cost_daily.c.dataset == "aws"
                )
            ).one()
            job_count = conn.execute(
                select(func.count()).select_from(jobs).where(jobs.c.dataset == "aws")
            ).scalar()
            instance_count = conn.execute(
                select(func.count()).select_from(instances).where(instances.c.dataset == "aws")
            ).scalar()
            linked = conn.execute(
                select(func.count()).select_from(job_attempts).where(job_attempts.c.instance_id.is_not(None))
            ).scalar()
            peaks = conn.execute(
                select(func.count())
                .select_from(job_attempts)
                .where(job_attempts.c.peak_memory_mib.is_not(None))
            ).scalar()
            lifetimes = conn.execute(
                select(func.count())
                .select_from(instances)
                .where(
                    instances.c.terminated_at.is_not(None),
                    instances.c.terminated_at <= instances.c.launch_time,
                )
            ).scalar()
            # The MNP queue: KTH's widest jobs collected as gangs (a parent and its node jobs).
            gangs, nodes = conn.execute(
                select(
                    func.count().filter(jobs.c.node_count > 1),
                    func.count().filter(jobs.c.array_parent_id.is_not(None)),
                ).where(jobs.c.queue == "mpi-parallel", jobs.c.is_multinode.is_(True))
            ).one()
            stored_plans = {
                row.scope: row.cost_usd
                for row in conn.execute(select(fleet_plans.c.scope, fleet_plans.c.cost_usd)).all()
            }
            stored_documents = {
                row.scope: (row.problem, row.plan)
                for row in conn.execute(
                    select(fleet_plans.c.scope, fleet_plans.c.problem, fleet_plans.c.plan)
                ).all()
            }
            [sp_arn] = conn.execute(select(bill_commitments.c.arn)).scalars().all()
        stored_recs = list_recommendations(engine, ["open"])
        open_savings = sum(r.recommendation.monthly_savings_usd for r in stored_recs)
        headline = stored_headline(engine)
    finally:
        engine.dispose()
    assert summary["spend_usd"] == pytest.approx(spend, abs=0.01)
    assert summary["idle_usd"] == pytest.approx(idle, abs=0.01)
    assert summary["jobs_collected"] == job_count > 1000
    assert summary["instances_collected"] == instance_count > 50
    assert gangs >= 1 and nodes >= 11 * gangs  # over 64 vCPUs in 6-vCPU nodes: at least 11 each
    # One headline: the summary's figure is the stored recommendations' headline (open, counted once).
    assert summary["identified_savings_usd_per_month"] == summary["savings_usd"]
    assert summary["identified_savings_usd_per_month"] == pytest.approx(
        headline.total_usd_per_month, abs=0.01
    )
    assert summary["identified_savings_usd_per_month"] <= open_savings + headline.costs_money_usd_per_month
    # The history went through the product's collectors: attempts are linked to instances,
    # usage peaks came from Container Insights events, and lifetimes are real (not "until now").
    assert linked > 0.9 * job_count and peaks > 0.9 * job_count
    assert lifetimes == 0
    assert 0 < summary["idle_usd"] < summary["spend_usd"]
    # Calibration: the history was produced by the simulator on this very configuration, so its
    # replay from the store must give back the store's measured cost of the window (within 3 %).
    assert summary["observed_cost_usd"] == pytest.approx(summary["spend_usd"], rel=0.01)
    assert summary["replayed_current_cost_usd"] == pytest.approx(summary["observed_cost_usd"], rel=0.03)
    assert abs(summary["calibration_error_pct"]) < 3.0
    assert summary["replay_cost_usd"] == pytest.approx(summary["spend_usd"], rel=0.03)
    assert summary["plan_label"] == "unconstrained bound: not a recommendation"
    # The README's example policy (optimizer/demo/policy.py) made every plan: at most 8 offerings,
    # and the summary says so; the second shell and the dashboard get the same limits.
    assert summary["policy"] == (
        "at most 8 instance types, spot over at least 3 pools, at most 80% of job vCPU-hours on spot"
    )
    assert all(len(p["selected"]) <= 8 for p in summary["plans"])
    assert "fleet policy   at most 8 instance types" in out
    # The second shell's settings: the store, the emulator, the region, throwaway credentials.
    env_lines = Path(summary["env_file"]).read_text().splitlines()
    assert f"export BATCHOPT_DATABASE_URL={url}" in env_lines
    assert f"export BATCHOPT_AWS_ENDPOINT_URL={summary['endpoint_url']}" in env_lines
    assert "export BATCHOPT_REGIONS=us-east-1" in env_lines
    assert "export AWS_ACCESS_KEY_ID=batchopt-demo" in env_lines
    assert "export BATCHOPT_OPTIMIZATION__MAX_INSTANCE_TYPES=8" in env_lines
    assert "export BATCHOPT_OPTIMIZATION__MAX_SPOT_SHARE=0.8" in env_lines
    # One stored solver plan per queue, as the summary reports it, each checked by a replay.
    assert {p["queue"]: p["plan_cost_usd"] for p in summary["plans"]} == pytest.approx(
        {q: round(c, 2) for q, c in stored_plans.items()}, abs=0.01
    )
    assert set(stored_plans) == {spec.queue for spec in ESTATE}
    # The plans price the bill's Compute Savings Plan (each queue's share of it): the on-demand
    # queues' problems carry it, and the summary's fees and utilization are the stored plans'.
    assert all(
        sp_arn in [c["id"] for c in stored_documents[q][0].get("commitments", [])]
        for q in ("cpu-batch", "cpu-short", "memory-heavy", "gpu-training")
    )
    for p in summary["plans"]:
        _, plan_doc = stored_documents[p["queue"]]
        assert p["commitment_usd"] == pytest.approx(plan_doc["commitment_usd"], abs=0.01)
        assert p["commitment_utilization"] == {c["id"]: c["utilization"] for c in plan_doc["commitments"]}
    assert summary["plan_savings_usd"] == pytest.approx(
        sum(p["monthly_savings_usd"] or 0.0 for p in summary["plans"]), abs=0.05
    )
    assert all(
        p["replayed_proposed_usd"] is not None
        for p in summary["plans"]
        if p["status"] in ("OPTIMAL", "FEASIBLE")
    )
    # The plans' replays are billed with the bill's Savings Plan (the Batch estate's share), and each
    # saving is the two whole-estate replays' difference less the other queues' reclaim noise.
    assert summary["plan_pricing"].startswith("after the commitments in force")
    for p in summary["plans"]:
        if p["monthly_savings_usd"] is not None:
            billed = p["replayed_current_usd"] - p["replayed_proposed_usd"] - p["other_queues_usd"]
            assert p["monthly_savings_usd"] == pytest.approx(billed * DAYS_PER_MONTH / 30.0, abs=0.05)
            assert p["list_monthly_savings_usd"] is not None
    assert summary["plan_savings_at_list_usd"] == pytest.approx(
        sum(p["list_monthly_savings_usd"] or 0.0 for p in summary["plans"]), abs=0.05
    )
    # The recommend stage ran the product's strategies: savings come from replays recorded in the
    # evidence, and the instance-mix strategy found a cheaper fleet for at least one environment.
    assert open_savings > 0 and stored_recs
    strategies = {stored.recommendation.strategy for stored in stored_recs}
    assert "instance-mix" in strategies
    for stored in stored_recs:
        rec = stored.recommendation
        replayed = rec.evidence.get("replay")
        if replayed is not None:
            saved = replayed["current_cost_usd"] - replayed["proposed_cost_usd"]
            monthly = saved * DAYS_PER_MONTH / replayed["window_days"]
            assert rec.monthly_savings_usd == pytest.approx(monthly, rel=1e-4, abs=0.01)
    top = sorted(stored_recs, key=lambda r: -r.recommendation.monthly_savings_usd)
    assert [r["id"] for r in summary["top_recommendations"]] == [r.recommendation.id for r in top][:5]
    html = [Path(f) for f in summary["report_files"] if f.endswith(".html")]
    assert html and html[0].is_file()
    assert f"${summary['spend_usd']:,.2f}" in out
    assert str(html[0]) in out
    # The demo billed its estate (optimizer/demo/bill_export.py, a CUR 2.0 export in the emulator's
    # S3) and `collect` imported it: one Compute Savings Plan, split rows, EC2 billed as modelled
    # (same instances, same prices), and a residual that is the Savings Plan's discount net of EBS,
    # data transfer and unused commitment: below the model by a few percent, never zero.
    from optimizer.billing.reconcile import reconcile
    from optimizer.store.tables.billing import bill_daily, bill_months

    engine = create_store_engine(url)
    try:
        with engine.connect() as conn:
            months = [f"{m:%Y-%m}" for m in conn.execute(select(bill_months.c.billing_period)).scalars()]
            commitments = conn.execute(
                select(bill_commitments.c.kind, bill_commitments.c.offering_type)
            ).all()
            split_rows = conn.execute(
                select(func.sum(bill_daily.c.line_items)).where(bill_daily.c.usage_kind == "container_split")
            ).scalar()
        bills = [reconcile(engine, month) for month in months]
    finally:
        engine.dispose()
    # The summary's bill line is the months' bill over the days the history covers: every month's
    # covered days fall inside the history here, so it is their sum (what Cost Explorer shows).
    assert summary["bill"]["billed_usd"] == pytest.approx(sum(b["billed_usd"] for b in bills), abs=0.05)
    assert f"${summary['bill']['billed_usd']:,.2f} billed" in out
    assert months and commitments == [("savings_plan", "ComputeSavingsPlans")]
    assert split_rows > 1000
    for bill in bills:
        modelled, ec2 = bill["modelled_usd"], bill["ec2_instances"]
        # (the model prices covered hours at list prices: the bill's before its Savings Plan negation)
        covered = ec2["savings_plan_covered_usd"]
        assert ec2["billed_usd"] + covered == pytest.approx(modelled, rel=0.01), bill["month"]
        assert -0.1 * bill["billed_usd"] < bill["residual_usd"] < 0
        assert {"ebs", "data_transfer", "ec2_savings_plan", "commitment_fee"} <= set(bill["by_usage_kind"])
