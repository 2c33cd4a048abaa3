"""The main job end to end, in process, on SQLite and PostgreSQL (seeds/run-a-payload.md steps 1-5)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import shapely

from geocube_ingest.catalogue import (
    list_tiles,
    scenes_from_geojson,
    scenes_to_geojson,
    search_scenes,
    tiles_from_geojson,
    tiles_to_geojson,
)
from geocube_ingest.demo.build import AOI_NAME, DemoWorld
from geocube_ingest.errors import NotFound
from geocube_ingest.index import get_index, open_cube
from geocube_ingest.payload import Payload
from geocube_ingest.pipeline import ingest, run_workers
from geocube_ingest.settings import Settings
from geocube_ingest.status import Status
from geocube_ingest.workflow import Workflow

pytestmark = pytest.mark.slow


def _files(root: Path) -> dict[str, float]:
    return {str(p.relative_to(root)): p.stat().st_mtime for p in sorted(root.rglob("*")) if p.is_file()}


def test_demo_payload_end_to_end(demo_world: DemoWorld, demo_settings: Settings) -> None:
    report = ingest(demo_world.payload, settings=demo_settings)
    summary = report.summary
    # 10 acquisitions in the catalogue, one over 90 % cloud cover filtered out by the payload.
    assert (summary.scenes.done, summary.scenes.total) == (9, 9)
    assert (summary.tiles.done, summary.tiles.total) == (9, 9)
    assert summary.root_tiles == 1 and summary.status == Status.DONE
    area = Workflow(settings=demo_settings).aoi_geometry(AOI_NAME)  # kept for maps
    assert area is not None and shapely.from_wkt(area).equals(Payload.parse(demo_world.payload).shape)
    assert report.prepared.records_created == 9 and not report.drained.failures

    index = get_index(demo_settings)
    records = index.find_records(name="S2*")
    assert len(records) == 9
    assert all(r.tags["source"] == "geocube-ingest demo" and "processingDate" in r.tags for r in records)
    # One NDVI per date, a change since the previous/reference for all but the first.
    datasets = index.datasets(record_ids=[r.id for r in records])  # type: ignore[attr-defined]
    assert len(datasets) == 9 + 8 + 8

    storage = Path(demo_settings.resolved_storage_uri) / AOI_NAME
    items = sorted((storage / "stac" / "items").glob("*.json"))
    assert report.stac_collection and len(items) == 9
    tifs = sorted(storage.rglob("*_ndvi.tif"))
    assert len(tifs) == 9
    assert not list(Path(demo_settings.resolved_work_dir).rglob("*.part"))

    cube = open_cube("NDVI", "demo", collection=AOI_NAME, settings=demo_settings).compute()
    assert cube.sizes["time"] == 9
    means = [float(np.nanmean(v)) for v in cube.values]
    assert means == sorted(means), "the demo fields green up through April"
    assert np.nanmin(cube.values) >= -1 and np.nanmax(cube.values) <= 1
    change = open_cube("NDVIChange", "previous", collection=AOI_NAME, settings=demo_settings).compute()
    assert change.sizes["time"] == 8


def test_running_again_is_a_noop(demo_world: DemoWorld, demo_settings: Settings) -> None:
    ingest(demo_world.payload, settings=demo_settings)
    storage = Path(demo_settings.resolved_storage_uri)
    before = _files(storage)
    again = ingest(demo_world.payload, settings=demo_settings)
    assert again.was_noop and "Nothing to do" in again.text()
    assert again.prepared.records_reused == 0 and again.prepared.records_created == 0
    assert _files(storage) == before  # not a file rewritten
    assert len(get_index(demo_settings).find_records(name="S2*")) == 9


def test_from_scenes_and_tiles_files(demo_world: DemoWorld, demo_settings: Settings, tmp_path: Path) -> None:
    """As /catalog/aoi with `scenes=` or `tiles=`: the files (edited by hand) drive the ingestion."""
    payload = Payload.parse(demo_world.payload)
    scenes = search_scenes(payload, settings=demo_settings).scenes
    document = scenes_to_geojson(scenes, payload)
    document["features"] = [f for f in document["features"] if "20240412" not in f["properties"]["source_id"]]
    path = tmp_path / "scenes.json"
    path.write_text(json.dumps(document))
    edited = scenes_from_geojson(json.loads(path.read_text()))
    report = ingest(payload, scenes=edited, settings=demo_settings)
    assert report.summary.scenes.done == 8

    tiles = list_tiles(payload, scenes, workflow=Workflow(settings=demo_settings), settings=demo_settings)
    assert [t.scene_source_id for t in tiles if not t.ingested] == [
        s.source_id for s in scenes if "20240412" in s.source_id
    ]
    from_tiles = tiles_from_geojson(json.loads(json.dumps(tiles_to_geojson(tiles, payload))))
    report = ingest(payload, tiles=from_tiles, settings=demo_settings)
    assert report.summary.scenes.done == 9
    # The backfilled acquisition re-wired the chain after it: those tiles were processed again.
    assert report.summary.tiles.done == 9 and report.prepared.relinked == 1


def test_missing_layer_creates_nothing(demo_world: DemoWorld, demo_settings: Settings) -> None:
    body = json.loads(json.dumps(demo_world.payload))
    body["layers"]["ndvi"] = {"variable": "NDVI", "instance": "no-such-instance"}
    with pytest.raises(NotFound, match="no-such-instance"):
        ingest(body, settings=demo_settings)
    assert not Workflow(settings=demo_settings).aoi_exists(AOI_NAME)
    assert get_index(demo_settings).find_records(name="S2*") == []


def test_failed_download_then_operator(demo_world: DemoWorld, demo_settings: Settings, tmp_path: Path) -> None:
    """A product that cannot be found: retried once (retry_count 1), then RETRY; the chain waits.

    The operator fails the scene: its tile leaves the chain and the rest is processed.
    """
    catalogue = json.loads(demo_world.catalogue.read_text())
    broken = catalogue["features"][3]
    # Missing, in a folder links may point to (the demo's): not found, unlike a link the operator forbids.
    broken["assets"]["product"]["href"] = (demo_world.folder / "products" / "missing.SAFE.zip").as_uri()
    broken_catalogue = tmp_path / "catalogue.json"
    broken_catalogue.write_text(json.dumps(catalogue))
    settings = demo_settings.with_overrides(
        {"catalogue": {"providers": [{"name": "demo", "kind": "stac-static", "url": str(broken_catalogue)}]}}
    )
    report = ingest(demo_world.payload, settings=settings)
    wf = Workflow(settings=settings)
    [retry] = wf.scenes(AOI_NAME, Status.RETRY)
    assert retry.source_id == broken["properties"]["s2:product_uri"].removesuffix(".SAFE")
    assert "not found" in retry.message and report.drained.failures
    history = [e.to_status for e in wf.events("scene", retry.id)]
    assert history.count(Status.RETRY) == 2  # one automatic retry, then it sticks
    waiting = report.summary.tiles.new
    assert waiting >= 1  # the tiles after it wait for it

    wf.fail("scene", retry.id, "product withdrawn")
    run_workers(wf, get_index(settings), settings, AOI_NAME)
    summary = wf.summary(AOI_NAME)
    assert (summary.tiles.done, summary.tiles.failed) == (8, 1)
    assert summary.status == Status.DONE
