"""collection completeness: coverage ranges, gaps, rejected event messages, instance lifetime source

Revision ID: 0003_collection_coverage
Revises: 0002_billing
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_collection_coverage"
down_revision: str | None = "0002_billing"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "collection_coverage",
        sa.Column("target", sa.String(length=255), nullable=False),
        sa.Column("region", sa.String(length=255), nullable=False),
        sa.Column("source", sa.String(length=255), nullable=False),
        sa.Column("scope", sa.String(length=255), nullable=False),
        sa.Column("covered_from", sa.DateTime(), nullable=False),
        sa.Column("covered_to", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("target", "region", "source", "scope", name=op.f("pk_collection_coverage")),
    )
    op.create_table(
        "collection_gaps",
        sa.Column("target", sa.String(length=255), nullable=False),
        sa.Column("region", sa.String(length=255), nullable=False),
        sa.Column("source", sa.String(length=255), nullable=False),
        sa.Column("scope", sa.String(length=255), nullable=False),
        sa.Column("gap_from", sa.DateTime(), nullable=False),
        sa.Column("gap_to", sa.DateTime(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("detected_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint(
            "target", "region", "source", "scope", "gap_from", name=op.f("pk_collection_gaps")
        ),
    )
    with op.batch_alter_table("collection_gaps", schema=None) as batch_op:
        batch_op.create_index("ix_collection_gaps_detected", ["detected_at"], unique=False)
    op.create_table(
        "event_rejects",
        sa.Column("message_id", sa.String(length=255), nullable=False),
        sa.Column("queue_url", sa.String(length=2048), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_event_rejects")),
    )
    with op.batch_alter_table("instances", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lifetime_source", sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("instances", schema=None) as batch_op:
        batch_op.drop_column("lifetime_source")
    op.drop_table("event_rejects")
    with op.batch_alter_table("collection_gaps", schema=None) as batch_op:
        batch_op.drop_index("ix_collection_gaps_detected")
    op.drop_table("collection_gaps")
    op.drop_table("collection_coverage")
