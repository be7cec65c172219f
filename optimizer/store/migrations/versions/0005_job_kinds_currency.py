"""job kinds and price currency: raw unknown job fields, requested accelerators, the EKS node of an
attempt, instance accelerators (Inferentia, Trainium, ...), the currency of on-demand prices

Revision ID: 0005_job_kinds_currency
Revises: 0004_bill_breakdowns
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_job_kinds_currency"
down_revision: str | None = "0004_bill_breakdowns"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("accelerators", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("unparsed", sa.JSON(), nullable=True))
    with op.batch_alter_table("job_attempts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("node_name", sa.String(length=255), nullable=True))
    with op.batch_alter_table("instance_types", schema=None) as batch_op:
        batch_op.add_column(sa.Column("accelerator", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("accelerator_count", sa.Integer(), nullable=True))
    with op.batch_alter_table("ondemand_prices", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("currency", sa.String(length=255), server_default="USD", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("ondemand_prices", schema=None) as batch_op:
        batch_op.drop_column("currency")
    with op.batch_alter_table("instance_types", schema=None) as batch_op:
        batch_op.drop_column("accelerator_count")
        batch_op.drop_column("accelerator")
    with op.batch_alter_table("job_attempts", schema=None) as batch_op:
        batch_op.drop_column("node_name")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("unparsed")
        batch_op.drop_column("accelerators")
