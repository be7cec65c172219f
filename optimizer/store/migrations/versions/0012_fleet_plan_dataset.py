"""The dataset a fleet plan's demand came from: a plan of an imported trace's queue `default` was
read as the collected queue of that name (its spend set beside it, its replay run on the
collected jobs); plans stored before are the collected history's, as `optimize --queue` and the
demo stored them

Revision ID: 0012_fleet_plan_dataset
Revises: 0011_instance_commitment_use
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_fleet_plan_dataset"
down_revision: str | None = "0011_instance_commitment_use"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("fleet_plans", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dataset", sa.String(length=255), nullable=False, server_default="aws"))


def downgrade() -> None:
    with op.batch_alter_table("fleet_plans", schema=None) as batch_op:
        batch_op.drop_column("dataset")
