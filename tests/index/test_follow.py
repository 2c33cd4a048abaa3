"""The index follows the workflow (issue 12 item 8): a tile that is no longer DONE has no layer in the
index, in STAC or in `open_cube`; back to DONE (forced, or processed again) its layers count again.

Real files, the embedded index and the workflow on SQLite and PostgreSQL; the CLI's and the API's
workflows carry the listener.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import pytest

from geocube_ingest import storage
from geocube_ingest.cli.common import workflow as cli_workflow
from geocube_ingest.errors import NotFound
from geocube_ingest.index.base import DatasetToIndex
from geocube_ingest.index.cube import open_cube
from geocube_ingest.index.embedded import EmbeddedIndex
from geocube_ingest.index.follow import follow
from geocube_ingest.index.stac import collection_href, publish_collection, read_items
from geocube_ingest.settings import IndexSettings, Settings
from geocube_ingest.status import Status
from geocube_ingest.workflow import NewScene, NewTile, Outcome, TileKey, Workflow
from tests.api.conftest import ThreadedServer
from tests.index.conftest import new_record
from tests.index.layers import NDVI, prepare, real_values, write_layer
from tests.index.stac_api import running_stac_api
from tests.workflow.helpers import download_all, process_all

AOI = "Follow"
TILE = "T31TCJ"
DAYS = (3, 6, 9)


@dataclass
class World:
    settings: Settings
    workflow: Workflow
    index: EmbeddedIndex
    tiles: list[int]  # by date
    datasets: dict[int, DatasetToIndex]  # tile id → its layer

    def times(self) -> list[int]:
        cube = open_cube(NDVI.variable, NDVI.instance, collection=AOI, settings=self.settings)
        return [int(np.datetime_as_string(t, unit="D")[-2:]) for t in cube.time.values]

    def indexed_days(self) -> list[int]:
        return sorted(int(Path(d.uri).parent.parent.parent.name[-2:]) for d in self.index.datasets())


@pytest.fixture
def world(database_url: str, tmp_path: Path) -> World:
    """Three acquisitions of one tile, processed (a COG each, indexed) and published as STAC."""
    settings = Settings(storage_uri=str(tmp_path / "storage"), database_url=database_url)
    index = EmbeddedIndex(settings=settings)
    instance = prepare(index, (NDVI,))[NDVI.layer]
    wf = follow(Workflow(settings=settings), settings)
    scenes = []
    for k, day in enumerate(DAYS):
        record = index.create_records([new_record(f"S2A_202201{day:02d}", day)])[0].record
        when = datetime(2022, 1, day, 10, 30, tzinfo=UTC)
        previous = TileKey(scenes[-1].source_id, TILE) if k else None
        data = {"date": when.isoformat(), "record_id": record.id, "instances_id": {NDVI.layer: instance}}
        scenes.append(NewScene(record.name, data, [NewTile(TILE, {"graph_name": "S2Indices"}, previous=previous)]))
    wf.ingest(AOI, scenes)
    download_all(wf)
    process_all(wf)
    tiles = [t.id for t in wf.tiles(AOI)]
    datasets = {}
    for tile in wf.tiles(AOI):
        root = storage.resolve_storage_uri(tile.scene_data, settings=settings)
        folder = Path(storage.tile_folder_uri(root, AOI, tile.scene_source_id, tile.source_id))
        datasets[tile.id] = write_layer(
            folder, NDVI, real_values(NDVI, seed=tile.id), tile.scene_data["record_id"], instance
        )
    index.index_datasets(list(datasets.values()))
    publish_collection(index, AOI)
    return World(settings, wf, index, tiles, datasets)


def _item_files(world: World) -> list[str]:
    return sorted(Path(item.assets[f"{NDVI.variable}_{NDVI.instance}"].href).name for item in _items(world))


def _items(world: World) -> list[object]:
    return read_items(collection_href(AOI, settings=world.settings), world.settings)  # type: ignore[return-value]


def test_failing_a_done_tile_withdraws_its_layers_and_done_brings_them_back(world: World) -> None:
    assert world.times() == [3, 6, 9]
    last = world.tiles[-1]
    world.workflow.force("tile", last, Status.FAILED, "clouds everywhere, found later")
    assert world.indexed_days() == [3, 6]
    assert len(_items(world)) == 2
    assert world.times() == [3, 6]  # open_cube never returns the layers of a FAILED tile
    assert Path(world.datasets[last].uri).exists()  # withdrawn, not deleted
    assert len(world.index.datasets(include_withdrawn=True)) == 3

    world.workflow.force("tile", last, Status.DONE, "clouds were haze after all")
    assert world.indexed_days() == [3, 6, 9]
    assert world.times() == [3, 6, 9]


@pytest.mark.parametrize("status", [Status.NEW, Status.RETRY, Status.PENDING])
def test_forcing_a_done_tile_away_withdraws_its_layers(world: World, status: Status) -> None:
    first = world.tiles[0]
    world.workflow.force("tile", first, status)
    assert world.indexed_days() == [6, 9]
    assert world.times() == [6, 9]


def test_processing_again_brings_the_layers_back(world: World) -> None:
    middle = world.tiles[1]
    world.workflow.force("tile", middle, Status.PENDING, "redo with the new calibration")
    assert world.times() == [3, 9]
    [lease] = world.workflow.claim("tile", "processor")
    assert lease.id == middle
    world.index.index_datasets([world.datasets[middle]])  # what processing does once it stored the file
    assert world.workflow.report(lease, Outcome.done())
    publish_collection(world.index, AOI)  # a run publishes its collection when it ends
    assert world.indexed_days() == [3, 6, 9]
    assert world.times() == [3, 6, 9]


def test_a_failed_scene_withdraws_the_layers_of_its_tiles(world: World) -> None:
    scene = world.workflow.tile(world.tiles[-1]).scene_id
    world.workflow.force("scene", scene, Status.FAILED, "wrong product")
    assert world.indexed_days() == [3, 6]


def test_a_worker_failure_withdraws_what_it_indexed(world: World) -> None:
    """Processing may index a layer and fail afterwards: the FAILED tile's layer is not served."""
    last = world.tiles[-1]
    world.workflow.force("tile", last, Status.PENDING)
    world.index.index_datasets([world.datasets[last]])
    [lease] = world.workflow.claim("tile", "processor")
    world.workflow.report(lease, Outcome.failed("deleting the scratch files failed"))
    assert world.indexed_days() == [3, 6]
    assert world.times() == [3, 6]


