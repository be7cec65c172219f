"""Bill intake and reconciliation at scale: a month of CUR 2.0 with split cost allocation rows.

Target (issue 16): 6,000,000 split-cost rows for one month (100,000 Batch jobs a day, one hour each,
two rows per task: vCPU-Hours and GB-Hours) imported and reconciled on DuckDB in under 60 s on this
2-core machine. The month also carries the EC2 rows of the instances the tasks ran on (on-demand,
spot, Savings Plan covered with their negation, the hourly Savings Plan fee) and EBS, as CUR 2.0
writes them, so the import reads a real-shaped file. The file is generated (synthetic, seeded) with
DuckDB before the clock starts; the timed part is `batchopt import-bill --format cur2` (check, read,
normalise, write the month's Parquet, daily aggregates, per-instance-day bill, commitment utilization,
coverage and rates per hour, and commitments to a SQLite store) and then `batchopt reconcile --month
--json` (totals, breakdowns per day/account/region/queue/CE/job definition/instance, the residual's
causes, commitment use, and the per-job bill written to the store), through the same functions the
commands call. The store holds
the Batch jobs of one day (100,000 attempts with their ECS task ARNs, written before the clock
starts), so reconcile's per-job billed cost joins the split rows to real attempts.

Run from the repository root (at a reduced --rows the target scales linearly):

    .venv/bin/python -m benchmarks.billing [--rows 6000000]

Prints a table, writes benchmarks/results/billing.json, exits 1 when the target is missed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from benchmarks._common import Target, finish, print_table, scaled_seconds
from optimizer.billing.intake import connect, import_bill
from optimizer.billing.reconcile import reconcile
from optimizer.store.engine import create_store_engine, upgrade

TARGET_ROWS = 6_000_000
TARGET_SECONDS = 60.0
JOBS_PER_DAY = 100_000
INSTANCES = 600
HOURS = 30 * 24
SP_ARN = "arn:aws:savingsplans::111122223333:savingsplan/00000000-0000-0000-0000-000000000001"


def instance_rows(instances: int) -> str:
    """Every hour of each instance (i % 4 == 0 spot, 1 on-demand, 2 and 3 covered by the Savings
    Plan, with their negation), its EBS volume, and the hourly Savings Plan fee (4 % unused)."""
    commitment = instances // 2 * 0.5
    return f"""
