"""Each instance-day's commitment use in the bill (its Savings Plan and Reserved Instance covered
usage at the amortised rate): what lets a queue or a compute environment be given its own share of
an account-wide commitment (`optimizer.fleet.commitments.commitment_share`); null for months
imported before it (a re-import fills it)

Revision ID: 0011_instance_commitment_use
Revises: 0010_job_timeout
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_instance_commitment_use"
down_revision: str | None = "0010_job_timeout"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("bill_instances", schema=None) as batch_op:
        batch_op.add_column(sa.Column("commitment_used_usd", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("bill_instances", schema=None) as batch_op:
        batch_op.drop_column("commitment_used_usd")
