"""Temporary failures in a row of a scene or tile, and since when: they are bounded.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TABLES = ("scene", "tile")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("temporary_failures", sa.Integer(), nullable=False, server_default="0"))
            batch_op.add_column(sa.Column("temporary_since", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("temporary_since")
            batch_op.drop_column("temporary_failures")
