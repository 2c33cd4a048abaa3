"""Upstream's own workflow test cases (`workflow/workflow_test.go`), rewritten, on SQLite and PostgreSQL.

Upstream publishes scenes and tiles on queues; here "posted on the queue" is "claimable by a
worker" and a tile's `TileToProcess` previous/reference are its PreviousID/ReferenceID. The
scenes, tiles, retry counts and messages are upstream's. The second half checks the rules of
issue 13 (countdown, messages, references, refused forces) against upstream's code.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from geocube_ingest.errors import Conflict, InconsistentChange, InvalidInput, TransitionRefused
from geocube_ingest.status import Status
from geocube_ingest.workflow import NewScene, NewTile, Outcome, Tile, TileKey, Workflow

from .helpers import download_all, process_all, series, statuses, tile_id

AOI = "test"
ROOT = "S1B_IW_SLC__1SDV_20180806T170022_20180806T170050_012145_0165D7_27D6"
LEAF1 = "S1B_IW_SLC__1SDV_20190825T170029_20190825T170057_017745_02163A_DA7E"
LEAF2 = "S1A_IW_SLC__1SDV_20190831T170113_20190831T170140_028816_0343BD_C4B2"
BURSTS = {"A44_IW1_8951": 4, "A44_IW1_8979": 5}


def upstream_scene(name: str, day: datetime, previous: str | None, reference: str | None, retry: int) -> NewScene:
    """One of upstream's SceneToIngest: two IW1 bursts, linked by source ids to `previous`/`reference`."""
    data = {
        "date": day.isoformat(),
        "tiles": {b: {"swath_id": "IW1", "tile_nr": n} for b, n in BURSTS.items()},
        "graph_name": "S1Preprocessing",
        "graph_config": {"projection": "EPSG:32632"},
        "record_id": "05a3b01d-4b30-4573-94d6-8d83f1dbb2ff",
        "instances_id": {"coh_VH": "4c8acc94-7b23-497b-8d31-8845a9ea76d2"},
    }
    tiles = [
        NewTile(
            burst,
            {"swath_id": "IW1", "tile_nr": nr, "graph_name": "S1BackscatterCoherence"},
            previous=TileKey(previous, burst) if previous else None,
            reference=TileKey(reference, burst) if reference else None,
        )
        for burst, nr in BURSTS.items()
    ]
    return NewScene(name, data, tiles, retry_countdown=retry)


def root_scene() -> NewScene:
    return upstream_scene(ROOT, datetime(2019, 8, 25, 17, 1, 13, tzinfo=UTC), None, None, retry=2)


def leaf1_scene() -> NewScene:
    return upstream_scene(LEAF1, datetime(2019, 8, 31, 17, 1, 13, tzinfo=UTC), ROOT, ROOT, retry=0)


def leaf2_scene() -> NewScene:
    return upstream_scene(LEAF2, datetime(2019, 9, 5, 17, 1, 13, tzinfo=UTC), LEAF1, ROOT, retry=0)


def scene_ids(wf: Workflow) -> dict[str, int]:
    return {s.source_id: s.id for s in wf.scenes(AOI)}


def claimable(wf: Workflow, kind: str) -> list[int]:
    """What upstream would have posted on its queue: the due tasks (claimed, then given back)."""
    leases = wf.claim(kind, "peek", limit=100, lease_seconds=60)  # type: ignore[arg-type]
    wf.release_leases(["peek"])
    return [lease.id for lease in leases]


def report(wf: Workflow, kind: str, item_id: int, outcome: Outcome) -> None:
    """upstream's ResultHandler: a worker's result for a task it was given."""
    [lease] = wf.claim(kind, "worker", ids=[item_id])  # type: ignore[arg-type]
    assert wf.report(lease, outcome)


def init_db_scenes_tiles(wf: Workflow, scenes_done: bool) -> tuple[int, int, int]:
    """upstream's initDbScenesTiles: the three scenes; the ids of the A44_IW1_8951 chain."""
    wf.create_aoi(AOI)
    wf.ingest(AOI, [root_scene(), leaf1_scene(), leaf2_scene()])
    ids = scene_ids(wf)
    idb2 = tile_id(wf, AOI, LEAF2, "A44_IW1_8951")
    idb1 = wf.tile(idb2).previous_id
    assert idb1 is not None
    idb0 = wf.tile(idb1).previous_id
    assert idb0 is not None
    if scenes_done:
        for name in (ROOT, LEAF1, LEAF2):
            report(wf, "scene", ids[name], Outcome.done())
    return idb0, idb1, idb2


