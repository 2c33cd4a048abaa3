"""The status rules of SPEC section 5, applied inside one transaction.

Every function here runs with the AOI row locked (see `service.Workflow._locked`), so
reading the graph and then changing it cannot interleave with another transition of
the same AOI, on PostgreSQL as on SQLite. Changes are set-based: a batch of results
costs a handful of statements, not a handful per tile.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert, or_, select, update
from sqlalchemy.orm import Session, aliased

from geocube_ingest.errors import InconsistentChange, TransitionRefused
from geocube_ingest.status import Status
from geocube_ingest.workflow.models import Kind
from geocube_ingest.workflow.tables import EventRow, SceneRow, TemporaryColumns, TileRow

CHUNK = 5000

# Transitions allowed without force (SPEC section 5).
ALLOWED: dict[Status, frozenset[Status]] = {
    Status.PENDING: frozenset({Status.DONE, Status.RETRY, Status.FAILED}),
    Status.RETRY: frozenset({Status.PENDING, Status.FAILED, Status.DONE}),
}


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass(slots=True)
class Ref:
    """The little the rules need to know about a scene or tile being changed."""

    id: int
    aoi: str
    status: Status
    retry_countdown: int = 0


@dataclass
class Changes:
    """One transaction's context: who acts, when, and the history rows to write."""

    session: Session
    actor: str
    now: datetime
    events: list[dict[str, Any]] = field(default_factory=list)
    # Tiles whose layers stop counting (they left DONE, or failed) and tiles that became DONE:
    # the service tells its listeners (the index hides or shows their layers) once committed.
    withdrawn: set[int] = field(default_factory=set)
    became_done: set[int] = field(default_factory=set)

    def event(
        self,
        kind: Kind,
        ref: Ref,
        to: Status,
        message: str,
        from_status: Status | None = None,
        *,
        created: bool = False,
    ) -> None:
        """Record a change of `ref` to `to`; `created` marks the first row of a new scene/tile."""
        start = None if created else (from_status if from_status is not None else ref.status).value
        self.events.append(
            {
                "aoi_id": ref.aoi,
                "entity": kind,
                "entity_id": ref.id,
                "at": self.now,
                "from_status": start,
                "to_status": to.value,
                "message": message,
                "actor": self.actor,
            }
        )

    def flush(self) -> None:
        for batch in chunks(self.events):
            self.session.execute(insert(EventRow), list(batch))
        self.events.clear()


def _table(kind: Kind) -> type[SceneRow] | type[TileRow]:
    return SceneRow if kind == "scene" else TileRow


def set_status(
    ch: Changes,
    kind: Kind,
    refs: Sequence[Ref],
    to: Status,
    *,
    message: str | None,
    event_message: str | None = None,
    countdown: bool = False,
    **extra: Any,
) -> None:
    """Change the status of `refs`, end their leases, and record history.

    `message` None keeps the current message; `countdown` spends one of the retries
    (upstream decrements `retry_countdown` on every move to PENDING but the first dispatch).
    """
    if not refs:
        return
    table = _table(kind)
    values: dict[str, Any] = {
        "status": to.value,
        "lease_owner": None,
        "lease_expires_at": None,
        "attempt": table.attempt + 1,
        "updated_at": ch.now,
        **TemporaryColumns.reset_values(),
        **extra,
    }
    if message is not None:
        values["message"] = message
    if countdown:
        values["retry_countdown"] = table.retry_countdown - 1
    ids = [r.id for r in refs]
    for batch in chunks(ids):
        ch.session.execute(
            update(table).where(table.id.in_(batch)).values(values).execution_options(synchronize_session=False)
        )
    text = event_message if event_message is not None else (message or "")
    for ref in refs:
        ch.event(kind, ref, to, text)
    if kind == "tile":
        _track_layers(ch, refs, to)


def _track_layers(ch: Changes, refs: Sequence[Ref], to: Status) -> None:
    for ref in refs:
        if to == Status.DONE:
            ch.became_done.add(ref.id)
            ch.withdrawn.discard(ref.id)
        elif ref.status == Status.DONE or to == Status.FAILED:
            ch.withdrawn.add(ref.id)
            ch.became_done.discard(ref.id)


