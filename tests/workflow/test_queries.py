"""Read side: the seed's summary byte for byte, dot, listings, patterns, paging, history."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta

import pytest

from geocube_ingest.errors import InvalidInput, NotFound
from geocube_ingest.status import Status
from geocube_ingest.workflow import NewScene, NewTile, Outcome, Workflow

from .helpers import download_all, process_all, scene_id, series, tile_id

SEED_SUMMARY = """Scenes:
  new:     0
  pending: 10
  done:    36
  retry:   0
  failed:  0
  Total:   46
Tiles:
  new:     10
  pending: 21
  done:    15
  retry:   0
  failed:  0
  Total:   46

Root tiles : 46
  From: 2022-01-04
  To:   2022-10-12
"""


def test_summary_matches_the_seed_byte_for_byte(workflow: Workflow) -> None:
    """An AOI like the seed's DenmarkDemoS2: 46 S2 scenes (one tile each) from 2022-01-04 to 2022-10-12."""
    first, last = datetime(2022, 1, 4, 10, 34, tzinfo=UTC), datetime(2022, 10, 12, 10, 40, tzinfo=UTC)
    step = (last - first) / 45
    scenes = [
        NewScene(f"S2A_MSIL1C_{i:02d}", {"date": (first + step * i).isoformat()}, [NewTile(f"S2A_MSIL1C_{i:02d}")])
        for i in range(46)
    ]
    workflow.ingest("DenmarkDemoS2", scenes)
    leases = workflow.claim("scene", "w", limit=46)
    workflow.report_many([(lease, Outcome.done()) for lease in leases[:36]])
    tiles = workflow.claim("tile", "w", limit=15)
    workflow.report_many([(lease, Outcome.done()) for lease in tiles])
    assert workflow.summary_text("DenmarkDemoS2") == SEED_SUMMARY


def test_summary_of_empty_aoi(workflow: Workflow) -> None:
    workflow.create_aoi("Empty")
    text = workflow.summary_text("Empty")
    assert text.endswith("Root tiles : 0\n  From: -\n  To:   -\n")
    assert workflow.summary("Empty").status is None


def test_summary_excludes_failed_tiles_from_roots_and_dates(workflow: Workflow) -> None:
    workflow.ingest("A", series(3, linked=False))
    download_all(workflow)
    workflow.force("tile", tile_id(workflow, "A", "S000", "b1"), Status.FAILED)
    summary = workflow.summary("A")
    assert summary.root_tiles == 2
    assert summary.first_date is not None and summary.first_date.date().isoformat() == "2022-01-16"
    assert summary.first_date.tzinfo is not None


def test_dot_graph(workflow: Workflow) -> None:
    workflow.ingest("Dot-1", series(2, ["b1"]))
    download_all(workflow)
    process_all(workflow)
    workflow.ingest("Dot-1", series(1, start=2))
    text = workflow.dot("Dot-1")
    s0, t0, t2 = scene_id(workflow, "Dot-1", "S000"), tile_id(workflow, "Dot-1", "S000", "b1"), 0
    t1 = tile_id(workflow, "Dot-1", "S001", "b1")
    t2 = tile_id(workflow, "Dot-1", "S002", "b1")
    assert text.startswith('digraph "Dot-1" {\n')
    assert f'\ts{s0} [label="S000\\n(id={s0})" color=green shape=box]\n' in text
    assert f'\tt{t0} [label="b1\\n(id={t0})" color=green]\n' in text
    assert f'\tt{t2} [label="b1\\n(id={t2})" color=gray]\n' in text
    assert f"\tt{t0} -> t{t1}\n" in text  # DONE edge: solid
    assert f"\tt{t1} -> t{t2} [style=dotted]\n" in text  # work still to do: dotted
    assert f"\ts{scene_id(workflow, 'Dot-1', 'S002')} -> t{t2} [color=gray style=dotted]\n" in text
    assert f"\ts{s0} -> t{t0} [color=gray]\n" in text


