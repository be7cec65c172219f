"""Recommendations, optimizer plans, change plans and the audit log of everything applied.

The audit log is written before an apply starts (result `pending`) and completed after, so a crash
mid-apply leaves a record the next run reconciles.
"""

from sqlalchemy import Column, Index, Table

from optimizer.store.base import Arn, Boolean, Float, Integer, Json, Str, Text, Time, metadata
from optimizer.store.names import COLLECTED_DATASET

recommendations = Table(
    "recommendations",
    metadata,
    Column("id", Str, primary_key=True),  # stable: derived from strategy, target and proposal
    Column("strategy", Str, nullable=False),
    Column("target_arn", Arn, nullable=False),
    Column("target_name", Str),
    Column("target_kind", Str, nullable=False),  # compute-environment | job-queue | job-definition
    Column("account_id", Str),
    Column("region", Str),
    Column("title", Text, nullable=False),
    Column("current", Json, nullable=False),
    Column("proposed", Json, nullable=False),
    Column("monthly_savings_usd", Float, nullable=False),
    Column("risk", Json, nullable=False),
    Column("risk_level", Str, nullable=False),  # low | medium | high
    Column("confidence", Float, nullable=False),
    Column("effort", Str, nullable=False),
    Column(
        "update_kind", Str, nullable=False
    ),  # scaling | infrastructure | blue-green | new-revision | advice
    Column("evidence", Json, nullable=False),
    Column("applicable", Boolean, nullable=False, server_default="1"),
    Column("status", Str, nullable=False, server_default="open"),  # open | dismissed | applied | rolled-back
    Column("status_reason", Text),
    Column("created_at", Time, nullable=False),
    Column("updated_at", Time, nullable=False),
)
Index("ix_recommendations_status", recommendations.c.status, recommendations.c.monthly_savings_usd)

fleet_plans = Table(
    "fleet_plans",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("scope", Str, nullable=False),  # queue name or "dataset:<name>"
    # The jobs the plan's demand came from: the collected history or an imported trace, whose
    # queue names (`default`) may also be collected queues'.
    Column("dataset", Str, nullable=False, server_default=COLLECTED_DATASET),
    Column("created_at", Time, nullable=False),
    Column("status", Str, nullable=False),
    Column("cost_usd", Float),
    Column("objective_usd", Float),
    Column("lower_bound_usd", Float),
    Column("gap", Float),
    Column("solve_seconds", Float),
    Column("problem", Json, nullable=False),
    Column("plan", Json, nullable=False),
)

change_plans = Table(
    "change_plans",
    metadata,
    Column("id", Str, primary_key=True),
    Column("recommendation_id", Str, nullable=False),
    Column("kind", Str, nullable=False),  # apply | rollback
    Column("created_at", Time, nullable=False),
    Column("target_arn", Arn, nullable=False),
    Column("fingerprint", Str, nullable=False),
    Column("update_kind", Str, nullable=False),
    Column("calls", Json, nullable=False),
    Column("permissions", Json, nullable=False),
    Column("before", Json),
)
Index("ix_change_plans_recommendation", change_plans.c.recommendation_id)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("plan_id", Str, nullable=False),
    Column("recommendation_id", Str),
    Column("action", Str, nullable=False),  # apply | rollback | auto-rollback
    Column("actor", Str, nullable=False),
    Column("dry_run", Boolean, nullable=False),
    Column("started_at", Time, nullable=False),
    Column("finished_at", Time),
    Column("before", Json),
    Column("after", Json),
    Column(
        "result", Str, nullable=False
    ),  # pending | succeeded | failed | not-applied | refused | reconciled
    Column("message", Text),
)
Index("ix_audit_log_plan", audit_log.c.plan_id)

TABLES = (recommendations, fleet_plans, change_plans, audit_log)
