"""Datasets withdrawn while their tile is not DONE (hidden from reads and STAC, the file kept).

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("index_dataset", schema=None) as batch_op:
        batch_op.add_column(sa.Column("withdrawn", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("index_dataset", schema=None) as batch_op:
        batch_op.drop_column("withdrawn")
