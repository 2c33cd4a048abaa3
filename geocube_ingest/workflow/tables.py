"""SQL tables of the workflow: aoi, scene, tile and the append-only event history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from geocube_ingest.database import NAMING_CONVENTION, JSONType, UTCDateTime, utcnow


class WorkflowBase(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class LeaseColumns:
    """What a worker's claim on a PENDING task needs: owner, expiry and a fencing token."""

    lease_owner: Mapped[str | None] = mapped_column(String(255), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Bumped by every claim and status change: a result carrying an older value is stale.
    attempt: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class TemporaryColumns:
    """Temporary failures in a row since the last status change, and when the first was reported
    (geocube_ingest.workflow.temporary bounds them)."""

    temporary_failures: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    temporary_since: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    @staticmethod
    def reset_values() -> dict[str, Any]:
        """What ends a run of temporary failures: merged into every status UPDATE (transitions.set_status)."""
        return {"temporary_failures": 0, "temporary_since": None}


class AOIRow(WorkflowBase):
    __tablename__ = "aoi"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    # The area of the latest payload posted for this AOI (WKT, EPSG:4326).
    geometry: Mapped[str | None] = mapped_column(Text, nullable=True)


class ItemColumns:
    """What scenes and tiles both have: a name in their parent, a status, data and a footprint."""

    source_id: Mapped[str] = mapped_column(String(512), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    message: Mapped[str] = mapped_column(Text, nullable=False, default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)
    footprint: Mapped[str | None] = mapped_column(Text, nullable=True)
    retry_countdown: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class SceneRow(ItemColumns, LeaseColumns, TemporaryColumns, WorkflowBase):
    __tablename__ = "scene"
    __table_args__ = (
        UniqueConstraint("aoi_id", "source_id"),
        # Claims scan PENDING rows in id order and stop at their limit.
        Index("ix_scene_status_id", "status", "id"),
        Index("ix_scene_aoi_status_id", "aoi_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    aoi_id: Mapped[str] = mapped_column(ForeignKey("aoi.id"), nullable=False, index=True)
    date: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)


class TileRow(ItemColumns, LeaseColumns, TemporaryColumns, WorkflowBase):
    __tablename__ = "tile"
    __table_args__ = (
        UniqueConstraint("scene_id", "source_id"),
        Index("ix_tile_status_id", "status", "id"),
        Index("ix_tile_aoi_status_id", "aoi_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scene_id: Mapped[int] = mapped_column(ForeignKey("scene.id"), nullable=False, index=True)
    # Denormalised from the scene: every monitoring query is per AOI.
    aoi_id: Mapped[str] = mapped_column(ForeignKey("aoi.id"), nullable=False)
    prev: Mapped[int | None] = mapped_column(ForeignKey("tile.id"), nullable=True, index=True)
    ref: Mapped[int | None] = mapped_column(ForeignKey("tile.id"), nullable=True, index=True)


class EventRow(WorkflowBase):
    """One row per status change (or note) of a scene or tile; never updated."""

    __tablename__ = "event"
    __table_args__ = (Index("ix_event_entity", "entity", "entity_id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    aoi_id: Mapped[str] = mapped_column(ForeignKey("aoi.id"), nullable=False, index=True)
    entity: Mapped[str] = mapped_column(String(8), nullable=False)
    entity_id: Mapped[int] = mapped_column(Integer, nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    from_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    to_status: Mapped[str] = mapped_column(String(16), nullable=False)
    message: Mapped[str] = mapped_column(Text, nullable=False, default="")
    actor: Mapped[str] = mapped_column(String(255), nullable=False, default="")


class ProviderSlotRow(WorkflowBase):
    """A download provider's slot, held or waited for by one download (a semaphore shared by every machine).

    Rows expire unless their owner renews them, so a dead worker's slot or place in the queue
    comes back; waiters are served in `id` order.
    """

    __tablename__ = "provider_slot"
    __table_args__ = (Index("ix_provider_slot_provider_state_id", "provider", "state", "id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    provider: Mapped[str] = mapped_column(String(255), nullable=False)
    owner: Mapped[str] = mapped_column(String(255), nullable=False)
    state: Mapped[str] = mapped_column(String(8), nullable=False)  # waiting, held
    capacity: Mapped[int] = mapped_column(Integer, nullable=False)
    since: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    aoi_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    purpose: Mapped[str] = mapped_column(Text, nullable=False, default="")