def expect_tile_as_ingested(wf: Workflow, tile: Tile, scene: NewScene) -> None:
    """upstream's expectTileToProcessToBeIngested: previous and reference are the tiles named at ingestion."""
    given = next(t for t in scene.tiles if t.source_id == tile.source_id)
    assert tile.scene_source_id == scene.source_id
    previous = wf.tile(tile.previous_id).key if tile.previous_id else None
    reference = wf.tile(tile.reference_id).key if tile.reference_id else None
    assert previous == given.previous
    assert reference == given.reference
    assert tile.data == given.data


# -- Creating AOI ----------------------------------------------------------------------------


def test_creating_an_aoi(workflow: Workflow) -> None:
    workflow.create_aoi(AOI)
    assert [a.name for a in workflow.list_aois()] == [AOI]
    with pytest.raises(Conflict, match="already exists"):
        workflow.create_aoi(AOI)


# -- Creating a Scene --------------------------------------------------------------------------


def test_creating_a_root_scene(workflow: Workflow) -> None:
    workflow.create_aoi(AOI)
    result = workflow.ingest(AOI, [root_scene()])
    [scene_id] = result.created
    assert scene_ids(workflow) == {ROOT: scene_id}
    tiles = workflow.tiles(scene_id=scene_id)
    assert len(tiles) == len(root_scene().tiles)
    for tile in tiles:
        assert tile.retry_countdown == root_scene().retry_countdown
        assert tile.data == next(t.data for t in root_scene().tiles if t.source_id == tile.source_id)
    assert claimable(workflow, "scene") == [scene_id]  # "should post a message in sceneQueue"
    assert workflow.scene(scene_id).data == root_scene().data


def test_creating_a_scene_without_its_previous_is_refused(workflow: Workflow) -> None:
    workflow.create_aoi(AOI)
    with pytest.raises(InvalidInput, match="does not exist"):
        workflow.ingest(AOI, [leaf1_scene()])
    assert workflow.scenes(AOI) == []


def test_creating_a_scene_with_its_root(workflow: Workflow) -> None:
    workflow.create_aoi(AOI)
    result = workflow.ingest(AOI, [root_scene(), leaf1_scene()])
    assert sorted(scene_ids(workflow).values()) == sorted(result.created)
    assert claimable(workflow, "scene") == sorted(result.created)  # two messages in sceneQueue


def test_creating_a_scene_whose_root_already_exists(workflow: Workflow) -> None:
    workflow.create_aoi(AOI)
    [root_id] = workflow.ingest(AOI, [root_scene()]).created
    again = workflow.ingest(AOI, [root_scene(), leaf1_scene()])
    assert again.existing == [root_id]
    assert scene_ids(workflow) == {ROOT: root_id, LEAF1: again.created[0]}


def test_creating_a_scene_with_two_previous_scenes(workflow: Workflow) -> None:
    workflow.create_aoi(AOI)
    with pytest.raises(InvalidInput, match="does not exist"):
        workflow.ingest(AOI, [root_scene(), leaf2_scene()])
    assert LEAF2 not in scene_ids(workflow)
    result = workflow.ingest(AOI, [root_scene(), leaf1_scene(), leaf2_scene()])
    assert len(result.created) == 3
    assert claimable(workflow, "scene") == sorted(result.created)


# -- Finishing a scene ---------------------------------------------------------------------------


@pytest.fixture
def two_scenes(workflow: Workflow) -> tuple[int, int]:
    workflow.create_aoi(AOI)
    result = workflow.ingest(AOI, [root_scene(), leaf1_scene()])
    ids = scene_ids(workflow)
    assert sorted(result.created) == sorted(ids.values())
    return ids[ROOT], ids[LEAF1]


def test_finishing_a_root_scene(workflow: Workflow, two_scenes: tuple[int, int]) -> None:
    id0, _ = two_scenes
    report(workflow, "scene", id0, Outcome.done())
    assert workflow.scene(id0).status == Status.DONE
    tiles = workflow.tiles(scene_id=id0)
    assert {t.status for t in tiles} == {Status.PENDING}
    assert sorted(claimable(workflow, "tile")) == sorted(t.id for t in tiles)
    for tile in tiles:
        expect_tile_as_ingested(workflow, tile, root_scene())
        assert tile.retry_countdown == 2  # the first dispatch spends nothing


def test_finishing_a_root_scene_with_retry(workflow: Workflow, two_scenes: tuple[int, int]) -> None:
    id0, _ = two_scenes
    report(workflow, "scene", id0, Outcome.retry("error"))
    scene = workflow.scene(id0)
    assert scene.status == Status.PENDING
    assert scene.retry_countdown == root_scene().retry_countdown - 1
    assert scene.message == ""  # retried automatically: the message is kept (it was empty)
    assert {t.status for t in workflow.tiles(scene_id=id0)} == {Status.NEW}
    assert claimable(workflow, "tile") == []
    assert id0 in claimable(workflow, "scene")  # a message in sceneQueue again