def test_dot_is_valid_graphviz(workflow: Workflow, tmp_path) -> None:  # type: ignore[no-untyped-def]
    dot = subprocess.run(["which", "dot"], capture_output=True, text=True).stdout.strip()
    if not dot:
        pytest.fail("graphviz 'dot' is required (scripts/test.sh installs it)")
    workflow.ingest("G:1_x", series(3, ["b1", "b2"]))
    result = subprocess.run([dot, "-Tsvg"], input=workflow.dot("G:1_x"), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "<svg" in result.stdout


def test_dot_keeps_hostile_names_as_text(workflow: Workflow) -> None:
    """Quotes, backslashes, newlines and `<...>` in names stay label text: no HTML label, no injected node."""
    name = 'S"1\\\n\ts9 [label=x] <b>bold</b>\\'
    tile = NewTile('t"\\<i>', {"swath_id": "", "tile_nr": 0, "graph_name": "Pass"})
    workflow.ingest("Hostile-1", [NewScene(name, {"date": "2022-01-04T10:30:00+00:00"}, [tile])])
    result = subprocess.run(["dot", "-Tsvg"], input=workflow.dot("Hostile-1"), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    svg = result.stdout
    assert svg.count('class="node"') == 2 and svg.count('class="edge"') == 1
    assert "&lt;b&gt;bold&lt;/b&gt;" in svg and "&lt;i&gt;" in svg and "<b>" not in svg
    assert "S&quot;1\\" in svg and "t&quot;\\" in svg  # one backslash each, as written


def test_listing_by_status_and_paging(workflow: Workflow) -> None:
    workflow.ingest("A", series(5, linked=False))
    leases = workflow.claim("scene", "w", limit=2)
    workflow.report_many([(lease, Outcome.done()) for lease in leases])
    assert [s.source_id for s in workflow.scenes("A", "DONE")] == ["S000", "S001"]
    assert [s.source_id for s in workflow.scenes("A", "pending")] == ["S002", "S003", "S004"]
    assert [s.source_id for s in workflow.scenes("A", page=1, limit=2)] == ["S002", "S003"]
    assert [s.source_id for s in workflow.scenes("A", page=2, limit=2)] == ["S004"]
    assert len(workflow.tiles("A", Status.PENDING)) == 2
    assert len(workflow.tiles("A", status="NEW", limit=2, page=1)) == 1
    with pytest.raises(InvalidInput, match="unknown status"):
        workflow.scenes("A", "FINISHED")
    with pytest.raises(InvalidInput, match="page needs a limit"):
        workflow.scenes("A", page=1)
    with pytest.raises(NotFound):
        workflow.scenes("B")


def test_root_and_leaf_tiles(workflow: Workflow) -> None:
    workflow.ingest("A", series(3, ["b1", "b2"]))
    roots = {(t.scene_source_id, t.source_id) for t in workflow.root_tiles("A")}
    leaves = {(t.scene_source_id, t.source_id) for t in workflow.leaf_tiles("A")}
    assert roots == {("S000", "b1"), ("S000", "b2")}
    assert leaves == {("S002", "b1"), ("S002", "b2")}


def test_aoi_patterns(workflow: Workflow) -> None:
    for name in ("Denmark-S1", "Denmark-S2", "France_S2", "FranceXS2"):
        workflow.create_aoi(name)
    assert [a.name for a in workflow.list_aois("Denmark*")] == ["Denmark-S1", "Denmark-S2"]
    assert [a.name for a in workflow.list_aois("*S?")] == ["Denmark-S1", "Denmark-S2", "FranceXS2", "France_S2"]
    # '_' is a literal in AOI names, not SQL's wildcard
    assert [a.name for a in workflow.list_aois("France_S2")] == ["France_S2"]
    assert len(workflow.list_aois()) == 4
    with pytest.raises(InvalidInput, match="invalid AOI pattern"):
        workflow.list_aois("Den%")


def test_create_aoi_twice_conflicts(workflow: Workflow) -> None:
    from geocube_ingest.errors import Conflict

    workflow.create_aoi("A")
    with pytest.raises(Conflict):
        workflow.create_aoi("A")
    workflow.ensure_aoi("A")  # idempotent variant


def test_aoi_info_counts(workflow: Workflow) -> None:
    workflow.ingest("A", series(2, ["b1", "b2"]))
    [info] = workflow.list_aois()
    assert info.status == Status.PENDING
    assert (info.scenes.pending, info.tiles.new) == (2, 4)


def test_history_is_complete(workflow: Workflow) -> None:
    workflow.ingest("A", series(2), [])
    wf = workflow.as_actor("worker:test")
    download_all(wf)
    [lease] = wf.claim("tile", "w")
    wf.report(lease, Outcome.retry("first try failed"))
    workflow.as_actor("cli:alice").retry("tile", lease.id)
    events = workflow.events("tile", lease.id)
    chain = [(e.from_status, e.to_status) for e in events]
    assert chain == [
        (None, Status.NEW),
        (Status.NEW, Status.PENDING),
        (Status.PENDING, Status.RETRY),
        (Status.RETRY, Status.PENDING),
    ]
    assert [e.actor for e in events][-2:] == ["worker:test", "cli:alice"]
    assert events[2].message == "first try failed"
    assert all(e.at.tzinfo is not None for e in events)


def test_notes_and_data(workflow: Workflow) -> None:
    workflow.ingest("A", series(1))
    sid = scene_id(workflow, "A", "S000")
    workflow.note("scene", sid, "provider cdse: not found")
    assert workflow.events("scene", sid)[-1].message == "provider cdse: not found"
    updated = workflow.set_data("scene", sid, {"date": "2022-01-04T10:30:00+00:00", "graph_name": "Pass"})
    assert updated.data["graph_name"] == "Pass"
    with pytest.raises(InvalidInput):
        workflow.set_data("scene", sid, ["not", "a", "dict"])  # type: ignore[arg-type]


def test_dates_round_trip_in_utc(workflow: Workflow) -> None:
    when = datetime(2022, 6, 1, 23, 30, tzinfo=UTC) + timedelta(microseconds=123)
    workflow.ingest("A", [NewScene("X", {"date": "2022-06-02T01:30:00.000123+02:00"}, [NewTile("t")])])
    [scene] = workflow.scenes("A")
    assert scene.date == when and scene.date.tzinfo is not None
