"""Download provider slots shared by every process: a semaphore per provider account.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "provider_slot",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("provider", sa.String(length=255), nullable=False),
        sa.Column("owner", sa.String(length=255), nullable=False),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("aoi_id", sa.String(length=255), nullable=True),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provider_slot")),
    )
    with op.batch_alter_table("provider_slot", schema=None) as batch_op:
        batch_op.create_index("ix_provider_slot_provider_state_id", ["provider", "state", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("provider_slot", schema=None) as batch_op:
        batch_op.drop_index("ix_provider_slot_provider_state_id")
    op.drop_table("provider_slot")
