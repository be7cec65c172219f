"""bill commitment rates: per month, commitment, region and instance type, the covered hours and cost

Revision ID: 0006_bill_commitment_rates
Revises: 0005_job_kinds_currency
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_bill_commitment_rates"
down_revision: str | None = "0005_job_kinds_currency"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "bill_commitment_rates",
        sa.Column("billing_period", sa.DateTime(), nullable=False),
        sa.Column("arn", sa.String(length=512), nullable=False),
        sa.Column("region", sa.String(length=255), nullable=False),
        sa.Column("instance_type", sa.String(length=255), nullable=False),
        sa.Column("covered_hours", sa.Float(), nullable=False),
        sa.Column("effective_usd", sa.Float(), nullable=False),
        sa.Column("list_usd", sa.Float(), nullable=False),
        sa.Column("first_seen", sa.DateTime(), nullable=False),
        sa.Column("last_seen", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint(
            "billing_period", "arn", "region", "instance_type", name=op.f("pk_bill_commitment_rates")
        ),
    )


def downgrade() -> None:
    op.drop_table("bill_commitment_rates")