def test_withdrawn_items_leave_the_stac_api(world: World) -> None:
    index_settings = IndexSettings.model_validate(
        {**world.settings.index.model_dump(), "stac_api_token": "t0ken", "stac_api_backoff_seconds": 0.01}
    )
    with running_stac_api(token="t0ken") as api:
        index_settings.stac_api_url = api.url
        settings = world.settings.model_copy(update={"index": index_settings})
        publish_collection(world.index, AOI, settings=settings)
        assert len(api.items[AOI]) == 3
        wf = follow(Workflow(settings=settings), settings)
        wf.force("tile", world.tiles[0], Status.FAILED)
        assert len(api.items[AOI]) == 2 and api.deletes == 1


def test_the_cli_workflow_follows(world: World, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEOCUBE_INGEST_STORAGE_URI", world.settings.resolved_storage_uri)
    from geocube_ingest.settings import get_settings

    get_settings.cache_clear()
    cli_workflow(database_url).force("tile", world.tiles[0], Status.FAILED, "bad")
    assert world.indexed_days() == [6, 9]


def test_the_api_follows(world: World) -> None:
    from geocube_ingest.api import create_app

    with ThreadedServer(create_app(world.settings, Workflow(settings=world.settings))) as url:
        answer = httpx.put(f"{url}/tile/{world.tiles[1]}/force/FAILED", params={"message": "bad"})
        assert answer.status_code == 200
    assert world.indexed_days() == [3, 9]
    assert world.times() == [3, 9]


def test_nothing_published_nothing_written(database_url: str, tmp_path: Path) -> None:
    """An AOI whose collection was never published gets none from a withdrawal (its run publishes it)."""
    settings = Settings(storage_uri=str(tmp_path / "storage"), database_url=database_url)
    wf = follow(Workflow(settings=settings), settings)
    wf.ingest(AOI, [NewScene("S", {"date": "2022-01-01T00:00:00Z"}, [NewTile(TILE)])])
    download_all(wf)
    process_all(wf)
    wf.force("tile", wf.tiles(AOI)[0].id, Status.FAILED)
    with pytest.raises(NotFound):
        read_items(collection_href(AOI, settings=settings), settings)
