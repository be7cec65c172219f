"""bill aggregates: billing months, daily billed/effective cost, commitments

Revision ID: 0002_billing
Revises: 0001
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_billing"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "bill_months",
        sa.Column("billing_period", sa.DateTime(), nullable=False),
        sa.Column("format", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=255), nullable=False),
        sa.Column("sources", sa.JSON(), nullable=False),
        sa.Column("path", sa.String(length=2048), nullable=False),
        sa.Column("line_items", sa.Integer(), nullable=False),
        sa.Column("billed_usd", sa.Float(), nullable=False),
        sa.Column("effective_usd", sa.Float(), nullable=False),
        sa.Column("imported_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("billing_period", name=op.f("pk_bill_months")),
    )
    op.create_table(
        "bill_daily",
        sa.Column("billing_period", sa.DateTime(), nullable=False),
        sa.Column("day", sa.DateTime(), nullable=False),
        sa.Column("account_id", sa.String(length=255), nullable=False),
        sa.Column("region", sa.String(length=255), nullable=False),
        sa.Column("service", sa.String(length=255), nullable=False),
        sa.Column("usage_kind", sa.String(length=255), nullable=False),
        sa.Column("billed_usd", sa.Float(), server_default="0", nullable=False),
        sa.Column("effective_usd", sa.Float(), server_default="0", nullable=False),
        sa.Column("list_usd", sa.Float(), server_default="0", nullable=False),
        sa.Column("usage_amount", sa.Float(), server_default="0", nullable=False),
        sa.Column("line_items", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint(
            "billing_period",
            "day",
            "account_id",
            "region",
            "service",
            "usage_kind",
            name=op.f("pk_bill_daily"),
        ),
    )
    with op.batch_alter_table("bill_daily", schema=None) as batch_op:
        batch_op.create_index("ix_bill_daily_day", ["day"], unique=False)

    op.create_table(
        "bill_commitments",
        sa.Column("arn", sa.String(length=512), nullable=False),
        sa.Column("kind", sa.String(length=255), nullable=False),
        sa.Column("offering_type", sa.String(length=255), nullable=True),
        sa.Column("account_id", sa.String(length=255), nullable=True),
        sa.Column("region", sa.String(length=255), nullable=True),
        sa.Column("hourly_commitment_usd", sa.Float(), nullable=True),
        sa.Column("count", sa.Float(), nullable=True),
        sa.Column("term", sa.String(length=255), nullable=True),
        sa.Column("payment_option", sa.String(length=255), nullable=True),
        sa.Column("starts_at", sa.DateTime(), nullable=True),
        sa.Column("ends_at", sa.DateTime(), nullable=True),
        sa.Column("first_seen", sa.DateTime(), nullable=False),
        sa.Column("last_seen", sa.DateTime(), nullable=False),
        sa.Column("line_items", sa.Integer(), nullable=False),
        sa.Column("billed_usd", sa.Float(), nullable=False),
        sa.Column("effective_usd", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("arn", name=op.f("pk_bill_commitments")),
    )


def downgrade() -> None:
    op.drop_table("bill_commitments")
    with op.batch_alter_table("bill_daily", schema=None) as batch_op:
        batch_op.drop_index("ix_bill_daily_day")
    op.drop_table("bill_daily")
    op.drop_table("bill_months")
