"""Plain values the workflow takes and returns (no database objects leak out)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from geocube_ingest.errors import FatalError, TemporaryError
from geocube_ingest.status import Status

Kind = Literal["scene", "tile"]


@dataclass(frozen=True, slots=True)
class TileKey:
    """A tile named the way catalogues know it: its scene's and its own source id."""

    scene: str
    tile: str

    def __str__(self) -> str:
        return f"{self.scene}/{self.tile}"


@dataclass(slots=True)
class NewTile:
    source_id: str
    data: dict[str, Any] = field(default_factory=dict)
    previous: TileKey | None = None
    # Defaults to the previous tile's reference (or the previous tile itself when it is a root).
    reference: TileKey | None = None
    footprint: str | None = None


@dataclass(slots=True)
class NewScene:
    source_id: str
    data: dict[str, Any]
    tiles: list[NewTile]
    # Defaults to data["date"].
    date: datetime | None = None
    footprint: str | None = None
    retry_countdown: int = 0


@dataclass(frozen=True, slots=True)
class Relink:
    """New previous/reference of a tile already in the workflow (backfill re-wiring)."""

    tile: TileKey
    previous: TileKey | None
    reference: TileKey | None = None


@dataclass(frozen=True, slots=True)
class IngestResult:
    aoi: str
    created: list[int]
    existing: list[int]
    tiles_created: int
    relinked: int

    @property
    def scene_ids(self) -> list[int]:
        return [*self.existing, *self.created]


@dataclass(frozen=True, slots=True)
class Scene:
    id: int
    aoi: str
    source_id: str
    status: Status
    message: str
    data: dict[str, Any]
    date: datetime | None
    footprint: str | None
    retry_countdown: int


@dataclass(frozen=True, slots=True)
class Tile:
    id: int
    aoi: str
    scene_id: int
    scene_source_id: str
    scene_status: Status
    scene_data: dict[str, Any]
    source_id: str
    status: Status
    message: str
    data: dict[str, Any]
    previous_id: int | None
    reference_id: int | None
    date: datetime | None
    footprint: str | None
    retry_countdown: int

    @property
    def key(self) -> TileKey:
        return TileKey(self.scene_source_id, self.source_id)


@dataclass(frozen=True, slots=True)
class Footprint:
    """What a map draws of a scene or tile (`wkt`: its footprint, EPSG:4326)."""

    kind: Kind
    id: int
    source_id: str
    status: Status
    scene_id: int
    date: datetime | None
    message: str
    wkt: str


@dataclass(frozen=True, slots=True)
class Event:
    id: int
    aoi: str
    entity: Kind
    entity_id: int
    at: datetime
    from_status: Status | None
    to_status: Status
    message: str
    actor: str


@dataclass(frozen=True, slots=True)
class Lease:
    """A worker's claim on one PENDING task; `token` fences off results of stale claims."""

    kind: Kind
    id: int
    token: int
    owner: str
    expires_at: datetime
    aoi: str
    source_id: str
    # The owner of the lease this claim replaced because it had expired (a dead or stuck worker).
    taken_over_from: str | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a worker reports for a leased task."""

    kind: Literal["DONE", "RETRY", "FAILED", "TEMPORARY"]
    message: str = ""
    # TEMPORARY only: seconds before the task may be claimed again (settings default when None).
    delay: float | None = None
    # TEMPORARY only: what it counts as once temporary failures pass the workflow's bounds.
    exhausted: Literal["RETRY", "FAILED"] = "RETRY"

    @classmethod
    def done(cls, message: str = "") -> Outcome:
        return cls("DONE", message)

    @classmethod
    def retry(cls, message: str) -> Outcome:
        return cls("RETRY", message)

    @classmethod
    def failed(cls, message: str) -> Outcome:
        return cls("FAILED", message)

    @classmethod
    def temporary(cls, message: str, delay: float | None = None, *, is_retriable: bool = True) -> Outcome:
        return cls("TEMPORARY", message, delay, "RETRY" if is_retriable else "FAILED")

    @classmethod
    def from_error(cls, error: BaseException, is_retriable: bool) -> Outcome:
        """SPEC section 5/6: temporary errors give the task back (after the service's Retry-After,
        when it gave one), until they pass the workflow's bounds; `is_retriable` decides RETRY vs FAILED."""
        message = str(error) or type(error).__name__
        if isinstance(error, TemporaryError):
            return cls.temporary(message, getattr(error, "retry_after", None), is_retriable=is_retriable)
        if isinstance(error, FatalError) or not is_retriable:
            return cls.failed(message)
        return cls.retry(message)


@dataclass(frozen=True, slots=True)
class StatusCounts:
    new: int = 0
    pending: int = 0
    done: int = 0
    retry: int = 0
    failed: int = 0

    @property
    def total(self) -> int:
        return self.new + self.pending + self.done + self.retry + self.failed

    @classmethod
    def from_mapping(cls, counts: dict[Status, int]) -> StatusCounts:
        return cls(**{status.value.lower(): counts.get(status, 0) for status in Status})

    def as_dict(self) -> dict[str, int]:
        return {s.value: getattr(self, s.value.lower()) for s in Status}

    def statuses(self) -> frozenset[Status]:
        return frozenset(s for s in Status if getattr(self, s.value.lower()) > 0)


@dataclass(frozen=True, slots=True)
class AOISummary:
    aoi: str
    status: Status | None
    scenes: StatusCounts
    tiles: StatusCounts
    root_tiles: int
    first_date: datetime | None
    last_date: datetime | None


@dataclass(frozen=True, slots=True)
class AOIInfo:
    name: str
    status: Status | None
    scenes: StatusCounts
    tiles: StatusCounts
    created_at: datetime


@dataclass(frozen=True, slots=True)
class RetryResult:
    scenes: int
    tiles: int


@dataclass(frozen=True, slots=True)
class DeleteResult:
    aoi: str
    scenes: int
    tiles: int


@dataclass(frozen=True, slots=True)
class LeaseHolder:
    """A worker holding unexpired leases: who, on what, and until when at the earliest."""

    kind: Kind
    owner: str
    tasks: int
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Delay:
    """Tasks given back after a temporary error, claimable again from `due`."""

    kind: Kind
    tasks: int
    due: datetime


@dataclass(frozen=True, slots=True)
class WorkStatus:
    """What is left to do in an AOI, as a worker loop sees it."""

    claimable_scenes: int
    claimable_tiles: int
    # PENDING tasks leased to a worker whose lease has not expired.
    leased: int
    # PENDING tasks given back after a temporary error, claimable from `next_due`.
    delayed: int
    next_due: datetime | None
    # PENDING tasks that cannot run yet (their scene or previous tile is not DONE); None when
    # the claimable counts were capped (`Workflow.work_status(at_most=...)`).
    waiting: int | None
    # Who holds the `leased` tasks, and the `delayed` ones per kind: why work waits.
    holders: tuple[LeaseHolder, ...] = ()
    delays: tuple[Delay, ...] = ()

    @property
    def active(self) -> bool:
        """Something can still happen without an operator."""
        return bool(self.claimable_scenes or self.claimable_tiles or self.leased or self.delayed)
