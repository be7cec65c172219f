"""The SQL over canonical line items, each query written once, in DuckDB's dialect.

`line_items` is the relation the queries read: the imported Parquet months (or the table an import
is building). The same text runs on Amazon Athena after `for_athena`, which transpiles it to Trino
with sqlglot, so there is never a second hand-written copy.

Usage kinds (`USAGE_KIND`), the dimension the daily aggregates and the reconciliation split by:

| kind | rows |
|---|---|
| `ec2_on_demand`, `ec2_spot`, `ec2_reserved`, `ec2_savings_plan` | EC2 instance-hours by how they were paid |
| `commitment_fee` | RI and Savings Plan fees (recurring, upfront); effective cost = the unused part |
| `savings_plan_negation` | the rows cancelling SP-covered on-demand cost (billed < 0, effective 0) |
| `container_split` | split cost allocation rows of ECS/EKS tasks on EC2 (no charge of their own) |
| `fargate` | Fargate task rows |
| `ebs`, `data_transfer` | EBS volumes and snapshots, data transfer |
| `tax`, `credit`, `discount` | adjustments (Tax; Credit, Refund, Adjustment; *Discount) |
| `other` | everything else |
"""

from __future__ import annotations

USAGE_KINDS = (
    "ec2_on_demand",
    "ec2_spot",
    "ec2_reserved",
    "ec2_savings_plan",
    "commitment_fee",
    "savings_plan_negation",
    "container_split",
    "fargate",
    "ebs",
    "data_transfer",
    "tax",
    "credit",
    "discount",
    "other",
)
EC2_INSTANCE_KINDS = ("ec2_on_demand", "ec2_spot", "ec2_reserved", "ec2_savings_plan")

USAGE_KIND = """
CASE
  WHEN instance_usage THEN 'ec2_' || coalesce(purchase_option, 'on_demand')
  WHEN line_item_type IN ('RIFee', 'SavingsPlanRecurringFee', 'SavingsPlanUpfrontFee') THEN 'commitment_fee'
  WHEN line_item_type = 'Fee' AND commitment_arn IS NOT NULL THEN 'commitment_fee'
  WHEN line_item_type = 'SavingsPlanNegation' THEN 'savings_plan_negation'
  WHEN line_item_type = 'Tax' THEN 'tax'
  WHEN line_item_type IN ('Credit', 'Refund', 'Adjustment') THEN 'credit'
  WHEN line_item_type LIKE '%Discount' THEN 'discount'
  WHEN split_parent_resource_id IS NOT NULL OR operation IN ('ECSTask-EC2', 'EKSPod-EC2')
    THEN 'container_split'
  WHEN operation = 'FargateTask' THEN 'fargate'
  WHEN usage_type LIKE '%EBS:%' OR usage_type LIKE '%EBSOptimized%' THEN 'ebs'
  WHEN usage_type LIKE '%DataTransfer%' OR usage_type LIKE '%-AWS-In-Bytes%'
    OR usage_type LIKE '%-AWS-Out-Bytes%'
    THEN 'data_transfer'
  ELSE 'other'
END
"""

DAILY = """
SELECT
  billing_period,
  date_trunc('day', coalesce(usage_start, billing_period)) AS day,
  coalesce(account_id, '(none)') AS account_id,
  coalesce(region, '(none)') AS region,
  coalesce(service, '(none)') AS service,
  usage_kind,
  sum(billed_usd) AS billed_usd,
  sum(effective_usd) AS effective_usd,
  sum(coalesce(list_usd, 0)) AS list_usd,
  sum(coalesce(usage_amount, 0)) AS usage_amount,
  count(*) AS line_items
FROM line_items
GROUP BY 1, 2, 3, 4, 5, 6
"""

MONTHS = """
SELECT billing_period, count(*) AS line_items,
  sum(billed_usd) AS billed_usd, sum(effective_usd) AS effective_usd
FROM line_items
GROUP BY 1
ORDER BY 1
"""

