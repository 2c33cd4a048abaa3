"""The COG writer on the cluster: from a worker's own task, to S3, chunks never written by workers."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio
import xarray as xr
from dask.delayed import delayed
from distributed import LocalCluster
from rio_cogeo import cog_validate

from geocube_ingest import storage
from geocube_ingest.index.base import DFormat
from geocube_ingest.processing import cog, raster
from geocube_ingest.settings import Settings
from tests.processing.test_raster import georef
from tests.storage.servers import GCSServer, S3Server, gcs_server, s3_server  # noqa: F401  (fixtures)


def _values() -> np.ndarray:
    values = np.add.outer(np.arange(700), np.arange(900)).astype("float32") / 160
    values[:40, :40] = np.nan
    return values


def _lazy() -> xr.DataArray:
    return raster.to_dformat(georef(_values(), chunks=128), DFormat.parse("int16,-32768,0,10000"), (0, 10))


def _check(path: str, settings: Settings) -> None:
    with storage.rasterio_env(path, settings=settings):
        valid, errors, _ = cog_validate(storage.gdal_path(path), quiet=True)
        assert valid and not errors
        with rasterio.open(storage.gdal_path(path)) as src:
            values = src.read(1)
            assert src.nodata == -32768 and src.overviews(1) and src.block_shapes[0] == (256, 256)
    assert values[0, 0] == -32768 and values[600, 800] == round(_values()[600, 800] * 1000)


def test_write_cog_from_a_task_on_a_one_thread_worker(tmp_path: Path, settings: Settings) -> None:
    """The job calling the writer may itself be a task: its chunks go to the same single
    thread without a deadlock (the task secedes while it waits)."""
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster:
        client = cluster.get_client()
        target = tmp_path / "out" / "task.tif"
        future = client.submit(cog.write_cog, _lazy(), target, nodata=-32768, settings=settings, pure=False)
        assert future.result(timeout=120) == str(target)
    _check(str(target), settings)
    assert [p.name for p in target.parent.iterdir()] == ["task.tif"], "no intermediate file left behind"


def test_write_cog_straight_to_s3(s3_server: S3Server, tmp_path: Path, settings: Settings) -> None:  # noqa: F811
    s3 = settings.with_overrides({"s3": s3_server.settings().model_dump()})
    url = f"s3://{s3_server.new_bucket()}/cubes/layer.tif"
    assert cog.write_cog(_lazy(), url, nodata=-32768, settings=s3) == url
    _check(url, s3)


def test_write_tiled_keeps_metadata_with_more_chunks_than_in_flight(tmp_path: Path, settings: Settings) -> None:
    """48 chunks through a window of 4 (two one-thread workers), scale/offset and nodata kept."""
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster:
        data = _lazy()
        assert data.data.npartitions == 48
        out = cog.write_tiled(
            data, tmp_path / "tiled.tif", nodata=-32768, client=cluster.get_client(), settings=settings
        )
    with rasterio.open(out) as src:
        assert src.read(1)[600, 800] == round(_values()[600, 800] * 1000)
        assert src.profile["tiled"] and src.profile.get("compress") is None and src.nodata == -32768
        assert src.scales[0] == data.attrs["scale_factor"] and src.offsets[0] == data.attrs["add_offset"]
        assert src.transform == data.rio.transform() and src.crs == data.rio.crs


def _store(kind: str, request: pytest.FixtureRequest, settings: Settings) -> tuple[str, Settings]:
    if kind == "s3":
        s3: S3Server = request.getfixturevalue("s3_server")
        return f"s3://{s3.new_bucket()}/cubes", settings.with_overrides({"s3": s3.settings().model_dump()})
    gcs: GCSServer = request.getfixturevalue("gcs_server")
    return f"gs://{gcs.new_bucket()}/cubes", settings.with_overrides({"gcs": gcs.settings().model_dump()})


@pytest.mark.parametrize("kind", ["s3", "gs"])
def test_a_cog_for_an_object_store_is_streamed_to_it(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No local COG, no upload of one: the layout goes to the object as it is written, and its
    bytes are those the same writer lays out in a local file."""
    root, remote = _store(kind, request, settings)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    remote = remote.with_overrides({"processing": {"scratch_dir": str(scratch)}})

    def no_upload(*args: object, **kwargs: object) -> None:
        raise AssertionError("a COG for an object store is never uploaded from a local file")

    monkeypatch.setattr(storage, "put_file", no_upload)
    url = f"{root}/layer.tif"
    assert cog.write_cog(_lazy(), url, nodata=-32768, settings=remote) == url
    _check(url, remote)
    assert list(scratch.iterdir()) == [], "the intermediate files are gone"
    local = tmp_path / "local.tif"
    cog.write_cog(_lazy(), local, nodata=-32768, settings=remote)
    assert storage.read_bytes(url, settings=remote) == local.read_bytes()


def _failing_chunk(block: np.ndarray, block_info: dict | None = None) -> np.ndarray:  # type: ignore[type-arg]
    if block_info is not None and block_info[0]["chunk-location"] == (3, 4):
        raise OSError("the input went away")
    return block


@pytest.mark.parametrize("kind", ["s3", "gs"])
def test_a_stream_that_fails_leaves_no_object(kind: str, request: pytest.FixtureRequest, settings: Settings) -> None:
    root, remote = _store(kind, request, settings)
    data = _lazy()
    data = data.copy(data=data.data.map_blocks(_failing_chunk, dtype=data.dtype))
    url = f"{root}/broken.tif"
    with pytest.raises(OSError, match="the input went away"):
        cog.write_cog(data, url, nodata=-32768, settings=remote)
    assert not storage.exists(url, settings=remote)


class _InFlight:
    """Counts the tasks running at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = self.most = 0

    def task(self, value: int) -> int:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
        time.sleep(0.01)
        with self.lock:
            self.now -= 1
        if value == 13:
            raise ValueError("chunk 13 is broken")
        return value * 2


def test_a_jobs_chunks_run_on_its_threads_a_window_at_a_time(settings: Settings) -> None:
    """On a worker's threads (no cluster in the job), every task once, at most twice the threads at once."""
    threads = settings.with_overrides({"processing": {"processes": False, "n_workers": 1, "threads_per_worker": 2}})
    counter = _InFlight()
    tasks = [delayed(counter.task)(i) for i in range(40) if i != 13]
    values = dict(cog.computed(tasks, client=None, settings=threads))
    assert sorted(values.values()) == [2 * i for i in range(40) if i != 13]
    assert 2 <= counter.most <= 4
    broken = [delayed(counter.task)(i) for i in range(20)]
    with pytest.raises(ValueError, match="chunk 13 is broken"):
        list(cog.computed(broken, client=None, settings=threads))
