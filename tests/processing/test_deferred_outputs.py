"""Kept COGs written straight to their final URL by the step, there only once the job commits
them (after every step succeeded), never uploaded from the worker's disk."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from rio_cogeo import cog_validate

from geocube_ingest import storage
from geocube_ingest.errors import RetriableError
from geocube_ingest.processing import process_tile
from geocube_ingest.processing.graph import load_graph
from geocube_ingest.processing.job import deferred_outputs
from geocube_ingest.processing.workspace import SlotTile, Workspace
from geocube_ingest.settings import Settings
from geocube_ingest.workflow.models import Tile
from tests.processing.conftest import TileFactory
from tests.processing.products import write_band
from tests.processing.test_cluster import CONVERT
from tests.processing.test_job import STEPS, fixed, inp, out, uri, write_graph
from tests.storage.servers import GCSServer, S3Server, gcs_server, s3_server  # noqa: F401  (fixtures)


@pytest.fixture(params=["local", "s3", "gs"])
def root(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, Settings]:
    """A storage root and the settings that reach it."""
    if request.param == "local":
        return str(tmp_path / "storage"), Settings()
    if request.param == "s3":
        s3: S3Server = request.getfixturevalue("s3_server")
        return f"s3://{s3.new_bucket()}/root", Settings(s3=s3.settings())
    gcs: GCSServer = request.getfixturevalue("gcs_server")
    return f"gs://{gcs.new_bucket()}/root", Settings(gcs=gcs.settings())


class Uploads:
    """What the job uploaded from local files (storage.put_file and put_path record here)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        self.urls: list[str] = []
        for name in ("put_file", "put_path"):
            monkeypatch.setattr(storage, name, self._recording(getattr(storage, name)))

    def _recording(self, real: Any) -> Any:
        def put(local: Path, url: str, **kwargs: Any) -> Any:
            self.urls.append(url)
            return real(local, url, **kwargs)

        return put


def _raw_tile(tmp_path: Path, make_tile: TileFactory, graph: dict[str, Any], root: str, settings: Settings) -> Tile:
    tile = make_tile(1, "SCENE", write_graph(tmp_path / "graphs", graph))
    raw = tmp_path / "raw.tif"
    values = np.tile(np.arange(600, dtype="float32") / 6, (600, 1))
    write_band(raw, values, crs=32631, origin=(399960, 4800000), resolution=10)
    storage.put_file(raw, uri(tile, "raw", "tif", root), settings=settings)
    return tile


def _unfinished(root: str, settings: Settings) -> list[str]:
    """Temporary files left under a local root, uploads left open in an S3 bucket."""
    if root.startswith("s3://"):
        import boto3

        s3 = settings.s3
        assert s3.access_key_id is not None and s3.secret_access_key is not None
        client = boto3.client("s3", endpoint_url=s3.endpoint_url, region_name=s3.region,
                              aws_access_key_id=s3.access_key_id.get_secret_value(),
                              aws_secret_access_key=s3.secret_access_key.get_secret_value())  # fmt: skip
        return [u["Key"] for u in client.list_multipart_uploads(Bucket=root.split("/")[2]).get("Uploads", [])]
    if "://" not in root:
        return [str(p) for p in Path(root).rglob("*.part")]
    return []  # the GCS emulator lists no unfinished uploads