def dispatch_ready_tiles(
    ch: Changes,
    *,
    scene_ids: Sequence[int] = (),
    prev_ids: Sequence[int] = (),
    tile_ids: Sequence[int] = (),
    reason: str,
    countdown: bool = False,
) -> list[int]:
    """Among the NEW tiles selected, make PENDING those whose scene is DONE and previous DONE (or none).

    `countdown`: this dispatch spends a retry (a tile re-linked after a failure, as upstream).
    """
    prev = aliased(TileRow)
    base = (
        select(TileRow.id, TileRow.aoi_id)
        .join(SceneRow, SceneRow.id == TileRow.scene_id)
        .outerjoin(prev, prev.id == TileRow.prev)
        .where(
            TileRow.status == Status.NEW.value,
            SceneRow.status == Status.DONE.value,
            or_(TileRow.prev.is_(None), prev.status == Status.DONE.value),
        )
    )
    ready: dict[int, str] = {}
    for column, ids in ((TileRow.scene_id, scene_ids), (TileRow.prev, prev_ids), (TileRow.id, tile_ids)):
        for batch in chunks(list(ids)):
            for tile_id, aoi in ch.session.execute(base.where(column.in_(batch))):
                ready[tile_id] = aoi
    refs = [Ref(tid, aoi, Status.NEW) for tid, aoi in sorted(ready.items())]
    set_status(ch, "tile", refs, Status.PENDING, message=None, event_message=reason, countdown=countdown)
    return [r.id for r in refs]


def finish_scenes(
    ch: Changes, scenes: Sequence[Ref], message: str | None = "", event_message: str | None = None
) -> None:
    """Scene DONE: its root tiles, and its tiles whose previous is DONE, become PENDING."""
    set_status(ch, "scene", scenes, Status.DONE, message=message, event_message=event_message)
    dispatch_ready_tiles(ch, scene_ids=[s.id for s in scenes], reason="ready: scene downloaded")


def finish_tiles(ch: Changes, tiles: Sequence[Ref], message: str | None = "", event_message: str | None = None) -> None:
    """Tile DONE: its dependants whose scene is DONE become PENDING."""
    set_status(ch, "tile", tiles, Status.DONE, message=message, event_message=event_message)
    dispatch_ready_tiles(ch, prev_ids=[t.id for t in tiles], reason="ready: previous tile done")


def retry_or_redispatch(ch: Changes, kind: Kind, refs: Sequence[Ref], message: str) -> None:
    """PENDING→RETRY: while the countdown lasts the task is handed out again at once.

    A re-dispatched task keeps its previous message (upstream): the error is in the history.
    """
    again = [r for r in refs if r.retry_countdown > 0]
    stay = [r for r in refs if r.retry_countdown <= 0]
    set_status(ch, kind, stay, Status.RETRY, message=message)
    if again:
        table = _table(kind)
        for ref in again:
            ch.event(kind, ref, Status.RETRY, message)
            left = ref.retry_countdown - 1
            ch.event(kind, ref, Status.PENDING, f"automatic retry ({left} left)", from_status=Status.RETRY)
        for batch in chunks([r.id for r in again]):
            ch.session.execute(
                update(table)
                .where(table.id.in_(batch))
                .values(
                    status=Status.PENDING.value,
                    retry_countdown=table.retry_countdown - 1,
                    lease_owner=None,
                    lease_expires_at=None,
                    attempt=table.attempt + 1,
                    updated_at=ch.now,
                    **TemporaryColumns.reset_values(),
                )
                .execution_options(synchronize_session=False)
            )