def test_finishing_a_scene_whose_previous_is_not_finished(workflow: Workflow, two_scenes: tuple[int, int]) -> None:
    _, id1 = two_scenes
    report(workflow, "scene", id1, Outcome.done())
    assert {t.status for t in workflow.tiles(scene_id=id1)} == {Status.NEW}


def test_finishing_a_scene_when_one_previous_tile_is_finished(workflow: Workflow, two_scenes: tuple[int, int]) -> None:
    id0, id1 = two_scenes
    report(workflow, "scene", id0, Outcome.done())
    first = workflow.tiles(scene_id=id0)[0]
    report(workflow, "tile", first.id, Outcome.done())
    report(workflow, "scene", id1, Outcome.done())
    tiles = workflow.tiles(scene_id=id1)
    assert sorted(t.status for t in tiles) == [Status.NEW, Status.PENDING]
    [dispatched] = [t for t in tiles if t.status == Status.PENDING]
    assert dispatched.previous_id == first.id
    expect_tile_as_ingested(workflow, dispatched, leaf1_scene())
    assert dispatched.id in claimable(workflow, "tile")


def test_finishing_a_scene_with_retry_and_no_retry_left(workflow: Workflow, two_scenes: tuple[int, int]) -> None:
    _, id1 = two_scenes
    report(workflow, "scene", id1, Outcome.retry("error"))
    scene = workflow.scene(id1)
    assert (scene.status, scene.retry_countdown, scene.message) == (Status.RETRY, 0, "error")
    assert {t.status for t in workflow.tiles(scene_id=id1)} == {Status.NEW}
    assert id1 not in claimable(workflow, "scene")
    assert claimable(workflow, "tile") == []


# -- Finishing a tile -------------------------------------------------------------------------------


def test_finishing_a_root_tile_with_failure(workflow: Workflow) -> None:
    idb0, _, _ = init_db_scenes_tiles(workflow, scenes_done=True)
    report(workflow, "tile", idb0, Outcome.retry("error"))
    tile = workflow.tile(idb0)
    assert tile.status == Status.PENDING
    assert tile.retry_countdown == root_scene().retry_countdown - 1
    assert tile.message == ""
    assert idb0 in claimable(workflow, "tile")  # a retry message in tileQueue


def test_finishing_a_root_tile_with_success(workflow: Workflow) -> None:
    idb0, idb1, idb2 = init_db_scenes_tiles(workflow, scenes_done=True)
    before = set(claimable(workflow, "tile"))
    report(workflow, "tile", idb0, Outcome.done())
    assert workflow.tile(idb0).status == Status.DONE
    nxt = workflow.tile(idb1)
    assert (nxt.status, nxt.retry_countdown) == (Status.PENDING, 0)
    assert workflow.tile(idb2).status == Status.NEW
    assert set(claimable(workflow, "tile")) - (before - {idb0}) == {idb1}  # one message: the next tile


# -- Root and leaf tiles --------------------------------------------------------------------------


def _fail_first_two(workflow: Workflow) -> tuple[int, int, int]:
    idb0, idb1, idb2 = init_db_scenes_tiles(workflow, scenes_done=True)
    report(workflow, "tile", idb0, Outcome.failed("error"))
    report(workflow, "tile", idb1, Outcome.failed("error"))
    return idb0, idb1, idb2


def test_root_tiles(workflow: Workflow) -> None:
    _fail_first_two(workflow)
    roots = workflow.root_tiles(AOI)
    assert sorted(t.scene_source_id for t in roots) == sorted([ROOT, LEAF2])
    for tile in roots:
        scene = root_scene() if tile.scene_source_id == ROOT else leaf2_scene()
        assert tile.data == next(t.data for t in scene.tiles if t.source_id == tile.source_id)


def test_leaf_tiles(workflow: Workflow) -> None:
    _fail_first_two(workflow)
    leaves = workflow.leaf_tiles(AOI)
    assert [t.scene_source_id for t in leaves] == [LEAF2, LEAF2]
    assert sorted(t.source_id for t in leaves) == sorted(BURSTS)


# -- issue 13, items 1-3: countdown, messages, references as upstream's code has them ---------------


