"""The spot price each collection found in effect per AZ and type (`spot_price_checks`): the history
lists price changes only, so a price that held for a month looked unknown since its last change

Revision ID: 0013_spot_price_checks
Revises: 0012_fleet_plan_dataset
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_spot_price_checks"
down_revision: str | None = "0012_fleet_plan_dataset"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "spot_price_checks",
        sa.Column("region", sa.String(length=255), nullable=False),
        sa.Column("availability_zone", sa.String(length=255), nullable=False),
        sa.Column("instance_type", sa.String(length=255), nullable=False),
        sa.Column("checked_at", sa.DateTime(), nullable=False),
        sa.Column("price", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint(
            "region", "availability_zone", "instance_type", name=op.f("pk_spot_price_checks")
        ),
    )


def downgrade() -> None:
    op.drop_table("spot_price_checks")
