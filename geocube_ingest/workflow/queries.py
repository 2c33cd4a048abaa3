"""Read side of the workflow: listings, counts, summary, history."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Row, Select, exists, func, select
from sqlalchemy.orm import Session, aliased

from geocube_ingest.errors import InvalidInput, NotFound
from geocube_ingest.status import Status, worst_status
from geocube_ingest.workflow.models import AOIInfo, AOISummary, Event, Footprint, Kind, Scene, StatusCounts, Tile
from geocube_ingest.workflow.serialize import scene_json_sql, tile_json_sql
from geocube_ingest.workflow.tables import AOIRow, EventRow, SceneRow, TileRow

SCENE_COLUMNS = (
    SceneRow.id,
    SceneRow.aoi_id,
    SceneRow.source_id,
    SceneRow.status,
    SceneRow.message,
    SceneRow.data,
    SceneRow.date,
    SceneRow.footprint,
    SceneRow.retry_countdown,
)


def _entity_fields(row: Row[Any]) -> dict[str, Any]:
    """The fields a scene and a tile share, from the columns of their own row."""
    return {
        "id": row.id,
        "aoi": row.aoi_id,
        "source_id": row.source_id,
        "status": Status(row.status),
        "message": row.message,
        "data": row.data or {},
        "date": row.date,
        "footprint": row.footprint,
        "retry_countdown": row.retry_countdown,
    }


def _scene(row: Row[Any]) -> Scene:
    return Scene(**_entity_fields(row))


def _tile_query() -> Select[Any]:
    return select(
        TileRow.id,
        TileRow.aoi_id,
        TileRow.scene_id,
        SceneRow.source_id.label("scene_source_id"),
        SceneRow.status.label("scene_status"),
        SceneRow.data.label("scene_data"),
        SceneRow.date,
        TileRow.source_id,
        TileRow.status,
        TileRow.message,
        TileRow.data,
        TileRow.prev,
        TileRow.ref,
        TileRow.footprint,
        TileRow.retry_countdown,
    ).join(SceneRow, SceneRow.id == TileRow.scene_id)


def _tile(row: Row[Any]) -> Tile:
    return Tile(
        **_entity_fields(row),
        scene_id=row.scene_id,
        scene_source_id=row.scene_source_id,
        scene_status=Status(row.scene_status),
        scene_data=row.scene_data or {},
        previous_id=row.prev,
        reference_id=row.ref,
    )


_Query = TypeVar("_Query", bound=Select[*tuple[Any, ...]])


def _page(query: _Query, page: int | None, limit: int | None) -> _Query:
    if page is not None and page < 0:
        raise InvalidInput("page must be >= 0")
    if limit is not None and limit < 1:
        raise InvalidInput("limit must be >= 1")
    if limit is not None:
        query = query.limit(limit).offset((page or 0) * limit)
    elif page:
        raise InvalidInput("page needs a limit")
    return query


def require_aoi(session: Session, aoi: str) -> None:
    if session.get(AOIRow, aoi) is None:
        raise NotFound(f"AOI {aoi!r} not found")


def get_scene(session: Session, scene_id: int) -> Scene:
    row = session.execute(select(*SCENE_COLUMNS).where(SceneRow.id == scene_id)).one_or_none()
    if row is None:
        raise NotFound(f"scene {scene_id} not found")
    return _scene(row)


def _scene_conditions(session: Session, aoi: str, status: Status | None) -> list[ColumnElement[bool]]:
    require_aoi(session, aoi)
    conditions = [SceneRow.aoi_id == aoi]
    if status is not None:
        conditions.append(SceneRow.status == status.value)
    return conditions


def list_scenes(
    session: Session, aoi: str, status: Status | None = None, page: int | None = None, limit: int | None = None
) -> list[Scene]:
    query = select(*SCENE_COLUMNS).where(*_scene_conditions(session, aoi, status))
    query = _page(query.order_by(SceneRow.date, SceneRow.id), page, limit)
    return [_scene(row) for row in session.execute(query)]


def scenes_json(
    session: Session, aoi: str, status: Status | None = None, page: int | None = None, limit: int | None = None
) -> list[str]:
    """`list_scenes` as the JSON text of each scene, written by the database."""
    query = select(scene_json_sql()).where(*_scene_conditions(session, aoi, status))
    return list(session.scalars(_page(query.order_by(SceneRow.date, SceneRow.id), page, limit)))


def scene_features(
    session: Session, aoi: str, status: Status | None = None, page: int | None = None, limit: int | None = None
) -> list[tuple[int, str | None, str]]:
    """`scenes_json` with the id and footprint (WKT) of each scene."""
    query = select(SceneRow.id, SceneRow.footprint, scene_json_sql()).where(*_scene_conditions(session, aoi, status))
    rows = session.execute(_page(query.order_by(SceneRow.date, SceneRow.id), page, limit))
    return [(row.id, row.footprint, row[2]) for row in rows]


def get_tile(session: Session, tile_id: int) -> Tile:
    row = session.execute(_tile_query().where(TileRow.id == tile_id)).one_or_none()
    if row is None:
        raise NotFound(f"tile {tile_id} not found")
    return _tile(row)


def tile_conditions(
    session: Session,
    *,
    aoi: str | None = None,
    scene_id: int | None = None,
    status: Status | None = None,
    ids: Sequence[int] | None = None,
) -> list[ColumnElement[bool]]:
    """Which tiles a listing selects (NotFound for an unknown AOI or scene)."""
    conditions: list[ColumnElement[bool]] = []
    if aoi is not None:
        require_aoi(session, aoi)
        conditions.append(TileRow.aoi_id == aoi)
    if scene_id is not None:
        if session.get(SceneRow, scene_id) is None:
            raise NotFound(f"scene {scene_id} not found")
        conditions.append(TileRow.scene_id == scene_id)
    if status is not None:
        conditions.append(TileRow.status == status.value)
    if ids is not None:
        conditions.append(TileRow.id.in_(list(ids)))
    return conditions


def root_conditions(session: Session, aoi: str) -> list[ColumnElement[bool]]:
    """Tiles that start a time series (no previous), failed ones excluded."""
    require_aoi(session, aoi)
    return [TileRow.aoi_id == aoi, TileRow.prev.is_(None), TileRow.status != Status.FAILED.value]


def leaf_conditions(session: Session, aoi: str) -> list[ColumnElement[bool]]:
    """Tiles no other tile follows (the newest of each time series), failed ones excluded."""
    require_aoi(session, aoi)
    nxt = aliased(TileRow)
    return [TileRow.aoi_id == aoi, TileRow.status != Status.FAILED.value, ~exists().where(nxt.prev == TileRow.id)]


def select_tiles(
    session: Session, conditions: Sequence[ColumnElement[bool]], page: int | None = None, limit: int | None = None
) -> list[Tile]:
    query = _page(_tile_query().where(*conditions).order_by(SceneRow.date, TileRow.id), page, limit)
    return [_tile(row) for row in session.execute(query)]


def tiles_json(
    session: Session, conditions: Sequence[ColumnElement[bool]], page: int | None = None, limit: int | None = None
) -> list[str]:
    """`select_tiles` as the JSON text of each tile, written by the database."""
    query = select(tile_json_sql()).join_from(TileRow, SceneRow, SceneRow.id == TileRow.scene_id)
    if limit is not None:  # sort and cut the ids first: the JSON is written for the page only
        ids = select(TileRow.id).join(SceneRow, SceneRow.id == TileRow.scene_id).where(*conditions)
        wanted = _page(ids.order_by(SceneRow.date, TileRow.id), page, limit).scalar_subquery()
        return list(session.scalars(query.where(TileRow.id.in_(wanted)).order_by(SceneRow.date, TileRow.id)))
    return list(session.scalars(_page(query.where(*conditions).order_by(SceneRow.date, TileRow.id), page, limit)))


def tile_features(
    session: Session, conditions: Sequence[ColumnElement[bool]], page: int | None = None, limit: int | None = None
) -> list[tuple[int, str | None, str]]:
    """`tiles_json` with the id and footprint (WKT) of each tile."""
    query = select(TileRow.id, TileRow.footprint, tile_json_sql()).join(SceneRow, SceneRow.id == TileRow.scene_id)
    query = _page(query.where(*conditions).order_by(SceneRow.date, TileRow.id), page, limit)
    return [(row.id, row.footprint, row[2]) for row in session.execute(query)]


def list_tiles(
    session: Session,
    *,
    aoi: str | None = None,
    scene_id: int | None = None,
    status: Status | None = None,
    ids: Sequence[int] | None = None,
    page: int | None = None,
    limit: int | None = None,
) -> list[Tile]:
    conditions = tile_conditions(session, aoi=aoi, scene_id=scene_id, status=status, ids=ids)
    return select_tiles(session, conditions, page, limit)


def root_tiles(session: Session, aoi: str) -> list[Tile]:
    return select_tiles(session, root_conditions(session, aoi))


def leaf_tiles(session: Session, aoi: str) -> list[Tile]:
    return select_tiles(session, leaf_conditions(session, aoi))


def footprints(session: Session, aoi: str) -> list[Footprint]:
    """The scenes, then the tiles, that have a footprint, in list order, with what a map shows (no data)."""
    require_aoi(session, aoi)
    scenes = (
        select(SceneRow.id, SceneRow.source_id, SceneRow.status, SceneRow.id.label("scene_id"), SceneRow.date)
        .add_columns(SceneRow.message, SceneRow.footprint)
        .where(SceneRow.aoi_id == aoi, SceneRow.footprint.is_not(None))
        .order_by(SceneRow.date, SceneRow.id)
    )
    tiles = (
        select(TileRow.id, TileRow.source_id, TileRow.status, TileRow.scene_id, SceneRow.date)
        .add_columns(TileRow.message, TileRow.footprint)
        .join(SceneRow, SceneRow.id == TileRow.scene_id)
        .where(TileRow.aoi_id == aoi, TileRow.footprint.is_not(None))
        .order_by(SceneRow.date, TileRow.id)
    )
    found: list[Footprint] = []
    kinds: tuple[tuple[Kind, Select[Any]], ...] = (("scene", scenes), ("tile", tiles))
    for kind, query in kinds:
        found += [
            Footprint(kind, r.id, r.source_id, Status(r.status), r.scene_id, r.date, r.message, r.footprint)
            for r in session.execute(query)
        ]
    return found


def _counts(session: Session, table: type[SceneRow] | type[TileRow], aoi: str) -> StatusCounts:
    rows = session.execute(select(table.status, func.count()).where(table.aoi_id == aoi).group_by(table.status)).all()
    return StatusCounts.from_mapping({Status(status): n for status, n in rows})


def summary(session: Session, aoi: str) -> AOISummary:
    require_aoi(session, aoi)
    scenes = _counts(session, SceneRow, aoi)
    tiles = _counts(session, TileRow, aoi)
    roots = session.scalar(
        select(func.count()).where(TileRow.aoi_id == aoi, TileRow.prev.is_(None), TileRow.status != Status.FAILED.value)
    )
    # Per scene, not per tile: the page polls this, and an AOI has 10^4 tiles for 10^2 scenes.
    live = exists().where(TileRow.scene_id == SceneRow.id, TileRow.status != Status.FAILED.value)
    first, last = session.execute(
        select(func.min(SceneRow.date), func.max(SceneRow.date)).where(SceneRow.aoi_id == aoi, live)
    ).one()
    return AOISummary(
        aoi=aoi,
        status=worst_status(scenes.statuses() | tiles.statuses()),
        scenes=scenes,
        tiles=tiles,
        root_tiles=int(roots or 0),
        first_date=first,
        last_date=last,
    )


def aoi_pattern(pattern: str) -> str:
    """Shell-style `*`/`?` pattern → SQL LIKE with `\\` escapes (AOI names may hold `_`)."""
    if not re.fullmatch(r"[a-zA-Z0-9\-:_*?]+", pattern):
        raise InvalidInput(f"invalid AOI pattern {pattern!r}: letters, digits, '-', ':', '_', '*' and '?' only")
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%").replace("?", "_")


def list_aois(session: Session, pattern: str = "*") -> list[AOIInfo]:
    like = aoi_pattern(pattern)
    aois = session.execute(
        select(AOIRow.id, AOIRow.created_at).where(AOIRow.id.like(like, escape="\\")).order_by(AOIRow.id)
    ).all()
    names = [a.id for a in aois]
    counts: dict[tuple[str, str], dict[Status, int]] = {}
    for kind, table in (("scene", SceneRow), ("tile", TileRow)):
        if not names:
            break
        rows = session.execute(
            select(table.aoi_id, table.status, func.count())
            .where(table.aoi_id.in_(names))
            .group_by(table.aoi_id, table.status)
        )
        for aoi_id, status, n in rows:
            counts.setdefault((kind, aoi_id), {})[Status(status)] = n
    infos = []
    for aoi in aois:
        scenes = StatusCounts.from_mapping(counts.get(("scene", aoi.id), {}))
        tiles = StatusCounts.from_mapping(counts.get(("tile", aoi.id), {}))
        infos.append(AOIInfo(aoi.id, worst_status(scenes.statuses() | tiles.statuses()), scenes, tiles, aoi.created_at))
    return infos


def events(session: Session, kind: Kind, entity_id: int, limit: int | None = None) -> list[Event]:
    table = SceneRow if kind == "scene" else TileRow
    if session.get(table, entity_id) is None:
        raise NotFound(f"{kind} {entity_id} not found")
    query = (
        select(EventRow)
        .where(EventRow.entity == kind, EventRow.entity_id == entity_id)
        .order_by(EventRow.at, EventRow.id)
    )
    if limit is not None:
        query = query.limit(limit)
    return [
        Event(
            id=e.id,
            aoi=e.aoi_id,
            entity=kind,
            entity_id=e.entity_id,
            at=e.at,
            from_status=Status(e.from_status) if e.from_status else None,
            to_status=Status(e.to_status),
            message=e.message,
            actor=e.actor,
        )
        for e in session.scalars(query)
    ]