def test_manual_retry_spends_a_retry(workflow: Workflow) -> None:
    """The seed's DONE/FAILED items show -1: a manual retry from 0 left."""
    workflow.ingest("A", series(1))
    [lease] = workflow.claim("scene", "w")
    workflow.report(lease, Outcome.retry("network down"))
    assert workflow.scene(lease.id).retry_countdown == 0
    retried = workflow.retry("scene", lease.id)
    assert (retried.status, retried.retry_countdown, retried.message) == (Status.PENDING, -1, "")
    [lease] = workflow.claim("scene", "w")
    workflow.report(lease, Outcome.done())
    assert workflow.scene(lease.id).retry_countdown == -1


def test_every_move_to_pending_but_the_first_dispatch_spends_a_retry(workflow: Workflow) -> None:
    workflow.ingest("A", series(2, ["b1", "b2"], retry_countdown=3))
    download_all(workflow)
    first = tile_id(workflow, "A", "S000", "b1")
    assert workflow.tile(first).retry_countdown == 3  # dispatched after its scene: nothing spent
    workflow.force("tile", first, Status.PENDING)
    assert workflow.tile(first).retry_countdown == 2  # forced PENDING
    workflow.force("tile", first, Status.RETRY)
    workflow.retry_aoi("A")
    assert workflow.tile(first).retry_countdown == 1  # retried with the AOI
    workflow.retry_aoi("A", force=True)
    assert workflow.tile(first).retry_countdown == 0  # re-dispatched by force
    process_all(workflow)
    second = workflow.tile(tile_id(workflow, "A", "S001", "b1"))
    assert (second.status, second.retry_countdown) == (Status.DONE, 3)  # dispatched after its previous
    scene = workflow.scene(second.scene_id)
    workflow.force("scene", scene.id, Status.PENDING)
    assert workflow.scene(scene.id).retry_countdown == 2


def test_fail_on_a_retry_item_keeps_its_error(workflow: Workflow) -> None:
    workflow.ingest("A", series(2, linked=False))
    leases = workflow.claim("scene", "w", limit=2)
    workflow.report_many([(lease, Outcome.retry("product offline")) for lease in leases])
    failed = workflow.fail("scene", leases[0].id, "gave up: offline for a week")
    assert (failed.status, failed.message) == (Status.FAILED, "product offline")
    history = workflow.events("scene", failed.id)
    assert (history[-1].to_status, history[-1].message) == (Status.FAILED, "gave up: offline for a week")
    [tile] = workflow.tiles(scene_id=failed.id)
    assert tile.message == "scene failed: product offline"
    forced = workflow.force("scene", leases[1].id, Status.FAILED, "forced away")
    assert forced.message == "product offline"
    assert workflow.events("scene", forced.id)[-1].message == "forced away"


def test_failed_middle_tile_keeps_its_reference_and_its_child_spends_a_retry(workflow: Workflow) -> None:
    workflow.ingest("A", series(3, retry_countdown=2))
    download_all(workflow)
    ids = [tile_id(workflow, "A", f"S00{i}", "b1") for i in range(3)]
    [lease] = workflow.claim("tile", "w")
    workflow.report(lease, Outcome.done())
    [lease] = workflow.claim("tile", "w")
    workflow.report(lease, Outcome.failed("corrupt burst"))
    failed = workflow.tile(ids[1])
    assert (failed.status, failed.previous_id, failed.reference_id) == (Status.FAILED, None, ids[0])
    child = workflow.tile(ids[2])
    assert (child.status, child.previous_id, child.reference_id) == (Status.PENDING, ids[0], ids[0])
    assert child.retry_countdown == 1  # dispatched because it was re-linked after a failure


def test_failed_root_hands_over_and_failed_tiles_follow_the_new_reference(workflow: Workflow) -> None:
    workflow.ingest("A", series(4))
    download_all(workflow)
    ids = [tile_id(workflow, "A", f"S00{i}", "b1") for i in range(4)]
    workflow.force("tile", ids[0], Status.DONE)
    [lease] = workflow.claim("tile", "w")
    workflow.report(lease, Outcome.failed("x"))  # the middle tile ids[1]
    assert workflow.tile(ids[1]).reference_id == ids[0]
    process_all(workflow)  # nothing runs on the root's outputs any more: it may fail
    workflow.force("tile", ids[0], Status.FAILED, "bad root")
    assert workflow.tile(ids[2]).reference_id is None and workflow.tile(ids[2]).previous_id is None
    assert workflow.tile(ids[3]).reference_id == ids[2]
    assert workflow.tile(ids[1]).reference_id == ids[2]


# -- item 4: a force that would leave the graph inconsistent is refused, and changes nothing ---------


