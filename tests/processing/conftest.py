"""Fixtures of the processing tests: settings for a small threaded Dask cluster, tiles, an index."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from geocube_ingest.index.base import DatasetToIndex
from geocube_ingest.settings import Settings, get_settings
from geocube_ingest.status import Status
from geocube_ingest.workflow.models import Scene, Tile


@pytest.fixture(autouse=True)
def processing_env(isolated_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """One small threaded LocalCluster shared by the tests (same key, so started once); chunks
    of 256 pixels so that even small rasters are computed in several chunks. Graphs the tests
    write under their tmp_path are allowed, and so are the test steps' python modules."""
    monkeypatch.setenv("GEOCUBE_INGEST_GRAPHS__ALLOWED_SOURCES", json.dumps([str(tmp_path)]))
    monkeypatch.setenv("GEOCUBE_INGEST_GRAPHS__PYTHON_MODULES", json.dumps(["tests.processing"]))
    monkeypatch.setenv("GEOCUBE_INGEST_PROCESSING__PROCESSES", "false")
    monkeypatch.setenv("GEOCUBE_INGEST_PROCESSING__N_WORKERS", "1")
    monkeypatch.setenv("GEOCUBE_INGEST_PROCESSING__THREADS_PER_WORKER", "2")
    monkeypatch.setenv("GEOCUBE_INGEST_PROCESSING__CHUNK_SIZE", "256")
    monkeypatch.setenv("GEOCUBE_INGEST_PROCESSING__COG_BLOCKSIZE", "256")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def settings() -> Settings:
    return get_settings()


class RecordingIndex:
    """A minimal Index (the protocol of geocube_ingest.index.base) that records what it is given."""

    def __init__(self, fail: Exception | None = None):
        self.calls: list[list[DatasetToIndex]] = []
        self.fail = fail

    def index_datasets(self, datasets: list[DatasetToIndex]) -> None:
        if self.fail is not None:
            raise self.fail
        self.calls.append(list(datasets))

    @property
    def datasets(self) -> list[DatasetToIndex]:
        return [d for call in self.calls for d in call]


@pytest.fixture
def index() -> RecordingIndex:
    return RecordingIndex()


TileFactory = Callable[..., Tile]


@pytest.fixture
def make_tile() -> TileFactory:
    def build(
        tile_id: int,
        scene: str,
        graph: str,
        *,
        date: datetime | None = None,
        tile: str | None = None,
        aoi: str = "TestAOI",
        record_id: str = "",
        instances: dict[str, str] | None = None,
        graph_config: dict[str, str] | None = None,
        storage_uri: str = "",
        previous_id: int | None = None,
        reference_id: int | None = None,
        swath: str = "",
        tile_nr: int = 0,
        is_retriable: bool = True,
    ) -> Tile:
        date = date or datetime(2022, 4, 13, 15, 7, 59, tzinfo=UTC)
        scene_data: dict[str, Any] = {
            "uuid": f"uuid-{tile_id}",
            "date": date.isoformat().replace("+00:00", "Z"),
            "graph_name": "CopyProductToStorage",
            "graph_config": graph_config or {},
            "record_id": record_id,
            "instances_id": instances or {},
            "storage_uri": storage_uri,
            "is_retriable": is_retriable,
        }
        return Tile(
            id=tile_id,
            aoi=aoi,
            scene_id=tile_id,
            scene_source_id=scene,
            scene_status=Status.DONE,
            scene_data=scene_data,
            source_id=tile or scene,
            status=Status.PENDING,
            message="",
            data={"swath_id": swath, "tile_nr": tile_nr, "graph_name": graph, "is_retriable": is_retriable},
            previous_id=previous_id,
            reference_id=reference_id,
            date=date,
            footprint=None,
            retry_countdown=0,
        )

    return build


def scene_of(tile: Tile, graph: str = "CopyProductToStorage", config: dict[str, str] | None = None) -> Scene:
    data = {**tile.scene_data, "graph_name": graph, "graph_config": config or {}}
    data["tiles"] = {
        tile.source_id: {"swath_id": tile.data.get("swath_id", ""), "tile_nr": tile.data.get("tile_nr", 0)}
    }
    return Scene(
        id=tile.scene_id,
        aoi=tile.aoi,
        source_id=tile.scene_source_id,
        status=Status.PENDING,
        message="",
        data=data,
        date=tile.date,
        footprint=None,
        retry_countdown=0,
    )
