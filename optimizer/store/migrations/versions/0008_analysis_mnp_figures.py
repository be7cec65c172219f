"""analysis runs: multi-node parallel jobs' count, their nodes' cost and the gang-formation idle part
of the idle cost, so the Cost explorer can say how much idle capacity gangs held while forming

Revision ID: 0008_analysis_mnp_figures
Revises: 0007_node_range_types
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_analysis_mnp_figures"
down_revision: str | None = "0007_node_range_types"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("analysis_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("mnp_jobs", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("mnp_cost_usd", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("gang_formation_idle_usd", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("analysis_runs", schema=None) as batch_op:
        batch_op.drop_column("gang_formation_idle_usd")
        batch_op.drop_column("mnp_cost_usd")
        batch_op.drop_column("mnp_jobs")