# Savings Plans and RIs named by any line item. The ARN says the owner account and, for RIs, the
# region; a term the bill leaves empty is read off the start/end span of a 1- or 3-year commitment.
COMMITMENTS = """
SELECT
  commitment_arn AS arn,
  max(commitment_kind) AS kind,
  max(commitment_offering_type) AS offering_type,
  nullif(split_part(commitment_arn, ':', 5), '') AS account_id,
  coalesce(nullif(split_part(commitment_arn, ':', 4), ''), max(commitment_region)) AS region,
  max(commitment_hourly_usd) AS hourly_commitment_usd,
  max(commitment_count) AS count,
  coalesce(
    max(commitment_term),
    CASE
      WHEN date_diff('day', min(commitment_start), max(commitment_end)) BETWEEN 360 AND 370 THEN '1yr'
      WHEN date_diff('day', min(commitment_start), max(commitment_end)) BETWEEN 1090 AND 1100 THEN '3yr'
    END
  ) AS term,
  max(commitment_payment_option) AS payment_option,
  min(commitment_start) AS starts_at,
  max(commitment_end) AS ends_at,
  min(coalesce(usage_start, billing_period)) AS first_seen,
  max(coalesce(usage_end, usage_start, billing_period)) AS last_seen,
  count(*) AS line_items,
  sum(billed_usd) AS billed_usd,
  sum(effective_usd) AS effective_usd
FROM line_items
WHERE commitment_arn IS NOT NULL
GROUP BY commitment_arn
ORDER BY commitment_arn
"""


def with_usage_kind(line_items_sql: str) -> str:
    """Canonical line items (a SELECT) with their `usage_kind` added."""
    return f"SELECT *, {USAGE_KIND.strip()} AS usage_kind\nFROM (\n{line_items_sql}\n) AS canonical"


def for_athena(sql: str) -> str:
    """The same query as Amazon Athena (Trino) SQL, generated from the DuckDB text by sqlglot.

    One rewrite on top of sqlglot's: a map read by key (`resource_tags['k']`) becomes
    `element_at(resource_tags, 'k')`, since Trino's subscript fails on a missing key where DuckDB's
    gives NULL (our queries index only maps by key, never arrays)."""
    import sqlglot
    from sqlglot import exp

    def map_by_key(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Bracket) and len(node.expressions) == 1 and node.expressions[0].is_string:
            return exp.Anonymous(this="element_at", expressions=[node.this, node.expressions[0]])
        return node

    trees = [tree.transform(map_by_key) for tree in sqlglot.parse(sql, read="duckdb") if tree is not None]
    return ";\n".join(tree.sql(dialect="trino", pretty=True) for tree in trees)


# ---------------------------------------------------------------------------------------------
# Breakdowns written at import time beside `DAILY` (aggregates only; see optimizer.store.tables.billing).

# The instance rows of the bill: its EC2 instance-hours and the Savings Plan negation of covered
# hours (it names the instance), so an instance's billed cost is what the invoice charged for it.
INSTANCE_ROWS = "resource_id LIKE 'i-%' AND (instance_usage OR usage_kind = 'savings_plan_negation')"

# Per billing month, UTC day and EC2 instance id: billed, effective and list cost, instance-hours,
# and the part of its effective cost that was commitment use (SP / RI covered usage, amortised).
INSTANCE_DAILY = f"""
SELECT
  billing_period,
  date_trunc('day', coalesce(usage_start, billing_period)) AS day,
  resource_id AS instance_id,
  coalesce(max(account_id), '(none)') AS account_id,
  coalesce(max(region), '(none)') AS region,
  max(instance_type) AS instance_type,
  CASE WHEN count(DISTINCT purchase_option) > 1 THEN 'mixed' ELSE max(purchase_option) END
    AS purchase_option,
  sum(billed_usd) AS billed_usd,
  sum(effective_usd) AS effective_usd,
  sum(coalesce(list_usd, 0)) AS list_usd,
  sum(CASE WHEN instance_usage THEN coalesce(usage_amount, 0) ELSE 0 END) AS instance_hours,
  sum(
    CASE WHEN instance_usage AND purchase_option IN ('savings_plan', 'reserved') THEN effective_usd ELSE 0 END
  ) AS commitment_used_usd
FROM line_items
WHERE {INSTANCE_ROWS}
GROUP BY 1, 2, 3
"""

