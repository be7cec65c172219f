"""node ranges of multi-node parallel jobs: each node job's (and the parent's main node's) range
`targetNodes` and the `instanceTypes` it names, so the replay places each node on its range's types

Revision ID: 0007_node_range_types
Revises: 0006_bill_commitment_rates
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_node_range_types"
down_revision: str | None = "0006_bill_commitment_rates"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("node_target_nodes", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("node_instance_types", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("node_instance_types")
        batch_op.drop_column("node_target_nodes")
