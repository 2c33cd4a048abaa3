"""SQL tables of the embedded index: the Geocube data model, plus what was published as STAC.

Table names carry an `index_` prefix so the index can share a database with the workflow
(whose tables are `aoi`, `scene`, `tile`, `event`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql.expression import false

from geocube_ingest.database import NAMING_CONVENTION, JSONType, UTCDateTime, utcnow


class IndexBase(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class AOIRow(IndexBase):
    """A footprint shared by records; the same geometry is stored once (by hash)."""

    __tablename__ = "index_aoi"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    wkt: Mapped[str] = mapped_column(Text, nullable=False)
    # Bounding box, so footprint searches filter in SQL before the exact test.
    min_x: Mapped[float] = mapped_column(Float, nullable=False)
    min_y: Mapped[float] = mapped_column(Float, nullable=False)
    max_x: Mapped[float] = mapped_column(Float, nullable=False)
    max_y: Mapped[float] = mapped_column(Float, nullable=False)


class RecordRow(IndexBase):
    __tablename__ = "index_record"
    # A record is unique by name, time and tags (processingDate aside).
    __table_args__ = (UniqueConstraint("name", "time", "tags_key"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(512), nullable=False, index=True)
    time: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    tags: Mapped[dict[str, str]] = mapped_column(JSONType, nullable=False, default=dict)
    tags_key: Mapped[str] = mapped_column(Text, nullable=False)
    aoi_id: Mapped[str] = mapped_column(ForeignKey("index_aoi.id"), nullable=False, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class VariableRow(IndexBase):
    __tablename__ = "index_variable"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), nullable=False, unique=True)
    unit: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    dtype: Mapped[str] = mapped_column(String(16), nullable=False)
    nodata: Mapped[float] = mapped_column(Float, nullable=True)  # NULL = NaN (portable)
    min_value: Mapped[float] = mapped_column(Float, nullable=False)
    max_value: Mapped[float] = mapped_column(Float, nullable=False)
    bands: Mapped[list[str]] = mapped_column(JSONType, nullable=False)
    palette: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    resampling: Mapped[str] = mapped_column(String(16), nullable=False)


class InstanceRow(IndexBase):
    __tablename__ = "index_instance"
    __table_args__ = (UniqueConstraint("variable_id", "name"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    variable_id: Mapped[str] = mapped_column(ForeignKey("index_variable.id"), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    metadata_: Mapped[dict[str, str]] = mapped_column("metadata", JSONType, nullable=False, default=dict)


class ContainerRow(IndexBase):
    """A file; `managed` says the index owns its life cycle (upstream indexes with managed=True)."""

    __tablename__ = "index_container"

    uri: Mapped[str] = mapped_column(String(2048), primary_key=True)
    managed: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class DatasetRow(IndexBase):
    __tablename__ = "index_dataset"
    __table_args__ = (
        UniqueConstraint("container_uri", "record_id", "instance_id"),
        Index("ix_index_dataset_record_instance", "record_id", "instance_id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    record_id: Mapped[str] = mapped_column(ForeignKey("index_record.id"), nullable=False)
    instance_id: Mapped[str] = mapped_column(ForeignKey("index_instance.id"), nullable=False, index=True)
    container_uri: Mapped[str] = mapped_column(ForeignKey("index_container.uri"), nullable=False)
    bands: Mapped[list[int]] = mapped_column(JSONType, nullable=False)
    dtype: Mapped[str] = mapped_column(String(16), nullable=False)
    nodata: Mapped[float] = mapped_column(Float, nullable=True)  # NULL = NaN
    min_value: Mapped[float] = mapped_column(Float, nullable=False)
    max_value: Mapped[float] = mapped_column(Float, nullable=False)
    real_min: Mapped[float] = mapped_column(Float, nullable=False)
    real_max: Mapped[float] = mapped_column(Float, nullable=False)
    exponent: Mapped[float] = mapped_column(Float, nullable=False)
    # Grid of the file, read at index time: enough to publish STAC without reopening it.
    crs: Mapped[str] = mapped_column(Text, nullable=False)
    transform: Mapped[list[float]] = mapped_column(JSONType, nullable=False)
    height: Mapped[int] = mapped_column(Integer, nullable=False)
    width: Mapped[int] = mapped_column(Integer, nullable=False)
    footprint: Mapped[str] = mapped_column(Text, nullable=False)  # WKT, EPSG:4326
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    # Its tile is no longer DONE (failed, forced away, re-linked): not read, not published; the file stays.
    withdrawn: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default=false())


class StacItemRow(IndexBase):
    """A STAC item written for a record in an AOI's collection (so stale ones can be removed)."""

    __tablename__ = "index_stac_item"
    __table_args__ = (UniqueConstraint("collection", "item_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    collection: Mapped[str] = mapped_column(String(255), nullable=False, index=True)
    item_id: Mapped[str] = mapped_column(String(512), nullable=False)
    record_id: Mapped[str] = mapped_column(ForeignKey("index_record.id"), nullable=False, index=True)
    href: Mapped[str] = mapped_column(String(2048), nullable=False)
    bbox: Mapped[list[float]] = mapped_column(JSONType, nullable=False)
    time: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    assets: Mapped[list[str]] = mapped_column(JSONType, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


def nan_to_null(value: float) -> float | None:
    return None if value != value else float(value)


def null_to_nan(value: Any) -> float:
    return float("nan") if value is None else float(value)
