"""Workflow tables: aoi, scene, tile, event.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "aoi",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_aoi")),
    )
    op.create_table(
        "event",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("aoi_id", sa.String(length=255), nullable=False),
        sa.Column("entity", sa.String(length=8), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(["aoi_id"], ["aoi.id"], name=op.f("fk_event_aoi_id_aoi")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event")),
    )
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_event_aoi_id"), ["aoi_id"], unique=False)
        batch_op.create_index("ix_event_entity", ["entity", "entity_id"], unique=False)

    op.create_table(
        "scene",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("aoi_id", sa.String(length=255), nullable=False),
        sa.Column("source_id", sa.String(length=512), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column(
            "data", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("date", sa.DateTime(timezone=True), nullable=True),
        sa.Column("footprint", sa.Text(), nullable=True),
        sa.Column("retry_countdown", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_owner", sa.String(length=255), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["aoi_id"], ["aoi.id"], name=op.f("fk_scene_aoi_id_aoi")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scene")),
        sa.UniqueConstraint("aoi_id", "source_id", name=op.f("uq_scene_aoi_id")),
    )
    with op.batch_alter_table("scene", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_scene_aoi_id"), ["aoi_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_scene_date"), ["date"], unique=False)
        batch_op.create_index("ix_scene_status_lease", ["status", "lease_expires_at"], unique=False)

    op.create_table(
        "tile",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("scene_id", sa.Integer(), nullable=False),
        sa.Column("aoi_id", sa.String(length=255), nullable=False),
        sa.Column("source_id", sa.String(length=512), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column(
            "data", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("prev", sa.Integer(), nullable=True),
        sa.Column("ref", sa.Integer(), nullable=True),
        sa.Column("footprint", sa.Text(), nullable=True),
        sa.Column("retry_countdown", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_owner", sa.String(length=255), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["aoi_id"], ["aoi.id"], name=op.f("fk_tile_aoi_id_aoi")),
        sa.ForeignKeyConstraint(["prev"], ["tile.id"], name=op.f("fk_tile_prev_tile")),
        sa.ForeignKeyConstraint(["ref"], ["tile.id"], name=op.f("fk_tile_ref_tile")),
        sa.ForeignKeyConstraint(["scene_id"], ["scene.id"], name=op.f("fk_tile_scene_id_scene")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tile")),
        sa.UniqueConstraint("scene_id", "source_id", name=op.f("uq_tile_scene_id")),
    )
    with op.batch_alter_table("tile", schema=None) as batch_op:
        batch_op.create_index("ix_tile_aoi_status", ["aoi_id", "status"], unique=False)
        batch_op.create_index(batch_op.f("ix_tile_prev"), ["prev"], unique=False)
        batch_op.create_index(batch_op.f("ix_tile_ref"), ["ref"], unique=False)
        batch_op.create_index(batch_op.f("ix_tile_scene_id"), ["scene_id"], unique=False)
        batch_op.create_index("ix_tile_status_lease", ["status", "lease_expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("tile", schema=None) as batch_op:
        batch_op.drop_index("ix_tile_status_lease")
        batch_op.drop_index(batch_op.f("ix_tile_scene_id"))
        batch_op.drop_index(batch_op.f("ix_tile_ref"))
        batch_op.drop_index(batch_op.f("ix_tile_prev"))
        batch_op.drop_index("ix_tile_aoi_status")

    op.drop_table("tile")
    with op.batch_alter_table("scene", schema=None) as batch_op:
        batch_op.drop_index("ix_scene_status_lease")
        batch_op.drop_index(batch_op.f("ix_scene_date"))
        batch_op.drop_index(batch_op.f("ix_scene_aoi_id"))

    op.drop_table("scene")
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.drop_index("ix_event_entity")
        batch_op.drop_index(batch_op.f("ix_event_aoi_id"))

    op.drop_table("event")
    op.drop_table("aoi")
