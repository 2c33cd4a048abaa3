"""The workflow service: the one entry point for everything that reads or changes state.

Each public method is one transaction. Methods that change statuses lock the AOI row
first (`FOR NO KEY UPDATE` on PostgreSQL; SQLite's `BEGIN IMMEDIATE` already serialises
writers), so side effects computed from the graph — who becomes PENDING, how a failure
is re-linked — are never based on a state another worker is changing at the same time.
Claims do not take that lock: they only touch lease columns, row by row.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal

from sqlalchemy import delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from geocube_ingest import database
from geocube_ingest.errors import Conflict, InvalidInput, NotFound, TransitionRefused
from geocube_ingest.payload import MAX_AOI_NAME, NAME_PATTERN
from geocube_ingest.settings import Settings, get_settings
from geocube_ingest.status import Status
from geocube_ingest.workflow import ingest as ingest_ops
from geocube_ingest.workflow import leases, queries, render, serialize, temporary, transitions
from geocube_ingest.workflow.listeners import TileListener
from geocube_ingest.workflow.models import (
    AOIInfo,
    AOISummary,
    DeleteResult,
    Event,
    Footprint,
    IngestResult,
    Kind,
    Lease,
    NewScene,
    Outcome,
    Relink,
    RetryResult,
    Scene,
    Tile,
    WorkStatus,
)
from geocube_ingest.workflow.slots import ProviderSlots
from geocube_ingest.workflow.tables import AOIRow, EventRow, SceneRow, TileRow
from geocube_ingest.workflow.transitions import Changes, Ref

log = logging.getLogger(__name__)

_AOI_NAME = re.compile(NAME_PATTERN)
# Posts that add at least this many tiles refresh the planner statistics.
ANALYZE_AFTER_TILES = 2000


def _check_aoi_name(name: str) -> None:
    if not _AOI_NAME.fullmatch(name or "") or len(name) > MAX_AOI_NAME:
        shown = name if len(name or "") <= 60 else name[:60] + "..."
        raise InvalidInput(f"invalid AOI name {shown!r}: 1 to {MAX_AOI_NAME} letters, digits, '-', ':' and '_' only")


class Workflow:
    """Durable state of AOIs, scenes and tiles (SPEC section 5)."""

    def __init__(
        self,
        database_url: str | None = None,
        *,
        settings: Settings | None = None,
        actor: str = "system",
        migrate: bool = True,
    ):
        self.settings = settings or get_settings()
        self.url = database.normalize_url(database_url or self.settings.resolved_database_url)
        self.engine = database.get_engine(self.url)
        if migrate:
            database.migrate(self.engine, "workflow")
        self._sessions = database.make_sessionmaker(self.engine)
        self._read_sessions = database.make_sessionmaker(self.engine, read_only=True)
        self.actor = actor
        # Shared with the `as_actor` copies: a listener hears every change, whoever makes it.
        self._listeners: list[TileListener] = []

    def __repr__(self) -> str:
        return f"Workflow({self.engine.url.render_as_string(hide_password=True)!r})"

    def as_actor(self, actor: str) -> Workflow:
        """The same workflow, recording `actor` in the history ("api", "cli", "worker:host-1"...)."""
        clone = object.__new__(Workflow)
        clone.__dict__.update(self.__dict__)
        clone.actor = actor
        return clone

    def add_listener(self, listener: TileListener) -> None:
        """Be told, after each commit, of tiles whose layers stop or start counting (see `listeners`)."""
        if all(known is not listener for known in self._listeners):
            self._listeners.append(listener)

    # -- transactions ---------------------------------------------------------------

    @contextmanager
    def _read(self) -> Iterator[Session]:
        """A read-only transaction: on SQLite it neither waits for nor blocks the writer."""
        with database.transaction(self._read_sessions) as session:
            yield session

    @contextmanager
    def _changes(
        self,
        aois: Sequence[str] = (),
        *,
        by_operator: bool = False,
        create: tuple[str, str | None] | None = None,
    ) -> Iterator[Changes]:
        """A write transaction holding the locks of `aois`, flushing history at the end; once
        committed, listeners hear of the tiles that left DONE (and, for an operator's change,
        of those made DONE).

        `create` (name, geometry) creates that AOI first in the same transaction, so a change
        refused later leaves no AOI behind.
        """
        with database.transaction(self._sessions) as session:
            if create is not None:
                self._upsert_aoi(session, *create)
            for aoi in sorted(set(aois)):  # one order everywhere: no deadlocks between AOIs
                self._lock_aoi(session, aoi)
            changes = Changes(session, self.actor, database.utcnow())
            yield changes
            changes.flush()
        self._notify(sorted(changes.withdrawn), sorted(changes.became_done) if by_operator else [])

    def _notify(self, withdrawn: list[int], done: list[int]) -> None:
        """Tell listeners; a listener that fails leaves a note in the tiles' history (the change stands:
        forcing the status again tells the listeners again)."""
        if not self._listeners or not (withdrawn or done):
            return
        with self._read() as session:
            found = {t.id: t for t in queries.list_tiles(session, ids=[*withdrawn, *done])}
        for listener in self._listeners:
            for tell, ids in ((listener.tiles_withdrawn, withdrawn), (listener.tiles_done, done)):
                tiles = [found[i] for i in ids if i in found]
                if not tiles:
                    continue
                try:
                    tell(tiles)
                except Exception as exc:
                    log.warning("%s failed for tiles %s: %s", tell.__qualname__, [t.id for t in tiles], exc)
                    for tile in tiles:
                        self.note("tile", tile.id, f"its layers could not be updated: {type(exc).__name__}: {exc}")

    @staticmethod
    def _lock_aoi(session: Session, aoi: str) -> None:
        found = session.execute(
            select(AOIRow.id).where(AOIRow.id == aoi).with_for_update(key_share=True)
        ).scalar_one_or_none()
        if found is None:
            raise NotFound(f"AOI {aoi!r} not found")

    def _analyze(self) -> None:
        """Refresh planner statistics after a large post: with the table's old statistics, the
        claim and dispatch queries pick plans that scan every row (seconds instead of milliseconds)."""
        with self.engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                connection.exec_driver_sql("ANALYZE scene")
                connection.exec_driver_sql("ANALYZE tile")
            else:
                connection.exec_driver_sql("ANALYZE")
            connection.commit()

    def _aoi_of(self, kind: Kind, entity_id: int) -> str:
        table = SceneRow if kind == "scene" else TileRow
        with self._read() as session:
            aoi = session.scalar(select(table.aoi_id).where(table.id == entity_id))
        if aoi is None:
            raise NotFound(f"{kind} {entity_id} not found")
        return aoi

    @staticmethod
    def _ref(session: Session, kind: Kind, entity_id: int) -> Ref:
        table = SceneRow if kind == "scene" else TileRow
        row = session.execute(
            select(table.id, table.aoi_id, table.status, table.retry_countdown).where(table.id == entity_id)
        ).one_or_none()
        if row is None:
            raise NotFound(f"{kind} {entity_id} not found")
        return Ref(row.id, row.aoi_id, Status(row.status), row.retry_countdown)

    # -- AOIs -----------------------------------------------------------------------

    def create_aoi(self, name: str) -> None:
        _check_aoi_name(name)
        with database.transaction(self._sessions) as session:
            if session.get(AOIRow, name) is not None:
                raise Conflict(f"AOI {name!r} already exists")
            session.add(AOIRow(id=name, created_at=database.utcnow()))

    def ensure_aoi(self, name: str, geometry: str | None = None) -> None:
        """Create the AOI unless it exists (safe when several processes race); `geometry` (WKT)
        records the area of the payload being posted."""
        _check_aoi_name(name)
        with database.transaction(self._sessions) as session:
            self._upsert_aoi(session, name, geometry)

    @staticmethod
    def _upsert_aoi(session: Session, name: str, geometry: str | None) -> None:
        dialect = session.get_bind().dialect.name
        stmt = (pg_insert if dialect == "postgresql" else sqlite_insert)(AOIRow).values(
            id=name, created_at=database.utcnow(), geometry=geometry
        )
        if geometry is None:
            session.execute(stmt.on_conflict_do_nothing(index_elements=["id"]))
        else:
            session.execute(stmt.on_conflict_do_update(index_elements=["id"], set_={"geometry": geometry}))

    def aoi_geometry(self, name: str) -> str | None:
        """The area (WKT, EPSG:4326) of the latest payload posted for the AOI, if any."""
        with self._read() as session:
            row = session.get(AOIRow, name)
            if row is None:
                raise NotFound(f"AOI {name!r} not found")
            return row.geometry

    def aoi_exists(self, name: str) -> bool:
        with self._read() as session:
            return session.get(AOIRow, name) is not None

    def list_aois(self, pattern: str = "*") -> list[AOIInfo]:
        with self._read() as session:
            return queries.list_aois(session, pattern)

    def delete_aoi(self, name: str) -> DeleteResult:
        """Remove the AOI with its scenes, tiles and history (files and index entries stay)."""
        with self._changes([name]) as ch:
            session = ch.session
            n_tiles = session.execute(delete(TileRow).where(TileRow.aoi_id == name)).rowcount  # type: ignore[attr-defined]
            n_scenes = session.execute(delete(SceneRow).where(SceneRow.aoi_id == name)).rowcount  # type: ignore[attr-defined]
            session.execute(delete(EventRow).where(EventRow.aoi_id == name))
            session.execute(delete(AOIRow).where(AOIRow.id == name))
        log.info("deleted AOI %s (%d scenes, %d tiles)", name, n_scenes, n_tiles)
        return DeleteResult(name, n_scenes, n_tiles)

    def aoi_status(self, name: str) -> Status | None:
        return self.summary(name).status

    def summary(self, name: str) -> AOISummary:
        with self._read() as session:
            return queries.summary(session, name)

    def summary_text(self, name: str) -> str:
        return render.summary_text(self.summary(name))

    def dot(self, name: str) -> str:
        with self._read() as session:
            scenes = queries.list_scenes(session, name)
            tiles = queries.list_tiles(session, aoi=name)
        return render.dot_text(name, scenes, tiles)

    # -- ingestion ------------------------------------------------------------------

    def ingest(
        self, aoi: str, scenes: Sequence[NewScene], relinks: Sequence[Relink] = (), *, geometry: str | None = None
    ) -> IngestResult:
        """Add scenes (PENDING: download due) and their tiles (NEW); re-posted scenes are skipped.

        `geometry` (WKT) is the area of the payload, kept for maps. The AOI is created in the
        same transaction: a refused batch leaves nothing behind.
        """
        _check_aoi_name(aoi)
        with self._changes([aoi], create=(aoi, geometry)) as ch:
            result = ingest_ops.ingest(ch, aoi, scenes, relinks)
        if result.tiles_created >= ANALYZE_AFTER_TILES:
            self._analyze()
        log.info(
            "AOI %s: %d scenes created, %d already there, %d tiles created",
            aoi,
            len(result.created),
            len(result.existing),
            result.tiles_created,
        )
        return result

    # -- reads ----------------------------------------------------------------------

    def scene(self, scene_id: int) -> Scene:
        with self._read() as session:
            return queries.get_scene(session, scene_id)

    def scenes(
        self, aoi: str, status: Status | str | None = None, *, page: int | None = None, limit: int | None = None
    ) -> list[Scene]:
        with self._read() as session:
            return queries.list_scenes(session, aoi, _status(status), page, limit)

    def tile(self, tile_id: int) -> Tile:
        with self._read() as session:
            return queries.get_tile(session, tile_id)

    def tiles(
        self,
        aoi: str | None = None,
        status: Status | str | None = None,
        *,
        scene_id: int | None = None,
        ids: Sequence[int] | None = None,
        page: int | None = None,
        limit: int | None = None,
    ) -> list[Tile]:
        if aoi is None and scene_id is None and ids is None:
            raise InvalidInput("list tiles of an AOI, a scene or given ids")
        with self._read() as session:
            return queries.list_tiles(
                session, aoi=aoi, scene_id=scene_id, status=_status(status), ids=ids, page=page, limit=limit
            )

    def scenes_json(
        self,
        aoi: str,
        status: Status | str | None = None,
        *,
        page: int | None = None,
        limit: int | None = None,
        geojson: bool = False,
    ) -> bytes:
        """`scenes(...)` as a JSON array in upstream's shape, written by the database (fast for big lists);
        `geojson`: a FeatureCollection of the footprints with that JSON as properties."""
        with self._read() as session:
            if geojson:
                return serialize.feature_collection(queries.scene_features(session, aoi, _status(status), page, limit))
            return serialize.json_array(queries.scenes_json(session, aoi, _status(status), page, limit))

    def tiles_json(
        self,
        aoi: str | None = None,
        status: Status | str | None = None,
        *,
        scene_id: int | None = None,
        selection: Literal["all", "roots", "leaves"] = "all",
        page: int | None = None,
        limit: int | None = None,
        geojson: bool = False,
    ) -> bytes:
        """`tiles(...)` (or the root / leaf tiles of `aoi`) as a JSON array in upstream's shape,
        written by the database (fast for big lists); `geojson` as for `scenes_json`."""
        if aoi is None and scene_id is None:
            raise InvalidInput("list tiles of an AOI or a scene")
        with self._read() as session:
            if selection == "all":
                conditions = queries.tile_conditions(session, aoi=aoi, scene_id=scene_id, status=_status(status))
            elif aoi is None:
                raise InvalidInput(f"{selection} tiles are those of an AOI")
            else:
                conditions = (queries.root_conditions if selection == "roots" else queries.leaf_conditions)(
                    session, aoi
                )
            if geojson:
                return serialize.feature_collection(queries.tile_features(session, conditions, page, limit))
            return serialize.json_array(queries.tiles_json(session, conditions, page, limit))

    def footprints(self, aoi: str) -> list[Footprint]:
        """The footprints of the AOI's scenes and tiles with what a map shows of them."""
        with self._read() as session:
            return queries.footprints(session, aoi)

    def root_tiles(self, aoi: str) -> list[Tile]:
        with self._read() as session:
            return queries.root_tiles(session, aoi)

    def leaf_tiles(self, aoi: str) -> list[Tile]:
        with self._read() as session:
            return queries.leaf_tiles(session, aoi)

    def events(self, kind: Kind, entity_id: int, limit: int | None = None) -> list[Event]:
        with self._read() as session:
            return queries.events(session, kind, entity_id, limit)

    # -- status changes -------------------------------------------------------------

    def set_status(
        self, kind: Kind, entity_id: int, status: Status | str, message: str | None = None, *, force: bool = False
    ) -> Scene | Tile:
        """Change a status with its side effects; refused transitions raise TransitionRefused."""
        to = Status.parse(status)
        aoi = self._aoi_of(kind, entity_id)
        with self._changes([aoi], by_operator=True) as ch:
            ref = self._ref(ch.session, kind, entity_id)
            transitions.apply(ch, kind, ref, to, message, force=force)
        return self.scene(entity_id) if kind == "scene" else self.tile(entity_id)

    def retry(self, kind: Kind, entity_id: int) -> Scene | Tile:
        """RETRY → PENDING (manual retry): the message is cleared, and one retry spent (upstream)."""
        return self.set_status(kind, entity_id, Status.PENDING)

    def fail(self, kind: Kind, entity_id: int, message: str | None = None) -> Scene | Tile:
        """RETRY → FAILED (manual fail); the graph is re-linked around the failed tiles.

        A RETRY scene/tile keeps the error that put it there; `message` goes to the history.
        """
        return self.set_status(kind, entity_id, Status.FAILED, message or "failed by operator")

    def force(self, kind: Kind, entity_id: int, status: Status | str, message: str | None = None) -> Scene | Tile:
        """Any status, with the side effects of the normal transition; a change that would leave the
        graph inconsistent raises InconsistentChange and changes nothing."""
        return self.set_status(kind, entity_id, status, message, force=True)

    def retry_aoi(self, aoi: str, *, force: bool = False) -> RetryResult:
        """Retry every RETRY scene and tile (and re-dispatch PENDING ones when forced).

        Tiles are only retried once their scene and previous tile are DONE; the others are
        left for the dependency rules to dispatch. Each retry spends one of the countdown.
        """
        wanted = {Status.RETRY.value} | ({Status.PENDING.value} if force else set())
        n_scenes = n_tiles = 0
        with self._changes([aoi], by_operator=True) as ch:
            session = ch.session
            scene_rows = session.execute(
                select(SceneRow.id, SceneRow.status).where(SceneRow.aoi_id == aoi, SceneRow.status.in_(wanted))
            ).all()
            scene_refs = [Ref(r.id, aoi, Status(r.status)) for r in scene_rows]
            transitions.set_status(
                ch, "scene", scene_refs, Status.PENDING, message="", event_message="retried (AOI)", countdown=True
            )
            n_scenes = len(scene_refs)
            tile_rows = session.execute(
                select(TileRow.id, TileRow.status)
                .join(SceneRow, SceneRow.id == TileRow.scene_id)
                .where(TileRow.aoi_id == aoi, TileRow.status.in_(wanted), SceneRow.status == Status.DONE.value)
                .order_by(TileRow.id)
            ).all()
            tile_refs = []
            for row in tile_rows:
                try:
                    transitions.check_tile_can_run(session, row.id)
                except TransitionRefused:
                    continue
                tile_refs.append(Ref(row.id, aoi, Status(row.status)))
            transitions.set_status(
                ch, "tile", tile_refs, Status.PENDING, message="", event_message="retried (AOI)", countdown=True
            )
            n_tiles = len(tile_refs)
        return RetryResult(n_scenes, n_tiles)

    def set_data(self, kind: Kind, entity_id: int, data: dict[str, Any]) -> Scene | Tile:
        """Replace the `data` of a scene or tile (e.g. to fix a graph name before a retry)."""
        if not isinstance(data, dict):
            raise InvalidInput("data must be a JSON object")
        aoi = self._aoi_of(kind, entity_id)
        table = SceneRow if kind == "scene" else TileRow
        with self._changes([aoi]) as ch:
            ref = self._ref(ch.session, kind, entity_id)
            ch.session.execute(update(table).where(table.id == entity_id).values(data=data, updated_at=ch.now))
            ch.event(kind, ref, ref.status, "data replaced")
        return self.scene(entity_id) if kind == "scene" else self.tile(entity_id)

    def note(self, kind: Kind, entity_id: int, message: str) -> None:
        """Add a line to the history without changing the status (e.g. a provider that failed)."""
        aoi = self._aoi_of(kind, entity_id)
        with database.transaction(self._sessions) as session:
            ref = self._ref(session, kind, entity_id)
            session.execute(
                insert(EventRow).values(
                    aoi_id=aoi,
                    entity=kind,
                    entity_id=entity_id,
                    at=database.utcnow(),
                    from_status=ref.status.value,
                    to_status=ref.status.value,
                    message=message,
                    actor=self.actor,
                )
            )

    # -- leases ---------------------------------------------------------------------

    def claim(
        self,
        kind: Kind,
        owner: str,
        *,
        limit: int | None = None,
        lease_seconds: float | None = None,
        aoi: str | None = None,
        ids: Sequence[int] | None = None,
    ) -> list[Lease]:
        """Lease up to `limit` due tasks: PENDING scenes (downloads) or ready PENDING tiles (processing).

        `ids` restricts the claim to those tasks (to run one by hand).
        """
        if not owner:
            raise InvalidInput("a claim needs an owner id")
        with database.transaction(self._sessions) as session:
            return leases.claim(
                session,
                kind,
                owner,
                limit or self.settings.workflow.claim_batch,
                lease_seconds or self.settings.workflow.lease_seconds,
                database.utcnow(),
                aoi,
                ids,
            )

    def work_status(self, aoi: str | None = None, *, at_most: int | None = None) -> WorkStatus:
        """What is left to do without an operator, in one AOI or all (for worker loops and progress).

        `at_most` caps the claimable counts: enough to decide how many batches to start, and fast.
        """
        with self._read() as session:
            if aoi is not None:
                queries.require_aoi(session, aoi)
            return leases.work_status(session, aoi, database.utcnow(), at_most)

    def lease_owners(self, aoi: str | None = None) -> set[str]:
        with self._read() as session:
            return leases.lease_owners(session, aoi, database.utcnow())

    def release_leases(self, owners: Sequence[str]) -> int:
        """End the leases of workers known to be dead, so their tasks are handed out again now."""
        if not owners:
            return 0
        with database.transaction(self._sessions) as session:
            return leases.release(session, owners)

    def give_back(self, held: Sequence[Lease]) -> int:
        """Hand out again at once tasks we claimed but will not run (the process is stopping)."""
        if not held:
            return 0
        with database.transaction(self._sessions) as session:
            return sum(leases.give_back(session, lease, None) for lease in held)

    @property
    def slots(self) -> ProviderSlots:
        """Download provider slots shared by every process using this database."""
        return ProviderSlots(self._sessions, self.settings.workflow.lease_seconds)

    def heartbeat(self, held: Sequence[Lease], lease_seconds: float | None = None) -> list[Lease | None]:
        """Extend leases; a None in the answer means that task is no longer ours: stop working on it."""
        seconds = lease_seconds or self.settings.workflow.lease_seconds
        with database.transaction(self._sessions) as session:
            now = database.utcnow()
            return [leases.heartbeat(session, lease, seconds, now) for lease in held]

    def report(self, lease: Lease, outcome: Outcome) -> bool:
        return self.report_many([(lease, outcome)])[0]

    def report_many(self, results: Sequence[tuple[Lease, Outcome]]) -> list[bool]:
        """Apply workers' results in one transaction; False for a stale lease (its result is ignored)."""
        accepted = [False] * len(results)
        if not results:
            return accepted
        with self._changes([lease.aoi for lease, _ in results]) as ch:
            session = ch.session
            current = self._current(session, [lease for lease, _ in results])
            groups: dict[tuple[Kind, str], list[tuple[Ref, Outcome]]] = defaultdict(list)
            seen: set[tuple[Kind, int]] = set()
            for i, (lease, outcome) in enumerate(results):
                ref = current.get((lease.kind, lease.id))
                key = (lease.kind, lease.id)
                if ref is None or ref[1] != lease.token or ref[0].status != Status.PENDING or key in seen:
                    log.warning("ignoring a stale result for %s %d (%s)", lease.kind, lease.id, outcome.kind)
                    continue
                seen.add(key)
                accepted[i] = True
                if outcome.kind == "TEMPORARY":
                    counted = temporary.give_back_or_escalate(ch, lease, ref[0], outcome, self.settings.workflow)
                    if counted is None:
                        continue
                    outcome = counted
                groups[(lease.kind, outcome.kind)].append((ref[0], outcome))
            for (kind, what), items in groups.items():
                self._apply_outcomes(ch, kind, what, items)
        return accepted

    @staticmethod
    def _current(session: Session, held: Sequence[Lease]) -> dict[tuple[Kind, int], tuple[Ref, int]]:
        found: dict[tuple[Kind, int], tuple[Ref, int]] = {}
        kinds: tuple[tuple[Kind, type[SceneRow] | type[TileRow]], ...] = (("scene", SceneRow), ("tile", TileRow))
        for kind, table in kinds:
            ids = [lease.id for lease in held if lease.kind == kind]
            for batch in transitions.chunks(ids):
                rows = session.execute(
                    select(table.id, table.aoi_id, table.status, table.retry_countdown, table.attempt).where(
                        table.id.in_(batch)
                    )
                )
                for row in rows:
                    found[(kind, row.id)] = (
                        Ref(row.id, row.aoi_id, Status(row.status), row.retry_countdown),
                        row.attempt,
                    )
        return found

    @staticmethod
    def _apply_outcomes(ch: Changes, kind: Kind, what: str, items: list[tuple[Ref, Outcome]]) -> None:
        if what in ("DONE", "RETRY"):
            # Set-based per distinct message: workers mostly report the same few messages.
            by_message: dict[str, list[Ref]] = defaultdict(list)
            for ref, outcome in items:
                by_message[outcome.message].append(ref)
            for message, refs in by_message.items():
                if what == "RETRY":
                    transitions.retry_or_redispatch(ch, kind, refs, message)
                elif kind == "scene":
                    transitions.finish_scenes(ch, refs, message)
                else:
                    transitions.finish_tiles(ch, refs, message)
        elif what == "FAILED":
            for ref, outcome in items:
                if kind == "scene":
                    transitions.fail_scene(ch, ref, outcome.message)
                else:
                    transitions.fail_tile(ch, ref.id, outcome.message)
        else:
            raise InvalidInput(f"unknown outcome {what!r}")


def _status(value: Status | str | None) -> Status | None:
    if value is None or value == "":
        return None
    try:
        return Status.parse(value)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
