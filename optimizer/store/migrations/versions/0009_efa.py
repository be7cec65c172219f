"""EFA and bandwidth: whether an instance type supports the Elastic Fabric Adapter
(DescribeInstanceTypes' `NetworkInfo.EfaSupported`; null where the source does not say) and its
baseline network bandwidth in Mbit/s (the text `network_performance` is no number), and how many EFA
devices a job's containers ask for (`linuxParameters.devices` on `/dev/infiniband/uverbs*`), so a
gang that needs EFA or bandwidth is planned only on types that have it

Revision ID: 0009_efa
Revises: 0008_analysis_mnp_figures
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_efa"
down_revision: str | None = "0008_analysis_mnp_figures"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("instance_types", schema=None) as batch_op:
        batch_op.add_column(sa.Column("efa_supported", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("network_bandwidth_mbps", sa.Integer(), nullable=True))
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("efa_devices", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("efa_devices")
    with op.batch_alter_table("instance_types", schema=None) as batch_op:
        batch_op.drop_column("network_bandwidth_mbps")
        batch_op.drop_column("efa_supported")
