"""Every fleet plan built from the store prices the commitments the store's bill holds: a queue's problem
(`problem_for_queue`, shared by `batchopt optimize --queue`, the demo and the dashboard) carries them
whatever its caller passes, and the demo's optimize stage stores plans that pay their fees (it once
solved commitment-blind while the demo's bill had a Compute Savings Plan)."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import Engine, insert

from optimizer.config import CommitmentSettings
from optimizer.demo.estate import Estate, QueueSpec
from optimizer.demo.fleet import optimize_queues
from optimizer.fleet.plans import fleet_plan_documents, fleet_plan_list, problem_for_queue
from optimizer.solver.plan import plan_from_dict
from optimizer.solver.problem import Policy, problem_from_dict
from optimizer.solver.validate import validate_plan
from optimizer.store.schema import instances
from optimizer.store.tables.analysis import cost_daily
from optimizer.store.tables.billing import bill_commitment_hours, bill_commitments, bill_instances
from tests.integration.test_solver_store import _fill

SP_ARN = "arn:aws:savingsplans::123456789012:savingsplan/sp-demo"
#: The bill's plan: $0.05/h, its covered usage billed at 70 % of its on-demand value.
SP_RATE = 0.7
CE = "arn:aws:batch:us-east-1:123456789012:compute-environment/etl-ce"
#: etl's share of the plan's use: its jobs hold $3 of the $5 attributed on the covered instance.
SHARE = 0.6
ETL = QueueSpec("etl", 1, "etl-ce", ("m5.large",), 0, 64, "etl-def", 2, 4000)


def _bill(engine: Engine) -> None:
    """A Compute Savings Plan in force over June 2026 (the jobs `_fill` writes run on June 1), all of
    its use on one instance whose attributed cost is 60 % etl's."""
    day = datetime(2026, 6, 1)
    with engine.begin() as conn:
        conn.execute(
            insert(instances).values(
                instance_id="i-1",
                dataset="aws",
                compute_environment_arn=CE,
                instance_type="m5.large",
                capacity_type="ON_DEMAND",
                first_seen=day,
                last_seen=day,
            )
        )
        conn.execute(
            insert(bill_instances).values(
                billing_period=day,
                day=day,
                instance_id="i-1",
                account_id="123456789012",
                region="us-east-1",
                instance_type="m5.large",
                purchase_option="savings_plan",
                billed_usd=0.035,
                effective_usd=0.035,
                list_usd=0.05,
                instance_hours=0.5,
                commitment_used_usd=0.035,
            )
        )
        for queue, usd in (("etl", 3.0), ("other", 2.0)):
            conn.execute(
                insert(cost_daily).values(
                    dataset="aws",
                    day=day,
                    queue=queue,
                    compute_environment_arn=CE,
                    job_definition_name="jd",
                    instance_type="m5.large",
                    capacity_type="ON_DEMAND",
                    total_usd=usd,
                )
            )
        conn.execute(
            insert(bill_commitments).values(
                arn=SP_ARN,
                kind="savings_plan",
                offering_type="ComputeSavingsPlans",
                region=None,
                count=None,
                hourly_commitment_usd=0.05,
                first_seen=datetime(2026, 5, 1),
                last_seen=datetime(2026, 7, 1),
                line_items=10,
                billed_usd=1.0,
                effective_usd=1.0,
            )
        )
        conn.execute(
            insert(bill_commitment_hours).values(
                billing_period=datetime(2026, 6, 1),
                hour=datetime(2026, 6, 1, 0),
                arn=SP_ARN,
                kind="savings_plan",
                used_usd=0.035,
                unused_usd=0.015,
                covered_list_usd=0.035 / SP_RATE,
                covered_instance_hours=0.5,
            )
        )


def test_a_queue_problem_carries_the_bills_commitments_without_being_asked(sqlite_engine: Engine) -> None:
    _fill(sqlite_engine)
    _bill(sqlite_engine)
    notes: list[str] = []
    problem = problem_for_queue(sqlite_engine, "etl", region="us-east-1", days=7, notes=notes)
    [sp] = problem.commitments
    assert (sp.id, sp.type) == (SP_ARN, "COMPUTE_SAVINGS_PLAN")
    assert sp.usd_per_hour == pytest.approx(0.05 * SHARE)  # the queue's share, not the account's plan
    on_demand = {o.instance_type: o.price_per_hour for o in problem.offerings if not o.is_spot}
    assert sp.rates == pytest.approx({t: p * SP_RATE for t, p in on_demand.items()})
    assert any(n.startswith(f"commitments: {SP_ARN}: bill") for n in notes)
    assert any(n.startswith("commitments: queue etl: 60.0% of the account's commitments") for n in notes)
    assert notes[0].startswith("window: ")  # (the window and its jobs first)


def test_the_demos_optimize_stage_stores_plans_that_pay_the_commitments(sqlite_engine: Engine) -> None:
    _fill(sqlite_engine)
    _bill(sqlite_engine)
    configured = CommitmentSettings(
        id="ri-etl", type="RESERVED_INSTANCE", region="us-east-1", instance_type="m5.large", count=1
    )
    estate = Estate(region="us-east-1", account_id="123456789012", specs=(ETL,))
    [result] = optimize_queues(
        sqlite_engine,
        estate,
        Policy(time_limit_seconds=10.0),
        days=7,
        now=datetime(2026, 6, 2),
        commitments=[configured],
    )
    [plan_id] = fleet_plan_list(sqlite_engine)["id"].tolist()
    documents = fleet_plan_documents(sqlite_engine, int(plan_id))
    assert documents is not None
    problem_doc, plan_doc = documents
    assert [c["id"] for c in problem_doc["commitments"]] == [SP_ARN, "ri-etl"]
    problem, plan = problem_from_dict(problem_doc), plan_from_dict(plan_doc)
    assert validate_plan(problem, plan) == []  # the validator recomputes the cost with the fees
    hours = problem.n_buckets * problem.bucket_hours
    assert plan.commitment_usd == pytest.approx(0.05 * SHARE * hours)  # the RI's fee is sunk
    assert {c["id"] for c in plan.commitments} == {SP_ARN, "ri-etl"}
    assert all(0.0 <= c["utilization"] <= 1.0 for c in plan.commitments)
    # What the demo reports is the stored plan: its cost includes the fees.
    assert result.plan_cost_usd == pytest.approx(plan.cost_usd)
    assert result.plan_document["commitment_usd"] == pytest.approx(plan.commitment_usd)
