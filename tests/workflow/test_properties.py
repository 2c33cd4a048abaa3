"""Random sequences of ingest / results / retry / fail / force on random chains.

After every step the invariants of SPEC section 5 must hold: no tile handed out before its
scene and previous tile are DONE, no dangling previous/reference, every tile reachable from
a root whose reference it carries, no ready tile forgotten, the AOI status is the priority
rule, and the history of every scene and tile is a complete chain ending at its status.
"""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from geocube_ingest.errors import InconsistentChange, TransitionRefused
from geocube_ingest.status import Status, worst_status
from geocube_ingest.workflow import Lease, NewScene, NewTile, Outcome, Relink, Tile, TileKey, Workflow

LOCATIONS = ("a", "b", "c")
OUTCOMES = st.sampled_from(["DONE", "DONE", "DONE", "DONE", "RETRY", "FAILED", "TEMPORARY"])
T0 = datetime(2023, 1, 1, tzinfo=UTC)


class WorkflowMachine(RuleBasedStateMachine):
    database_url = ""

    def __init__(self) -> None:
        super().__init__()
        self.wf = Workflow(self.database_url).as_actor("hypothesis")
        self.aoi = f"H-{uuid.uuid4().hex[:12]}"
        self.day_last = 0
        self.day_first = 0
        self.n = 0
        self.held: list[Lease] = []
        self.forced_new: set[int] = set()
        # Tiles whose status, scene or previous an operator forced: dispatch rules do not vouch for them.
        self.forced: set[tuple[str, int]] = set()

    # -- helpers ----------------------------------------------------------------------

    def tiles(self) -> list[Tile]:
        return self.wf.tiles(self.aoi) if self.wf.aoi_exists(self.aoi) else []

    def live_at(self, location: str) -> list[Tile]:
        return sorted(
            (t for t in self.tiles() if t.source_id == location and t.status != Status.FAILED),
            key=lambda t: (t.date, t.id),
        )

    def new_scene(self, day: int, locations: set[str], previous: dict[str, Tile | None], retries: int) -> NewScene:
        self.n += 1
        name = f"S{self.n:03d}"
        tiles = [
            NewTile(loc, {"tile_nr": i}, previous=previous[loc].key if previous.get(loc) else None)
            for i, loc in enumerate(sorted(locations))
        ]
        return NewScene(name, {"date": (T0 + timedelta(days=day)).isoformat()}, tiles, retry_countdown=retries)

    # -- rules ------------------------------------------------------------------------

    @rule(locations=st.sets(st.sampled_from(LOCATIONS), min_size=1), retries=st.integers(0, 1))
    def append(self, locations: set[str], retries: int) -> None:
        self.day_last += 12
        previous = {loc: (self.live_at(loc) or [None])[-1] for loc in locations}
        self.wf.ingest(self.aoi, [self.new_scene(self.day_last, locations, previous, retries)])

    @precondition(lambda self: self.n > 0)
    @rule(locations=st.sets(st.sampled_from(LOCATIONS), min_size=1))
    def backfill(self, locations: set[str]) -> None:
        """An acquisition older than everything: it becomes the root of each of its locations."""
        self.day_first -= 12
        scene = self.new_scene(self.day_first, locations, {}, 0)
        relinks = []
        for loc in locations:
            chain = self.live_at(loc)
            roots = [t for t in chain if t.previous_id is None]
            relinks += [Relink(r.key, previous=TileKey(scene.source_id, loc)) for r in roots]
        self.wf.ingest(self.aoi, [scene], relinks)

    def _claim(self, kind: str, limit: int) -> list[Lease]:
        if not self.wf.aoi_exists(self.aoi):
            return []
        leases = self.wf.claim(kind, "h", limit=limit, aoi=self.aoi)  # type: ignore[arg-type]
        for lease in leases:
            if kind == "tile":
                tile = self.wf.tile(lease.id)
                assert tile.scene_status == Status.DONE, f"tile {tile.id} handed out before its scene"
                if tile.previous_id is not None:
                    prev = self.wf.tile(tile.previous_id)
                    assert prev.status == Status.DONE, f"tile {tile.id} handed out before previous {prev.id}"
        return leases

    @staticmethod
    def _outcome(kind: str) -> Outcome:
        return {
            "DONE": Outcome.done(),
            "RETRY": Outcome.retry("retry me"),
            "FAILED": Outcome.failed("broken"),
            "TEMPORARY": Outcome.temporary("busy", delay=0),
        }[kind]

    @rule(kind=st.sampled_from(["scene", "tile"]), limit=st.integers(1, 4))
    def claim(self, kind: str, limit: int) -> None:
        """Claim and keep: results come later, maybe after other changes (stale ones are ignored)."""
        self.held += self._claim(kind, limit)

    def _report(self, results: list[tuple[Lease, str]]) -> None:
        """Report, then check the RETRY rule: re-dispatched while the countdown lasts, then RETRY."""

        def get(lease: Lease):  # type: ignore[no-untyped-def]
            return self.wf.scene(lease.id) if lease.kind == "scene" else self.wf.tile(lease.id)

        before = {lease.id: get(lease).retry_countdown for lease, _ in results}
        accepted = self.wf.report_many([(lease, self._outcome(o)) for lease, o in results])
        for (lease, outcome), ok in zip(results, accepted, strict=True):
            if not ok or outcome != "RETRY":
                continue
            after = get(lease)
            if after.status == Status.FAILED:
                continue  # a scene failed later in the same batch took its tiles with it
            if before[lease.id] > 0:
                assert (after.status, after.retry_countdown) == (Status.PENDING, before[lease.id] - 1)
            else:
                assert (after.status, after.retry_countdown) == (Status.RETRY, before[lease.id])

    @rule(outcomes=st.lists(OUTCOMES, min_size=1, max_size=6))
    def download(self, outcomes: list[str]) -> None:
        leases = self._claim("scene", len(outcomes))
        self._report(list(zip(leases, outcomes, strict=False)))

    @rule(outcomes=st.lists(OUTCOMES, min_size=1, max_size=6))
    def process(self, outcomes: list[str]) -> None:
        leases = self._claim("tile", len(outcomes))
        self._report(list(zip(leases, outcomes, strict=False)))

    @precondition(lambda self: self.held)
    @rule(data=st.data(), outcome=OUTCOMES)
    def report(self, data: st.DataObject, outcome: str) -> None:
        lease = self.held.pop(data.draw(st.integers(0, len(self.held) - 1)))
        self._report([(lease, outcome)])

    @rule(data=st.data(), action=st.sampled_from(["retry", "fail", "done"]), kind=st.sampled_from(["scene", "tile"]))
    def operator(self, data: st.DataObject, action: str, kind: str) -> None:
        if not self.wf.aoi_exists(self.aoi):
            return
        items = self.wf.scenes(self.aoi) if kind == "scene" else self.tiles()
        candidates = [i for i in items if i.status == Status.RETRY]
        if not candidates:
            return
        item = data.draw(st.sampled_from(candidates))
        try:
            if action == "retry":
                self.wf.retry(kind, item.id)  # type: ignore[arg-type]
            elif action == "fail":
                self.wf.fail(kind, item.id)  # type: ignore[arg-type]
            else:
                self.wf.set_status(kind, item.id, Status.DONE)  # type: ignore[arg-type]
        except TransitionRefused:
            assert action == "retry" and kind == "tile"  # inputs not ready: refusing is the rule
        except InconsistentChange:
            assert action == "fail"  # work is running on its outputs

    @rule(data=st.data(), kind=st.sampled_from(["scene", "tile"]), status=st.sampled_from(list(Status)))
    def force(self, data: st.DataObject, kind: str, status: Status) -> None:
        if not self.wf.aoi_exists(self.aoi):
            return
        items = self.wf.scenes(self.aoi) if kind == "scene" else self.tiles()
        if not items:
            return
        item = data.draw(st.sampled_from(items))
        try:
            self.wf.force(kind, item.id, status)  # type: ignore[arg-type]
        except InconsistentChange:
            # Refused: a tile made PENDING before its inputs, or a failure under running work.
            current = self.wf.scene(item.id) if kind == "scene" else self.wf.tile(item.id)
            assert current.status == item.status and status in (Status.PENDING, Status.FAILED)
            return
        self.forced.add((kind, item.id))
        if kind == "tile" and status == Status.NEW:
            self.forced_new.add(item.id)

    @rule(force=st.booleans())
    def retry_aoi(self, force: bool) -> None:
        if not self.wf.aoi_exists(self.aoi):
            return
        if force:  # PENDING work is re-dispatched as is
            self.forced |= {("tile", t.id) for t in self.tiles() if t.status == Status.PENDING}
        self.wf.retry_aoi(self.aoi, force=force)

    # -- invariants ---------------------------------------------------------------------

    @invariant()
    def graph_is_sound(self) -> None:
        tiles = {t.id: t for t in self.tiles()}
        for t in tiles.values():
            if t.status != Status.NEW:
                self.forced_new.discard(t.id)
            if t.status == Status.FAILED:  # out of its chain; it keeps a reference, as upstream
                assert t.previous_id is None, f"failed tile {t.id} still has a previous"
                assert t.reference_id is None or t.reference_id in tiles, f"failed tile {t.id}: dangling reference"
                continue
            for link in (t.previous_id, t.reference_id):
                if link is not None:
                    assert link in tiles, f"tile {t.id} links to missing tile {link}"
                    assert tiles[link].status != Status.FAILED, f"tile {t.id} links to failed tile {link}"
                    assert tiles[link].source_id == t.source_id, "a chain crossed locations"
            # Reachable from a root, which is its reference.
            seen, node = set(), t
            while node.previous_id is not None:
                assert node.id not in seen, f"cycle through tile {node.id}"
                seen.add(node.id)
                node = tiles[node.previous_id]
            expected_ref = None if t.previous_id is None else node.id
            assert t.reference_id == expected_ref, f"tile {t.id}: reference {t.reference_id}, root {expected_ref}"
            if t.previous_id is not None:
                assert tiles[t.previous_id].date <= t.date, f"tile {t.id} follows a later acquisition"

    @invariant()
    def no_ready_tile_forgotten(self) -> None:
        tiles = {t.id: t for t in self.tiles()}
        for t in tiles.values():
            ready = t.scene_status == Status.DONE and (
                t.previous_id is None or tiles[t.previous_id].status == Status.DONE
            )
            if t.status == Status.NEW and ready:
                assert t.id in self.forced_new, f"tile {t.id} is ready but was never dispatched"

    @invariant()
    def no_premature_dispatch(self) -> None:
        """A tile the rules made PENDING has its scene and previous tile DONE."""
        tiles = {t.id: t for t in self.tiles()}
        for t in tiles.values():
            if t.status != Status.PENDING or ("tile", t.id) in self.forced or ("scene", t.scene_id) in self.forced:
                continue
            if t.previous_id is not None and ("tile", t.previous_id) in self.forced:
                continue
            assert t.scene_status == Status.DONE, f"tile {t.id} PENDING before its scene is downloaded"
            if t.previous_id is not None:
                assert tiles[t.previous_id].status == Status.DONE, f"tile {t.id} PENDING before its previous"

    @invariant()
    def aoi_status_is_the_priority_rule(self) -> None:
        if not self.wf.aoi_exists(self.aoi):
            return
        summary = self.wf.summary(self.aoi)
        seen = {s.status for s in self.wf.scenes(self.aoi)} | {t.status for t in self.tiles()}
        assert summary.status == worst_status(frozenset(seen))
        assert summary.scenes.total == len(self.wf.scenes(self.aoi))

    @invariant()
    def history_is_complete(self) -> None:
        if not self.wf.aoi_exists(self.aoi):
            return
        for kind, items in (("scene", self.wf.scenes(self.aoi)), ("tile", self.tiles())):
            for item in items:
                events = self.wf.events(kind, item.id)  # type: ignore[arg-type]
                assert events and events[0].from_status is None
                for before, after in itertools.pairwise(events):
                    assert after.from_status == before.to_status, f"{kind} {item.id}: history gap"
                assert events[-1].to_status == item.status


@pytest.mark.slow
def test_random_sequences_keep_the_invariants(database_url: str) -> None:
    WorkflowMachine.database_url = database_url
    examples = 40 if database_url.startswith("sqlite") else 15
    run_state_machine_as_test(
        WorkflowMachine,
        settings=settings(
            max_examples=examples,
            stateful_step_count=40,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