# Per hour and commitment: the used part (covered usage at its amortised cost), the unused part
# (the fee rows' effective cost: the hourly SP fee's unused commitment, the RI's monthly unused fee),
# the on-demand value of the covered usage and its amount (instance-hours for EC2 instances).
COMMITMENT_HOURS = """
SELECT
  billing_period,
  date_trunc('hour', coalesce(usage_start, billing_period)) AS hour,
  commitment_arn AS arn,
  max(commitment_kind) AS kind,
  sum(CASE WHEN line_item_type IN ('SavingsPlanCoveredUsage', 'DiscountedUsage')
    THEN effective_usd ELSE 0 END) AS used_usd,
  sum(CASE WHEN line_item_type IN ('SavingsPlanRecurringFee', 'RIFee') THEN effective_usd ELSE 0 END)
    AS unused_usd,
  sum(CASE WHEN line_item_type IN ('SavingsPlanCoveredUsage', 'DiscountedUsage')
    THEN CASE WHEN coalesce(list_usd, 0) > 0 THEN list_usd ELSE billed_usd END ELSE 0 END)
    AS covered_list_usd,
  sum(CASE WHEN line_item_type IN ('SavingsPlanCoveredUsage', 'DiscountedUsage') AND instance_usage
    THEN coalesce(usage_amount, 0) ELSE 0 END) AS covered_instance_hours
FROM line_items
WHERE commitment_arn IS NOT NULL
GROUP BY 1, 2, 3
"""

# Per hour and region: EC2 instance usage at its on-demand value, by how it was paid. Coverage is
# the committed part of the usage a commitment could have covered (spot is not eligible).
COVERAGE_HOURS = """
SELECT
  billing_period,
  date_trunc('hour', coalesce(usage_start, billing_period)) AS hour,
  coalesce(region, '(none)') AS region,
  sum(CASE WHEN usage_kind IN ('ec2_savings_plan', 'ec2_reserved') THEN od ELSE 0 END) AS covered_list_usd,
  sum(CASE WHEN usage_kind = 'ec2_on_demand' THEN od ELSE 0 END) AS on_demand_list_usd,
  sum(CASE WHEN usage_kind = 'ec2_spot' THEN billed_usd ELSE 0 END) AS spot_usd,
  sum(CASE WHEN usage_kind IN ('ec2_savings_plan', 'ec2_reserved') THEN hours ELSE 0 END) AS covered_hours,
  sum(CASE WHEN usage_kind = 'ec2_on_demand' THEN hours ELSE 0 END) AS on_demand_hours,
  sum(CASE WHEN usage_kind = 'ec2_spot' THEN hours ELSE 0 END) AS spot_hours
FROM (
  SELECT *,
    CASE WHEN coalesce(list_usd, 0) > 0 THEN list_usd ELSE billed_usd END AS od,
    coalesce(usage_amount, 0) AS hours
  FROM line_items
  WHERE instance_usage
) AS usage
GROUP BY 1, 2, 3
"""

