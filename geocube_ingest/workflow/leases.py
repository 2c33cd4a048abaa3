"""Work leasing for workers on other processes and machines.

A claim marks PENDING tasks with an owner, an expiry and a new `attempt` value (the
token). PostgreSQL hands rows out with `FOR UPDATE SKIP LOCKED`, so concurrent workers
never wait for, nor get, the same task; SQLite's single writer gives the same result.
A worker that dies simply lets its lease expire and the task is claimed again; the
token makes any late result from it harmless.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from geocube_ingest.status import Status
from geocube_ingest.workflow.models import Delay, Kind, Lease, LeaseHolder, WorkStatus
from geocube_ingest.workflow.tables import SceneRow, TileRow


def _claimable(kind: Kind, now: datetime, aoi: str | None) -> Select[Any]:
    if kind == "scene":
        query = select(SceneRow.id).where(
            SceneRow.status == Status.PENDING.value,
            or_(SceneRow.lease_expires_at.is_(None), SceneRow.lease_expires_at < now),
        )
        if aoi is not None:
            query = query.where(SceneRow.aoi_id == aoi)
        return query.order_by(SceneRow.id)
    # A tile runs only once its product is downloaded and its previous tile is done.
    prev = aliased(TileRow)
    query = (
        select(TileRow.id)
        .join(SceneRow, SceneRow.id == TileRow.scene_id)
        .outerjoin(prev, prev.id == TileRow.prev)
        .where(
            TileRow.status == Status.PENDING.value,
            or_(TileRow.lease_expires_at.is_(None), TileRow.lease_expires_at < now),
            SceneRow.status == Status.DONE.value,
            or_(TileRow.prev.is_(None), prev.status == Status.DONE.value),
        )
    )
    if aoi is not None:
        query = query.where(TileRow.aoi_id == aoi)
    return query.order_by(TileRow.id)


def claim(
    session: Session,
    kind: Kind,
    owner: str,
    limit: int,
    lease_seconds: float,
    now: datetime,
    aoi: str | None = None,
    ids: Sequence[int] | None = None,
) -> list[Lease]:
    table = SceneRow if kind == "scene" else TileRow
    expires = now + timedelta(seconds=lease_seconds)
    query = _claimable(kind, now, aoi).add_columns(table.lease_owner)
    if ids is not None:
        query = query.where(table.id.in_(list(ids)))
    # Rows are locked (or skipped when another claim has them) until the update below.
    candidates = session.execute(query.limit(limit).with_for_update(skip_locked=True, of=table)).all()
    if not candidates:
        return []
    expired_owner = {row.id: row.lease_owner for row in candidates}
    rows = session.execute(
        update(table)
        .where(table.id.in_(list(expired_owner)))
        .values(lease_owner=owner, lease_expires_at=expires, attempt=table.attempt + 1)
        .returning(table.id, table.attempt, table.aoi_id, table.source_id)
        .execution_options(synchronize_session=False)
    ).all()
    return sorted(
        (
            Lease(kind, row.id, row.attempt, owner, expires, row.aoi_id, row.source_id, expired_owner.get(row.id))
            for row in rows
        ),
        key=lambda lease: lease.id,
    )


def heartbeat(session: Session, lease: Lease, lease_seconds: float, now: datetime) -> Lease | None:
    """Extend a lease that is still ours; None when it was lost (expired and re-claimed, or changed)."""
    table = SceneRow if lease.kind == "scene" else TileRow
    expires = now + timedelta(seconds=lease_seconds)
    result = session.execute(
        update(table)
        .where(
            table.id == lease.id,
            table.attempt == lease.token,
            table.lease_owner == lease.owner,
            table.status == Status.PENDING.value,
        )
        .values(lease_expires_at=expires)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return Lease(lease.kind, lease.id, lease.token, lease.owner, expires, lease.aoi, lease.source_id)


def give_back(session: Session, lease: Lease, not_before: datetime | None, **values: Any) -> bool:
    """Release the task: claimable again from `not_before` (a temporary failure), or now;
    `values`: more columns."""
    table = SceneRow if lease.kind == "scene" else TileRow
    result = session.execute(
        update(table)
        .where(table.id == lease.id, table.attempt == lease.token, table.status == Status.PENDING.value)
        .values(lease_owner=None, lease_expires_at=not_before, **values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def _count(session: Session, query: Select[Any], at_most: int | None = None) -> int:
    return int(session.scalar(select(func.count()).select_from(query.limit(at_most).subquery())) or 0)


def work_status(session: Session, aoi: str | None, now: datetime, at_most: int | None = None) -> WorkStatus:
    """Counts for one AOI, or for every AOI when `aoi` is None.

    `at_most` caps the counts of claimable tasks (and leaves `waiting` uncounted): a loop that
    only decides how many batches to start needs no more, and a count that stops early stays
    fast whatever the planner thinks of the tables (after a wave of status changes PostgreSQL's
    statistics lag, and a full count of ready tiles can take seconds at 100,000 tiles).
    """
    holders: list[LeaseHolder] = []
    delays: list[Delay] = []
    future_tiles = 0
    kinds: tuple[tuple[Kind, type[SceneRow] | type[TileRow]], ...] = (("scene", SceneRow), ("tile", TileRow))
    for kind, table in kinds:
        query = (
            select(table.lease_owner, func.count(), func.min(table.lease_expires_at))
            .where(table.status == Status.PENDING.value, table.lease_expires_at > now)
            .group_by(table.lease_owner)
        )
        for owner, count, first in session.execute(query if aoi is None else query.where(table.aoi_id == aoi)):
            assert first is not None  # rows are filtered on an expiry in the future
            if owner is None:  # given back after a temporary error
                delays.append(Delay(kind, count, first))
            else:
                holders.append(LeaseHolder(kind, owner, count, first))
            future_tiles += count if table is TileRow else 0
    claimable_tiles = _count(session, _claimable("tile", now, aoi), at_most)
    waiting = None
    if at_most is None:
        pending = select(TileRow.id).where(TileRow.status == Status.PENDING.value)
        pending_tiles = _count(session, pending if aoi is None else pending.where(TileRow.aoi_id == aoi))
        waiting = max(pending_tiles - claimable_tiles - future_tiles, 0)
    return WorkStatus(
        claimable_scenes=_count(session, _claimable("scene", now, aoi), at_most),
        claimable_tiles=claimable_tiles,
        leased=sum(h.tasks for h in holders),
        delayed=sum(d.tasks for d in delays),
        next_due=min((d.due for d in delays), default=None),
        waiting=waiting,
        holders=tuple(holders),
        delays=tuple(delays),
    )


def lease_owners(session: Session, aoi: str | None, now: datetime) -> set[str]:
    """Owners holding unexpired leases on PENDING tasks."""
    owners: set[str] = set()
    for table in (SceneRow, TileRow):
        query = (
            select(table.lease_owner)
            .distinct()
            .where(table.status == Status.PENDING.value, table.lease_owner.is_not(None), table.lease_expires_at > now)
        )
        if aoi is not None:
            query = query.where(table.aoi_id == aoi)
        owners.update(o for o in session.scalars(query) if o)
    return owners


def release(session: Session, owners: Sequence[str]) -> int:
    """End the leases of `owners` (known dead): their tasks are claimable at once, late results void."""
    released = 0
    for table in (SceneRow, TileRow):
        result = session.execute(
            update(table)
            .where(table.status == Status.PENDING.value, table.lease_owner.in_(list(owners)))
            .values(lease_owner=None, lease_expires_at=None, attempt=table.attempt + 1)
            .execution_options(synchronize_session=False)
        )
        released += int(result.rowcount or 0)  # type: ignore[attr-defined]
    return released
