"""Each job's own attempt timeout (DescribeJobs' `timeout.attemptDurationSeconds`, botocore's
JobDetail `timeout`): the cap on the run time estimated for an MNP job that never started
(`optimizer.simulate.gang_runtime`); null where the job has none or the source does not say

Revision ID: 0010_job_timeout
Revises: 0009_efa
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_job_timeout"
down_revision: str | None = "0009_efa"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("timeout_seconds", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("timeout_seconds")
