"""The Dask cluster: one client per configuration, a scheduler address, process workers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from distributed import LocalCluster

from geocube_ingest import storage
from geocube_ingest.processing import process_tile
from geocube_ingest.processing.cluster import LOOPBACK_ANY_PORT, close_client, get_client
from geocube_ingest.settings import Settings, get_settings
from tests.processing.conftest import TileFactory
from tests.processing.products import write_band
from tests.processing.test_job import uri, write_graph

CONVERT = {
    "in_files": [[{"layer": "raw", "extension": "tif"}], [], []],
    "processing_steps": [
        {
            "engine": "xarray",
            "command": "convert",
            "args": {
                "input": {"type": "in", "tile_index": 0, "layer": "raw", "extension": "tif"},
                "output": {"type": "out", "layer": "scaled", "extension": "tif"},
                "dformat-out": {"type": "fixed", "value": "uint8,255,0,200"},
                "range-in": {"type": "fixed", "value": "0,100"},
                "projection": {"type": "fixed", "value": "EPSG:32631"},
                "resolution": {"type": "fixed", "value": "20"},
            },
        }
    ],
    "out_files": [[{"layer": "scaled", "extension": "tif", "action": "to_create"}], [], []],
}


def test_one_client_per_configuration(settings: Settings) -> None:
    client = get_client(settings)
    assert get_client(get_settings()) is client, "same configuration, same client"
    assert client.submit(sum, [1, 2]).result() == 3


def test_scheduler_address_from_settings() -> None:
    with LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=LOOPBACK_ANY_PORT
    ) as cluster:
        settings = Settings(processing={"dask_scheduler": cluster.scheduler_address})
        client = get_client(settings)
        try:
            assert client.scheduler.address == cluster.scheduler_address
            assert client.submit(pow, 2, 5).result() == 32
        finally:
            close_client(settings)


def _scaled_tile(tmp_path: Path, make_tile: TileFactory) -> tuple[str, str]:
    graph = write_graph(tmp_path / "graphs", CONVERT)
    tile = make_tile(1, "SCENE", graph)
    storage_uri = str(tmp_path / "storage")
    raw = tmp_path / "raw.tif"
    values = np.tile(np.arange(600, dtype="float32") / 6, (600, 1))  # 0..99.8 along x
    write_band(raw, values, crs=32631, origin=(399960, 4800000), resolution=10)
    storage.put_file(raw, uri(tile, "raw", "tif", storage_uri))
    process_tile(tile, None, None, work_dir=tmp_path / "work", storage_uri=storage_uri, index=None)
    return uri(tile, "scaled", "tif", storage_uri), storage_uri


@pytest.mark.slow
def test_steps_run_on_process_workers(tmp_path: Path, make_tile: TileFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing a step computes depends on this process: a cluster of worker processes gives the same result."""
    monkeypatch.setenv("GEOCUBE_INGEST_PROCESSING__PROCESSES", "true")
    monkeypatch.setenv("GEOCUBE_INGEST_PROCESSING__N_WORKERS", "2")
    monkeypatch.setenv("GEOCUBE_INGEST_PROCESSING__THREADS_PER_WORKER", "1")
    get_settings.cache_clear()
    try:
        scaled, _ = _scaled_tile(tmp_path, make_tile)
        with rasterio.open(scaled) as src:
            assert src.res == (20.0, 20.0) and src.shape == (300, 300)
            values = src.read(1)
        # x = 20 m pixel k averages 10 m pixels 2k, 2k+1: (2k + 0.5) / 6 in 0..100 -> * 2 in 0..200
        k = np.arange(300)
        assert np.abs(values[150].astype(float) - np.round((2 * k + 0.5) / 6 * 2)).max() <= 1
    finally:
        close_client()