def fail_tile(ch: Changes, tile_id: int, message: str | None, event_message: str | None = None) -> None:
    """FAILED does not cascade: the tile leaves its chain and its dependants skip over it.

    The failed tile keeps its reference (upstream); dependants re-linked to a DONE tile are
    dispatched at once, and that dispatch spends one of their retries (upstream too).
    """
    row = ch.session.execute(
        select(TileRow.id, TileRow.aoi_id, TileRow.status, TileRow.prev, TileRow.ref).where(TileRow.id == tile_id)
    ).one()
    ref = Ref(row.id, row.aoi_id, Status(row.status))
    old_prev, old_ref = row.prev, row.ref
    dependants = ch.session.execute(
        select(TileRow.id, TileRow.status)
        .join(SceneRow, SceneRow.id == TileRow.scene_id)
        .where(TileRow.prev == tile_id)
        .order_by(SceneRow.date, TileRow.id)
    ).all()
    set_status(ch, "tile", [ref], Status.FAILED, message=message, event_message=event_message, prev=None)

    session = ch.session
    if dependants:
        session.execute(
            update(TileRow)
            .where(TileRow.prev == tile_id)
            .values(prev=old_prev)
            .execution_options(synchronize_session=False)
        )
    new_roots: set[int] = set()
    if old_prev is None and dependants:
        new_roots = _hand_over_root(session, tile_id, [d.id for d in dependants])
    else:
        session.execute(update(TileRow).where(TileRow.ref == tile_id, TileRow.id != tile_id).values(ref=old_ref))
    for dep in dependants:
        note = f"previous tile {tile_id} failed: previous is now {old_prev if old_prev is not None else 'none'}"
        if dep.id in new_roots:
            note += " (now the reference of its time series)"
        ch.event("tile", Ref(dep.id, ref.aoi, Status(dep.status)), Status(dep.status), note)
    dispatch_ready_tiles(
        ch, tile_ids=[d.id for d in dependants], reason=f"ready: previous tile {tile_id} failed", countdown=True
    )


def _hand_over_root(session: Session, failed_root: int, dependants: list[int]) -> set[int]:
    """A failed root's dependants (already unlinked from it) each become the root, and the
    reference, of their own branch: upstream's "first dependant takes over" for a plain chain,
    and still consistent when a backfill or a revived tile made the series fork. Tiles that
    still name the failed root (failed ones keep their reference) name the first dependant."""
    members = session.execute(select(TileRow.id, TileRow.prev).where(TileRow.ref == failed_root)).all()
    children: dict[int, list[int]] = {}
    for member, prev in members:
        if prev is not None:
            children.setdefault(prev, []).append(member)
    for root in dependants:
        branch: list[int] = []
        stack = [root]
        while stack:
            for child in children.get(stack.pop(), ()):
                branch.append(child)
                stack.append(child)
        session.execute(update(TileRow).where(TileRow.id == root).values(ref=None))
        for batch in chunks(branch):
            session.execute(update(TileRow).where(TileRow.id.in_(batch)).values(ref=root))
    session.execute(
        update(TileRow).where(TileRow.ref == failed_root, TileRow.id != failed_root).values(ref=dependants[0])
    )
    return set(dependants)


def fail_scene(ch: Changes, scene: Ref, message: str | None, event_message: str | None = None) -> None:
    """A FAILED scene fails all its tiles, each re-linked as a failed tile is."""
    if message is None:  # kept: the tiles say why with the scene's own message
        reason = ch.session.scalar(select(SceneRow.message).where(SceneRow.id == scene.id)) or ""
    else:
        reason = message
    set_status(ch, "scene", [scene], Status.FAILED, message=message, event_message=event_message)
    tile_ids = ch.session.scalars(
        select(TileRow.id)
        .where(TileRow.scene_id == scene.id, TileRow.status != Status.FAILED.value)
        .order_by(TileRow.id)
    ).all()
    for tile_id in tile_ids:
        fail_tile(ch, tile_id, f"scene failed: {reason}" if reason else "scene failed")


def check_allowed(kind: Kind, ref: Ref, to: Status) -> None:
    if to not in ALLOWED.get(ref.status, frozenset()):
        raise TransitionRefused(
            f"{kind} {ref.id} is {ref.status.value}: {ref.status.value}→{to.value} is not allowed"
            " (only PENDING→DONE|RETRY|FAILED and RETRY→PENDING|FAILED|DONE; use force to override)"
        )


