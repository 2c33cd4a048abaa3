"""Indexes in claim order: PENDING rows by id, per AOI or overall.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("scene", schema=None) as batch_op:
        batch_op.drop_index("ix_scene_status_lease")
        batch_op.create_index("ix_scene_status_id", ["status", "id"], unique=False)
        batch_op.create_index("ix_scene_aoi_status_id", ["aoi_id", "status", "id"], unique=False)
    with op.batch_alter_table("tile", schema=None) as batch_op:
        batch_op.drop_index("ix_tile_status_lease")
        batch_op.drop_index("ix_tile_aoi_status")
        batch_op.create_index("ix_tile_status_id", ["status", "id"], unique=False)
        batch_op.create_index("ix_tile_aoi_status_id", ["aoi_id", "status", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("tile", schema=None) as batch_op:
        batch_op.drop_index("ix_tile_aoi_status_id")
        batch_op.drop_index("ix_tile_status_id")
        batch_op.create_index("ix_tile_aoi_status", ["aoi_id", "status"], unique=False)
        batch_op.create_index("ix_tile_status_lease", ["status", "lease_expires_at"], unique=False)
    with op.batch_alter_table("scene", schema=None) as batch_op:
        batch_op.drop_index("ix_scene_aoi_status_id")
        batch_op.drop_index("ix_scene_status_id")
        batch_op.create_index("ix_scene_status_lease", ["status", "lease_expires_at"], unique=False)
