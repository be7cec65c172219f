"""A store seeded for the dashboard tests: the analysis fixtures' estate, analysed by `batchopt analyze`'s
own function, plus recommendations, collector runs, a fleet plan, spot bands and the page script.

`expected()` runs the analysis functions on the very same frames, so a test compares what a page
shows with what the analysis says, not with numbers copied into the test.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine

from optimizer.analysis.cost import CostAttribution, attribute_costs
from optimizer.analysis.stored import run_analysis
from optimizer.domain import Recommendation, RiskLevel, UpdateKind
from optimizer.recommend.repository import save_recommendations
from optimizer.store.engine import create_store_engine, upgrade
from optimizer.store.schema import (
    collector_runs,
    compute_environments,
    fleet_plans,
    instance_types,
    instances,
    job_attempts,
    job_queues,
    jobs,
    ondemand_prices,
    spot_interruption_bands,
    spot_prices,
)
from optimizer.store.upsert import bulk_upsert
from tests import analysis_helpers as fx

ACCOUNT = "123456789012"
CE_ARN = {
    name: f"arn:aws:batch:us-east-1:{ACCOUNT}:compute-environment/{name}"
    for name in ("ce-od", "ce-spot", "ce-gpu")
}
ANALYZED_AT = datetime(2026, 11, 10, 12, 0)


@dataclass(frozen=True)
class Frames:
    instances: pd.DataFrame
    attempts: pd.DataFrame
    jobs: pd.DataFrame
    instance_types: pd.DataFrame
    ondemand: pd.DataFrame
    spot_prices: pd.DataFrame


def frames() -> Frames:
    """The analysis fixtures with real-looking CE ARNs and one out-of-memory kill added."""
    inst = fx.instances()
    inst["compute_environment_arn"] = inst["compute_environment_arn"].map(CE_ARN)
    inst["account_id"] = ACCOUNT
    att = fx.attempts()
    att.loc[att["job_id"] == "j-fail", "is_oom"] = True
    # Exit codes are integers or missing (PostgreSQL refuses "0.0" for an INTEGER column).
    att["exit_code"] = pd.Series([None if pd.isna(v) else int(v) for v in att["exit_code"]], dtype=object)
    job = fx.jobs()
    job["status"] = job["status"].astype(str)
    spans = att.groupby("job_id").agg(started_at=("started_at", "min"), stopped_at=("stopped_at", "max"))
    job = job.merge(spans, left_on="job_id", right_index=True, how="left")
    return Frames(inst, att, job, fx.instance_types(), fx.ondemand(), fx.spot_prices())


def expected() -> CostAttribution:
    f = frames()
    return attribute_costs(f.instances, f.attempts, f.jobs, f.instance_types, f.ondemand, f.spot_prices)


def recommendation(
    name: str, savings: float, *, kind: str = "compute-environment", **extra: Any
) -> Recommendation:
    target = CE_ARN.get(name, f"arn:aws:batch:us-east-1:{ACCOUNT}:job-definition/{name}:1")
    fields: dict[str, Any] = {
        "id": f"rec-{name}",
        "strategy": "instance-mix" if kind == "compute-environment" else "right-sizing",
        "target_arn": target,
        "target_kind": kind,
        "target_name": name,
        "title": f"Cheaper instance mix for {name}",
        "current": {"instance_types": ["m5.xlarge"], "max_vcpus": 64},
        "proposed": {"instance_types": ["m5.xlarge", "m6i.xlarge"], "max_vcpus": 64},
        "monthly_savings_usd": savings,
        "risk": {"interruption": "low"},
        "risk_level": RiskLevel.LOW,
        "confidence": 0.8,
        "effort": "low",
        "update_kind": UpdateKind.INFRASTRUCTURE,
        "evidence": {"replayed_cost_usd": 100.0, "current_cost_usd": 130.0},
        "region": "us-east-1",
        "account_id": ACCOUNT,
    }
    fields.update(extra)
    return Recommendation(**fields)


def fleet_documents() -> tuple[dict[str, Any], dict[str, Any]]:
    """A two-bucket problem and a plan that runs 2 then 1 m5.xlarge spot and 1 m5.large on-demand."""
    shape = {"id": "s1", "vcpus": 2, "memory_mib": 4096, "gpus": 0, "arch": "x86_64", "spot_ok": True}
    base = {"gpus": 0, "arch": "x86_64"}
    problem = {
        "schema": "batchopt.problem/v1",
        "bucket_seconds": 3600,
        "buckets": 2,
        "shapes": [shape],
        "demand": {"s1": [4, 2]},
        "offerings": [
            {"instance_type": "m5.xlarge", "capacity_type": "SPOT", "vcpus": 4, "memory_mib": 15000,
             "price_per_hour": 0.08, "interruption_rate": 0.001, **base},
            {"instance_type": "m5.large", "capacity_type": "ON_DEMAND", "vcpus": 2, "memory_mib": 7500,
             "price_per_hour": 0.096, "interruption_rate": 0.0, **base},
        ],
        "policy": {"max_spot_share": 1.0, "max_instance_types": None, "min_spot_instance_types": 0,
                   "interruption_cost_factor": 1.0, "time_limit_seconds": 10},
    }  # fmt: skip
    plan = {
        "schema": "batchopt.plan/v1",
        "status": "OPTIMAL",
        "cost_usd": 0.336,
        "objective_usd": 0.33624,
        "lower_bound_usd": 0.33,
        "gap": 0.0186,
        "solve_seconds": 0.2,
        "selected": ["m5.xlarge/SPOT", "m5.large/ON_DEMAND"],
        "buckets": [
            [{"offering": "m5.xlarge/SPOT", "count": 2, "jobs": {"s1": 2}}],
            [{"offering": "m5.xlarge/SPOT", "count": 1, "jobs": {"s1": 1}},
             {"offering": "m5.large/ON_DEMAND", "count": 1, "jobs": {"s1": 1}}],
        ],
    }  # fmt: skip
    return problem, plan


def committed_fleet_documents() -> tuple[dict[str, Any], dict[str, Any]]:
    """`fleet_documents` with a $0.09/h Compute Savings Plan (m5.large at $0.06 under it) and an RI of
    a type the plan runs only on spot, billed by the solver's own rule (`bill_plan`). By hand: spot
    3 x $0.08 = $0.24; the one on-demand m5.large hour ($0.096) is covered whole ($0.06 of the $0.09
    budget); fees 2 h x $0.09 = $0.18 (the RI's are sunk); cost $0.24 + $0.096 - $0.096 + $0.18."""
    from optimizer.solver.commitments import bill_plan
    from optimizer.solver.plan import plan_from_dict, plan_to_dict
    from optimizer.solver.problem import problem_from_dict

    problem, plan = fleet_documents()
    problem["commitments"] = [
        {"id": "sp", "type": "COMPUTE_SAVINGS_PLAN", "usd_per_hour": 0.09, "rates": {"m5.large": 0.06}},
        {"id": "ri", "type": "RESERVED_INSTANCE", "instance_type": "m5.xlarge", "count": 1},
    ]
    billed = bill_plan(problem_from_dict(problem), plan_from_dict(plan))
    return problem, plan_to_dict(billed)


def store_plan(conn: Connection, problem: dict[str, Any], plan: dict[str, Any], created_at: datetime) -> None:
    """One `fleet_plans` row for q-spot holding these documents, as `batchopt optimize --queue` stores it."""
    conn.execute(
        fleet_plans.insert().values(
            scope="q-spot", created_at=created_at, status=plan["status"],
            cost_usd=plan["cost_usd"], objective_usd=plan["objective_usd"],
            lower_bound_usd=plan["lower_bound_usd"], gap=plan["gap"],
            solve_seconds=plan["solve_seconds"], problem=problem, plan=plan,
        )
    )  # fmt: skip


def seed(engine: Engine) -> None:
    """Load the estate through the store's own upserts, then analyse it as `batchopt analyze` does."""
    f = frames()
    problem, plan = fleet_documents()
    with engine.begin() as conn:
        bulk_upsert(conn, instance_types, f.instance_types)
        bulk_upsert(conn, ondemand_prices, f.ondemand)
        bulk_upsert(conn, spot_prices, f.spot_prices)
        bulk_upsert(conn, instances, f.instances)
        bulk_upsert(conn, jobs, f.jobs)
        bulk_upsert(conn, job_attempts, f.attempts)
        bulk_upsert(
            conn,
            spot_interruption_bands,
            [
                {"region": "us-east-1", "instance_type": "m5.xlarge", "band": 1, "band_label": "5-10%",
                 "savings_pct": 62.0, "snapshot_date": datetime(2026, 11, 1)},
            ],
        )  # fmt: skip
        bulk_upsert(conn, compute_environments, [_ce_row(name, arn) for name, arn in CE_ARN.items()])
        bulk_upsert(conn, collector_runs, _runs())
        bulk_upsert(conn, job_queues, [_queue_row("q-spot", [CE_ARN["ce-spot"], CE_ARN["ce-od"]])])
        store_plan(conn, problem, plan, datetime(2026, 11, 9))
    save_recommendations(
        engine,
        [
            recommendation("ce-spot", 250.0),
            recommendation("ce-od", 40.5, risk_level=RiskLevel.MEDIUM),
            recommendation(
                "sort",
                12.25,
                kind="job-definition",
                title="Right-size sort",
                current={"memory_mib": 8000},
                proposed={"memory_mib": 6144},
                update_kind=UpdateKind.NEW_REVISION,
            ),
        ],
        now=datetime(2026, 11, 9),
    )
    run_analysis(engine, computed_at=ANALYZED_AT)


def seeded_sqlite_url(directory: Path) -> str:
    """A migrated SQLite store in `directory` holding `seed`'s estate (the dashboard tests' store)."""
    url = f"sqlite:///{directory / 'store.db'}"
    engine = create_store_engine(url)
    upgrade(engine)
    seed(engine)
    engine.dispose()
    return url


def _ce_row(name: str, arn: str) -> dict[str, Any]:
    return {
        "arn": arn,
        "name": name,
        "account_id": ACCOUNT,
        "region": "us-east-1",
        "type": "MANAGED",
        "state": "ENABLED",
        "status": "VALID",
        "platform": "SPOT" if "spot" in name else "EC2",
        "allocation_strategy": "BEST_FIT_PROGRESSIVE",
        "instance_types": ["m5.xlarge"],
        "min_vcpus": 0,
        "max_vcpus": 64,
        "raw": {
            "computeEnvironmentName": name,
            "computeEnvironmentArn": arn,
            "type": "MANAGED",
            "state": "ENABLED",
            "computeResources": {
                "type": "SPOT" if "spot" in name else "EC2",
                "minvCpus": 0,
                "maxvCpus": 64,
                "allocationStrategy": "SPOT_PRICE_CAPACITY_OPTIMIZED"
                if "spot" in name
                else "BEST_FIT_PROGRESSIVE",
                "instanceTypes": ["m5.xlarge"],
            },
        },
        "first_seen": datetime(2026, 11, 1),
        "last_seen": datetime(2026, 11, 9),
    }


def _runs() -> list[dict[str, Any]]:
    def run(source: str, day: int, status: str, error: str | None = None) -> dict[str, Any]:
        return {
            "id": day * 10 + len(source),
            "target": "default",
            "region": "us-east-1",
            "source": source,
            "started_at": datetime(2026, 11, day, 1),
            "finished_at": datetime(2026, 11, day, 1, 5),
            "status": status,
            "items_read": 10,
            "items_written": 5,
            "error": error,
        }

    return [
        run("batch_jobs", 8, "succeeded"),
        run("batch_jobs", 9, "failed", "ThrottlingException: Rate exceeded"),
        run("spot_prices", 9, "succeeded"),
    ]


def _queue_row(name: str, order: list[str]) -> dict[str, Any]:
    arn = f"arn:aws:batch:us-east-1:{ACCOUNT}:job-queue/{name}"
    entries = [{"order": i + 1, "computeEnvironment": ce} for i, ce in enumerate(order)]
    raw = {"jobQueueName": name, "jobQueueArn": arn, "state": "ENABLED", "priority": 1,
           "computeEnvironmentOrder": entries}  # fmt: skip
    return {
        "arn": arn,
        "name": name,
        "account_id": ACCOUNT,
        "region": "us-east-1",
        "state": "ENABLED",
        "status": "VALID",
        "priority": 1,
        "compute_environment_order": entries,
        "raw": raw,
        "first_seen": datetime(2026, 11, 1),
        "last_seen": datetime(2026, 11, 9),
    }