# Per Batch attempt of the month (`attempts`: task_arn, job_id, attempt; each attempt runs as one ECS
# task): split cost allocation rows (EC2 launch type) give the task's share of the parent
# instance-hour's amortised cost, `split_cost` (allocated) + `unused_cost` (idle share), AWS's split;
# its billed cost is the instance-hour's billed cost shared in the same proportions over the tasks of
# that instance-hour (the share itself where the bill has no row for the instance). Fargate task rows
# carry their own charge. The tasks no attempt names come back as one row with a NULL job_id, with
# their number in `tasks`. One pass over the rows; the per-instance-hour rates are a small join.
TASK_COSTS = f"""
WITH task_rows AS (
  SELECT
    resource_id AS task_arn,
    split_parent_resource_id AS instance_id,
    date_trunc('hour', usage_start) AS hour,
    usage_kind <> 'container_split' AS fargate,
    CASE WHEN usage_kind = 'fargate' THEN effective_usd
      WHEN usage_kind = 'savings_plan_negation' THEN 0
      ELSE coalesce(split_cost, 0) + coalesce(split_unused_cost, 0) END AS effective_usd,
    CASE WHEN usage_kind = 'container_split' THEN coalesce(split_unused_cost, 0) ELSE 0 END AS unused_usd,
    CASE WHEN usage_kind <> 'container_split' THEN billed_usd END AS own_billed_usd
  FROM line_items
  -- (a Fargate task a Savings Plan covered is billed at on-demand and cancelled by a negation row
  -- naming the task: its billed cost is the two together, as the invoice charges it)
  WHERE (usage_kind IN ('container_split', 'fargate')
      OR (usage_kind = 'savings_plan_negation' AND resource_id LIKE 'arn:aws:ecs:%'))
    AND resource_id IS NOT NULL
),
hour_totals AS (
  SELECT instance_id, hour, sum(effective_usd) AS total
  FROM task_rows
  WHERE NOT fargate AND instance_id IS NOT NULL
  GROUP BY 1, 2
),
instance_hours AS (
  SELECT resource_id AS instance_id, date_trunc('hour', usage_start) AS hour, sum(billed_usd) AS billed_usd
  FROM line_items
  WHERE {INSTANCE_ROWS}
  GROUP BY 1, 2
),
rates AS (
  SELECT h.instance_id, h.hour, i.billed_usd / h.total AS billed_per_usd
  FROM hour_totals AS h
  JOIN instance_hours AS i ON i.instance_id = h.instance_id AND i.hour = h.hour
  WHERE h.total > 0
)
SELECT
  a.job_id,
  a.attempt,
  CASE WHEN bool_or(t.fargate) THEN 'fargate' ELSE 'split' END AS source,
  max(t.instance_id) AS instance_id,
  sum(coalesce(t.own_billed_usd, t.effective_usd * coalesce(r.billed_per_usd, 1.0))) AS billed_usd,
  sum(t.effective_usd) AS effective_usd,
  sum(t.unused_usd) AS unused_usd,
  count(DISTINCT t.task_arn) AS tasks
FROM task_rows AS t
LEFT JOIN rates AS r ON r.instance_id = t.instance_id AND r.hour = t.hour
LEFT JOIN attempts AS a ON a.task_arn = t.task_arn
GROUP BY a.job_id, a.attempt
"""

# Instance-hours that split rows cover, per instance and day (the fallback skips those days).
SPLIT_INSTANCE_DAYS = """
SELECT DISTINCT split_parent_resource_id AS instance_id, date_trunc('day', usage_start) AS day
FROM line_items
WHERE usage_kind = 'container_split' AND split_parent_resource_id IS NOT NULL
"""

# Per billing month, commitment, region and instance type: the instance-hours the commitment
# covered and their amortised and on-demand cost, so each commitment's rate per instance-hour of a
# type is the bill's own (what an EC2 Instance Savings Plan or RI charged for it).
COMMITMENT_RATES = """
SELECT
  billing_period,
  commitment_arn AS arn,
  coalesce(region, '(none)') AS region,
  instance_type,
  sum(coalesce(usage_amount, 0)) AS covered_hours,
  sum(effective_usd) AS effective_usd,
  sum(coalesce(list_usd, 0)) AS list_usd,
  min(coalesce(usage_start, billing_period)) AS first_seen,
  max(coalesce(usage_start, billing_period)) AS last_seen
FROM line_items
WHERE instance_usage AND commitment_arn IS NOT NULL AND instance_type IS NOT NULL
  AND line_item_type IN ('SavingsPlanCoveredUsage', 'DiscountedUsage')
GROUP BY 1, 2, 3, 4
"""
