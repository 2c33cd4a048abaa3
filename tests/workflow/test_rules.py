"""One test (or more) per rule of SPEC section 5, on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools

import pytest

from geocube_ingest.errors import InvalidInput, NotFound, TransitionRefused
from geocube_ingest.status import Status
from geocube_ingest.workflow import NewScene, NewTile, Outcome, Relink, TileKey, Workflow

from .helpers import download_all, process_all, scene_id, series, statuses, tile_id

AOI = "Rules"


# -- ingesting ---------------------------------------------------------------------------


def test_ingest_scene_pending_tiles_new(workflow: Workflow) -> None:
    result = workflow.ingest(AOI, series(2, ["b1", "b2"]))
    assert len(result.created) == 2 and result.tiles_created == 4
    assert statuses(workflow, AOI) == {
        "S000": "PENDING", "S001": "PENDING",
        "S000/b1": "NEW", "S000/b2": "NEW", "S001/b1": "NEW", "S001/b2": "NEW",
    }  # fmt: skip
    b1_0, b1_1 = tile_id(workflow, AOI, "S000", "b1"), tile_id(workflow, AOI, "S001", "b1")
    second = workflow.tile(b1_1)
    assert second.previous_id == b1_0 and second.reference_id == b1_0
    assert workflow.tile(b1_0).previous_id is None and workflow.tile(b1_0).reference_id is None


def test_repost_is_a_noop(workflow: Workflow) -> None:
    first = workflow.ingest(AOI, series(3))
    again = workflow.ingest(AOI, series(3))
    assert again.created == [] and sorted(again.existing) == sorted(first.created)
    assert again.tiles_created == 0
    assert workflow.summary(AOI).scenes.total == 3 and workflow.summary(AOI).tiles.total == 3
    # The same scene twice in one request is not a duplicate either.
    batch = series(1, start=5, linked=False) * 2
    assert len(workflow.ingest(AOI, batch).created) == 1


def test_repost_does_not_reset_progress(workflow: Workflow) -> None:
    workflow.ingest(AOI, series(2))
    download_all(workflow)
    workflow.ingest(AOI, series(2))
    assert statuses(workflow, AOI)["S000"] == "DONE"


def test_append_chains_onto_existing_tiles(workflow: Workflow) -> None:
    workflow.ingest(AOI, series(2))
    download_all(workflow)
    process_all(workflow)
    workflow.ingest(AOI, series(1, start=2))
    t2 = workflow.tile(tile_id(workflow, AOI, "S002", "b1"))
    assert t2.previous_id == tile_id(workflow, AOI, "S001", "b1")
    assert t2.reference_id == tile_id(workflow, AOI, "S000", "b1")
    download_all(workflow)
    # Previous is DONE and the scene is DONE: processing is due at once.
    assert workflow.tile(t2.id).status == Status.PENDING


@pytest.mark.parametrize("missing", ["scene", "tile"])
def test_link_to_missing_tile_is_rejected_and_nothing_created(workflow: Workflow, missing: str) -> None:
    workflow.ingest(AOI, series(1))
    bad = NewScene(
        "S009",
        {"date": "2022-03-01T00:00:00Z"},
        [
            NewTile(
                "b1", previous=TileKey("NOPE" if missing == "scene" else "S000", "b1" if missing == "scene" else "zz")
            )
        ],
    )
    with pytest.raises(InvalidInput, match="does not exist"):
        workflow.ingest(AOI, [*series(1, start=1), bad])
    assert [s.source_id for s in workflow.scenes(AOI)] == ["S000"]


def test_link_to_failed_tile_is_rejected(workflow: Workflow) -> None:
    workflow.ingest(AOI, series(1, linked=False))
    workflow.force("tile", tile_id(workflow, AOI, "S000", "b1"), Status.FAILED)
    with pytest.raises(InvalidInput, match="FAILED"):
        workflow.ingest(AOI, series(1, start=1))
    assert workflow.summary(AOI).scenes.total == 1


def test_cycles_are_rejected(workflow: Workflow) -> None:
    a = NewScene("A", {"date": "2022-01-01T00:00:00Z"}, [NewTile("t", previous=TileKey("B", "t"))])
    b = NewScene("B", {"date": "2022-01-02T00:00:00Z"}, [NewTile("t", previous=TileKey("A", "t"))])
    with pytest.raises(InvalidInput, match="ancestor"):
        workflow.ingest(AOI, [a, b])
    assert not workflow.aoi_exists(AOI) or workflow.summary(AOI).scenes.total == 0


@pytest.mark.parametrize(
    ("scene", "message"),
    [
        (NewScene("X", {"date": "2022-01-01T00:00:00Z"}, []), "no tiles"),
        (NewScene("", {"date": "2022-01-01T00:00:00Z"}, [NewTile("t")]), "empty source_id"),
        (NewScene("X", {"date": "2022-01-01T00:00:00Z"}, [NewTile("t"), NewTile("t")]), "twice"),
        (NewScene("X", {"date": "yesterday"}, [NewTile("t")]), "invalid date"),
    ],
)
def test_bad_scenes_are_rejected(workflow: Workflow, scene: NewScene, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        workflow.ingest(AOI, [scene])


def test_invalid_aoi_name(workflow: Workflow) -> None:
    with pytest.raises(InvalidInput, match="invalid AOI name"):
        workflow.ingest("bad name", series(1))


# -- dispatch ------------------------------------------------------------------------------


def test_scene_done_dispatches_roots_only(workflow: Workflow) -> None:
    workflow.ingest(AOI, series(3))
    download_all(workflow)
    assert statuses(workflow, AOI) == {
        "S000": "DONE", "S001": "DONE", "S002": "DONE",
        "S000/b1": "PENDING", "S001/b1": "NEW", "S002/b1": "NEW",
    }  # fmt: skip


def test_scene_done_dispatches_tiles_whose_previous_is_done(workflow: Workflow) -> None:
    workflow.ingest(AOI, series(2))
    first, second = workflow.claim("scene", "w")
    workflow.report(first, Outcome.done())
    process_all(workflow)
    assert statuses(workflow, AOI)["S001/b1"] == "NEW"  # its scene is not downloaded yet
    workflow.report(second, Outcome.done())
    assert statuses(workflow, AOI)["S001/b1"] == "PENDING"


def test_tile_done_dispatches_dependants_with_scene_done(workflow: Workflow) -> None:
    workflow.ingest(AOI, series(3))
    download_all(workflow)
    assert process_all(workflow) == ["S000/b1", "S001/b1", "S002/b1"]
    assert workflow.aoi_status(AOI) == Status.DONE


def test_unlinked_tiles_run_in_parallel(workflow: Workflow) -> None:
    workflow.ingest(AOI, series(3, linked=False))
    download_all(workflow)
    assert len(workflow.claim("tile", "w", limit=10)) == 3


# -- retry ---------------------------------------------------------------------------------


def test_retry_countdown_redispatches_then_sticks(workflow: Workflow) -> None:
    workflow.ingest(AOI, series(1, retry_countdown=2))
    for expected_left in (1, 0):
        [lease] = workflow.claim("scene", "w")
        workflow.report(lease, Outcome.retry("network down"))
        scene = workflow.scene(lease.id)
        assert scene.status == Status.PENDING and scene.retry_countdown == expected_left
        assert scene.message == ""  # retried at once: the message is kept (upstream), the error is in the history
    [lease] = workflow.claim("scene", "w")
    workflow.report(lease, Outcome.retry("still down"))
    scene = workflow.scene(lease.id)
    assert scene.status == Status.RETRY and scene.message == "still down"
    history = [(e.from_status, e.to_status, e.message) for e in workflow.events("scene", scene.id)]
    assert history.count((Status.PENDING, Status.RETRY, "network down")) == 2
    assert (Status.RETRY, Status.PENDING, "automatic retry (0 left)") in history
    assert history[-1] == (Status.PENDING, Status.RETRY, "still down")


def test_tiles_inherit_the_retry_count(workflow: Workflow) -> None:
    workflow.ingest(AOI, series(1, retry_countdown=1))
    download_all(workflow)
    [lease] = workflow.claim("tile", "w")
    workflow.report(lease, Outcome.retry("oops"))
    assert workflow.tile(lease.id).status == Status.PENDING
    [lease] = workflow.claim("tile", "w")
    workflow.report(lease, Outcome.retry("oops again"))
    assert workflow.tile(lease.id).status == Status.RETRY


def test_manual_retry_fail_done_from_retry(workflow: Workflow) -> None:
    workflow.ingest(AOI, series(3, linked=False))
    download_all(workflow)
    leases = workflow.claim("tile", "w", limit=3)
    workflow.report_many([(lease, Outcome.retry("bad")) for lease in leases])
    a, b, c = (lease.id for lease in leases)
    assert workflow.retry("tile", a).status == Status.PENDING
    assert workflow.tile(a).message == ""
    assert workflow.fail("tile", b, "gave up").status == Status.FAILED
    assert workflow.set_status("tile", c, Status.DONE).status == Status.DONE


def test_retry_refused_until_inputs_are_there(workflow: Workflow) -> None:
    workflow.ingest(AOI, series(2))
    download_all(workflow)
    [lease] = workflow.claim("tile", "w")
    workflow.report(lease, Outcome.retry("bad"))
    second = tile_id(workflow, AOI, "S001", "b1")
    workflow.force("tile", second, Status.RETRY)
    with pytest.raises(TransitionRefused, match="previous tile"):
        workflow.retry("tile", second)
    workflow.ingest(AOI, series(1, start=2, linked=False))
    third = tile_id(workflow, AOI, "S002", "b1")
    workflow.force("tile", third, Status.RETRY)
    with pytest.raises(TransitionRefused, match="scene"):
        workflow.retry("tile", third)


ALL = list(Status)


@pytest.mark.parametrize(("start", "target"), list(itertools.product(ALL, ALL)))
def test_transition_table(workflow: Workflow, start: Status, target: Status) -> None:
    """Without force only PENDING→DONE|RETRY|FAILED and RETRY→PENDING|FAILED|DONE are allowed."""
    workflow.ingest(AOI, series(1))
    sid = scene_id(workflow, AOI, "S000")
    workflow.force("scene", sid, start)
    allowed = (start, target) in {
        (Status.PENDING, Status.DONE), (Status.PENDING, Status.RETRY), (Status.PENDING, Status.FAILED),
        (Status.RETRY, Status.PENDING), (Status.RETRY, Status.FAILED), (Status.RETRY, Status.DONE),
    }  # fmt: skip
    if allowed:
        assert workflow.set_status("scene", sid, target, "why").status in (target, Status.PENDING)
    else:
        with pytest.raises(TransitionRefused, match="not allowed"):
            workflow.set_status("scene", sid, target)
        assert workflow.scene(sid).status == start


def test_unknown_ids(workflow: Workflow) -> None:
    with pytest.raises(NotFound):
        workflow.retry("scene", 12345)
    with pytest.raises(NotFound):
        workflow.tile(999)
    with pytest.raises(NotFound):
        workflow.summary("NoSuchAOI")


# -- failure re-linking --------------------------------------------------------------------


def test_failed_middle_tile_is_skipped(workflow: Workflow) -> None:
    workflow.ingest(AOI, series(4))
    download_all(workflow)
    ids = [tile_id(workflow, AOI, f"S00{i}", "b1") for i in range(4)]
    [lease] = workflow.claim("tile", "w")
    workflow.report(lease, Outcome.done())
    [lease] = workflow.claim("tile", "w")
    assert lease.id == ids[1]
    workflow.report(lease, Outcome.failed("corrupt burst"))
    third = workflow.tile(ids[2])
    assert third.previous_id == ids[0] and third.reference_id == ids[0]
    assert third.status == Status.PENDING  # its new previous is DONE: dispatched
    failed = workflow.tile(ids[1])
    assert failed.status == Status.FAILED and failed.previous_id is None and failed.message == "corrupt burst"
    assert process_all(workflow) == ["S002/b1", "S003/b1"]
    assert workflow.summary(AOI).root_tiles == 1


def test_failed_root_hands_over(workflow: Workflow) -> None:
    workflow.ingest(AOI, series(4))
    download_all(workflow)
    ids = [tile_id(workflow, AOI, f"S00{i}", "b1") for i in range(4)]
    [lease] = workflow.claim("tile", "w")
    workflow.report(lease, Outcome.failed("no data"))
    new_root = workflow.tile(ids[1])
    assert new_root.previous_id is None and new_root.reference_id is None
    assert new_root.status == Status.PENDING
    assert [workflow.tile(i).reference_id for i in ids[2:]] == [ids[1], ids[1]]
    assert workflow.tile(ids[2]).previous_id == ids[1]
    assert [t.id for t in workflow.root_tiles(AOI)] == [ids[1]]
    history = workflow.events("tile", ids[1])
    assert any("now the reference" in e.message for e in history)


def test_failed_tile_with_dependant_not_downloaded(workflow: Workflow) -> None:
    workflow.ingest(AOI, series(2))
    first, second_scene = workflow.claim("scene", "w")
    workflow.report(first, Outcome.done())
    [lease] = workflow.claim("tile", "w")
    workflow.report(lease, Outcome.failed("x"))
    second = tile_id(workflow, AOI, "S001", "b1")
    assert workflow.tile(second).status == Status.NEW  # scene not DONE: not dispatched
    workflow.report(second_scene, Outcome.done())
    assert workflow.tile(second).status == Status.PENDING


def test_failed_scene_fails_its_tiles_and_relinks(workflow: Workflow) -> None:
    workflow.ingest(AOI, series(3, ["b1", "b2"]))
    leases = workflow.claim("scene", "w", limit=3)
    workflow.report_many(
        [(leases[0], Outcome.done()), (leases[1], Outcome.failed("product missing")), (leases[2], Outcome.done())]
    )
    st = statuses(workflow, AOI)
    assert st["S001"] == "FAILED" and st["S001/b1"] == "FAILED" and st["S001/b2"] == "FAILED"
    assert workflow.tile(tile_id(workflow, AOI, "S001", "b1")).message == "scene failed: product missing"
    for loc in ("b1", "b2"):
        third = workflow.tile(tile_id(workflow, AOI, "S002", loc))
        assert third.previous_id == tile_id(workflow, AOI, "S000", loc)
    assert process_all(workflow) == ["S000/b1", "S000/b2", "S002/b1", "S002/b2"]
    assert workflow.aoi_status(AOI) == Status.DONE


def test_failed_root_scene(workflow: Workflow) -> None:
    workflow.ingest(AOI, series(3))
    leases = workflow.claim("scene", "w", limit=3)
    workflow.report_many(
        [(leases[0], Outcome.failed("gone")), (leases[1], Outcome.done()), (leases[2], Outcome.done())]
    )
    assert process_all(workflow) == ["S001/b1", "S002/b1"]
    assert workflow.tile(tile_id(workflow, AOI, "S002", "b1")).reference_id == tile_id(workflow, AOI, "S001", "b1")


# -- force -------------------------------------------------------------------------------


def test_force_done_runs_side_effects(workflow: Workflow) -> None:
    workflow.ingest(AOI, series(2))
    download_all(workflow)
    first = tile_id(workflow, AOI, "S000", "b1")
    workflow.force("tile", first, Status.DONE, "done by hand")
    assert statuses(workflow, AOI)["S001/b1"] == "PENDING"
    assert workflow.tile(first).message == "done by hand"


def test_force_scene_done_dispatches(workflow: Workflow) -> None:
    workflow.ingest(AOI, series(1))
    workflow.force("scene", scene_id(workflow, AOI, "S000"), "done")
    assert statuses(workflow, AOI)["S000/b1"] == "PENDING"


def test_force_failed_on_done_tile_relinks(workflow: Workflow) -> None:
    workflow.ingest(AOI, series(3))
    download_all(workflow)
    process_all(workflow)
    mid = tile_id(workflow, AOI, "S001", "b1")
    workflow.force("tile", mid, Status.FAILED, "bad quality found later")
    assert workflow.tile(tile_id(workflow, AOI, "S002", "b1")).previous_id == tile_id(workflow, AOI, "S000", "b1")
    assert workflow.tile(tile_id(workflow, AOI, "S002", "b1")).status == Status.DONE


def test_force_pending_waits_for_a_retried_scene(workflow: Workflow) -> None:
    workflow.ingest(AOI, series(1))
    download_all(workflow)
    first = tile_id(workflow, AOI, "S000", "b1")
    workflow.force("scene", scene_id(workflow, AOI, "S000"), Status.PENDING)  # downloaded again
    assert workflow.claim("tile", "w") == []  # its product is being replaced
    download_all(workflow)
    assert [lease.id for lease in workflow.claim("tile", "w", limit=5)] == [first]


def test_force_cancels_a_running_lease(workflow: Workflow) -> None:
    workflow.ingest(AOI, series(1))
    [lease] = workflow.claim("scene", "w")
    workflow.force("scene", lease.id, Status.PENDING)
    assert workflow.report(lease, Outcome.done()) is False  # that run was cancelled
    [again] = workflow.claim("scene", "w2")
    assert workflow.report(again, Outcome.done()) is True


# -- AOI-wide ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("forced", "expected"),
    [
        ({}, Status.PENDING),
        ({"S000": Status.RETRY}, Status.RETRY),
        ({"S000": Status.DONE, "S001": Status.DONE, "S002": Status.DONE}, Status.PENDING),
        ({"S000": Status.FAILED, "S001": Status.FAILED, "S002": Status.FAILED}, Status.FAILED),
    ],
)
def test_aoi_status_priority(workflow: Workflow, forced: dict[str, Status], expected: Status) -> None:
    workflow.ingest(AOI, series(3, linked=False))
    for name, status in forced.items():
        workflow.force("scene", scene_id(workflow, AOI, name), status)
    assert workflow.aoi_status(AOI) == expected


def test_aoi_status_ladder(workflow: Workflow) -> None:
    workflow.ingest(AOI, series(1, linked=False))
    assert workflow.aoi_status(AOI) == Status.PENDING
    download_all(workflow)
    tid = tile_id(workflow, AOI, "S000", "b1")
    workflow.force("tile", tid, Status.NEW)
    assert workflow.aoi_status(AOI) == Status.NEW
    workflow.force("tile", tid, Status.DONE)
    assert workflow.aoi_status(AOI) == Status.DONE
    workflow.force("tile", tid, Status.RETRY)
    assert workflow.aoi_status(AOI) == Status.RETRY


def test_retry_aoi(workflow: Workflow) -> None:
    workflow.ingest(AOI, series(3, ["b1", "b2"], linked=False))
    leases = workflow.claim("scene", "w", limit=3)
    workflow.report_many([(leases[0], Outcome.retry("x")), (leases[1], Outcome.done()), (leases[2], Outcome.done())])
    tiles = workflow.claim("tile", "w", limit=10)
    workflow.report_many([(t, Outcome.retry("y")) for t in tiles[:3]])
    result = workflow.retry_aoi(AOI)
    assert (result.scenes, result.tiles) == (1, 3)
    assert workflow.summary(AOI).scenes.retry == 0 and workflow.summary(AOI).tiles.retry == 0
    assert workflow.retry_aoi(AOI) == type(result)(0, 0)
    # force also re-dispatches PENDING work (e.g. stuck on a dead worker's lease)
    forced = workflow.retry_aoi(AOI, force=True)
    assert forced.scenes == 1 and forced.tiles == 4


def test_delete_aoi(workflow: Workflow) -> None:
    workflow.ingest(AOI, series(3, ["b1", "b2"]))
    workflow.ingest("Other", series(1))
    result = workflow.delete_aoi(AOI)
    assert (result.scenes, result.tiles) == (3, 6)
    assert [a.name for a in workflow.list_aois()] == ["Other"]
    with pytest.raises(NotFound):
        workflow.delete_aoi(AOI)
    # The name can be used again from scratch.
    workflow.ingest(AOI, series(1))
    assert workflow.summary(AOI).scenes.total == 1


# -- backfill -------------------------------------------------------------------------------


def test_backfill_rewires_the_chain(workflow: Workflow) -> None:
    later = series(3, start=1)  # S001 → S002 → S003
    later[0].tiles[0].previous = None
    workflow.ingest(AOI, later)
    old_root = tile_id(workflow, AOI, "S001", "b1")
    older = series(1, start=0, linked=False)  # S000, acquired before everything
    relink = Relink(TileKey("S001", "b1"), previous=TileKey("S000", "b1"))
    result = workflow.ingest(AOI, older, [relink])
    assert result.relinked == 1
    new_root = tile_id(workflow, AOI, "S000", "b1")
    assert workflow.tile(old_root).previous_id == new_root
    for name in ("S001", "S002", "S003"):
        assert workflow.tile(tile_id(workflow, AOI, name, "b1")).reference_id == new_root
    download_all(workflow)
    assert process_all(workflow) == ["S000/b1", "S001/b1", "S002/b1", "S003/b1"]


def test_backfill_in_the_middle(workflow: Workflow) -> None:
    s0, s1, s2 = series(3)
    s2.tiles[0].previous = TileKey("S000", "b1")  # S001 is not known yet
    workflow.ingest(AOI, [s0, s2])
    s1_relink = Relink(TileKey("S002", "b1"), previous=TileKey("S001", "b1"))
    workflow.ingest(AOI, [s1], [s1_relink])
    root = tile_id(workflow, AOI, "S000", "b1")
    middle = workflow.tile(tile_id(workflow, AOI, "S001", "b1"))
    last = workflow.tile(tile_id(workflow, AOI, "S002", "b1"))
    assert (middle.previous_id, middle.reference_id) == (root, root)
    assert (last.previous_id, last.reference_id) == (middle.id, root)
    assert any("re-linked" in e.message for e in workflow.events("tile", last.id))


def test_relink_missing_tile_is_rejected(workflow: Workflow) -> None:
    workflow.ingest(AOI, series(1))
    with pytest.raises(InvalidInput, match="does not exist"):
        workflow.ingest(AOI, [], [Relink(TileKey("S000", "nope"), None)])
