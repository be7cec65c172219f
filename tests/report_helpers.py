"""A small hand-made estate for the report tests, written to the store with plain inserts.

Every instance here is either fully used by one job attempt for its whole life (share 1, no idle)
or not used at all (all idle), so the expected figures can be summed in SQL straight from the
instances and prices tables, independently of the cost attribution code.

Week 2026-W47 (Mon 16 Nov - Sun 22 Nov 2026), figures in USD (on-demand m5.large 0.096/h,
m5.xlarge 0.192/h, spot m5.xlarge 0.07/h in us-east-1a):

- i-od1   ce-od   m5.large  OD   Mon 00-24   j1 q-main/align  2.304
- i-idle  ce-od   m5.large  OD   Tue 00-10   (idle)           0.960
- i-od2   ce-od   m5.xlarge OD   Wed 06-18   j2 q-main/sort   2.304
- i-spot1 ce-spot m5.xlarge SPOT Thu 00-24   j3 q-spot/render 1.680
- i-spot2 ce-spot m5.xlarge SPOT Fri 00-02   j4 q-spot/render 0.140  (reclaimed)
- i-od3   ce-od   m5.large  OD   Sun 00-12   j7 q-main/align  1.152
  (no data on Saturday; a change to ce-od applied Wed 12:00)

Collector runs: `jobs` succeeded after the week (Mon 23 Nov 00:05); `instances` failed on Thursday
and last succeeded Friday 23:00, so Saturday is unknown (missing), not a quiet day.

History: W46 i-prev (ce-od m5.large OD Tue 10 Nov 24 h, j5 q-main/align) 2.304; W45 i-old
(Tue 03 Nov 12 h, j6 q-main/align) 1.152; W44 and W43 have no data.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from optimizer.store.schema import (
    audit_log,
    collector_runs,
    instance_types,
    instances,
    job_attempts,
    jobs,
    ondemand_prices,
    recommendations,
    spot_prices,
)

REGION = "us-east-1"
CE_OD = "arn:aws:batch:us-east-1:123456789012:compute-environment/ce-od"
CE_SPOT = "arn:aws:batch:us-east-1:123456789012:compute-environment/ce-spot"
MONDAY = datetime(2026, 11, 16)
CHANGE_AT = MONDAY + timedelta(days=2, hours=12)
TYPES = {"m5.large": (2, 8192, 7680), "m5.xlarge": (4, 16384, 15360)}
ON_DEMAND = {"m5.large": 0.096, "m5.xlarge": 0.192}
SPOT_PRICE = 0.07


def at(day: int, hour: float = 0.0) -> datetime:
    """`day` days after Monday 16 Nov 2026 (negative: earlier weeks), plus `hour` hours."""
    return MONDAY + timedelta(days=day, hours=hour)


# instance id, CE, type, capacity, start, end, job (id, queue, job definition) or None, reclaimed
ESTATE: list[tuple[str, str, str, str, datetime, datetime, tuple[str, str, str] | None, bool]] = [
    ("i-od1", CE_OD, "m5.large", "ON_DEMAND", at(0), at(1), ("j1", "q-main", "align"), False),
    ("i-idle", CE_OD, "m5.large", "ON_DEMAND", at(1), at(1, 10), None, False),
    ("i-od2", CE_OD, "m5.xlarge", "ON_DEMAND", at(2, 6), at(2, 18), ("j2", "q-main", "sort"), False),
    ("i-spot1", CE_SPOT, "m5.xlarge", "SPOT", at(3), at(4), ("j3", "q-spot", "render"), False),
    ("i-spot2", CE_SPOT, "m5.xlarge", "SPOT", at(4), at(4, 2), ("j4", "q-spot", "render"), True),
    ("i-od3", CE_OD, "m5.large", "ON_DEMAND", at(6), at(6, 12), ("j7", "q-main", "align"), False),
    ("i-prev", CE_OD, "m5.large", "ON_DEMAND", at(-6), at(-5), ("j5", "q-main", "align"), False),
    ("i-old", CE_OD, "m5.large", "ON_DEMAND", at(-13), at(-13, 12), ("j6", "q-main", "align"), False),
]


def _catalog_rows() -> dict[Any, list[dict[str, Any]]]:
    return {
        instance_types: [
            {
                "region": REGION,
                "instance_type": name,
                "vcpus": v,
                "memory_mib": m,
                "allocatable_memory_mib": a,
                "gpus": 0,
                "arch": "x86_64",
            }
            for name, (v, m, a) in TYPES.items()
        ],
        ondemand_prices: [
            {
                "region": REGION,
                "instance_type": name,
                "effective_date": datetime(2026, 7, 1),
                "price_per_hour": price,
                "source": "snapshot",
            }
            for name, price in ON_DEMAND.items()
        ],
        spot_prices: [
            {
                "region": REGION,
                "availability_zone": "us-east-1a",
                "instance_type": "m5.xlarge",
                "timestamp": datetime(2026, 10, 1),
                "price": SPOT_PRICE,
            }
        ],
    }


def _estate_rows() -> dict[Any, list[dict[str, Any]]]:
    inst, job_rows, attempt_rows = [], [], []
    for iid, ce, itype, capacity, start, end, job, reclaimed in ESTATE:
        inst.append(
            {
                "instance_id": iid,
                "dataset": "aws",
                "region": REGION,
                "availability_zone": "us-east-1a",
                "compute_environment_arn": ce,
                "instance_type": itype,
                "capacity_type": capacity,
                "launch_time": start,
                "first_seen": start,
                "last_seen": end,
                "terminated_at": end,
            }
        )
        if job is None:
            continue
        job_id, queue, jobdef = job
        vcpus, _, alloc = TYPES[itype]
        job_rows.append(
            {
                "job_id": job_id,
                "dataset": "aws",
                "queue": queue,
                "job_definition_name": jobdef,
                "job_name": f"{jobdef}-{job_id}",
                "status": "FAILED" if reclaimed else "SUCCEEDED",
                "created_at": start,
                "started_at": start,
                "stopped_at": end,
                "vcpus": float(vcpus),
                "memory_mib": alloc,
                "gpus": 0,
            }
        )
        attempt_rows.append(
            {
                "job_id": job_id,
                "attempt": 0,
                "instance_id": iid,
                "compute_environment_arn": ce,
                "started_at": start,
                "stopped_at": end,
                "exit_code": None if reclaimed else 0,
                "reason": "Host EC2 (instance i-spot2) terminated."
                if reclaimed
                else "Essential container exited",
                "is_spot_reclaim": reclaimed,
                "is_oom": False,
            }
        )
    return {instances: inst, jobs: job_rows, job_attempts: attempt_rows}


def _recommendation(
    rec_id: str, savings: float, status: str, kind: str, arn: str, name: str
) -> dict[str, Any]:
    return {
        "id": rec_id,
        "strategy": "fleet-mix",
        "target_arn": arn,
        "target_name": name,
        "target_kind": kind,
        "region": REGION,
        "title": f"Cheaper instance mix for {name}",
        "current": {},
        "proposed": {},
        "monthly_savings_usd": savings,
        "risk": {},
        "risk_level": "low",
        "confidence": 0.8,
        "effort": "low",
        "update_kind": "infrastructure",
        "evidence": {},
        "applicable": True,
        "status": status,
        "created_at": at(-1),
        "updated_at": at(-1),
    }


def _changes_rows() -> dict[Any, list[dict[str, Any]]]:
    recs = [
        _recommendation("rec-ce-od", 120.0, "applied", "compute-environment", CE_OD, "ce-od"),
        _recommendation("rec-spot", 340.5, "open", "compute-environment", CE_SPOT, "ce-spot"),
        _recommendation("rec-queue", 55.0, "open", "job-queue", "arn:q", "q-main"),
        _recommendation("rec-old", 999.0, "dismissed", "job-queue", "arn:q", "q-main"),
    ]
    base = {
        "plan_id": "plan-1",
        "recommendation_id": "rec-ce-od",
        "actor": "alice",
        "before": {},
        "after": {},
    }
    audit = [
        {
            **base,
            "action": "apply",
            "dry_run": True,
            "started_at": CHANGE_AT - timedelta(hours=1),
            "finished_at": CHANGE_AT - timedelta(hours=1),
            "result": "not-applied",
        },
        {
            **base,
            "action": "apply",
            "dry_run": False,
            "started_at": CHANGE_AT - timedelta(minutes=5),
            "finished_at": CHANGE_AT,
            "result": "succeeded",
        },
        {
            **base,
            "plan_id": "plan-2",
            "recommendation_id": "rec-spot",
            "action": "apply",
            "dry_run": False,
            "started_at": at(5, 9),
            "finished_at": at(5, 9),
            "result": "failed",
            "message": "CE INVALID",
        },
    ]
    runs = [
        {
            "target": "default",
            "region": REGION,
            "source": "jobs",
            "started_at": at(6, 23),
            "finished_at": at(7, 5 / 60),
            "status": "succeeded",
            "items_read": 10,
            "items_written": 10,
        },
        {
            "target": "default",
            "region": REGION,
            "source": "instances",
            "started_at": at(3, 1),
            "finished_at": at(3, 1),
            "status": "failed",
            "items_read": 0,
            "items_written": 0,
            "error": "AccessDenied: ecs:ListContainerInstances",
        },
        {
            "target": "default",
            "region": REGION,
            "source": "instances",
            "started_at": at(4, 22),
            "finished_at": at(4, 23),
            "status": "succeeded",
            "items_read": 5,
            "items_written": 5,
        },
    ]
    return {recommendations: recs, audit_log: audit, collector_runs: runs}


def seed_estate(engine: Engine, *, with_changes: bool = True) -> None:
    """Write the estate (and optionally recommendations, audit and collector runs) in one transaction."""
    groups = {**_catalog_rows(), **_estate_rows(), **(_changes_rows() if with_changes else {})}
    with engine.begin() as conn:
        for table, rows in groups.items():
            keys = {k for row in rows for k in row}
            for row in rows:  # one executemany needs the same keys in every row
                conn.execute(table.insert(), {k: row.get(k) for k in keys})
