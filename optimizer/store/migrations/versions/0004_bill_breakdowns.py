"""bill breakdowns: per instance-day, commitment utilization and coverage per hour, per-job cost

Revision ID: 0004_bill_breakdowns
Revises: 0003_collection_coverage
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_bill_breakdowns"
down_revision: str | None = "0003_collection_coverage"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _money(name: str) -> sa.Column:
    return sa.Column(name, sa.Float(), nullable=False)


def upgrade() -> None:
    op.create_table(
        "bill_instances",
        sa.Column("billing_period", sa.DateTime(), nullable=False),
        sa.Column("day", sa.DateTime(), nullable=False),
        sa.Column("instance_id", sa.String(length=255), nullable=False),
        sa.Column("account_id", sa.String(length=255), nullable=False),
        sa.Column("region", sa.String(length=255), nullable=False),
        sa.Column("instance_type", sa.String(length=255), nullable=True),
        sa.Column("purchase_option", sa.String(length=255), nullable=True),
        _money("billed_usd"),
        _money("effective_usd"),
        _money("list_usd"),
        _money("instance_hours"),
        sa.PrimaryKeyConstraint("billing_period", "day", "instance_id", name=op.f("pk_bill_instances")),
    )
    with op.batch_alter_table("bill_instances", schema=None) as batch_op:
        batch_op.create_index("ix_bill_instances_instance", ["instance_id"], unique=False)
    op.create_table(
        "bill_commitment_hours",
        sa.Column("billing_period", sa.DateTime(), nullable=False),
        sa.Column("hour", sa.DateTime(), nullable=False),
        sa.Column("arn", sa.String(length=512), nullable=False),
        sa.Column("kind", sa.String(length=255), nullable=False),
        _money("used_usd"),
        _money("unused_usd"),
        _money("covered_list_usd"),
        _money("covered_instance_hours"),
        sa.PrimaryKeyConstraint("billing_period", "hour", "arn", name=op.f("pk_bill_commitment_hours")),
    )
    op.create_table(
        "bill_coverage_hours",
        sa.Column("billing_period", sa.DateTime(), nullable=False),
        sa.Column("hour", sa.DateTime(), nullable=False),
        sa.Column("region", sa.String(length=255), nullable=False),
        _money("covered_list_usd"),
        _money("on_demand_list_usd"),
        _money("spot_usd"),
        _money("covered_hours"),
        _money("on_demand_hours"),
        _money("spot_hours"),
        sa.PrimaryKeyConstraint("billing_period", "hour", "region", name=op.f("pk_bill_coverage_hours")),
    )
    op.create_table(
        "bill_job_costs",
        sa.Column("billing_period", sa.DateTime(), nullable=False),
        sa.Column("job_id", sa.String(length=255), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=255), nullable=False),
        sa.Column("instance_id", sa.String(length=255), nullable=True),
        _money("billed_usd"),
        _money("effective_usd"),
        _money("unused_usd"),
        sa.PrimaryKeyConstraint("billing_period", "job_id", "attempt", name=op.f("pk_bill_job_costs")),
    )


def downgrade() -> None:
    op.drop_table("bill_job_costs")
    op.drop_table("bill_coverage_hours")
    op.drop_table("bill_commitment_hours")
    with op.batch_alter_table("bill_instances", schema=None) as batch_op:
        batch_op.drop_index("ix_bill_instances_instance")
    op.drop_table("bill_instances")