def _snapshot(wf: Workflow, aoi: str) -> tuple[dict[str, str], list[tuple[int, int | None, int | None, int]], int]:
    tiles = [(t.id, t.previous_id, t.reference_id, t.retry_countdown) for t in wf.tiles(aoi)]
    n_events = sum(len(wf.events("tile", t[0])) for t in tiles) + sum(
        len(wf.events("scene", s.id)) for s in wf.scenes(aoi)
    )
    return statuses(wf, aoi), tiles, n_events


def test_force_pending_while_the_previous_is_not_done_is_refused(workflow: Workflow) -> None:
    workflow.ingest("A", series(2))
    download_all(workflow)
    second = tile_id(workflow, "A", "S001", "b1")
    before = _snapshot(workflow, "A")
    with pytest.raises(InconsistentChange, match=r"previous tile \d+ is PENDING, not DONE"):
        workflow.force("tile", second, Status.PENDING)
    assert _snapshot(workflow, "A") == before
    process_all(workflow)
    assert workflow.tile(second).status == Status.DONE


def test_force_pending_before_the_scene_is_downloaded_is_refused(workflow: Workflow) -> None:
    workflow.ingest("A", series(1))
    before = _snapshot(workflow, "A")
    with pytest.raises(InconsistentChange, match=r"its scene \d+ is PENDING, not DONE"):
        workflow.force("tile", tile_id(workflow, "A", "S000", "b1"), Status.PENDING)
    assert _snapshot(workflow, "A") == before


def test_force_failed_on_a_done_scene_with_pending_tiles_is_refused(workflow: Workflow) -> None:
    workflow.ingest("A", series(2, ["b1", "b2"]))
    download_all(workflow)
    scene = workflow.scenes("A")[0]
    before = _snapshot(workflow, "A")
    with pytest.raises(InconsistentChange, match="PENDING"):
        workflow.force("scene", scene.id, Status.FAILED)
    assert _snapshot(workflow, "A") == before
    # Once its tiles are done, failing it fails them and re-links the series.
    process_all(workflow)
    failed = workflow.force("scene", scene.id, Status.FAILED, "wrong orbit")
    assert failed.status == Status.FAILED
    assert {t.status for t in workflow.tiles(scene_id=scene.id)} == {Status.FAILED}


def test_fail_a_tile_whose_dependant_is_running_is_refused(workflow: Workflow) -> None:
    workflow.ingest("A", series(2))
    download_all(workflow)
    first, second = (tile_id(workflow, "A", f"S00{i}", "b1") for i in range(2))
    [lease] = workflow.claim("tile", "w")
    workflow.report(lease, Outcome.done())
    assert workflow.tile(second).status == Status.PENDING
    with pytest.raises(InconsistentChange, match=f"tile\\(s\\) {second} are PENDING"):
        workflow.force("tile", first, Status.FAILED)
    assert workflow.tile(first).status == Status.DONE


def test_a_plain_retry_of_a_tile_not_ready_stays_a_refused_transition(workflow: Workflow) -> None:
    workflow.ingest("A", series(2))
    second = tile_id(workflow, "A", "S001", "b1")
    workflow.force("tile", second, Status.RETRY)
    with pytest.raises(TransitionRefused, match="its scene"):
        workflow.retry("tile", second)


# -- item 7: what we keep different on purpose ---------------------------------------------------


def test_a_relinked_child_waits_for_its_new_previous(workflow: Workflow) -> None:
    """Upstream dispatches the child of a failed tile at once, even when its new previous is not DONE."""
    workflow.ingest("A", series(3, retry_countdown=1))
    download_all(workflow)
    ids = [tile_id(workflow, "A", f"S00{i}", "b1") for i in range(3)]
    workflow.force("tile", ids[1], Status.RETRY)
    workflow.fail("tile", ids[1])
    child = workflow.tile(ids[2])
    assert (child.previous_id, child.status) == (ids[0], Status.NEW)  # ids[0] is still PENDING
    process_all(workflow)
    child = workflow.tile(ids[2])
    assert (child.status, child.retry_countdown) == (Status.DONE, 1)  # dispatched by its previous: a first dispatch


def test_a_tile_given_a_previous_but_no_reference_is_linked(workflow: Workflow) -> None:
    """Upstream's CreateTile links a tile only when both are given (else it makes a new root)."""
    workflow.ingest("A", series(3))
    ids = [tile_id(workflow, "A", f"S00{i}", "b1") for i in range(3)]
    assert [workflow.tile(i).previous_id for i in ids] == [None, ids[0], ids[1]]
    assert [workflow.tile(i).reference_id for i in ids] == [None, ids[0], ids[0]]