def check_tile_can_run(session: Session, tile_id: int, refusal: type[Exception] = TransitionRefused) -> None:
    """A tile goes PENDING only once its inputs (scene, previous tile) are there."""
    prev = aliased(TileRow)
    row = session.execute(
        select(
            SceneRow.id.label("scene_id"),
            SceneRow.status.label("scene_status"),
            prev.id.label("prev_id"),
            prev.status.label("prev_status"),
        )
        .select_from(TileRow)
        .join(SceneRow, SceneRow.id == TileRow.scene_id)
        .outerjoin(prev, prev.id == TileRow.prev)
        .where(TileRow.id == tile_id)
    ).one()
    if row.scene_status != Status.DONE.value:
        raise refusal(f"cannot retry tile {tile_id}: its scene {row.scene_id} is {row.scene_status}, not DONE")
    if row.prev_id is not None and row.prev_status != Status.DONE.value:
        raise refusal(f"cannot retry tile {tile_id}: its previous tile {row.prev_id} is {row.prev_status}, not DONE")


def _pending_dependants(session: Session, tile_ids: Sequence[int]) -> list[int]:
    found: list[int] = []
    for batch in chunks(list(tile_ids)):
        found += session.scalars(
            select(TileRow.id).where(TileRow.prev.in_(batch), TileRow.status == Status.PENDING.value)
        ).all()
    return sorted(found)


def check_consistent(session: Session, kind: Kind, ref: Ref, to: Status, *, force: bool) -> None:
    """Refuse an operator's change that would leave the graph inconsistent (upstream refuses them with a 500).

    A tile is PENDING only once its scene and previous tile are DONE; nothing PENDING may be
    running on the product of a FAILED scene, or on the outputs of a FAILED previous tile.
    """
    if kind == "tile" and to == Status.PENDING:
        check_tile_can_run(session, ref.id, InconsistentChange if force else TransitionRefused)
    if to != Status.FAILED:
        return
    if kind == "scene":
        tiles = session.scalars(
            select(TileRow.id).where(TileRow.scene_id == ref.id, TileRow.status == Status.PENDING.value)
        ).all()
        if tiles:
            listed = ", ".join(map(str, sorted(tiles)[:10]))
            raise InconsistentChange(
                f"cannot fail scene {ref.id}: its tile(s) {listed} are PENDING (being processed from its product);"
                " fail or force them first"
            )
        tile_ids: Sequence[int] = session.scalars(select(TileRow.id).where(TileRow.scene_id == ref.id)).all()
    else:
        tile_ids = [ref.id]
    running = _pending_dependants(session, tile_ids)
    if running:
        listed = ", ".join(map(str, running[:10]))
        raise InconsistentChange(
            f"cannot fail {kind} {ref.id}: tile(s) {listed} are PENDING after it (processed from its outputs);"
            " fail or force them first"
        )


def stored_message(ref: Ref, to: Status, message: str | None) -> str | None:
    """What an operator's change leaves in `message` (None: unchanged).

    A retry clears it (the error stays in the history); a change from RETRY keeps the error
    that put it there, as upstream does, and the operator's reason goes to the history only.
    """
    if to == Status.PENDING:
        return ""
    if ref.status == Status.RETRY or message is None:
        return None
    return message


def apply(ch: Changes, kind: Kind, ref: Ref, to: Status, message: str | None, *, force: bool) -> None:
    """One operator's scene/tile status change with its side effects (SPEC section 5)."""
    if not force:
        check_allowed(kind, ref, to)
    check_consistent(ch.session, kind, ref, to, force=force)
    stored = stored_message(ref, to, message)
    event = message or ("forced" if force else "retried" if to == Status.PENDING else "by operator")
    if kind == "tile" and ref.status == Status.FAILED and to != Status.FAILED:
        # Out of its chain since it failed: revived, it is a root of its own (no stale reference).
        ch.session.execute(update(TileRow).where(TileRow.id == ref.id).values(ref=None))
    if to == Status.DONE:
        (finish_scenes if kind == "scene" else finish_tiles)(ch, [ref], stored, event)
    elif to == Status.FAILED:
        if kind == "scene":
            fail_scene(ch, ref, stored, event)
        else:
            fail_tile(ch, ref.id, stored, event)
    elif to == Status.RETRY and ref.status == Status.PENDING and not force:
        retry_or_redispatch(ch, kind, [ref], message or "")
    else:
        # PENDING (manual retry / force) spends a retry; NEW and RETRY by force: the status alone changes.
        set_status(ch, kind, [ref], to, message=stored, event_message=event, countdown=to == Status.PENDING)