def test_a_kept_cog_is_written_straight_to_its_url_and_committed(
    tmp_path: Path, make_tile: TileFactory, root: tuple[str, Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    storage_uri, settings = root
    tile = _raw_tile(tmp_path, make_tile, CONVERT, storage_uri, settings)
    uploads = Uploads(monkeypatch)
    result = process_tile(tile, None, None, work_dir=tmp_path / "work", storage_uri=storage_uri, index=None,
                          settings=settings)  # fmt: skip
    scaled = uri(tile, "scaled", "tif", storage_uri)
    assert result.outputs == [scaled]
    assert uploads.urls == [], "the COG was not uploaded from the worker's disk"
    with storage.rasterio_env(scaled, settings=settings):
        valid, errors, _ = cog_validate(storage.gdal_path(scaled), quiet=True)
        assert valid and not errors
        with rasterio.open(storage.gdal_path(scaled)) as src:
            assert src.read(1)[0, 0] == 0 and src.read(1)[0, -1] > 190
    assert _unfinished(storage_uri, settings) == []


FAILING_AFTER = copy.deepcopy(CONVERT)
FAILING_AFTER["processing_steps"].append(
    {"engine": "python", "command": f"{STEPS}:fail", "args": {"kind": fixed("retriable")}}
)


def test_a_failed_job_replaces_no_stored_output(
    tmp_path: Path, make_tile: TileFactory, root: tuple[str, Settings]
) -> None:
    """The step wrote its COG before a later one failed: the good layer stored before stays."""
    storage_uri, settings = root
    tile = _raw_tile(tmp_path, make_tile, FAILING_AFTER, storage_uri, settings)
    scaled = uri(tile, "scaled", "tif", storage_uri)
    storage.put_bytes(b"the layer of an earlier run", scaled, settings=settings)
    with pytest.raises(RetriableError, match="something went wrong"):
        process_tile(tile, None, None, work_dir=tmp_path / "work", storage_uri=storage_uri, index=None,
                     settings=settings)  # fmt: skip
    assert storage.read_bytes(scaled, settings=settings) == b"the layer of an earlier run"
    assert _unfinished(storage_uri, settings) == []


def test_only_kept_geotiffs_that_no_step_reads_are_deferred(tmp_path: Path, make_tile: TileFactory) -> None:
    graph = {
        "processing_steps": [
            {"engine": "python", "command": f"{STEPS}:plain_geotiff", "args": {"output": out("a", "tif")}},
            {"engine": "python", "command": f"{STEPS}:plain_geotiff", "args": {"output": out("b", "tif")}},
            {"engine": "python", "command": f"{STEPS}:concat", "args": {"output": out("c"), "b": inp(0, "b", "tif")}},
        ],
        "out_files": [
            [
                {"layer": "a", "extension": "tif", "action": "to_create"},
                {"layer": "b", "extension": "tif", "action": "to_create"},
                {"layer": "c", "extension": "txt", "action": "to_create"},
                {"layer": "d", "extension": "tif", "action": "to_delete"},
                {"layer": "e", "extension": "TIFF", "action": "to_create"},
            ],
            [],
            [],
        ],
    }
    tile = make_tile(1, "SCENE", write_graph(tmp_path / "graphs", graph))
    loaded = load_graph(tile.data["graph_name"], Settings())
    workspace = Workspace(tmp_path / "work", [SlotTile.from_tile(tile, str(tmp_path / "storage"))] * 3)
    deferred = deferred_outputs(loaded, workspace)
    assert {path: output.url for path, output in deferred.items()} == {
        workspace.path(0, "a", "tif"): uri(tile, "a", "tif", str(tmp_path / "storage")),
        workspace.path(0, "e", "TIFF"): uri(tile, "e", "TIFF", str(tmp_path / "storage")),
    }


CONDITIONAL = copy.deepcopy(CONVERT)
CONDITIONAL["out_files"][0] = [
    {"layer": "scaled", "extension": "tif", "action": "to_create", "condition": "file_exists"},
    {"layer": "never", "extension": "tif", "action": "to_create", "condition": "file_exists"},
]


def test_file_conditions_see_outputs_written_at_their_url(tmp_path: Path, make_tile: TileFactory) -> None:
    storage_uri, settings = str(tmp_path / "storage"), Settings()
    tile = _raw_tile(tmp_path, make_tile, CONDITIONAL, storage_uri, settings)
    result = process_tile(tile, None, None, work_dir=tmp_path / "work", storage_uri=storage_uri, index=None,
                          settings=settings)  # fmt: skip
    assert result.outputs == [uri(tile, "scaled", "tif", storage_uri)], "written: selected; never written: not"
