"""Index tables: the Geocube data model (aoi, record, variable, instance, container, dataset) and published STAC items.

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
        "index_aoi",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("wkt", sa.Text(), nullable=False),
        sa.Column("min_x", sa.Float(), nullable=False),
        sa.Column("min_y", sa.Float(), nullable=False),
        sa.Column("max_x", sa.Float(), nullable=False),
        sa.Column("max_y", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_index_aoi")),
        sa.UniqueConstraint("hash", name=op.f("uq_index_aoi_hash")),
    )
    op.create_table(
        "index_container",
        sa.Column("uri", sa.String(length=2048), nullable=False),
        sa.Column("managed", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("uri", name=op.f("pk_index_container")),
    )
    op.create_table(
        "index_variable",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("unit", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("dtype", sa.String(length=16), nullable=False),
        sa.Column("nodata", sa.Float(), nullable=True),
        sa.Column("min_value", sa.Float(), nullable=False),
        sa.Column("max_value", sa.Float(), nullable=False),
        sa.Column(
            "bands", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("palette", sa.String(length=255), nullable=False),
        sa.Column("resampling", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_index_variable")),
        sa.UniqueConstraint("name", name=op.f("uq_index_variable_name")),
    )
    op.create_table(
        "index_instance",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("variable_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column(
            "metadata", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["variable_id"], ["index_variable.id"], name=op.f("fk_index_instance_variable_id_index_variable")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_index_instance")),
        sa.UniqueConstraint("variable_id", "name", name=op.f("uq_index_instance_variable_id")),
    )
    with op.batch_alter_table("index_instance", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_index_instance_variable_id"), ["variable_id"], unique=False)

    op.create_table(
        "index_record",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "tags", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("tags_key", sa.Text(), nullable=False),
        sa.Column("aoi_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["aoi_id"], ["index_aoi.id"], name=op.f("fk_index_record_aoi_id_index_aoi")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_index_record")),
        sa.UniqueConstraint("name", "time", "tags_key", name=op.f("uq_index_record_name")),
    )
    with op.batch_alter_table("index_record", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_index_record_aoi_id"), ["aoi_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_index_record_name"), ["name"], unique=False)
        batch_op.create_index(batch_op.f("ix_index_record_time"), ["time"], unique=False)

    op.create_table(
        "index_dataset",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("record_id", sa.String(length=36), nullable=False),
        sa.Column("instance_id", sa.String(length=36), nullable=False),
        sa.Column("container_uri", sa.String(length=2048), nullable=False),
        sa.Column(
            "bands", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("dtype", sa.String(length=16), nullable=False),
        sa.Column("nodata", sa.Float(), nullable=True),
        sa.Column("min_value", sa.Float(), nullable=False),
        sa.Column("max_value", sa.Float(), nullable=False),
        sa.Column("real_min", sa.Float(), nullable=False),
        sa.Column("real_max", sa.Float(), nullable=False),
        sa.Column("exponent", sa.Float(), nullable=False),
        sa.Column("crs", sa.Text(), nullable=False),
        sa.Column(
            "transform", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("footprint", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["container_uri"], ["index_container.uri"], name=op.f("fk_index_dataset_container_uri_index_container")
        ),
        sa.ForeignKeyConstraint(
            ["instance_id"], ["index_instance.id"], name=op.f("fk_index_dataset_instance_id_index_instance")
        ),
        sa.ForeignKeyConstraint(
            ["record_id"], ["index_record.id"], name=op.f("fk_index_dataset_record_id_index_record")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_index_dataset")),
        sa.UniqueConstraint("container_uri", "record_id", "instance_id", name=op.f("uq_index_dataset_container_uri")),
    )
    with op.batch_alter_table("index_dataset", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_index_dataset_instance_id"), ["instance_id"], unique=False)
        batch_op.create_index("ix_index_dataset_record_instance", ["record_id", "instance_id"], unique=False)

    op.create_table(
        "index_stac_item",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("collection", sa.String(length=255), nullable=False),
        sa.Column("item_id", sa.String(length=512), nullable=False),
        sa.Column("record_id", sa.String(length=36), nullable=False),
        sa.Column("href", sa.String(length=2048), nullable=False),
        sa.Column(
            "bbox", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "assets", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["record_id"], ["index_record.id"], name=op.f("fk_index_stac_item_record_id_index_record")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_index_stac_item")),
        sa.UniqueConstraint("collection", "item_id", name=op.f("uq_index_stac_item_collection")),
    )
    with op.batch_alter_table("index_stac_item", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_index_stac_item_collection"), ["collection"], unique=False)
        batch_op.create_index(batch_op.f("ix_index_stac_item_record_id"), ["record_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("index_stac_item", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_index_stac_item_record_id"))
        batch_op.drop_index(batch_op.f("ix_index_stac_item_collection"))

    op.drop_table("index_stac_item")
    with op.batch_alter_table("index_dataset", schema=None) as batch_op:
        batch_op.drop_index("ix_index_dataset_record_instance")
        batch_op.drop_index(batch_op.f("ix_index_dataset_instance_id"))

    op.drop_table("index_dataset")
    with op.batch_alter_table("index_record", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_index_record_time"))
        batch_op.drop_index(batch_op.f("ix_index_record_name"))
        batch_op.drop_index(batch_op.f("ix_index_record_aoi_id"))

    op.drop_table("index_record")
    with op.batch_alter_table("index_instance", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_index_instance_variable_id"))

    op.drop_table("index_instance")
    op.drop_table("index_variable")
    op.drop_table("index_container")
    op.drop_table("index_aoi")