SELECT
  'inst-' || i AS identity_line_item_id,
  CASE WHEN i % 4 IN (2, 3) THEN 'SavingsPlanCoveredUsage' ELSE 'Usage' END AS line_item_line_item_type,
  TIMESTAMP '2026-09-01' + INTERVAL (i // {instances}) HOUR AS line_item_usage_start_date,
  'AmazonEC2' AS line_item_product_code,
  CASE WHEN i % 4 = 0 THEN 'USE1-SpotUsage:m5.4xlarge' ELSE 'USE1-BoxUsage:m5.4xlarge' END
    AS line_item_usage_type,
  CASE WHEN i % 4 = 0 THEN 'RunInstances:SV001' ELSE 'RunInstances' END AS line_item_operation,
  'i-' || lpad(CAST(i % {instances} AS VARCHAR), 17, '0') AS line_item_resource_id,
  1.0 AS line_item_usage_amount,
  CASE WHEN i % 4 = 0 THEN 0.30 ELSE 0.768 END AS line_item_unblended_cost,
  0.768 AS pricing_public_on_demand_cost,
  CASE WHEN i % 4 IN (2, 3) THEN '{SP_ARN}' END AS savings_plan_savings_plan_a_r_n,
  CASE WHEN i % 4 IN (2, 3) THEN 0.48 END AS savings_plan_savings_plan_effective_cost,
  CAST(NULL AS DOUBLE) AS savings_plan_total_commitment_to_date,
  CAST(NULL AS DOUBLE) AS savings_plan_used_commitment,
  CAST(NULL AS VARCHAR) AS split_line_item_parent_resource_id,
  CAST(NULL AS DOUBLE) AS split_line_item_split_usage,
  CAST(NULL AS DOUBLE) AS split_line_item_split_cost,
  CAST(NULL AS DOUBLE) AS split_line_item_unused_cost,
  'm5.4xlarge' AS product_instance_type,
  MAP {{}}::MAP(VARCHAR, VARCHAR) AS resource_tags
FROM range({instances * HOURS}) AS t(i)
UNION ALL
SELECT
  'neg-' || i AS identity_line_item_id,
  'SavingsPlanNegation' AS line_item_line_item_type,
  TIMESTAMP '2026-09-01' + INTERVAL (i // {instances}) HOUR AS line_item_usage_start_date,
  'AmazonEC2' AS line_item_product_code,
  'USE1-BoxUsage:m5.4xlarge' AS line_item_usage_type,
  'RunInstances' AS line_item_operation,
  'i-' || lpad(CAST(i % {instances} AS VARCHAR), 17, '0') AS line_item_resource_id,
  1.0 AS line_item_usage_amount,
  -0.768 AS line_item_unblended_cost,
  0.0 AS pricing_public_on_demand_cost,
  '{SP_ARN}' AS savings_plan_savings_plan_a_r_n,
  CAST(NULL AS DOUBLE), CAST(NULL AS DOUBLE), CAST(NULL AS DOUBLE),
  CAST(NULL AS VARCHAR), CAST(NULL AS DOUBLE), CAST(NULL AS DOUBLE), CAST(NULL AS DOUBLE),
  'm5.4xlarge', MAP {{}}::MAP(VARCHAR, VARCHAR)
FROM range({instances * HOURS}) AS t(i) WHERE i % 4 IN (2, 3)
UNION ALL
SELECT
  'fee-' || h, 'SavingsPlanRecurringFee', TIMESTAMP '2026-09-01' + INTERVAL (h) HOUR, 'ComputeSavingsPlans',
  'ComputeSP:1yrNoUpfront', '', '', 1.0, {commitment}, 0.0, '{SP_ARN}', CAST(NULL AS DOUBLE), {commitment},
  {instances // 2} * 0.48, NULL, NULL, NULL, NULL, NULL, MAP {{}}::MAP(VARCHAR, VARCHAR)
FROM range({HOURS}) AS t(h)
UNION ALL
SELECT
  'ebs-' || i, 'Usage', TIMESTAMP '2026-09-01' + INTERVAL (i // {instances}) HOUR, 'AmazonEC2',
  'USE1-EBS:VolumeUsage.gp3', 'CreateVolume-Gp3', 'vol-' || (i % {instances}), 0.1, 0.011, 0.011,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, MAP {{}}::MAP(VARCHAR, VARCHAR)
FROM range({instances * HOURS}) AS t(i)
"""


# Task j runs in hour j // tasks_per_hour on instance j % INSTANCES; row r = 2j (vCPU) or 2j + 1 (GB).
SPLIT_ROWS = """
SELECT
  'task-' || r AS identity_line_item_id,
  'Usage' AS line_item_line_item_type,
  TIMESTAMP '2026-09-01' + INTERVAL (least(r // 2 // {per_hour}, {last_hour})) HOUR
    AS line_item_usage_start_date,
  'AmazonECS' AS line_item_product_code,
  CASE WHEN r % 2 = 0 THEN 'USE1-ECS-EC2-vCPU-Hours' ELSE 'USE1-ECS-EC2-GB-Hours' END AS line_item_usage_type,
  'ECSTask-EC2' AS line_item_operation,
  'arn:aws:ecs:us-east-1:111122223333:task/cpu-ce_Batch_5f1c/' || md5(CAST(r // 2 AS VARCHAR))
    AS line_item_resource_id,
  CASE WHEN r % 2 = 0 THEN 2.0 ELSE 8.0 END AS line_item_usage_amount,
  0.0 AS line_item_unblended_cost,
  0.0 AS pricing_public_on_demand_cost,
  NULL, NULL, NULL, NULL,
  'i-' || lpad(CAST((r // 2) % {instances} AS VARCHAR), 17, '0') AS split_line_item_parent_resource_id,
  CASE WHEN r % 2 = 0 THEN 2.0 ELSE 8.0 END AS split_line_item_split_usage,
  CASE WHEN r % 2 = 0 THEN 0.0864 ELSE 0.0096 END AS split_line_item_split_cost,
  CASE WHEN r % 2 = 0 THEN 0.0216 ELSE 0.0024 END AS split_line_item_unused_cost,
  NULL,
  map(['aws_batch_job_queue', 'aws_batch_compute_environment'], ['q' || (r // 2 % 3), 'cpu-ce'])
FROM range({rows}) AS t(r)
"""

COMMON = """
SELECT *,
  TIMESTAMP '2026-09-01' AS bill_billing_period_start_date,
  '111122223333' AS bill_payer_account_id,
  '111122223333' AS line_item_usage_account_id,
  line_item_usage_start_date + INTERVAL 1 HOUR AS line_item_usage_end_date,
  'us-east-1a' AS line_item_availability_zone,
  'USD' AS line_item_currency_code,
  'us-east-1' AS product_region_code
FROM ({body})
"""


def generate(path: Path, split_rows: int) -> int:
    """Write the month's CUR 2.0 Parquet file; returns its number of line items."""
    per_hour = max(1, -(-split_rows // 2 // HOURS))
    # The fleet scales with the tasks: 600 instances for 6,000,000 rows (a multiple of 4, at least 4).
    instances = max(4, round(INSTANCES * split_rows / TARGET_ROWS / 4) * 4)
    split = SPLIT_ROWS.format(rows=split_rows, per_hour=per_hour, last_hour=HOURS - 1, instances=instances)
    body = f"{instance_rows(instances)}\nUNION ALL\n{split}"
    con = connect()
    con.execute(f"COPY ({COMMON.format(body=body)}) TO '{path}' (FORMAT parquet, COMPRESSION zstd)")
    (n,) = con.execute(f"SELECT count(*) FROM read_parquet('{path}')").fetchone()
    con.close()
    return int(n)


def seed_jobs(engine: object, tasks: int) -> int:
    """The store's Batch jobs for the first `tasks` tasks of the file (task j <-> job-j, attempt 0)."""
    import pandas as pd

    from optimizer.store.names import COLLECTED_DATASET
    from optimizer.store.tables.jobs import job_attempts, jobs
    from optimizer.store.upsert import bulk_upsert

    con = connect()
    arns = con.execute(
        "SELECT 'job-' || j AS job_id, 'arn:aws:ecs:us-east-1:111122223333:task/cpu-ce_Batch_5f1c/'"
        f" || md5(CAST(j AS VARCHAR)) AS task_arn FROM range({tasks}) AS t(j)"
    ).df()
    con.close()
    start = datetime(2026, 9, 1)
    job_rows = pd.DataFrame(
        {
            "job_id": arns["job_id"],
            "dataset": COLLECTED_DATASET,
            "status": "SUCCEEDED",
            "created_at": start,
            "queue": "q" + (arns.index % 3).astype(str),
            "job_definition_name": "align",
        }
    )
    attempts = pd.DataFrame({"job_id": arns["job_id"], "attempt": 0, "task_arn": arns["task_arn"]})
    attempts["started_at"] = start
    with engine.begin() as conn:  # type: ignore[attr-defined]
        bulk_upsert(conn, jobs, job_rows)
        bulk_upsert(conn, job_attempts, attempts)
    return tasks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=TARGET_ROWS, help="split-cost rows (default: 6,000,000)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="batchopt-bench-bill-") as tmp:
        root = Path(tmp)
        export = root / "cur2-2026-09.parquet"
        t0 = time.perf_counter()
        line_items = generate(export, args.rows)
        generate_s = time.perf_counter() - t0
        engine = create_store_engine(f"sqlite:///{root / 'store.db'}")
        upgrade(engine)
        jobs_in_store = seed_jobs(engine, max(1, JOBS_PER_DAY * args.rows // TARGET_ROWS))
        t0 = time.perf_counter()
        import_bill(engine, [export], "cur2", data_dir=root / "bill", imported_at=datetime(2026, 10, 1))
        import_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        report = reconcile(engine, "2026-09")
        reconcile_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        again = import_bill(
            engine, [export], "cur2", data_dir=root / "bill", imported_at=datetime(2026, 10, 2)
        )
        reimport_s = time.perf_counter() - t0
        engine.dispose()
        size_mb = export.stat().st_size / 1e6
    total_s = import_s + reconcile_s
    limit_s = scaled_seconds(TARGET_SECONDS, TARGET_ROWS, args.rows)
    print_table(
        ["step", "seconds", "rows / s"],
        [
            ["generate (not timed)", generate_s, line_items / generate_s],
            ["import-bill --format cur2", import_s, line_items / import_s],
            ["reconcile --month", reconcile_s, ""],
            ["import + reconcile", total_s, line_items / total_s],
            ["re-import (unchanged)", reimport_s, ""],
        ],
    )
    ec2 = report["ec2_instances"]
    print(
        f"\n{line_items:,} line items ({args.rows:,} split-cost rows, {size_mb:,.0f} MB Parquet):"
        f" billed ${report['billed_usd']:,.2f}, effective ${report['effective_usd']:,.2f},"
        f" EC2 {ec2['instance_hours']:,.0f} instance-hours; re-import: {again.months[0].status}"
    )
    job_bill = report["jobs"]
    print(
        f"per-job bill: {job_bill['attempts']:,} of {jobs_in_store:,} stored attempts matched to split rows"
        f" (billed ${job_bill['billed_usd']:,.2f}, effective ${job_bill['effective_usd']:,.2f});"
        f" {job_bill['unmatched_tasks']['count']:,} tasks the store does not know"
    )
    payload = {
        "split_rows": args.rows,
        "line_items": line_items,
        "parquet_mb": round(size_mb, 1),
        "generate_seconds": round(generate_s, 2),
        "import_seconds": round(import_s, 2),
        "reconcile_seconds": round(reconcile_s, 2),
        "reimport_seconds": round(reimport_s, 2),
        "billed_usd": report["billed_usd"],
        "effective_usd": report["effective_usd"],
        "jobs_in_store": jobs_in_store,
        "jobs_matched": report["jobs"]["attempts"],
        "unmatched_tasks": report["jobs"]["unmatched_tasks"]["count"],
    }
    targets = [
        Target(
            f"import + reconcile of {args.rows:,} split-cost rows (DuckDB)",
            f"{total_s:.1f} s",
            f"< {limit_s:.1f} s",
            total_s < limit_s,
        ),
        Target(
            "every stored attempt gets its billed cost from the split rows",
            f"{report['jobs']['attempts']:,}",
            f"{jobs_in_store:,}",
            report["jobs"]["attempts"] == jobs_in_store,
        ),
        Target(
            "re-import of the same file changes nothing",
            again.months[0].status,
            "unchanged",
            again.months[0].status == "unchanged",
        ),
    ]
    return finish("billing", payload, targets)


if __name__ == "__main__":
    sys.exit(main())
